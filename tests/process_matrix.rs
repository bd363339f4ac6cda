//! The process suite, run under every start method: exit codes, joins, names, descendants,
//! resource hygiene, misuse errors, logging, cleanup when the parent dies or exits.

use procvisor_suite::Finished;
use std::process::Command;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(120);

fn scenario(name: &str, method: &str) -> Finished {
    procvisor_suite::scenario(env!("CARGO_BIN_EXE_scenarios"), name, method, DEADLINE)
}

procvisor_suite::scenario_matrix!(DEADLINE; exit_codes, join_timeouts, names, grandchild, many, misuse, results, sentinel, daemon, stdin_is_null, async_api);

#[test]
fn fork_with_busy_runtime_threads_never_deadlocks() {
    scenario("busy_fork", "fork");
}

#[test]
fn children_logs_reach_the_parent_tagged_with_their_name() {
    for method in ["fork", "spawn", "forkserver"] {
        let finished = scenario("logging", method);
        assert!(
            finished
                .stderr
                .contains("[INFO/Process-1] hello from child"),
            "{method}: {}",
            finished.stderr
        );
        assert!(
            finished
                .stderr
                .contains("[WARN/Process-1] a warning with a field answer=42"),
            "{method}: {}",
            finished.stderr
        );
        assert!(
            finished.stderr.contains("[INFO/MainProcess] parent done"),
            "{method}: {}",
            finished.stderr
        );
    }
}

fn alive(pid: u32) -> bool {
    // A zombie has exited; only a running process counts.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.rsplit(") ").next().unwrap_or("").starts_with('Z'))
}

fn wait_until_gone(pids: &[u32], step: &str) {
    let deadline = Instant::now() + DEADLINE;
    while pids.iter().any(|&p| alive(p)) {
        assert!(
            Instant::now() < deadline,
            "step `{step}`: children {pids:?} still running"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads lines from the child's stdout until `READY` (or its end), collecting `CHILD` pids.
fn child_pids(stdout: impl std::io::Read, until: &str) -> Vec<u32> {
    use std::io::BufRead;
    let mut pids = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(pid) = line
            .strip_prefix("CHILD ")
            .or_else(|| line.strip_prefix("DAEMON "))
        {
            pids.push(pid.parse().unwrap());
        }
        if line == until {
            break;
        }
    }
    pids
}

#[test]
fn a_parent_killed_with_sigkill_leaves_no_child_running() {
    for method in ["fork", "spawn", "forkserver"] {
        let mut parent = Command::new(env!("CARGO_BIN_EXE_scenarios"))
            .args(["parent_killed", method])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pids = child_pids(parent.stdout.take().unwrap(), "READY");
        assert_eq!(pids.len(), 3, "{method}");
        assert!(pids.iter().all(|&p| alive(p)), "{method}: children started");
        parent.kill().unwrap();
        parent.wait().unwrap();
        wait_until_gone(
            &pids,
            &format!("{method}: children after the parent's SIGKILL"),
        );
    }
}

#[test]
fn a_normal_exit_joins_children_and_terminates_daemons() {
    for method in ["fork", "spawn", "forkserver"] {
        let marker =
            std::env::temp_dir().join(format!("procvisor-exit-{}-{method}", std::process::id()));
        let _ = std::fs::remove_file(&marker);
        let mut parent = Command::new(env!("CARGO_BIN_EXE_scenarios"))
            .args(["exit_joins_children", method])
            .env("MARKER", &marker)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pids = child_pids(parent.stdout.take().unwrap(), "PASS");
        let status = parent.wait().unwrap();
        assert!(status.success(), "{method}: {status}");
        assert!(
            marker.exists(),
            "{method}: main returned before the children were dealt with"
        );
        // By the time the parent has exited, both children have ended: one joined, one terminated.
        assert!(!alive(pids[0]) && !alive(pids[1]), "{method}: {pids:?}");
        let _ = std::fs::remove_file(&marker);
    }
}
