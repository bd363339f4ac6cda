//! `scale_actors`: 10 to 10,000 actors in this process: the latency of a call to one of them
//! as their number grows, what starting them all takes, and the memory each adds.

use super::supervisor::Member;
use super::{Growth, Measured, Metric, Scale, Unit, median, own_rss, text};
use procvisor::spawn_local;
use std::time::{Duration, Instant};

pub(super) static SCALE: Scale = Scale {
    name: "scale_actors",
    size: "actors",
    sizes: &[10, 100, 1000, 10_000],
    smoke_sizes: &[10, 100],
    metrics: &[
        Metric {
            key: "call",
            label: "call latency (median)",
            unit: Unit::Seconds,
            growth: Growth::Flat,
            vs_python: None,
        },
        Metric {
            key: "spawn",
            label: "spawning them all",
            unit: Unit::Seconds,
            growth: Growth::Total,
            vs_python: None,
        },
        Metric {
            key: "rss_per_actor",
            label: "RSS growth per actor",
            unit: Unit::Bytes,
            growth: Growth::PerUnit,
            vs_python: None,
        },
    ],
    python: None,
    measure,
    deadline: |actors| Duration::from_secs(30 + actors / 200),
};

fn measure(actors: u64, smoke: bool) -> Result<Measured, String> {
    let calls = if smoke { 100 } else { 1000 };
    let before = own_rss()?;
    let start = Instant::now();
    let refs = (0..actors)
        .map(spawn_local::<Member>)
        .collect::<Result<Vec<_>, _>>()
        .map_err(text)?;
    let spawned = start.elapsed();
    let per_actor = (own_rss()? - before) / actors as f64;
    // The one in the middle, after a warm-up.
    let middle = actors / 2;
    let actor = &refs[middle as usize];
    let mut samples = Vec::with_capacity(calls);
    for i in 0..calls + 100 {
        let start = Instant::now();
        let answer = actor.call(()).map_err(text)?;
        let elapsed = start.elapsed();
        if answer != middle {
            return Err(format!("actor {middle} answered {answer}"));
        }
        if i >= 100 {
            samples.push(elapsed);
        }
    }
    Ok(vec![
        ("call", median(&mut samples).as_secs_f64()),
        ("spawn", spawned.as_secs_f64()),
        ("rss_per_actor", per_actor),
    ])
}
