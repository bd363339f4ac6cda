//! Errors of processes and contexts.

use crate::context::StartMethod;
use crate::outcome::{ExitReason, Failure};
use std::io;

/// Why a context operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContextError {
    /// The start method name is not one of `fork`, `spawn`, `forkserver`.
    #[error("cannot find context for '{0}'")]
    UnknownMethod(String),
    /// The process-wide start method was already chosen or used.
    #[error(
        "context has already been set (the start method is {current}); use set_start_method_forced to change it"
    )]
    AlreadySet {
        /// The method in force.
        current: StartMethod,
    },
}

/// Why an operation on a [`Process`](crate::Process) failed.
///
/// Python's misuse assertions become variants ([`AlreadyStarted`](Self::AlreadyStarted),
/// [`NotStarted`](Self::NotStarted), [`Closed`](Self::Closed), [`StillRunning`](Self::StillRunning));
/// a target that was not registered is [`Unregistered`](Self::Unregistered), with the fix in
/// its message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// The target function is not registered, so a child cannot find it.
    #[error(
        "the target `{target}` is not registered, so a child process cannot run it.\n\
         Fix: add `procvisor::register!({short});` next to the function (at module level).\n\
         See the book's Programming guidelines, \"Register what children run\"."
    )]
    Unregistered {
        /// The target's full type name.
        target: &'static str,
        /// The name to put in `register!`.
        short: String,
    },
    /// A closure target needs the `fork` start method (only a fork copies the closure).
    #[error(
        "a closure target can only be started with the fork start method (this process uses {method}); register a named fn instead"
    )]
    ClosureNeedsFork {
        /// The start method that was asked for.
        method: StartMethod,
    },
    /// `start` was called twice.
    #[error("cannot start a process twice")]
    AlreadyStarted,
    /// `join`, `terminate` and friends need a started process.
    #[error("the process has not been started")]
    NotStarted,
    /// The handle was closed.
    #[error("process object is closed")]
    Closed,
    /// `close` on a process that is still running.
    #[error("cannot close a process while it is still running; join or terminate it first")]
    StillRunning,
    /// A property that can only change before `start`.
    #[error("the process has already started")]
    AlreadyRunning,
    /// A daemonic process cannot have children (Python's rule: they would be orphaned).
    #[error("daemonic processes are not allowed to have children")]
    DaemonicParent,
    /// `join` or `result` timed out; the process is still running.
    #[error("timed out waiting for process {name} (pid {pid})")]
    Timeout {
        /// The process name.
        name: String,
        /// Its pid.
        pid: u32,
    },
    /// The process could not be started.
    #[error("cannot start process {name}: {source}")]
    Start {
        /// The process name.
        name: String,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// The arguments could not be encoded for the child.
    #[error("cannot send the arguments of {name} to the child: {message}")]
    Arguments {
        /// The target's name.
        name: String,

        /// What the codec said.
        message: String,
    },
    /// The target failed: it returned an error or panicked (see [`failure`](Self::failure)),
    /// or the process died without reporting (killed, aborted, exited on its own).
    #[error("process {name} (pid {pid}) failed with {reason}{}", failure.as_ref().map(|f| format!(": {f}")).unwrap_or_default())]
    Failed {
        /// The process name.
        name: String,
        /// Its pid.
        pid: u32,
        /// How it ended.
        reason: ExitReason,
        /// What the target reported, if it got that far.
        failure: Option<Failure>,
    },
    /// The process succeeded, but its return value is not a `T`.
    #[error("process {name} returned a value that is not a {expected}: {message}")]
    WrongResultType {
        /// The process name.
        name: String,
        /// The type asked for.
        expected: &'static str,
        /// What the codec said.
        message: String,
    },
    /// A system call on the process failed.
    #[error("{op} on process {name}: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The process name.
        name: String,
        /// What failed.
        #[source]
        source: io::Error,
    },
}

impl ProcessError {
    /// Whether this is a [`Timeout`](Self::Timeout).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. })
    }

    /// The child's reported failure, when it returned an error or panicked.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Self::Failed { failure, .. } => failure.as_ref(),
            _ => None,
        }
    }

    /// How the process ended, for [`Failed`](Self::Failed).
    pub fn exit_reason(&self) -> Option<ExitReason> {
        match self {
            Self::Failed { reason, .. } => Some(*reason),
            _ => None,
        }
    }
}
