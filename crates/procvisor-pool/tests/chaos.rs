//! Chaos: a 100,000-task map while workers are SIGKILLed at random. Every task is reported
//! exactly once (its value, or the error of a lost worker), nothing hangs, and the pool is at
//! full strength afterwards.

mod common;

use common::within;
use procvisor_pool::{Pool, PoolError};
use procvisor_runtime::{RestartIntensity, register};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn work(x: u64) -> u64 {
    // A little work, so that kills land in the middle of tasks too.
    let mut h = x;
    for _ in 0..200 {
        h = h
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
    }
    h ^ x
}
fn expected(x: u64) -> u64 {
    work(x)
}
register!(work);

/// A small deterministic generator (no dependency for one test).
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn random_kills_during_a_long_map_lose_nothing_and_hang_nothing() {
    within(Duration::from_secs(180), "chaos", || {
        const TASKS: u64 = 100_000;
        let pool = Arc::new(
            Pool::builder()
                .processes(4)
                .restart_intensity(RestartIntensity::unlimited())
                .build()
                .unwrap(),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let kills = Arc::new(AtomicU64::new(0));
        let victims = Arc::new(Mutex::new(HashSet::new()));
        let killer = {
            let (pool, stop, kills) = (pool.clone(), stop.clone(), kills.clone());
            let victims = victims.clone();
            std::thread::spawn(move || {
                let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(3 + next_random(&mut seed) % 10));
                    let pids = pool.worker_pids();
                    if pids.is_empty() {
                        continue;
                    }
                    let victim = pids[(next_random(&mut seed) % pids.len() as u64) as usize];
                    // SAFETY: kill(2) has no memory effects; the pid is a worker of this pool.
                    if unsafe { libc::kill(victim as i32, libc::SIGKILL) } == 0 {
                        kills.fetch_add(1, Ordering::Relaxed);
                        victims.lock().unwrap().insert(victim);
                    }
                }
            })
        };

        let start = Instant::now();
        let mut values = 0_u64;
        let mut lost = 0_u64;
        let mut seen = vec![false; TASKS as usize];
        for (i, result) in pool.imap(work, 0..TASKS).unwrap().enumerate() {
            assert!(!seen[i], "item {i} reported twice");
            seen[i] = true;
            match result {
                Ok(value) => {
                    assert_eq!(value, expected(i as u64), "item {i}");
                    values += 1;
                }
                Err(PoolError::WorkerLost { task, .. }) => {
                    assert_eq!(task.items(), Some(i..i + 1), "the error names item {i}");
                    lost += 1;
                }
                Err(other) => panic!("item {i}: unexpected {other}"),
            }
        }
        stop.store(true, Ordering::Relaxed);
        killer.join().unwrap();
        let elapsed = start.elapsed();

        assert!(seen.iter().all(|&s| s), "every item reported");
        assert_eq!(values + lost, TASKS);
        let kills = kills.load(Ordering::Relaxed);
        assert!(
            kills >= 5,
            "the killer killed only {kills} workers in {elapsed:?}"
        );
        assert!(lost <= kills, "{lost} tasks lost for {kills} kills");
        eprintln!("{TASKS} tasks in {elapsed:?}: {kills} kills, {lost} tasks lost");

        // Back at full strength (every victim gone, four workers taking tasks), and serving.
        let victims = victims.lock().unwrap().clone();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let pids = pool.worker_pids();
            if pids.len() == 4 && pids.iter().all(|p| !victims.contains(p)) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the pool did not recover: {:?}",
                pool.stats()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            pool.map(work, 0..100).unwrap(),
            (0..100).map(expected).collect::<Vec<_>>()
        );
        let stats = pool.stats();
        assert!(stats.crashes >= kills.min(1), "{stats:?}");
    });
}
