//! `scale_pool_start`: a pool of 1 to 64 workers, from `Pool::new` until every worker has
//! answered, and the memory of each idle worker, next to Python's `multiprocessing.Pool`.

use super::{Growth, Measured, Metric, Scale, Unit, rss_pss, text};
use procvisor::{AsyncResult, Barrier, Pool, register};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

pub(super) static SCALE: Scale = Scale {
    name: "scale_pool_start",
    size: "workers",
    sizes: &[1, 2, 8, 32, 64],
    smoke_sizes: &[1, 2],
    metrics: &[
        Metric {
            key: "ready",
            label: "start until all answered",
            unit: Unit::Seconds,
            growth: Growth::Total,
            vs_python: None,
        },
        Metric {
            key: "rss_per_worker",
            label: "RSS per idle worker",
            unit: Unit::Bytes,
            growth: Growth::PerUnit,
            vs_python: None,
        },
        Metric {
            key: "pss_per_worker",
            label: "PSS per idle worker",
            unit: Unit::Bytes,
            growth: Growth::PerUnit,
            // The target: memory per idle pool worker at most a fifth of Python's.
            vs_python: Some(0.2),
        },
    ],
    python: Some("scale_pool_start"),
    measure,
    deadline: |workers| Duration::from_secs(30 + workers),
};

/// Waits until every worker holds a task (so each has answered once); says which process.
fn meet(barrier: Barrier) -> u32 {
    match barrier.wait() {
        Ok(_) => std::process::id(),
        Err(_) => 0,
    }
}

fn pid() -> u32 {
    std::process::id()
}
register!(meet, pid);

fn measure(workers: u64, _smoke: bool) -> Result<Measured, String> {
    // Warm-up, untimed as in the Python script: the forkserver starts on first use.
    Pool::new(1).map_err(text)?.apply(pid, ()).map_err(text)?;
    // One task per worker, held at a barrier until all have one: each worker answers once.
    let barrier =
        Barrier::new(workers as u32, None, Some(Duration::from_secs(60))).map_err(text)?;
    let start = Instant::now();
    let pool = Pool::new(workers as usize).map_err(text)?;
    let results = (0..workers)
        .map(|_| pool.apply_async(meet, (barrier.clone(),)))
        .collect::<Result<Vec<AsyncResult<u32>>, _>>()
        .map_err(text)?;
    let pids = results
        .iter()
        .map(|r| r.get_timeout(Duration::from_secs(60)))
        .collect::<Result<BTreeSet<u32>, _>>()
        .map_err(text)?;
    let ready = start.elapsed();
    if pids.len() as u64 != workers || pids.contains(&0) {
        return Err(format!("{} of {workers} workers answered", pids.len()));
    }
    let memory = pool
        .worker_pids()
        .into_iter()
        .map(rss_pss)
        .collect::<Result<Vec<_>, String>>()?;
    let n = memory.len().max(1) as f64;
    Ok(vec![
        ("ready", ready.as_secs_f64()),
        (
            "rss_per_worker",
            memory.iter().map(|m| m.0).sum::<f64>() / n,
        ),
        (
            "pss_per_worker",
            memory.iter().map(|m| m.1).sum::<f64>() / n,
        ),
    ])
}
