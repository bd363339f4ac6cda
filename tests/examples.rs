//! Every seed example prints what the Python original prints (DESIGN: same output).

use procvisor_suite::{example, run};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(60);

fn output(name: &str) -> String {
    let finished = run(example(name), DEADLINE, name);
    finished.assert_success(name);
    finished.stdout
}

#[test]
fn pipe_prints_the_seed_message() {
    assert_eq!(output("pipe"), "[42, None, 'hello']\n");
}

#[test]
fn process_hello_greets_bob() {
    assert_eq!(output("process_hello"), "hello bob\n");
}

#[test]
fn process_info_reports_both_processes() {
    let out = output("process_info");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 9, "{out}");
    assert_eq!(lines[0], "main line");
    assert_eq!(lines[1], "module name: process_info");
    assert_eq!(lines[4], "function f");
    assert_eq!(lines[5], "module name: process_info");
    assert_eq!(lines[8], "hello bob");
    let value = |line: &str| -> u32 { line.rsplit(": ").next().unwrap().parse().unwrap() };
    let (main_pid, child_parent, child_pid) = (value(lines[3]), value(lines[6]), value(lines[7]));
    assert_eq!(
        child_parent, main_pid,
        "the child's parent is the main process"
    );
    assert_ne!(child_pid, main_pid);
}

#[test]
fn start_method_and_context_children_say_hello() {
    assert_eq!(output("start_method"), "hello\n");
    assert_eq!(output("context"), "hello\n");
}

#[test]
fn unregistered_fails_clearly_and_non_zero() {
    let finished = run(example("unregistered"), DEADLINE, "unregistered");
    assert_eq!(finished.status.code(), Some(1));
    assert_eq!(finished.stdout, "");
    assert!(
        finished
            .stderr
            .contains("`unregistered::f` is not registered"),
        "{}",
        finished.stderr
    );
    assert!(
        finished.stderr.contains("procvisor::register!(f);"),
        "{}",
        finished.stderr
    );
}

#[test]
fn queue_prints_the_seed_message() {
    assert_eq!(output("queue"), "[42, None, 'hello']\n");
}

#[test]
fn lock_prints_ten_whole_lines() {
    let out = output("lock");
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    let mut expected: Vec<String> = (0..10).map(|i| format!("hello world {i}")).collect();
    expected.sort_unstable();
    assert_eq!(lines, expected, "each line whole, none missing:\n{out}");
}

#[test]
fn shared_value_prints_the_seed_values() {
    assert_eq!(
        output("shared_value"),
        "3.1415927\n[0, -1, -2, -3, -4, -5, -6, -7, -8, -9]\n"
    );
}

#[test]
fn manager_prints_the_seeds_dict_and_reversed_list() {
    assert_eq!(
        output("manager"),
        "{0.25: None, 1: '1', '2': 2}\n[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]\n"
    );
}

#[test]
fn shared_memory_manager_sums_two_halves_and_unlinks_at_the_end() {
    assert_eq!(output("shared_memory_manager"), "1999000\nunlinked: true\n");
}

#[test]
fn pool_map_squares_one_two_three() {
    assert_eq!(output("pool_map"), "[1, 4, 9]\n");
}

#[test]
fn pool_tour_prints_what_the_seed_prints() {
    let started = std::time::Instant::now();
    let out = output("pool_tour");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 17, "{out}");
    assert_eq!(lines[0], "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]");
    let mut unordered: Vec<i64> = lines[1..11].iter().map(|l| l.parse().unwrap()).collect();
    unordered.sort_unstable();
    assert_eq!(unordered, (0..10).map(|x| x * x).collect::<Vec<i64>>());
    assert_eq!(lines[11], "400");
    let pid: u32 = lines[12].parse().expect("a pid");
    assert_ne!(pid, std::process::id());
    let pids: Vec<u32> = lines[13]
        .trim_matches(|c| c == '[' || c == ']')
        .split(", ")
        .map(|p| p.parse().expect("a pid"))
        .collect();
    assert_eq!(pids.len(), 4);
    assert_eq!(
        lines[14],
        "We lacked patience and got a multiprocessing.TimeoutError"
    );
    assert_eq!(
        lines[15],
        "For the moment, the pool remains available for more work"
    );
    assert_eq!(lines[16], "Now the pool is closed and no longer available");
    // The sleeping worker was stopped with the pool, not waited for.
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn supervision_tree_restarts_the_counter_after_each_crash() {
    let out = output("supervision_tree");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("counter started in process "), "{out}");
    assert_eq!(&lines[1..3], ["count: 1", "count: 2"], "{out}");
    let panic = "panicked at examples/supervision_tree.rs:";
    assert!(
        lines[3].starts_with(&format!("crash 1: the actor crashed: {panic}"))
            && lines[3].ends_with("the counter was told to crash at 2"),
        "{out}"
    );
    assert!(
        lines[4].starts_with(&format!(
            "event: \"counter\" (under \"demo\") ended: {panic}"
        )) && lines[4].ends_with("the counter was told to crash at 2"),
        "{out}"
    );
    assert!(
        lines[5].starts_with("event: \"counter\" (under \"demo\") restarted in process ")
            && lines[5].ends_with(" (restart 1)"),
        "{out}"
    );
    assert_eq!(lines[6], "count: 1 (a fresh counter)", "{out}");
    assert_eq!(lines[7], "crash 2: killed the counter's process", "{out}");
    assert_eq!(
        lines[8], "event: \"counter\" (under \"demo\") ended: it ended with signal 9 (SIGKILL)",
        "{out}"
    );
    assert!(
        lines[9].starts_with("event: \"counter\" (under \"demo\") restarted in process ")
            && lines[9].ends_with(" (restart 2)"),
        "{out}"
    );
    assert_eq!(lines[10], "count: 1 (a fresh counter)", "{out}");
    assert_eq!(lines[11], "the logger saw 4 lines", "{out}");
    assert!(
        lines[12].starts_with("supervisor \"demo\" (one_for_one"),
        "{out}"
    );
    assert!(
        lines[13].starts_with("├─ logger — actor Logger, Permanent, Running"),
        "{out}"
    );
    assert!(
        lines[14].starts_with("└─ counter — actor Counter, Permanent, Running")
            && lines[14].contains("restarted 2 times")
            && lines[14].contains("SIGKILL"),
        "{out}"
    );
    let pid_in = |line: &str| -> u32 {
        let after = line.split("process ").nth(1).unwrap();
        after.split(' ').next().unwrap().parse().unwrap()
    };
    let pids = [pid_in(lines[0]), pid_in(lines[5]), pid_in(lines[9])];
    assert!(
        pids[0] != pids[1] && pids[1] != pids[2],
        "each incarnation in a new process: {pids:?}"
    );
}

#[test]
fn supervised_pool_survives_a_lost_worker_and_is_restarted_after_a_storm() {
    let out = output("supervised_pool");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "square(7) = 49", "{out}");
    assert!(
        lines[1].starts_with("square(8) failed: task 2 (square) lost its worker: ")
            && lines[1].ends_with("was killed by signal 9 (SIGKILL)"),
        "the lost task is reported with its worker's signal: {out}"
    );
    assert_eq!(lines[2], "square(9) = 81 (the pool carried on)", "{out}");
    assert!(
        lines[3].starts_with(
            "event: \"crunch\" (under \"jobs\") ended: the pool broke: more than 2 worker crashes within 60s"
        ),
        "{out}"
    );
    assert!(
        lines[4].starts_with("event: \"crunch\" (under \"jobs\") restarted")
            && lines[4].ends_with("(restart 1)"),
        "{out}"
    );
    assert_eq!(
        lines[5], "square(12) = 144 (through the restarted pool)",
        "{out}"
    );
    assert!(
        lines[6].starts_with("supervisor \"jobs\" (one_for_one"),
        "{out}"
    );
    assert!(
        lines[7].starts_with("├─ crunch — pool of 2 workers (functions), Permanent, Running")
            && lines[7].contains("restarted once"),
        "{out}"
    );
    assert_eq!(
        lines[8], "│  0 tasks running, 0 queued, 1 done, 0 failed, 0 workers replaced",
        "the new pool's counters: {out}"
    );
    // Both workers of the new pool, each idle or (if the tree came quickly) still starting.
    for (line, branch) in [(lines[9], "│  ├─ "), (lines[10], "│  └─ ")] {
        assert!(
            line.starts_with(branch) && (line.ends_with(", idle") || line.ends_with(", starting")),
            "{out}"
        );
    }
    assert!(
        lines[11].starts_with("└─ dispatcher — actor Dispatcher, Permanent, Running"),
        "{out}"
    );
}

#[test]
fn dynamic_workers_restart_transient_jobs_and_drop_temporary_ones() {
    let out = output("dynamic_workers");
    let lines: Vec<&str> = out.lines().collect();
    let crash = |line: &str, group: &str, n: u32| {
        line.starts_with(&format!(
            "{group}: panicked at examples/dynamic_workers.rs:"
        )) && line.ends_with(&format!("job {n} crashed on its first try"))
    };
    assert!(crash(lines[0], "retrying", 3), "{out}");
    assert_eq!(lines[1], "retrying: restarted the job", "{out}");
    assert!(crash(lines[2], "retrying", 6), "{out}");
    assert_eq!(lines[3], "retrying: restarted the job", "{out}");
    let full = |line: &str, group: &str| {
        let prefix = format!("{group}: 6 jobs ended, 0 left; the supervisor was full ");
        let times: u32 = line
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(" times"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{group}'s summary: {out}"));
        assert!(
            times >= 1,
            "six jobs of 200 ms through three slots wait: {out}"
        );
    };
    full(lines[4], "retrying");
    assert!(crash(lines[5], "best-effort", 3), "{out}");
    assert_eq!(lines[6], "best-effort: dropped the job", "{out}");
    assert!(crash(lines[7], "best-effort", 6), "{out}");
    assert_eq!(lines[8], "best-effort: dropped the job", "{out}");
    full(lines[9], "best-effort");
    assert_eq!(
        &lines[10..],
        [
            "best-effort job 1: 1² = 1 (try 1)",
            "best-effort job 2: 2² = 4 (try 1)",
            "best-effort job 4: 4² = 16 (try 1)",
            "best-effort job 5: 5² = 25 (try 1)",
            "retrying job 1: 1² = 1 (try 1)",
            "retrying job 2: 2² = 4 (try 1)",
            "retrying job 3: 3² = 9 (try 2)",
            "retrying job 4: 4² = 16 (try 1)",
            "retrying job 5: 5² = 25 (try 1)",
            "retrying job 6: 6² = 36 (try 2)",
        ],
        "{out}"
    );
}

#[test]
fn actor_pool_reloads_its_workers_and_replaces_a_lost_one() {
    let out = output("actor_pool");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0], "version 1: [(1, 4), (1, -2), (1, 3), (1, 0)]",
        "{out}"
    );
    assert_eq!(lines[1], "reloaded 2 workers to version 3", "{out}");
    assert_eq!(
        lines[2], "version 3: [(3, 12), (3, -6), (3, 9), (3, 0)]",
        "{out}"
    );
    assert!(
        lines[3].starts_with("lost: task ")
            && lines[3].contains("(Scorer) lost its worker: ")
            && lines[3].ends_with("was killed by signal 9 (SIGKILL)"),
        "{out}"
    );
    assert_eq!(
        lines[4], "versions after the replacement: [1, 3]",
        "the replacement starts from the pool's arguments: {out}"
    );
    assert_eq!(lines[5], "2 workers, 1 replaced", "{out}");
}

#[test]
fn manager_actor_is_signed_by_every_start_method_and_read_over_tcp() {
    let out = output("manager_actor");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        &lines[..4],
        [
            "a Fork child signed: 1 names now",
            "a Spawn child signed: 2 names now",
            "a Forkserver child signed: 3 names now",
            "read over TCP: [\"a Fork child\", \"a Spawn child\", \"a Forkserver child\"]",
        ],
        "{out}"
    );
    assert!(
        lines[4].starts_with("a wrong key: the manager at 127.0.0.1:")
            && lines[4].contains("refused the authkey"),
        "{out}"
    );
}

#[test]
fn ticket_desk_answers_every_waiting_customer_when_it_opens() {
    assert_eq!(
        output("ticket_desk"),
        "4 customers wait at the closed desk\n\
         the desk opens and serves 4\n\
         tickets handed out: [1, 2, 3, 4]\n\
         a late customer gets ticket 5\n"
    );
}

#[test]
fn first_actor_counts_a_cast_and_a_call() {
    assert_eq!(output("first_actor"), "the count is 16\n");
}

#[test]
fn cluster_pool_spreads_the_map_over_both_hosts() {
    if !procvisor_testing::nats_or_skip("cluster_pool") {
        return;
    }
    let out = output("cluster_pool");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    // The sum of x^2 for x below 100,000.
    assert_eq!(lines[0], "100000 squares, summing to 333328333350000");
    let ran = |line: &str, host: &str| -> usize {
        let rest = line.strip_prefix(&format!("{host} ran ")).expect(line);
        rest.strip_suffix(" items").unwrap().parse().unwrap()
    };
    let (one, two) = (ran(lines[1], "node-1"), ran(lines[2], "node-2"));
    assert_eq!(one + two, 100_000);
    assert!(one > 0 && two > 0, "{out}");
}

#[test]
fn cluster_host_loss_reports_the_lost_tasks_and_goes_on() {
    if !procvisor_testing::nats_or_skip("cluster_host_loss") {
        return;
    }
    let out = output("cluster_host_loss");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 11, "{out}");
    assert_eq!(lines[0], "2 hosts, 4 workers");
    assert_eq!(lines[1], "node-1 was killed");
    let lost = lines[2..10]
        .iter()
        .filter(|l| l.ends_with(": lost with node-1"))
        .count();
    let done = lines[2..10]
        .iter()
        .filter(|l| l.ends_with(": done on node-2"))
        .count();
    // node-1 ran two tasks when it died; the two it held queued ran on node-2.
    assert_eq!((lost, done), (2, 6), "{out}");
    assert_eq!(lines[10], "the pool goes on: 2 workers ready, on node-2");
}

#[test]
fn shared_ctypes_shows_what_the_child_wrote() {
    assert_eq!(
        output("shared_ctypes"),
        "hello world\nhits=3 misses=1\ntotal=3 copy=1.5\n"
    );
}

#[test]
fn executor_prints_what_pythons_concurrent_futures_example_prints() {
    assert_eq!(
        output("executor"),
        "112272535095293 is prime: True\n\
         112582705942171 is prime: True\n\
         112272535095293 is prime: True\n\
         115280095190773 is prime: True\n\
         115797848077099 is prime: True\n\
         1099726899285419 is prime: False\n\
         5 of 6 are prime\n"
    );
}

#[test]
fn thread_pool_fetches_twenty_pages_in_order() {
    let out = output("thread_pool");
    let expected: String = (1..=20)
        .map(|page: u32| format!("page {page}: {} bytes\n", page.to_string().len() * 100))
        .collect();
    assert_eq!(out, expected);
}
