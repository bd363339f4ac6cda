//! What can go wrong with a pool and its tasks.

use procvisor_runtime::{ExitReason, Failure, ProcessError};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

/// Which task an error is about: its number in the pool, the function it ran and, for a chunk
/// of a `map`, the positions of its items in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    pub(crate) id: u64,
    pub(crate) target: Arc<str>,
    pub(crate) items: Option<Range<usize>>,
    pub(crate) attempts: u32,
}

impl TaskInfo {
    /// The task's number (unique within its pool).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The function (or worker type) that ran it, without its module path.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// For a chunk of a `map`, `imap` or `starmap`: the positions of its items in the input.
    pub fn items(&self) -> Option<Range<usize>> {
        self.items.clone()
    }

    /// How many times it was started (more than 1 when it was retried).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

impl fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {} ({}", self.id, self.target)?;
        if let Some(items) = &self.items {
            if items.len() == 1 {
                write!(f, ", item {}", items.start)?;
            } else {
                write!(f, ", items {}..{}", items.start, items.end)?;
            }
        }
        if self.attempts > 1 {
            write!(f, ", attempt {}", self.attempts)?;
        }
        f.write_str(")")
    }
}

/// How a worker process ended, phrased for an error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerExit(pub ExitReason);

impl fmt::Display for WorkerExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            ExitReason::Code(code) => write!(f, "exited with code {code}"),
            signal @ ExitReason::Signal(_) => write!(f, "was killed by {signal}"),
        }
    }
}

/// Why a pool operation or a task failed.
///
/// Python's exceptions map onto variants: `ValueError('Pool not running')` is
/// [`NotRunning`](Self::NotRunning), `multiprocessing.TimeoutError` from `get(timeout)` is
/// [`Timeout`](Self::Timeout), an exception re-raised from a task is [`Failed`](Self::Failed)
/// (a panic, with its message and location; a task's own `Result` comes back as a value). The
/// rest are what Python cannot report: a worker that died under a task
/// ([`WorkerLost`](Self::WorkerLost), where Python hangs for ever), a task killed at its time
/// limit ([`TimeLimitExceeded`](Self::TimeLimitExceeded)), a task that a `terminate` cut short
/// ([`Terminated`](Self::Terminated), where Python leaves the result unresolved), and a pool
/// whose workers keep crashing ([`Broken`](Self::Broken)).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The pool was closed or terminated: it takes no new work.
    #[error("Pool not running")]
    NotRunning,
    /// The pool gave up: its workers crashed more often than its restart intensity allows.
    #[error("the pool is broken: {cause}")]
    Broken {
        /// What broke it.
        cause: String,
    },
    /// The supervisor's child that ran this pool has ended: the pool broke, or its supervisor
    /// stopped it. [`Pool::supervised`](crate::Pool::supervised) with the same id reaches the
    /// pool the supervisor started next.
    #[error(
        "the supervised pool \"{id}\" has ended ({cause}); Pool::supervised(\"{id}\") reaches \
         the pool its supervisor started next, if it restarted it"
    )]
    SupervisedEnded {
        /// The child's id.
        id: String,
        /// Why it ended.
        cause: String,
    },
    /// No supervised pool runs under this id in this process now: none was started, it is
    /// being restarted, or its supervisor gave it up (or runs in another process).
    #[error(
        "no supervised pool \"{id}\" runs in this process now (not started, restarting, ended, \
         or its supervisor runs in another process)"
    )]
    NotSupervised {
        /// The child id asked for.
        id: String,
    },
    /// A pool handle was used in a process other than the one that created it (a forked child).
    #[error("a pool can only be used by the process that created it (pid {owner})")]
    WrongProcess {
        /// The pid of the process that owns the pool.
        owner: u32,
    },
    /// An argument is out of range (Python's `ValueError`): zero processes, a zero chunk size, a
    /// zero `maxtasksperchild`, `join` on a running pool.
    #[error("{0}")]
    InvalidArgument(String),
    /// The function is not registered, so a worker cannot run it.
    #[error(
        "the function `{target}` is not registered, so a pool worker cannot run it.\n\
         Fix: add `procvisor::register!({short});` next to the function (at module level).\n\
         See the book's Programming guidelines, \"Register what children run\"."
    )]
    Unregistered {
        /// The function's full type name.
        target: &'static str,
        /// The name to put in `register!`.
        short: String,
    },
    /// A closure was given where a pool needs a registered function.
    #[error(
        "a pool runs registered functions, not closures: move the closure's body into a named \
         `fn`, register it with `procvisor::register!`, and pass the function"
    )]
    Closure,
    /// The actor type is not registered, so a worker process cannot start it.
    #[error(
        "the actor type `{actor}` is not registered, so a pool's worker cannot start it.\n\
         Fix: add `procvisor::register_actor!({short});` next to the type (at module level)."
    )]
    UnregisteredActor {
        /// The type's full name.
        actor: &'static str,
        /// The name to put in `register_actor!`.
        short: String,
    },
    /// The arguments of a task cannot be encoded (nothing was sent).
    #[error("cannot encode the arguments of {target}: {message}")]
    Arguments {
        /// The function.
        target: String,
        /// The encoder's message.
        message: String,
    },
    /// A worker process could not be started.
    #[error("cannot start a pool worker: {0}")]
    Start(#[source] Arc<ProcessError>),
    /// The task panicked (message and location), or its arguments or result could not cross
    /// the process boundary. The worker lives on.
    #[error("{task} failed: {failure}")]
    Failed {
        /// The task.
        task: TaskInfo,
        /// What the worker reported.
        failure: Failure,
    },
    /// The worker process died while running the task (killed, aborted, out of memory, a stack
    /// overflow, or it exited). The pool restarted the worker; the other tasks went on.
    #[error("{task} lost its worker: {worker} (pid {pid}) {exit}{}", cause.as_ref().map(|c| format!(": {c}")).unwrap_or_default())]
    #[non_exhaustive]
    WorkerLost {
        /// The task.
        task: TaskInfo,
        /// The worker's process name.
        worker: String,
        /// The worker's pid.
        pid: u32,
        /// How the worker ended.
        exit: WorkerExit,
        /// What the worker reported as it died, when it could (a stack overflow).
        cause: Option<Box<Failure>>,
    },
    /// The task ran past its time limit, so its worker was killed (and restarted).
    #[error(
        "{task} exceeded its time limit of {limit:?}; its worker {worker} (pid {pid}) was killed"
    )]
    TimeLimitExceeded {
        /// The task.
        task: TaskInfo,
        /// The worker's process name.
        worker: String,
        /// The worker's pid.
        pid: u32,
        /// The limit.
        limit: Duration,
    },
    /// The host running the task was lost: its agent died, hung, or was cut off, and said
    /// nothing for the cluster's host timeout. What it ran is not believed any more (a late
    /// result is dropped) and its workers are killed; the task may have run in part.
    #[error("{task} was lost with its host {host} (last heard from {last_seen:?} before)")]
    HostLost {
        /// The task.
        task: TaskInfo,
        /// The host.
        host: String,
        /// How long before the loss the host was last heard from.
        last_seen: Duration,
    },
    /// A host could not run the task (its binary lacks the function, its own pool broke).
    #[error("{task} was refused by host {host}: {reason}")]
    HostRefused {
        /// The task.
        task: TaskInfo,
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
    /// A pool across hosts cannot reach its cluster: this process was cut off from it for
    /// the host timeout, or no host runs the pool's workers.
    #[error("the cluster is unreachable: {reason}")]
    ClusterUnreachable {
        /// What happened.
        reason: String,
    },
    /// The pool was terminated (or dropped) before the task finished.
    #[error("the pool was terminated before {task} finished")]
    Terminated {
        /// The task.
        task: TaskInfo,
    },
    /// The call was cancelled before it started (an executor's
    /// [`Future::cancel`](crate::futures::Future::cancel), or
    /// [`Executor::cancel_pending`](crate::futures::Executor::cancel_pending)): Python's
    /// `CancelledError`.
    #[error("{task} was cancelled before it started")]
    Cancelled {
        /// The task.
        task: TaskInfo,
    },
    /// Waiting timed out (Python's `multiprocessing.TimeoutError`). What was waited for goes
    /// on: a task keeps running and a later `get` can still return its result.
    #[error("timed out waiting")]
    Timeout,
    /// The result arrived but is not of the expected type.
    #[error("cannot decode the result of {task}: {message}")]
    Result {
        /// The task.
        task: TaskInfo,
        /// The decoder's message.
        message: String,
    },
}

impl PoolError {
    /// The task this error is about, when it is about one.
    pub fn task(&self) -> Option<&TaskInfo> {
        match self {
            PoolError::Failed { task, .. }
            | PoolError::WorkerLost { task, .. }
            | PoolError::TimeLimitExceeded { task, .. }
            | PoolError::Terminated { task }
            | PoolError::Cancelled { task }
            | PoolError::HostLost { task, .. }
            | PoolError::HostRefused { task, .. }
            | PoolError::Result { task, .. } => Some(task),
            _ => None,
        }
    }

    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, PoolError::Failed { failure, .. } if failure.is_panic())
    }

    /// Whether the failure came from the infrastructure rather than the task's own code: a lost
    /// worker or host, or a time limit. These are the failures that retries repeat.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            PoolError::WorkerLost { .. }
                | PoolError::TimeLimitExceeded { .. }
                | PoolError::HostLost { .. }
        )
    }
}
