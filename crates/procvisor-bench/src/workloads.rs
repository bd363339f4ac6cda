//! The benchmark workloads (sizes as in DESIGN.md).

mod actors;
mod cluster;
mod executor;
mod floor;
mod manager;
mod pipe;
mod pool;
mod preload;
mod process;
mod spawn_peer;
mod supervision;
mod sync;

use crate::harness::{Peer, Sample, Workload};
use std::os::fd::OwnedFd;

/// The Python peers of the pool workloads (each a script `python/peer_<name>.py`).
const PYTHON_POOL_PEERS: [Peer; 4] = [Peer::Loky, Peer::Pebble, Peer::Mpire, Peer::Ray];

/// One run of `workload` on a Python peer's pool: `python/peer_<peer>.py WORKLOAD N`.
fn python_peer(peer: Peer, workload: &str, n: i64) -> Result<Sample, String> {
    crate::python::sample(
        &format!("peer_{}", peer.name()),
        &[workload.to_string(), n.to_string()],
    )
}

/// Every workload, in report order.
pub(crate) fn all() -> Vec<Box<dyn Workload>> {
    vec![
        Box::new(pipe::PipeRtt),
        Box::new(pipe::PipeBw),
        Box::new(process::StartJoin(procvisor::StartMethod::Fork)),
        Box::new(process::StartJoin(procvisor::StartMethod::Spawn)),
        Box::new(process::StartJoin(procvisor::StartMethod::Forkserver)),
        Box::new(preload::ForkserverPreload),
        Box::new(sync::QueueThroughput),
        Box::new(sync::ValueLock),
        Box::new(sync::LockUncontended),
        Box::new(pool::PoolMap),
        Box::new(pool::PoolImapUnorderedC1),
        Box::new(pool::PoolApplyAsync),
        Box::new(pool::ActorPoolSubmit),
        Box::new(executor::ExecutorSubmit),
        Box::new(pool::CrashRecovery),
        Box::new(actors::ActorCall),
        Box::new(actors::ActorCallLoaded),
        Box::new(actors::ActorReplyLater),
        Box::new(actors::RestartAfterKill),
        Box::new(supervision::DynamicStart::new(procvisor::Placement::Local)),
        Box::new(supervision::DynamicStart::new(
            procvisor::Placement::OwnProcess(None),
        )),
        Box::new(supervision::SupervisedPoolRestart),
        Box::new(manager::ManagerDict),
        Box::new(manager::ManagerActor),
        Box::new(cluster::ClusterMap),
        Box::new(cluster::ClusterApplyAsync),
        Box::new(cluster::HostLoss),
    ]
}

/// The workloads named on the command line (all of them when none is named).
pub(crate) fn select(names: &[String]) -> Result<Vec<Box<dyn Workload>>, String> {
    let all = all();
    if names.is_empty() {
        return Ok(all);
    }
    let known: Vec<&str> = all.iter().map(|w| w.name()).collect();
    if let Some(unknown) = names.iter().find(|n| !known.contains(&n.as_str())) {
        return Err(format!(
            "unknown workload {unknown}; known: {}",
            known.join(", ")
        ));
    }
    Ok(all
        .into_iter()
        .filter(|w| names.iter().any(|n| n == w.name()))
        .collect())
}

/// Dispatches a benchmark child to its role.
pub(crate) fn child_role(role: &str, socket: OwnedFd, extra: &[u64]) -> Result<(), String> {
    match role {
        "pipe_rtt_echo" => pipe::echo_child(socket, extra[0]),
        "raw_rtt_echo" => pipe::raw_echo_child(socket, extra[0]),
        "pipe_bw_sink" => pipe::sink_child(socket, extra[0]),
        "raw_bw_sink" => pipe::raw_sink_child(socket, extra[0]),
        other => Err(format!("unknown child role {other}")),
    }
}
