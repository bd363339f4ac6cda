//! `manager.pool`: a pool that lives in the manager process, shared by its clients (a child
//! process, the parent, a program over TCP with the authkey); its work runs in its own worker
//! processes; map order; a task's panic, an unregistered function, a manager that goes under a
//! waiting call.

mod common;

use common::{LIMIT, within};
use procvisor_manager::{
    Address, DictProxy, EventProxy, Manager, ManagerError, PoolProxy, QueueProxy,
};
use procvisor_runtime::{Process, register};
use std::time::Duration;

fn square(x: u64) -> u64 {
    x * x
}

fn add(a: u64, b: u64) -> u64 {
    a + b
}

/// The pid of the process that ran the task.
fn pid_of_worker(_item: u32) -> u32 {
    std::process::id()
}

/// Finishes the early items last.
fn late_first(x: u32) -> u32 {
    if x < 8 {
        std::thread::sleep(Duration::from_millis(u64::from(8 - x) * 5));
    }
    x
}

fn boom(message: String) -> u32 {
    panic!("{message}");
}

fn boom_at(x: u32) -> u32 {
    assert_ne!(x, 13, "unlucky item {x}");
    x
}

/// Says it started, then runs far longer than any test waits.
fn nap(started: EventProxy) -> u32 {
    started.set().expect("the manager is there");
    std::thread::sleep(Duration::from_secs(300));
    0
}

fn not_registered(x: u32) -> u32 {
    x
}

/// A child's share: a map, and the pids of itself and of the worker that ran its apply.
fn submit_from_child(
    pool: PoolProxy,
    out: QueueProxy<(u32, u32, Vec<u64>)>,
) -> Result<(), ManagerError> {
    let squares = pool.map(square, 0..20_u64)?;
    let worker = pool.apply(pid_of_worker, (0,))?;
    out.put((std::process::id(), worker, squares))
}
register!(
    square,
    add,
    pid_of_worker,
    late_first,
    boom,
    boom_at,
    nap,
    submit_from_child
);

/// The parent pid of `pid`, from `/proc`.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Whether `pid` descends from `ancestor` (a pool's workers are its children, or those of a
/// fork server it started).
fn descends_from(pid: u32, ancestor: u32) -> bool {
    let mut pid = pid;
    for _ in 0..4 {
        match parent_of(pid) {
            Some(parent) if parent == ancestor => return true,
            Some(parent) if parent > 1 => pid = parent,
            _ => return false,
        }
    }
    false
}

#[test]
fn a_child_and_the_parent_submit_to_the_same_pool() {
    within(LIMIT, "child and parent", || {
        let manager = Manager::start().unwrap();
        let pool = manager.pool(2).unwrap();
        let out = manager.queue(0).unwrap();
        let mut child = Process::new(submit_from_child, (pool.clone(), out.clone())).unwrap();
        child.start().unwrap();
        let expected: Vec<u64> = (0..20).map(|x| x * x).collect();
        assert_eq!(pool.map(square, 0..20_u64).unwrap(), expected);
        let (child_pid, worker, squares) = out.get_timeout(LIMIT).unwrap();
        child.join().unwrap();
        assert_eq!(child.exitcode(), Some(0));
        assert_eq!(Some(child_pid), child.pid());
        assert_eq!(squares, expected);
        // The child's task ran in a worker: not the child, not this process, not the manager.
        assert_ne!(worker, child_pid);
        assert_ne!(worker, std::process::id());
        assert_ne!(Some(worker), manager.pid());
    });
}

#[test]
fn the_work_runs_in_worker_processes_of_the_manager() {
    within(LIMIT, "worker pids", || {
        let manager = Manager::start().unwrap();
        let manager_pid = manager.pid().unwrap();
        let pool = manager.pool(2).unwrap();
        assert_eq!(pool.processes(), 2);
        let pids = pool.map(pid_of_worker, 0..16).unwrap();
        assert_eq!(pids.len(), 16);
        for pid in &pids {
            assert_ne!(*pid, std::process::id());
            assert_ne!(*pid, manager_pid);
            // Started by the manager process, alive while its pool is.
            assert!(descends_from(*pid, manager_pid), "worker {pid}");
        }
    });
}

#[test]
fn map_and_starmap_keep_the_input_order() {
    within(LIMIT, "order", || {
        let manager = Manager::start().unwrap();
        let pool = manager.pool(3).unwrap();
        assert_eq!(
            pool.map(late_first, 0..200).unwrap(),
            (0..200).collect::<Vec<u32>>()
        );
        let pairs: Vec<(u64, u64)> = (0..50).map(|i| (i, 1000 * i)).collect();
        let sums: Vec<u64> = pairs.iter().map(|(a, b)| a + b).collect();
        assert_eq!(pool.starmap(add, pairs).unwrap(), sums);
        assert_eq!(
            pool.map(square, Vec::<u64>::new()).unwrap(),
            Vec::<u64>::new()
        );
        assert_eq!(pool.apply(add, (40, 2)).unwrap(), 42);
    });
}

#[test]
fn a_panicking_task_is_an_error_with_the_pools_message() {
    within(LIMIT, "panic", || {
        let manager = Manager::start().unwrap();
        let pool = manager.pool(2).unwrap();
        let error = pool.apply(boom, ("kaput".to_string(),)).unwrap_err();
        assert!(error.is_remote("PoolError"), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("kaput"), "{message}");
        assert!(message.contains("boom"), "names the function: {message}");
        // One bad item fails the map, naming it; the pool serves on.
        let error = pool.map(boom_at, 0..40).unwrap_err();
        assert!(error.to_string().contains("unlucky item 13"), "{error}");
        assert_eq!(pool.map(boom_at, 0..3).unwrap(), vec![0, 1, 2]);
    });
}

#[test]
fn an_unregistered_function_is_refused_before_anything_is_sent() {
    within(LIMIT, "unregistered", || {
        let manager = Manager::start().unwrap();
        let pool = manager.pool(1).unwrap();
        let objects = manager.stats().unwrap().objects;
        match pool.apply(not_registered, (1,)) {
            Err(ManagerError::Unregistered { function, message }) => {
                assert_eq!(function, "not_registered");
                assert!(message.contains("register!(not_registered)"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            pool.map(not_registered, [1, 2]),
            Err(ManagerError::Unregistered { .. })
        ));
        let closure = |x: u32| x + 1;
        match pool.apply(closure, (1,)) {
            Err(ManagerError::Unregistered { message, .. }) => {
                assert!(message.contains("closure"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(manager.stats().unwrap().objects, objects);
        // Zero workers is Python's ValueError.
        assert!(manager.pool(0).unwrap_err().is_remote("ValueError"));
    });
}

#[test]
fn a_client_over_tcp_with_the_authkey_uses_the_pool() {
    within(LIMIT, "tcp", || {
        let manager = Manager::builder()
            .address(Address::tcp_loopback(0))
            .authkey(b"secret")
            .start()
            .unwrap();
        let pool = manager.pool(2).unwrap();
        manager.publish("pool", &pool).unwrap();

        let client = Manager::connect(manager.address().clone(), b"secret").unwrap();
        let found: PoolProxy = client.lookup("pool").unwrap().unwrap();
        assert_eq!(found.processes(), 2);
        assert_eq!(found.map(square, 1..=5_u64).unwrap(), vec![1, 4, 9, 16, 25]);
        let worker = found.apply(pid_of_worker, (0,)).unwrap();
        assert!(descends_from(worker, manager.pid().unwrap()));
        // A pool made by the remote client lives in the manager too.
        let own = client.pool(1).unwrap();
        assert_eq!(own.starmap(add, [(1, 2)]).unwrap(), vec![3]);
        own.close().unwrap();
        own.join().unwrap();
        assert!(own.apply(add, (1, 1)).unwrap_err().is_remote("ValueError"));

        assert!(matches!(
            Manager::connect(manager.address().clone(), b"wrong"),
            Err(ManagerError::Authentication { .. })
        ));
    });
}

#[test]
fn async_twins_run_at_once_and_await_anywhere() {
    within(LIMIT, "async", || {
        let manager = Manager::start().unwrap();
        let pool = manager.pool(2).unwrap();
        // Under way before anything awaits them.
        let a = pool.apply_async(add, (1, 2));
        let squares = pool.map_async(square, 0..10_u64);
        let sums = pool.starmap_async(add, [(1, 1), (2, 2)]);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            assert_eq!(a.await.unwrap(), 3);
            assert_eq!(squares.await.unwrap()[9], 81);
            assert_eq!(sums.await.unwrap(), vec![2, 4]);
            let spawned = tokio::spawn(pool.apply_async(square, (12,)));
            assert_eq!(spawned.await.unwrap().unwrap(), 144);
            let refused = pool.apply_async(not_registered, (1,)).await;
            assert!(matches!(refused, Err(ManagerError::Unregistered { .. })));
            assert!(pool.join_async().await.unwrap_err().is_remote("ValueError"));
            pool.close_async().await.unwrap();
            pool.join_timeout_async(LIMIT).await.unwrap();
        });
        let other = manager.pool(1).unwrap();
        runtime.block_on(async {
            other.terminate_async().await.unwrap();
            other.join_async().await.unwrap();
        });
    });
}

/// A long task waits in the manager; other clients are served meanwhile.
fn start_nap(
    manager: &Manager,
) -> (
    PoolProxy,
    std::thread::JoinHandle<Result<u32, ManagerError>>,
) {
    let pool = manager.pool(1).unwrap();
    let started = manager.event().unwrap();
    let waiting = {
        let (pool, started) = (pool.clone(), started.clone());
        std::thread::spawn(move || pool.apply(nap, (started,)))
    };
    assert!(
        started.wait_timeout(LIMIT).unwrap(),
        "the task never started"
    );
    let d: DictProxy<u32, u32> = manager.dict().unwrap();
    d.set(1, 2).unwrap();
    assert_eq!(d.get(&1).unwrap(), Some(2));
    (pool, waiting)
}

#[test]
fn a_manager_shut_down_under_a_call_fails_it_and_ends_the_pool() {
    within(LIMIT, "shutdown in flight", || {
        let manager = Manager::start().unwrap();
        let (pool, waiting) = start_nap(&manager);
        let worker = {
            let probe = manager.pool(1).unwrap();
            probe.apply(pid_of_worker, (0,)).unwrap()
        };
        manager.shutdown().unwrap();
        let error = waiting.join().unwrap().unwrap_err();
        assert!(
            matches!(error, ManagerError::Unreachable { .. }) || error.is_remote("PoolError"),
            "{error:?}"
        );
        // The workers went with the manager.
        procvisor_testing::wait_until(LIMIT, "the worker to end", || {
            !procvisor_testing::alive(worker)
        });
        assert!(matches!(
            pool.apply(add, (1, 1)),
            Err(ManagerError::Unreachable { .. })
        ));
    });
}

#[test]
fn a_manager_killed_under_a_call_fails_it() {
    within(LIMIT, "killed in flight", || {
        let manager = Manager::start().unwrap();
        let (_pool, waiting) = start_nap(&manager);
        let pid = i32::try_from(manager.pid().unwrap()).unwrap();
        // SAFETY: kill(2) on the manager process this test started.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
        let error = waiting.join().unwrap().unwrap_err();
        assert!(
            matches!(error, ManagerError::Unreachable { .. }),
            "{error:?}"
        );
    });
}
