//! A pool across hosts does what a local pool does: map, imap, apply_async, errors from the
//! task, a worker killed on a remote host reported exactly. Against a real nats-server on
//! loopback with two local agents.

mod common;

use common::{LIMIT, local_cluster, nats_or_skip, within};
use procvisor_cluster::current_host;
use procvisor_pool::{Pool, PoolError};
use std::collections::BTreeMap;

fn square(x: u64) -> u64 {
    x * x
}

/// Where an item ran.
fn host_of(x: u64) -> (u64, String) {
    (x, current_host().unwrap_or_default())
}

fn fail_on_seven(x: u64) -> u64 {
    assert!(x != 7, "seven is not allowed");
    x
}

/// Kills its own worker.
fn die(_: u64) -> u64 {
    // SAFETY: kill(2) on our own pid with a signal number.
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    0
}
static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn set_tag(tag: String) {
    let _ = TAG.set(tag);
}

/// The tag its worker's initializer set, and the worker's pid.
fn tagged(_: u64) -> (String, u32) {
    (TAG.get().cloned().unwrap_or_default(), std::process::id())
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(std::time::Duration::from_millis(ms));
    ms
}

fn len_of(bytes: Vec<u8>) -> usize {
    bytes.len()
}

fn bytes(n: usize) -> Vec<u8> {
    vec![7; n]
}
procvisor_runtime::register!(
    square,
    host_of,
    fail_on_seven,
    die,
    nap,
    len_of,
    bytes,
    set_tag,
    tagged
);

#[test]
fn map_imap_and_apply_async_run_on_both_hosts() {
    if !nats_or_skip("map on two hosts") {
        return;
    }
    within(LIMIT, "a pool across two hosts", || {
        let cluster = local_cluster(2);
        let pool = Pool::builder().cluster(&cluster).build().unwrap();
        assert_eq!(pool.processes(), 4);
        let squares = pool.map(square, 0..20_000u64).unwrap();
        assert_eq!(squares.len(), 20_000);
        assert!(
            squares
                .iter()
                .enumerate()
                .all(|(i, &s)| s == (i as u64) * (i as u64))
        );

        let mut per_host: BTreeMap<String, usize> = BTreeMap::new();
        let placed = pool.tasks().chunksize(1).map(host_of, 0..400u64).unwrap();
        for (i, (x, host)) in placed.into_iter().enumerate() {
            assert_eq!(x, i as u64);
            *per_host.entry(host).or_default() += 1;
        }
        assert_eq!(
            per_host.keys().cloned().collect::<Vec<_>>(),
            vec!["node-1".to_string(), "node-2".to_string()],
            "{per_host:?}"
        );

        let mut unordered: Vec<u64> = pool
            .imap_unordered(square, 0..300u64)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        unordered.sort_unstable();
        assert_eq!(unordered, (0..300u64).map(|x| x * x).collect::<Vec<_>>());
        let later = pool.map_async(square, 0..50u64).unwrap();
        assert_eq!(later.get().unwrap()[49], 49 * 49);
        let ordered: Vec<u64> = pool
            .imap(square, 0..500u64)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(ordered[499], 499 * 499);
        let results: Vec<_> = (0..50u64)
            .map(|i| pool.apply_async(square, (i,)).unwrap())
            .collect();
        for (i, r) in results.iter().enumerate() {
            assert_eq!(r.get().unwrap(), (i * i) as u64);
        }
        pool.close();
        pool.join().unwrap();
    });
}

#[test]
fn a_panic_and_a_dead_worker_on_a_remote_host_are_reported_exactly() {
    if !nats_or_skip("remote failures") {
        return;
    }
    within(LIMIT, "remote failures", || {
        let cluster = local_cluster(2);
        let pool = Pool::builder().cluster(&cluster).build().unwrap();
        let err = pool.apply(fail_on_seven, (7u64,)).unwrap_err();
        assert!(err.is_panic(), "{err}");
        assert!(err.to_string().contains("seven is not allowed"), "{err}");
        match pool.apply(die, (0u64,)).unwrap_err() {
            PoolError::WorkerLost {
                worker, exit, pid, ..
            } => {
                assert!(worker.contains(" on node-"), "{worker}");
                assert!(pid > 0);
                assert!(exit.to_string().contains("SIGKILL"), "{exit}");
            }
            other => panic!("expected a lost worker, got {other}"),
        }
        // The host's pool replaced its worker: the pool goes on.
        assert_eq!(pool.apply(square, (9u64,)).unwrap(), 81);
    });
}

#[test]
fn what_is_too_large_to_cross_fails_clearly_and_nothing_waits() {
    if !nats_or_skip("too large") {
        return;
    }
    within(LIMIT, "too large", || {
        let cluster = local_cluster(1);
        let pool = Pool::builder().cluster(&cluster).build().unwrap();
        // The local server carries 8 MiB per message.
        let big = vec![1u8; 9 * 1024 * 1024];
        match pool.apply(len_of, (big,)).unwrap_err() {
            PoolError::Arguments { message, .. } => {
                assert!(
                    message.contains("more than the cluster's servers carry"),
                    "{message}"
                )
            }
            other => panic!("expected the arguments to be refused, got {other}"),
        }
        match pool.apply(bytes, (9 * 1024 * 1024usize,)).unwrap_err() {
            PoolError::HostRefused { reason, host, .. } => {
                assert_eq!(host, "node-1");
                assert!(reason.contains("its result is"), "{reason}");
            }
            other => panic!("expected the result to be refused, got {other}"),
        }
        // Below the limit, both ways work, and the pool goes on.
        assert_eq!(
            pool.apply(len_of, (vec![1u8; 4 * 1024 * 1024],)).unwrap(),
            4 * 1024 * 1024
        );
        assert_eq!(
            pool.apply(bytes, (3 * 1024 * 1024usize,)).unwrap().len(),
            3 * 1024 * 1024
        );
    });
}

#[test]
fn time_limits_progress_and_terminate_behave_as_on_one_machine() {
    if !nats_or_skip("time limits, progress, terminate") {
        return;
    }
    within(LIMIT, "time limits, progress, terminate", || {
        let cluster = local_cluster(2);
        let pool = Pool::builder().cluster(&cluster).build().unwrap();
        let limited = pool
            .tasks()
            .time_limit(std::time::Duration::from_millis(200))
            .apply(nap, (5_000u64,))
            .unwrap_err();
        match limited {
            PoolError::TimeLimitExceeded { worker, limit, .. } => {
                assert!(worker.contains(" on node-"), "{worker}");
                assert_eq!(limit, std::time::Duration::from_millis(200));
            }
            other => panic!("expected the time limit, got {other}"),
        }

        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        let squares = pool
            .tasks()
            .chunksize(10)
            .on_progress(move |p| record.lock().unwrap().push((p.done, p.total)))
            .map(square, 0..100u64)
            .unwrap();
        assert_eq!(squares.len(), 100);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.last(), Some(&(100, Some(100))), "{seen:?}");
        assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "{seen:?}");
        drop(seen);

        // terminate: what runs fails at once with Terminated, and the pool takes no more.
        let running: Vec<_> = (0..4)
            .map(|_| pool.apply_async(nap, (30_000u64,)).unwrap())
            .collect();
        let started = std::time::Instant::now();
        pool.terminate();
        for task in &running {
            assert!(matches!(
                task.get().unwrap_err(),
                PoolError::Terminated { .. }
            ));
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(matches!(
            pool.apply(square, (1u64,)).unwrap_err(),
            PoolError::NotRunning
        ));
    });
}

#[test]
fn initializers_and_maxtasksperchild_reach_the_hosts_workers() {
    if !nats_or_skip("initializer") {
        return;
    }
    within(LIMIT, "initializer and maxtasksperchild", || {
        let cluster = local_cluster(2);
        let pool = Pool::builder()
            .cluster(&cluster)
            .initializer(set_tag, ("ready".to_string(),))
            .maxtasksperchild(1)
            .build()
            .unwrap();
        let answers = pool.tasks().chunksize(1).map(tagged, 0..12u64).unwrap();
        assert!(answers.iter().all(|(tag, _)| tag == "ready"), "{answers:?}");
        // Each worker ran one task, then was replaced.
        let pids: std::collections::BTreeSet<u32> = answers.iter().map(|(_, pid)| *pid).collect();
        assert_eq!(pids.len(), 12, "{answers:?}");
    });
}

#[test]
fn two_pools_share_one_cluster_without_meeting() {
    if !nats_or_skip("two pools") {
        return;
    }
    within(LIMIT, "two pools on one cluster", || {
        let cluster = local_cluster(2);
        let first = Pool::builder().cluster(&cluster).build().unwrap();
        let second = Pool::builder().cluster(&cluster).build().unwrap();
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| first.map(square, 0..5_000u64).unwrap());
            let b = s.spawn(|| second.map(square, 5_000..10_000u64).unwrap());
            (a.join().unwrap(), b.join().unwrap())
        });
        assert_eq!(a[4_999], 4_999 * 4_999);
        assert_eq!(b[0], 5_000 * 5_000);
        // Closing one leaves the other working.
        first.close();
        first.join().unwrap();
        assert_eq!(second.apply(square, (3u64,)).unwrap(), 9);
    });
}

#[test]
fn an_executor_runs_on_a_pool_across_hosts_and_cancels_what_no_host_took() {
    if !nats_or_skip("executor across hosts") {
        return;
    }
    within(LIMIT, "executor across hosts", || {
        use procvisor_pool::futures::{Executor, ReturnWhen, as_completed, wait};
        let cluster = local_cluster(2);
        let pool = Pool::builder()
            .cluster(&cluster)
            .processes(2)
            .build()
            .unwrap();
        let executor = Executor::<Pool>::from_pool(pool);
        let futures: Vec<_> = (0..20u64)
            .map(|x| executor.submit(square, (x,)).unwrap())
            .collect();
        let mut squares: Vec<u64> = as_completed(&futures)
            .map(|f| f.result().unwrap())
            .collect();
        squares.sort_unstable();
        assert_eq!(squares, (0..20u64).map(|x| x * x).collect::<Vec<_>>());

        // Fill the hosts with long naps, then more: the later ones wait here and can be
        // taken back.
        let naps: Vec<_> = (0..40)
            .map(|_| executor.submit(nap, (300u64,)).unwrap())
            .collect();
        let cancelled = executor.cancel_pending();
        assert!(cancelled > 0, "every nap had reached a host");
        let done = wait(&naps, ReturnWhen::AllCompleted);
        let gone = done
            .done
            .iter()
            .filter(|f| matches!(f.result(), Err(PoolError::Cancelled { .. })))
            .count();
        assert_eq!(gone, cancelled);
        let mapped: Vec<u64> = executor
            .map(square, 0..100u64)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(mapped[99], 99 * 99);
        executor.shutdown().unwrap();
    });
}
