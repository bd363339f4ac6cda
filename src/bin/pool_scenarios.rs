//! Pool scenarios for `tests/pool_processes.rs`: `pool_scenarios NAME METHOD`.
//!
//! Each runs a pool whose workers start with METHOD (the libtest process never forks; this
//! helper does). Each scenario makes its own assertions (a failed one panics, exiting non-zero)
//! and prints `PASS` at the end; `STEP` lines on stderr name the step that hung, if one does.

use procvisor::{
    ExitReason, Pool, PoolError, Process, StartMethod, get_context, register, set_start_method,
};
use procvisor_suite::step;
use std::collections::HashSet;
use std::time::{Duration, Instant};

fn sqr(x: i64) -> i64 {
    x * x
}
fn pid() -> u32 {
    std::process::id()
}
fn die() {
    // SAFETY: raising a signal against this process has no memory effects.
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
}
fn explode(x: i64) -> i64 {
    if x == 3 {
        panic!("three is right out");
    }
    x
}
fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}
/// Recurses until the stack runs out (the array keeps each frame from being optimised away).
fn recurse(depth: u64) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    let frame = std::hint::black_box([depth; 64]);
    frame[(depth % 64) as usize] + recurse(depth + 1)
}
/// A pool inside a pool worker (Python forbids it: daemonic processes cannot have children).
fn nested(n: i64) -> Result<i64, String> {
    let pool = Pool::new(2).map_err(|e| e.to_string())?;
    let squares = pool.map(sqr, 0..n).map_err(|e| e.to_string())?;
    Ok(squares.into_iter().sum())
}
register!(sqr, pid, die, explode, sleep_ms, nested, recurse);

fn pool(method: StartMethod, processes: usize) -> Pool {
    Pool::builder()
        .processes(processes)
        .start_method(method)
        .build()
        .expect("pool")
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.rsplit(") ").next().unwrap_or("").starts_with('Z'))
}

fn basics(method: StartMethod) {
    step("start");
    let pool = pool(method, 3);
    step("map");
    assert_eq!(
        pool.map(sqr, 0..100).unwrap(),
        (0..100).map(sqr).collect::<Vec<_>>()
    );
    step("imap_unordered");
    let mut got: Vec<i64> = pool
        .imap_unordered(sqr, 0..50)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    got.sort_unstable();
    assert_eq!(got, (0..50).map(sqr).collect::<Vec<_>>());
    step("apply_async");
    let pids: HashSet<u32> = (0..30)
        .map(|_| pool.apply_async(pid, ()).unwrap())
        .map(|r| r.get().unwrap())
        .collect();
    assert!(!pids.contains(&std::process::id()));
    step("names");
    let prefix = match method {
        StartMethod::Fork => "ForkPoolWorker-",
        StartMethod::Spawn => "SpawnPoolWorker-",
        StartMethod::Forkserver => "ForkServerPoolWorker-",
    };
    match pool.apply(die, ()) {
        Err(PoolError::WorkerLost { worker, exit, .. }) => {
            assert!(worker.starts_with(prefix), "{worker}");
            assert_eq!(exit.0, ExitReason::Signal(libc::SIGKILL));
        }
        other => panic!("{other:?}"),
    }
    step("panic");
    assert!(pool.map(explode, 0..5).unwrap_err().is_panic());
    step("stack overflow");
    match pool.apply(recurse, (0,)) {
        Err(error @ PoolError::WorkerLost { .. }) => {
            let PoolError::WorkerLost { cause, .. } = &error else {
                unreachable!()
            };
            assert_eq!(
                cause.as_ref().map(|c| c.kind()),
                Some(procvisor::FailureKind::StackOverflow),
                "{error}"
            );
            assert!(
                error.to_string().contains("overflowed its stack"),
                "{error}"
            );
        }
        other => panic!("{other:?}"),
    }
    step("recycle");
    let recycling = Pool::builder()
        .processes(2)
        .start_method(method)
        .maxtasksperchild(3)
        .build()
        .unwrap();
    let pids: HashSet<u32> = (0..30)
        .map(|_| recycling.apply_async(pid, ()).unwrap())
        .map(|r| r.get().unwrap())
        .collect();
    assert!(pids.len() >= 10, "{pids:?}");
    step("close and join");
    let pending = pool.apply_async(sleep_ms, (100,)).unwrap();
    pool.close();
    pool.join().unwrap();
    pending.get_timeout(Duration::ZERO).unwrap();
}

/// A forked child inherits the pool object but not its router: it must refuse, and its drop
/// must not touch the parent's workers.
fn forked_child(method: StartMethod) {
    step("start");
    let pool = pool(method, 2);
    assert_eq!(pool.apply(sqr, (4,)).unwrap(), 16);
    step("child uses the inherited pool");
    let child_pool = std::sync::Arc::new(pool);
    let in_child = child_pool.clone();
    let mut child = Process::closure(move || match in_child.apply(sqr, (2,)) {
        Err(PoolError::WrongProcess { .. }) => Ok(()),
        other => Err(format!("expected WrongProcess, got {other:?}")),
    })
    .with_context(get_context(StartMethod::Fork));
    child.start().unwrap();
    child.join().unwrap();
    assert_eq!(child.exitcode(), Some(0), "the child saw WrongProcess");
    step("the parent's pool still works");
    assert_eq!(child_pool.apply(sqr, (5,)).unwrap(), 25);
    assert_eq!(child_pool.stats().crashes, 0);
}

fn nested_pool(method: StartMethod) {
    step("start");
    let pool = pool(method, 2);
    step("nested");
    let sums = pool.map(nested, [10, 20]).unwrap();
    assert_eq!(
        sums,
        vec![Ok((0..10).map(sqr).sum()), Ok((0..20).map(sqr).sum())]
    );
}

/// A pool left alive when `main` returns (bpo-38744): the program exits, its workers with it.
fn pool_at_exit(method: StartMethod) {
    step("start");
    let pool = pool(method, 2);
    let deadline = Instant::now() + Duration::from_secs(30);
    while pool.worker_pids().len() < 2 {
        assert!(Instant::now() < deadline, "workers not ready");
        std::thread::sleep(Duration::from_millis(5));
    }
    let pids = pool.worker_pids();
    // Busy with a long task, and never dropped.
    let _busy = pool.apply_async(sleep_ms, (60_000,)).unwrap();
    std::mem::forget(pool);
    println!(
        "WORKERS {}",
        pids.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    );
    assert!(pids.iter().all(|&p| alive(p)));
    step("exit");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [name, method] = &args[..] else {
        eprintln!("usage: pool_scenarios NAME METHOD");
        std::process::exit(2);
    };
    let method: StartMethod = method.parse().expect("a start method");
    // The process's own children (the forked child of `forked_child`) use fork explicitly.
    set_start_method(method).expect("first use");
    match name.as_str() {
        "basics" => basics(method),
        "forked_child" => forked_child(method),
        "nested_pool" => nested_pool(method),
        "pool_at_exit" => pool_at_exit(method),
        other => panic!("unknown scenario {other}"),
    }
    println!("PASS");
}
