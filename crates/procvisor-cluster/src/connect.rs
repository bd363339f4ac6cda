//! Connecting to the cluster's NATS servers, for a router or an agent, with the same rules:
//! TLS off this machine, credentials of the role, and connection events reported.

use crate::error::ClusterError;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// How a client proves who it is to the servers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum Credentials {
    /// None (a server without authorization).
    None,
    /// A user and password of the server's configuration.
    UserPassword { user: String, password: String },
    /// A `.creds` file (a JWT and an nkey seed), as `nsc` makes them.
    CredsFile(PathBuf),
    /// An nkey seed (`SU...`).
    NkeySeed(String),
}

/// Where the servers are and how to reach them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Endpoint {
    pub(crate) servers: Vec<String>,
    pub(crate) credentials: Credentials,
    pub(crate) tls_ca: Option<PathBuf>,
    pub(crate) tls_client: Option<(PathBuf, PathBuf)>,
    pub(crate) insecure: bool,
}

/// A connection state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    Up,
    Down,
}

fn is_loopback(server: &str) -> bool {
    let rest = server.split("://").nth(1).unwrap_or(server);
    let host = rest.rsplit('@').next().unwrap_or(rest);
    let host = host.split(':').next().unwrap_or(host);
    matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1")
}

impl Endpoint {
    /// Refuses plaintext to another machine unless allowed.
    pub(crate) fn check(&self) -> Result<(), ClusterError> {
        if self.servers.is_empty() {
            return Err(ClusterError::InvalidArgument(
                "a cluster needs at least one server address".into(),
            ));
        }
        for server in &self.servers {
            if server.parse::<async_nats::ServerAddr>().is_err() {
                return Err(ClusterError::InvalidArgument(format!(
                    "{server:?} is not a server address (nats://host:port or tls://host:port)"
                )));
            }
        }
        if self.insecure || self.tls_ca.is_some() {
            return Ok(());
        }
        match self
            .servers
            .iter()
            .find(|s| !s.starts_with("tls://") && !is_loopback(s))
        {
            Some(plain) => Err(ClusterError::Plaintext(plain.clone())),
            None => Ok(()),
        }
    }

    /// Connects, as `name`; `events` hears when the connection drops and comes back.
    pub(crate) async fn connect(
        &self,
        name: &str,
        ping: Duration,
        events: impl Fn(Link) + Send + Sync + 'static,
    ) -> Result<async_nats::Client, ClusterError> {
        let failed = |reason: String| ClusterError::Connect {
            servers: self.servers.join(", "),
            reason,
        };
        let mut options = async_nats::ConnectOptions::new()
            .name(name)
            .ping_interval(ping)
            .connection_timeout(Duration::from_secs(5))
            .max_reconnects(None)
            .event_callback({
                let events = std::sync::Arc::new(events);
                move |event| {
                    let events = events.clone();
                    async move {
                        match event {
                            async_nats::Event::Connected => events(Link::Up),
                            async_nats::Event::Disconnected => events(Link::Down),
                            _ => {}
                        }
                    }
                }
            });
        options = match &self.credentials {
            Credentials::None => options,
            Credentials::UserPassword { user, password } => {
                options.user_and_password(user.clone(), password.clone())
            }
            Credentials::CredsFile(path) => options
                .credentials_file(path)
                .await
                .map_err(|e| failed(format!("cannot read {}: {e}", path.display())))?,
            Credentials::NkeySeed(seed) => options.nkey(seed.clone()),
        };
        if let Some(ca) = &self.tls_ca {
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        if let Some((cert, key)) = &self.tls_client {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        let servers: Vec<async_nats::ServerAddr> = self
            .servers
            .iter()
            .map(|s| s.parse())
            .collect::<Result<_, _>>()
            .map_err(|e| failed(format!("a bad server address: {e}")))?;
        options
            .connect(servers)
            .await
            .map_err(|e| failed(e.to_string()))
    }
}
