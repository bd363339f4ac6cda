//! What the cluster tests share: a local cluster with short timeouts, a deadline that names the
//! step that hung, and the rule for a machine without `nats-server`.

#![allow(unreachable_pub, dead_code)]

use procvisor_cluster::{Cluster, LocalLauncher};
use std::time::Duration;

pub use procvisor_testing::{nats_or_skip, within};

pub const LIMIT: Duration = Duration::from_secs(60);

/// The host timeout of the test clusters: short, so a loss is seen quickly.
pub const HOST_TIMEOUT: Duration = Duration::from_secs(1);

/// `hosts` local agents of 2 workers each, a 1 s host timeout.
pub fn local_cluster(hosts: usize) -> Cluster {
    Cluster::builder()
        .launcher(LocalLauncher::new(hosts))
        .min_hosts(hosts)
        .host_timeout(HOST_TIMEOUT)
        .workers_per_host(2)
        .join()
        .expect("a local cluster starts")
}

pub fn signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) with a pid and a signal number has no memory effects.
    unsafe { libc::kill(pid as i32, signal) };
}

/// The pid of the agent of `host`.
pub fn agent_pid(cluster: &Cluster, host: &str) -> u32 {
    cluster
        .local_agents()
        .into_iter()
        .find(|(name, _)| name == host)
        .map(|(_, pid)| pid)
        .expect("the host's agent runs here")
}
