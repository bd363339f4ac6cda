//! The `procspawn` peer: the Rust crate procspawn (`thread::spawn` with processes), on
//! `pool_apply_async` (its `Pool` of 2) and `start_join_spawn` (`procspawn::spawn` + join).
//!
//! procspawn re-executes this binary with an environment variable naming the call; `main`
//! calls `procspawn::init()` first, which diverts such a child to the call. procvisor's own
//! children are diverted before `main` (its bootstrap), so the two never meet.

use crate::harness::{OpTimer, Sample};
use std::collections::VecDeque;

fn square(x: i64) -> i64 {
    x * x
}

fn noop(_: ()) {}

/// Jobs a procspawn Pool holds at once: each holds two IPC channels (four descriptors) until
/// joined, so 20k at once would pass a 20k limit on open files (and procspawn panics there).
const IN_FLIGHT: usize = 1000;

/// `n` jobs on a procspawn Pool of 2 (warmed up with 100), spawned ahead and joined in order,
/// at most [`IN_FLIGHT`] at a time; batches of 100 joins timed.
pub(crate) fn pool_apply_async(n: i64) -> Result<Sample, String> {
    let pool = procspawn::Pool::new(2).map_err(|e| e.to_string())?;
    let warm: Vec<_> = (0..100).map(|i| pool.spawn(i, square)).collect();
    for handle in warm {
        handle.join().map_err(|e| e.to_string())?;
    }
    let mut timer = OpTimer::start(n as usize, 100);
    let mut jobs = 0..n;
    let mut handles: VecDeque<_> = jobs
        .by_ref()
        .take(IN_FLIGHT)
        .map(|i| pool.spawn(i, square))
        .collect();
    let mut last = None;
    while let Some(handle) = handles.pop_front() {
        last = Some(handle.join().map_err(|e| e.to_string())?);
        timer.tick();
        if let Some(i) = jobs.next() {
            handles.push_back(pool.spawn(i, square));
        }
    }
    let sample = timer.finish();
    pool.shutdown();
    match last {
        Some(last) if last == (n - 1) * (n - 1) => Ok(sample),
        other => Err(format!("wrong last result {other:?}")),
    }
}

/// `n` times `procspawn::spawn` of a no-op and its join (after one warm-up), each timed.
pub(crate) fn start_join(n: u32) -> Result<Sample, String> {
    procspawn::spawn((), noop)
        .join()
        .map_err(|e| e.to_string())?;
    let mut timer = OpTimer::start(n as usize, 1);
    for _ in 0..n {
        procspawn::spawn((), noop)
            .join()
            .map_err(|e| e.to_string())?;
        timer.tick();
    }
    Ok(timer.finish())
}
