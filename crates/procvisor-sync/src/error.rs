//! Errors of the synchronisation primitives.

/// Why an acquisition failed.
///
/// A lock whose previous holder died is not a failure: the acquisition succeeds and the
/// guard's `previous_owner_died()` says so (see [`Lock`](crate::Lock)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AcquireError {
    /// The timeout passed first.
    #[error("timed out waiting to acquire")]
    Timeout,
    /// A non-blocking attempt found it held.
    #[error("already held (non-blocking acquire)")]
    WouldBlock,
}

/// Why a release failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReleaseError {
    /// The lock was not held (Python: `ValueError('semaphore or lock released too many times')`).
    #[error("released too many times: it was not held")]
    NotHeld,
    /// The caller does not own the re-entrant lock (Python: `AssertionError('attempt to release
    /// recursive lock not owned by thread')`).
    #[error("attempt to release a recursive lock not owned by this thread")]
    NotOwner,
    /// A bounded semaphore was released above its initial value.
    #[error("semaphore released too many times (above its bound)")]
    AboveBound,
    /// `JoinableQueue::task_done` was called more often than items were put.
    #[error("task_done() called too many times")]
    TooManyTaskDone,
}

/// A barrier was broken: aborted, reset while waiting, or a party timed out (Python's
/// `threading.BrokenBarrierError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the barrier is broken")]
pub struct BrokenBarrierError;
