//! How a child's run ends: its exit code, and the value or failure it reports to the parent.

use procvisor_wire::Payload;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A target's way of choosing its process's exit code, like Python's `sys.exit(code)`.
///
/// ```
/// fn check() -> procvisor_runtime::ExitCode {
///     procvisor_runtime::ExitCode(3)
/// }
/// procvisor_runtime::register!(check);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExitCode(pub i32);

/// How a process ended, as the operating system reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExitReason {
    /// It exited with this code.
    Code(i32),
    /// It was killed by this signal.
    Signal(i32),
}

impl ExitReason {
    /// Python's `exitcode`: the exit code, or minus the signal number.
    pub fn exitcode(self) -> i32 {
        match self {
            ExitReason::Code(code) => code,
            ExitReason::Signal(signal) => -signal,
        }
    }

    /// Whether it exited with code 0.
    pub fn success(self) -> bool {
        self == ExitReason::Code(0)
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Code(code) => write!(f, "exit code {code}"),
            ExitReason::Signal(signal) => {
                let name = nix::sys::signal::Signal::try_from(*signal)
                    .map(|s| s.as_str())
                    .unwrap_or("unknown signal");
                write!(f, "signal {signal} ({name})")
            }
        }
    }
}

/// What kind of failure a child reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FailureKind {
    /// The target returned `Err`.
    Error,
    /// The target panicked.
    Panic,
    /// The arguments could not be decoded, or the result could not be encoded.
    Codec,
    /// The target is not registered in the child (a different binary?).
    Unregistered,
    /// A thread of the child overflowed its stack, and the process died of it.
    StackOverflow,
    /// An actor ended itself as crashed, saying why
    /// ([`ActorContext::fail`](crate::ActorContext::fail)).
    Failed,
}

/// A failure reported by a child: a returned error or a panic, with its message and, for a
/// panic, the source location. This is the Rust counterpart of Python's remote traceback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    kind: FailureKind,
    message: String,
    location: Option<String>,
}

impl Failure {
    pub(crate) fn new(
        kind: FailureKind,
        message: impl Into<String>,
        location: Option<String>,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            location,
        }
    }

    /// What kind of failure it was.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// The error's `Display` text or the panic message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where the panic happened (`file:line:column`), for panics.
    pub fn location(&self) -> Option<&str> {
        self.location.as_deref()
    }

    /// Whether the target panicked.
    pub fn is_panic(&self) -> bool {
        self.kind == FailureKind::Panic
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.kind, &self.location) {
            (FailureKind::Panic, Some(location)) => {
                write!(f, "panicked at {location}: {}", self.message)
            }
            (FailureKind::Panic, None) => write!(f, "panicked: {}", self.message),
            (FailureKind::Error, _) => write!(f, "returned an error: {}", self.message),
            (FailureKind::Codec, _) => write!(f, "{}", self.message),
            (FailureKind::Unregistered | FailureKind::StackOverflow | FailureKind::Failed, _) => {
                write!(f, "{}", self.message)
            }
        }
    }
}

impl std::error::Error for Failure {}

/// What a child reports when its target returns (or panics).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChildOutcome {
    pub(crate) exit_code: i32,
    pub(crate) value: Option<Payload>,
    pub(crate) failure: Option<Failure>,
}

impl ChildOutcome {
    pub(crate) fn value(value: Payload) -> Self {
        Self {
            exit_code: 0,
            value: Some(value),
            failure: None,
        }
    }

    pub(crate) fn code(exit_code: i32) -> Self {
        Self {
            exit_code,
            value: None,
            failure: None,
        }
    }

    pub(crate) fn failed(failure: Failure) -> Self {
        Self {
            exit_code: 1,
            value: None,
            failure: Some(failure),
        }
    }
}
