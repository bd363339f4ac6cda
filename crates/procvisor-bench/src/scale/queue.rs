//! `scale_queue`: 1 to 16 producer processes putting into one `Queue`, one consumer: items/s,
//! next to Python's `multiprocessing.Queue`.

use super::{Growth, Measured, Metric, Scale, Unit, text};
use procvisor::{Barrier, Process, Queue, register};
use std::time::{Duration, Instant};

pub(super) static SCALE: Scale = Scale {
    name: "scale_queue",
    size: "producers",
    sizes: &[1, 4, 16],
    smoke_sizes: &[1, 2],
    metrics: &[Metric {
        key: "items_per_s",
        label: "items/s into one consumer",
        unit: Unit::PerSecond,
        growth: Growth::Rate,
        vs_python: None,
    }],
    python: Some("scale_queue"),
    measure,
    deadline: |producers| Duration::from_secs(40 + 5 * producers),
};

/// Items each producer puts (the work grows with the producers).
pub(super) fn items(smoke: bool) -> i64 {
    if smoke { 500 } else { 20_000 }
}

/// Puts `0..n` once every producer and the consumer are ready.
fn scale_produce(q: Queue<i64>, ready: Barrier, n: i64) -> Result<(), String> {
    ready.wait().map_err(text)?;
    for i in 0..n {
        q.put(i).map_err(text)?;
    }
    Ok(())
}
register!(scale_produce);

fn measure(producers: u64, smoke: bool) -> Result<Measured, String> {
    let n = items(smoke);
    let q: Queue<i64> = Queue::new(0).map_err(text)?;
    let ready =
        Barrier::new(producers as u32 + 1, None, Some(Duration::from_secs(30))).map_err(text)?;
    let mut running = Vec::new();
    for _ in 0..producers {
        let mut p = Process::new(scale_produce, (q.clone(), ready.clone(), n)).map_err(text)?;
        p.start().map_err(text)?;
        running.push(p);
    }
    ready.wait().map_err(text)?;
    let start = Instant::now();
    let total = n * producers as i64;
    let mut sum = 0;
    for _ in 0..total {
        sum += q.get_timeout(Duration::from_secs(20)).map_err(text)?;
    }
    let elapsed = start.elapsed();
    for p in &mut running {
        p.result_timeout::<()>(Duration::from_secs(20))
            .map_err(text)?;
    }
    if sum != producers as i64 * n * (n - 1) / 2 {
        return Err(format!("wrong sum {sum}"));
    }
    Ok(vec![("items_per_s", total as f64 / elapsed.as_secs_f64())])
}
