//! [`Future`]: one call submitted to an executor, as Python's `concurrent.futures.Future`.

use super::done_callbacks::{DoneCallbacks, waker_for};
use crate::async_result::{Decoder, far_future, resolve};
use crate::claim::{Claim, ClaimState};
use crate::completion::Completion;
use crate::error::{PoolError, TaskInfo};
use serde::de::DeserializeOwned;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A call submitted to an [`Executor`](super::Executor): Python's `concurrent.futures.Future`.
///
/// Ask for its [`result`](Self::result) (with a timeout, or `.await` it: it is a Rust future
/// too), check it with [`done`](Self::done), [`running`](Self::running) and
/// [`cancelled`](Self::cancelled), take it back with [`cancel`](Self::cancel) while no worker
/// has it, and have a callback run once it is done with
/// [`add_done_callback`](Self::add_done_callback). A future is cheap to clone; the clones
/// share the one call.
///
/// ```
/// use procvisor_pool::futures::ProcessPoolExecutor;
///
/// fn square(x: i64) -> i64 {
///     x * x
/// }
/// procvisor_runtime::register!(square);
///
/// let executor = ProcessPoolExecutor::new(2)?;
/// let future = executor.submit(square, (7,))?;
/// assert_eq!(future.result()?, 49);
/// assert!(future.done());
/// assert!(future.exception().is_none());
/// # Ok::<(), procvisor_pool::PoolError>(())
/// ```
pub struct Future<R> {
    completion: Arc<Completion>,
    decode: Decoder<R>,
    info: TaskInfo,
    claim: Arc<Claim>,
    callbacks: Arc<DoneCallbacks>,
}

impl<R> Clone for Future<R> {
    fn clone(&self) -> Self {
        Future {
            completion: self.completion.clone(),
            decode: self.decode,
            info: self.info.clone(),
            claim: self.claim.clone(),
            callbacks: self.callbacks.clone(),
        }
    }
}

impl<R> fmt::Debug for Future<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.cancelled() {
            "cancelled"
        } else if self.done() {
            "finished"
        } else if self.running() {
            "running"
        } else {
            "pending"
        };
        f.debug_struct("Future")
            .field("task", &self.info.to_string())
            .field("state", &state)
            .finish()
    }
}

impl<R> Future<R> {
    pub(crate) fn new(
        completion: Arc<Completion>,
        decode: Decoder<R>,
        info: TaskInfo,
        claim: Arc<Claim>,
        callbacks: Arc<DoneCallbacks>,
    ) -> Future<R> {
        Future {
            completion,
            decode,
            info,
            claim,
            callbacks,
        }
    }

    /// The task behind this future (its number and function, for messages and logs).
    pub fn task(&self) -> &TaskInfo {
        &self.info
    }

    /// Whether the call has finished: returned, failed or was cancelled.
    pub fn done(&self) -> bool {
        self.completion.outcome().is_some()
    }

    /// Whether a worker has the call and it has not finished. As in Python, a call handed to a
    /// worker counts as running even if the worker is still finishing the call before it; it
    /// can no longer be cancelled.
    pub fn running(&self) -> bool {
        self.claim.state() == ClaimState::Started && !self.done()
    }

    /// Whether the call was cancelled before it started.
    pub fn cancelled(&self) -> bool {
        self.claim.state() == ClaimState::Cancelled
    }

    /// Takes the call back if no worker has it yet: it will never run, and its result is
    /// [`PoolError::Cancelled`]. Returns whether the call is cancelled now (true again for a
    /// call cancelled before); false when it is running or done, as in Python.
    pub fn cancel(&self) -> bool {
        if !self.claim.cancel() {
            return false;
        }
        self.completion.accept(
            0,
            Err(PoolError::Cancelled {
                task: self.info.clone(),
            }),
        );
        true
    }

    /// Runs `callback` with this future once it is done (returned, failed or cancelled); at
    /// once, on this thread, if it is done already. Otherwise it runs on the executor's
    /// callback thread, after the result is visible, so the callback may call
    /// [`result`](Self::result). Callbacks run one at a time, in the order their futures
    /// finish; a panic in one is logged and ignored, as Python logs and ignores an exception.
    pub fn add_done_callback(&self, callback: impl FnOnce(&Future<R>) + Send + 'static)
    where
        R: 'static,
    {
        let future = self.clone();
        if self.done() {
            crate::callbacks::call_guarded(|| callback(&future));
            return;
        }
        let waker = waker_for(&self.callbacks, Box::new(move || callback(&future)));
        if self.completion.poll_outcome(&waker).is_some() {
            // Finished in between: the callback thread runs it.
            waker.wake_by_ref();
        }
    }

    pub(crate) fn completion(&self) -> &Arc<Completion> {
        &self.completion
    }
}

impl<R: DeserializeOwned> Future<R> {
    /// Waits for the call's result, as long as it takes (Python's `result()`).
    ///
    /// # Errors
    ///
    /// The call's error ([`PoolError`]); [`PoolError::Cancelled`] for a cancelled call.
    pub fn result(&self) -> Result<R, PoolError> {
        self.result_within(None)
    }

    /// Waits for the call's result, at most `timeout` (Python's `result(timeout)`).
    ///
    /// # Errors
    ///
    /// As [`result`](Self::result), and [`PoolError::Timeout`] when `timeout` passed first
    /// (the call goes on).
    pub fn result_timeout(&self, timeout: Duration) -> Result<R, PoolError> {
        self.result_within(Some(timeout))
    }

    fn result_within(&self, timeout: Option<Duration>) -> Result<R, PoolError> {
        let deadline = timeout.map(|t| Instant::now().checked_add(t).unwrap_or_else(far_future));
        match self.completion.wait_until(deadline) {
            Some(outcome) => resolve(outcome, self.decode, &self.info),
            None => Err(PoolError::Timeout),
        }
    }

    /// Async twin of [`result`](Self::result), on any executor (awaiting the future itself is
    /// the same).
    ///
    /// # Errors
    ///
    /// As [`result`](Self::result).
    pub async fn result_async(&self) -> Result<R, PoolError> {
        self.clone().await
    }

    /// Waits for the call, then gives its error, or `None` when it returned (Python's
    /// `exception()`).
    pub fn exception(&self) -> Option<PoolError> {
        self.result().err()
    }

    /// [`exception`](Self::exception), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`PoolError::Timeout`] when the call has not finished within `timeout`.
    pub fn exception_timeout(&self, timeout: Duration) -> Result<Option<PoolError>, PoolError> {
        match self.result_timeout(timeout) {
            Ok(_) => Ok(None),
            Err(PoolError::Timeout) if !self.done() => Err(PoolError::Timeout),
            Err(error) => Ok(Some(error)),
        }
    }
}

impl<R: DeserializeOwned> std::future::Future for Future<R> {
    type Output = Result<R, PoolError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.completion.poll_outcome(cx.waker()) {
            Some(outcome) => Poll::Ready(resolve(outcome, self.decode, &self.info)),
            None => Poll::Pending,
        }
    }
}
