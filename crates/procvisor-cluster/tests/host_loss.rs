//! A host that dies or hangs: its running tasks fail with `HostLost` within the host timeout
//! plus a second, its other tasks run elsewhere, nothing hangs, and a hung host that wakes up
//! is fenced (its late results are not believed) and joins again as a new incarnation.

mod common;

use common::{HOST_TIMEOUT, LIMIT, agent_pid, local_cluster, nats_or_skip, signal, within};
use procvisor_cluster::current_host;
use procvisor_pool::{AsyncResult, Pool, PoolError};
use std::time::{Duration, Instant};

/// Notes in `dir` that it started (`<host>-<pid>`), waits at its gate (see [`busy_pool`]) and
/// `ms` more, then says where it ran.
fn slow(dir: String, ms: u64) -> String {
    let host = current_host().unwrap_or_default();
    if !dir.is_empty() {
        let _ = std::fs::write(format!("{dir}/{host}-{}", std::process::id()), b"");
        // Held until the test opens the gate: a task that is running when a host is lost is
        // still running then, however slowly the hosts started.
        let gate = std::path::Path::new(&dir).join("go");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !gate.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    std::thread::sleep(Duration::from_millis(ms));
    host
}
procvisor_runtime::register!(slow);

/// A fresh directory for the started tasks' notes.
fn notes_dir(test: &str) -> String {
    let dir = std::env::temp_dir().join(format!("pv-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.to_string_lossy().into_owned()
}

/// Waits for every result; returns the hosts that answered and the lost tasks' hosts.
fn outcomes(results: &[AsyncResult<String>]) -> (Vec<String>, Vec<String>) {
    let (mut done, mut lost) = (Vec::new(), Vec::new());
    for result in results {
        match result.get_timeout(Duration::from_secs(20)) {
            Ok(host) => done.push(host),
            Err(PoolError::HostLost {
                host, last_seen, ..
            }) => {
                assert!(last_seen >= HOST_TIMEOUT, "lost after only {last_seen:?}");
                lost.push(host);
            }
            Err(other) => panic!("a task failed otherwise: {other}"),
        }
    }
    (done, lost)
}

/// Submits `n` tasks held at a gate, and waits until every worker of both hosts (two each) has
/// started one; the tasks' results, and the gate to open ([`open`]).
fn busy_pool(pool: &Pool, n: usize, test: &str) -> (Vec<AsyncResult<String>>, String) {
    let dir = notes_dir(test);
    let results: Vec<_> = (0..n)
        .map(|_| pool.apply_async(slow, (dir.clone(), 0u64)).unwrap())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let started = std::fs::read_dir(&dir).map_or(0, |d| d.count());
        if started >= 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the tasks did not start on both hosts ({started} started)"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // And the router has heard that they run (the hosts' answers may be slower than the tasks'
    // notes): only what it knows runs on a lost host is lost with it.
    while pool.stats().running < 4 {
        assert!(
            Instant::now() < deadline,
            "the router did not hear that the tasks run"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    (results, dir)
}

/// Lets the held tasks finish.
fn open(gate: &str) {
    std::fs::write(std::path::Path::new(gate).join("go"), b"").unwrap();
}

/// Waits until the pool has failed at least one task; how long that took.
fn first_failure_after(pool: &Pool, since: Instant) -> Duration {
    while pool.stats().failed == 0 {
        assert!(since.elapsed() < Duration::from_secs(20), "no task failed");
        std::thread::sleep(Duration::from_millis(5));
    }
    since.elapsed()
}

#[test]
fn a_killed_host_fails_exactly_its_running_tasks_and_the_rest_finish_elsewhere() {
    if !nats_or_skip("killed host") {
        return;
    }
    within(LIMIT, "a killed host", || {
        let cluster = local_cluster(2);
        let pool = Pool::builder().cluster(&cluster).build().unwrap();
        let (results, gate) = busy_pool(&pool, 8, "killed");
        let killed = Instant::now();
        signal(agent_pid(&cluster, "node-1"), libc::SIGKILL);
        let seen = first_failure_after(&pool, killed);
        open(&gate);
        assert!(
            seen <= HOST_TIMEOUT + Duration::from_secs(1),
            "the loss was reported after {seen:?}"
        );
        let (done, lost) = outcomes(&results);
        assert!(!lost.is_empty(), "no task was lost with its host");
        // node-1 ran two (its two workers); the two it held queued ran on node-2.
        assert_eq!(lost.len(), 2, "{lost:?}");
        assert!(lost.iter().all(|h| h == "node-1"), "{lost:?}");
        assert_eq!(done.len() + lost.len(), 8);
        // The pool goes on, at node-2's strength.
        assert_eq!(
            pool.starmap(slow, (0..8).map(|_| (String::new(), 0u64)))
                .unwrap(),
            vec!["node-2".to_string(); 8]
        );
        assert_eq!(pool.stats().workers_ready, 2);
    });
}

#[test]
fn a_hung_host_is_lost_then_fenced_and_joins_again_when_it_wakes() {
    if !nats_or_skip("hung host") {
        return;
    }
    within(LIMIT, "a hung host", || {
        let cluster = local_cluster(2);
        let pool = Pool::builder().cluster(&cluster).build().unwrap();
        let (results, gate) = busy_pool(&pool, 8, "hung");
        let agent = agent_pid(&cluster, "node-1");
        let stopped = Instant::now();
        signal(agent, libc::SIGSTOP);
        let seen = first_failure_after(&pool, stopped);
        assert!(
            seen <= HOST_TIMEOUT + Duration::from_secs(1),
            "the loss was reported after {seen:?}"
        );
        signal(agent, libc::SIGCONT);
        open(&gate);
        let (done, lost) = outcomes(&results);
        assert!(
            !lost.is_empty() && lost.iter().all(|h| h == "node-1"),
            "{lost:?}"
        );
        assert_eq!(done.len() + lost.len(), 8);
        // Woken, it is fenced (its workers killed) and joins as a new incarnation.
        let deadline = Instant::now() + Duration::from_secs(15);
        while pool.stats().workers_ready < 4 {
            assert!(Instant::now() < deadline, "node-1 did not join again");
            std::thread::sleep(Duration::from_millis(20));
        }
        let hosts = pool
            .tasks()
            .chunksize(1)
            .starmap(slow, (0..16).map(|_| (String::new(), 50u64)))
            .unwrap();
        assert!(hosts.contains(&"node-1".to_string()), "{hosts:?}");
        // No task was reported twice: the lost ones stay lost.
        assert_eq!(pool.stats().failed as usize, lost.len());
    });
}

#[test]
fn with_retries_a_lost_task_runs_again_on_another_host() {
    if !nats_or_skip("retries") {
        return;
    }
    within(LIMIT, "retries", || {
        let cluster = local_cluster(2);
        let pool = Pool::builder()
            .cluster(&cluster)
            .retries(1)
            .build()
            .unwrap();
        let (results, gate) = busy_pool(&pool, 8, "retries");
        signal(agent_pid(&cluster, "node-1"), libc::SIGKILL);
        open(&gate);
        let (done, lost) = outcomes(&results);
        assert!(lost.is_empty(), "{lost:?}");
        assert_eq!(done.len(), 8);
        assert!(pool.stats().retries >= 1);
    });
}
