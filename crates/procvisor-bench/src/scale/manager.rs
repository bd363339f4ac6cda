//! `scale_manager`: 1 to 32 client processes setting and getting keys of one manager's dict:
//! the latency of one operation and the throughput of all, next to Python's `Manager().dict()`.

use super::{Growth, Measured, Metric, Scale, Unit, text};
use procvisor::{Barrier, DictProxy, Manager, Process, register};
use std::time::{Duration, Instant};

pub(super) static SCALE: Scale = Scale {
    name: "scale_manager",
    size: "clients",
    sizes: &[1, 8, 32],
    smoke_sizes: &[1, 2],
    metrics: &[
        Metric {
            key: "op_latency",
            label: "set/get latency (mean)",
            unit: Unit::Seconds,
            growth: Growth::Flat,
            vs_python: None,
        },
        Metric {
            key: "ops_per_s",
            label: "operations/s, all clients",
            unit: Unit::PerSecond,
            growth: Growth::Rate,
            vs_python: None,
        },
    ],
    python: Some("scale_manager"),
    measure,
    deadline: |clients| Duration::from_secs(40 + 3 * clients),
};

/// Operations (half sets, half gets) each client does.
fn operations(smoke: bool) -> i64 {
    if smoke { 100 } else { 1000 }
}

/// Sets and gets keys of its own (`base..base + 100`) once everyone is ready; the mean time of
/// one operation, in seconds.
fn scale_client(
    d: DictProxy<i64, i64>,
    ready: Barrier,
    base: i64,
    ops: i64,
) -> Result<f64, String> {
    ready.wait().map_err(text)?;
    let start = Instant::now();
    for i in 0..ops / 2 {
        let key = base + i % 100;
        d.set(key, i).map_err(text)?;
        if d.get(&key).map_err(text)? != Some(i) {
            return Err(format!("d[{key}] is not {i}"));
        }
    }
    Ok(start.elapsed().as_secs_f64() / (ops / 2 * 2) as f64)
}
register!(scale_client);

fn measure(clients: u64, smoke: bool) -> Result<Measured, String> {
    let ops = operations(smoke);
    let manager = Manager::start().map_err(text)?;
    let d = manager.dict::<i64, i64>().map_err(text)?;
    let ready =
        Barrier::new(clients as u32 + 1, None, Some(Duration::from_secs(30))).map_err(text)?;
    let mut running = Vec::new();
    for c in 0..clients as i64 {
        let mut p =
            Process::new(scale_client, (d.clone(), ready.clone(), c * 1000, ops)).map_err(text)?;
        p.start().map_err(text)?;
        running.push(p);
    }
    ready.wait().map_err(text)?;
    let start = Instant::now();
    let mut latencies = Vec::new();
    for p in &mut running {
        latencies.push(
            p.result_timeout::<f64>(Duration::from_secs(60))
                .map_err(text)?,
        );
    }
    let elapsed = start.elapsed();
    drop(d);
    manager.shutdown().map_err(text)?;
    Ok(vec![
        (
            "op_latency",
            latencies.iter().sum::<f64>() / latencies.len() as f64,
        ),
        (
            "ops_per_s",
            (clients as i64 * (ops / 2 * 2)) as f64 / elapsed.as_secs_f64(),
        ),
    ])
}
