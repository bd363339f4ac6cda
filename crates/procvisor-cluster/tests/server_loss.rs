//! The NATS server itself fails: restarted in the middle of the work, every task completes or
//! fails and none hangs; stopped (the router cut off), the router fails its work after the
//! host timeout, and the pool works again once the server is back.

mod common;

use common::{HOST_TIMEOUT, LIMIT, local_cluster, nats_or_skip, signal, within};
use procvisor_pool::{Pool, PoolError};
use std::time::{Duration, Instant};

fn slow(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}
procvisor_runtime::register!(slow);

/// Waits until the pool runs a task again (the hosts have come back).
fn works_again(pool: &Pool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match pool.apply(slow, (1u64,)) {
            Ok(1) => return,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "the pool did not recover: {other:?}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

#[test]
fn a_server_restart_in_the_middle_of_the_work_leaves_no_task_hanging() {
    if !nats_or_skip("server restart") {
        return;
    }
    within(LIMIT, "a server restart", || {
        let cluster = local_cluster(2);
        let pool = Pool::builder().cluster(&cluster).build().unwrap();
        let tasks: Vec<_> = (0..200)
            .map(|_| pool.apply_async(slow, (20u64,)).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        cluster.restart_local_server().unwrap();
        let (mut done, mut failed) = (0, 0);
        for task in &tasks {
            match task.get_timeout(Duration::from_secs(30)) {
                Ok(20) => done += 1,
                Err(PoolError::HostLost { .. } | PoolError::ClusterUnreachable { .. }) => {
                    failed += 1
                }
                other => panic!("a task ended otherwise: {other:?}"),
            }
        }
        assert_eq!(done + failed, 200);
        assert!(done > 0);
        works_again(&pool);
    });
}

#[test]
fn a_router_cut_off_from_the_server_fails_its_work_after_the_host_timeout() {
    if !nats_or_skip("router cut off") {
        return;
    }
    within(LIMIT, "a router cut off", || {
        let cluster = local_cluster(2);
        let pool = Pool::builder().cluster(&cluster).build().unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|_| pool.apply_async(slow, (4000u64,)).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        let server = cluster.local_server_pid().unwrap();
        let stopped = Instant::now();
        signal(server, libc::SIGSTOP);
        for task in &tasks {
            match task.get_timeout(Duration::from_secs(20)) {
                Err(PoolError::ClusterUnreachable { reason }) => {
                    assert!(reason.contains("cut off"), "{reason}")
                }
                other => panic!("expected the cluster to be unreachable, got {other:?}"),
            }
        }
        // Noticing the silence takes a few missed pings, then the host timeout runs.
        let failed_after = stopped.elapsed();
        assert!(
            failed_after <= HOST_TIMEOUT + Duration::from_secs(2),
            "the work failed only after {failed_after:?}"
        );
        signal(server, libc::SIGCONT);
        works_again(&pool);
    });
}

#[test]
fn dropping_the_cluster_under_a_working_pool_fails_its_tasks_and_hangs_nothing() {
    if !nats_or_skip("cluster dropped") {
        return;
    }
    within(LIMIT, "the cluster dropped under a pool", || {
        let cluster = local_cluster(2);
        let pool = Pool::builder().cluster(&cluster).build().unwrap();
        let tasks: Vec<_> = (0..6)
            .map(|_| pool.apply_async(slow, (10_000u64,)).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        let dropped = Instant::now();
        drop(cluster);
        for task in &tasks {
            match task.get_timeout(Duration::from_secs(20)) {
                Err(PoolError::HostLost { .. } | PoolError::ClusterUnreachable { .. }) => {}
                other => panic!("expected the task to be lost, got {other:?}"),
            }
        }
        assert!(
            dropped.elapsed() <= HOST_TIMEOUT * 2 + Duration::from_secs(2),
            "{:?}",
            dropped.elapsed()
        );
        // New work fails too, after the host timeout, rather than waiting.
        let late = pool.apply(slow, (1u64,)).unwrap_err();
        assert!(
            matches!(late, PoolError::ClusterUnreachable { .. }),
            "{late}"
        );
    });
}
