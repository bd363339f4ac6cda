//! What can go wrong with a manager or a proxy.

/// An error from a [`Manager`](crate::Manager) or one of its proxies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManagerError {
    /// The manager cannot be reached: its process has ended, was shut down, or nothing
    /// listens at its address. Never a hang: a call whose manager dies fails at once.
    #[error("the manager at {address} is unreachable: {reason}")]
    Unreachable {
        /// The manager's address.
        address: String,
        /// What happened.
        reason: String,
    },
    /// The manager refused this client's authkey (nothing was touched).
    #[error("the manager at {address} refused the authkey: {reason}")]
    Authentication {
        /// The manager's address.
        address: String,
        /// The handshake's error.
        reason: String,
    },
    /// The method raised in the manager, named as Python's would be (`KeyError: ...`,
    /// `IndexError: list index out of range`, a custom type's own error). The manager keeps
    /// serving.
    #[error("{0}")]
    Remote(String),
    /// A value could not be encoded, or what came back is not of the proxy's type.
    #[error("codec: {0}")]
    Codec(String),
    /// A wait with a timeout (acquire, get, wait) ran out of time.
    #[error("timed out")]
    Timeout,
    /// The manager process could not start.
    #[error("the manager could not start: {0}")]
    Start(String),
    /// The manager's initializer (see
    /// [`ManagerBuilder::initializer`](crate::ManagerBuilder::initializer)) is not registered,
    /// returned an error, panicked or ended the process: the manager did not start.
    #[error("the manager's initializer {name} failed: {reason}")]
    Initializer {
        /// The initializer's name, as `register!` has it.
        name: String,
        /// Its error or panic message, or what became of the process.
        reason: String,
    },
    /// The call needs a manager process this handle started and has not shut down: a
    /// handle from [`Manager::connect`](crate::Manager::connect) has none to join, and a
    /// [`SharedMemoryManager`](crate::SharedMemoryManager) must be started before it makes
    /// anything (Python's `ValueError`).
    #[error("{0}")]
    NotStarted(String),
    /// The function given to a [`PoolProxy`](crate::PoolProxy) is not registered (or is a
    /// closure), so the manager's pool could not run it: nothing was sent.
    #[error("{message}")]
    Unregistered {
        /// The function's name, as `register!` has it.
        function: String,
        /// What is wrong, and the fix.
        message: String,
    },
    /// An object could not be found by its name or reference ([`Proxy`](crate::Proxy)): no
    /// object is registered under the name, the name is taken, the actor cannot be reached,
    /// or the object is of another kind than the proxy.
    #[error("{0}")]
    Lookup(String),
    /// No supervisor runs a manager under this child id now: none was started, it is being
    /// restarted, or its supervisor gave it up.
    #[error("no supervised manager \"{id}\" runs now (not started, restarting, or ended)")]
    NotSupervised {
        /// The child id asked for.
        id: String,
    },
}

impl ManagerError {
    /// Whether this is the manager's own `KeyError`, `IndexError`, ... (`kind` as Python names
    /// it).
    pub fn is_remote(&self, kind: &str) -> bool {
        matches!(self, ManagerError::Remote(message) if message.starts_with(kind))
    }
}

/// Errors from the manager's side, before they travel.
pub(crate) fn remote(kind: &str, detail: impl std::fmt::Display) -> String {
    format!("{kind}: {detail}")
}
