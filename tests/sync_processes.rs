//! Queues, locks and shared state across real processes, under every start method: exactly-once
//! delivery with many producers and consumers, a consumer killed while it held the consumer
//! lock, producers killed in the middle of a put (counts stay exact, a reader in the middle of
//! a long item does not wait for ever), lock holders killed inside their section, barriers in
//! lockstep, bounded semaphores.

const DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

procvisor_suite::scenario_matrix!(DEADLINE;
    queue_many_to_many,
    queue_consumer_killed,
    queue_producer_killed,
    queue_producer_killed_mid_message,
    lock_holder_killed,
    barrier_lockstep,
    semaphore_bound,
    condition_and_event,
    joinable_and_counting,
);

#[test]
fn a_crashed_run_leaves_no_tracked_segment_in_dev_shm() {
    use std::io::BufRead;
    use std::time::Instant;
    let mut crashing = std::process::Command::new(env!("CARGO_BIN_EXE_scenarios"))
        .args(["shm_crash", "forkserver"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (mut tracked, mut untracked) = (Vec::new(), Vec::new());
    for line in std::io::BufReader::new(crashing.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(name) = line.strip_prefix("TRACKED ") {
            tracked.push(name.to_string());
        } else if let Some(name) = line.strip_prefix("UNTRACKED ") {
            untracked.push(name.to_string());
        } else if line == "READY" {
            break;
        }
    }
    assert_eq!((tracked.len(), untracked.len()), (2, 1));
    let exists = |name: &str| std::path::Path::new("/dev/shm").join(name).exists();
    assert!(
        tracked.iter().chain(&untracked).all(|n| exists(n)),
        "segments created"
    );
    crashing.kill().unwrap();
    crashing.wait().unwrap();
    let deadline = Instant::now() + DEADLINE;
    while tracked.iter().any(|n| exists(n)) {
        assert!(
            Instant::now() < deadline,
            "the tracker did not unlink {tracked:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        exists(&untracked[0]),
        "track(false) opted out of the clean-up"
    );
    std::fs::remove_file(std::path::Path::new("/dev/shm").join(&untracked[0])).unwrap();
}
