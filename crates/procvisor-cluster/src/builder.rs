//! How to join a cluster: servers, logins, TLS, timeouts, the launcher of the agents.

use crate::agent::AgentConfig;
use crate::bus::Bus;
use crate::cluster::{Cluster, Inner};
use crate::connect::{Credentials, Endpoint};
use crate::error::ClusterError;
use crate::launch::{Launcher, agent_command};
use crate::local_server::LocalServer;
use crate::protocol::Subjects;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How to join a cluster: [`Cluster::builder`].
///
/// For servers of your own: their addresses, the logins of the program and of its agents, TLS,
/// and how to start the agents. Settings are checked before anything starts:
///
/// ```
/// use procvisor_cluster::{Cluster, ClusterError, SshLauncher};
/// use std::time::Duration;
///
/// let joining = Cluster::builder()
///     .servers(["nats://10.0.0.5:4222"]) // plaintext, to another machine: refused
///     .user_password("router", "secret")
///     .agent_user_password("agent", "another secret")
///     .name("sim")
///     .host_timeout(Duration::from_secs(10))
///     .launcher(SshLauncher::new(["n1", "n2"]).binary("/opt/sim/bin/sim"))
///     .min_hosts(2)
///     .join();
/// assert_eq!(
///     joining.unwrap_err(),
///     ClusterError::Plaintext("nats://10.0.0.5:4222".into())
/// );
/// ```
///
/// With `tls://10.0.0.5:4222` and [`tls_ca`](Self::tls_ca), the same builder connects over TLS.
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
