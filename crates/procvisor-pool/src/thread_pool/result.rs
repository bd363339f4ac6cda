//! [`ThreadResult`]: the result of a [`ThreadPool`](super::ThreadPool)'s `apply_async` or
//! `map_async`.

use crate::claim::{Claim, ClaimState};
use crate::error::PoolError;
use crate::futures::{Completable, Finished};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

type Callback<R> = Box<dyn FnOnce(&Result<R, PoolError>) + Send>;

struct State<R> {
    outcome: Option<Result<R, PoolError>>,
    /// Taken out by `into_result` or an await.
    taken: bool,
    callbacks: Vec<Callback<R>>,
    wakers: Vec<Waker>,
}

/// Where a thread puts its result.
pub(crate) struct Slot<R> {
    state: Mutex<State<R>>,
    ready: Condvar,
    /// Taken by the thread that runs the call, or by a caller that cancels it first.
    claim: Claim,
}

impl<R> Slot<R> {
    pub(crate) fn new() -> Arc<Slot<R>> {
        Arc::new(Slot {
            state: Mutex::new(State {
                outcome: None,
                taken: false,
                callbacks: Vec::new(),
                wakers: Vec::new(),
            }),
            ready: Condvar::new(),
            claim: Claim::default(),
        })
    }

    /// The thread takes the call; false when it was cancelled first (do not run it).
    pub(crate) fn start(&self) -> bool {
        self.claim.start()
    }

    /// Cancels the call if no thread has taken it; true when it is cancelled (now or before).
    pub(crate) fn cancel(&self) -> bool {
        self.claim.cancel() && self.answer_cancelled()
    }

    /// Cancels the call if no thread has taken it and nobody cancelled it before.
    pub(crate) fn cancel_queued(&self) -> bool {
        self.claim.cancel_queued() && self.answer_cancelled()
    }

    /// Answers a call just cancelled (an answer set before stays).
    fn answer_cancelled(&self) -> bool {
        self.set(Err(PoolError::Cancelled {
            task: super::imap::chunk_info(0),
        }));
        true
    }

    fn lock(&self) -> MutexGuard<'_, State<R>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the result (once); callbacks run here, on the thread that finished it, before
    /// the result is visible.
    pub(crate) fn set(&self, outcome: Result<R, PoolError>) {
        let mut state = self.lock();
        loop {
            let callbacks = std::mem::take(&mut state.callbacks);
            if callbacks.is_empty() {
                break;
            }
            // Callbacks added while these run are taken on the next round.
            drop(state);
            for callback in callbacks {
                crate::callbacks::call_guarded(|| callback(&outcome));
            }
            state = self.lock();
        }
        if state.outcome.is_some() || state.taken {
            return;
        }
        state.outcome = Some(outcome);
        let wakers = std::mem::take(&mut state.wakers);
        drop(state);
        self.ready.notify_all();
        for waker in wakers {
            waker.wake();
        }
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Option<MutexGuard<'_, State<R>>> {
        let mut state = self.lock();
        while state.outcome.is_none() && !state.taken {
            match deadline {
                None => state = self.ready.wait(state).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return None;
                    }
                    state = self
                        .ready
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
        Some(state)
    }
}

/// The result of [`ThreadPool::apply_async`](super::ThreadPool::apply_async) or
/// [`ThreadPool::map_async`](super::ThreadPool::map_async): Python's `AsyncResult` for a
/// thread pool.
///
/// The value stays in the result: [`get`](Self::get) clones it (so it can be called any number
/// of times, as in Python), [`into_result`](Self::into_result) and `.await` move it out.
///
/// ```
/// use procvisor_pool::ThreadPool;
///
/// let pool = ThreadPool::new(2)?;
/// let result = pool.apply_async(|| "fetched".to_string())?;
/// assert_eq!(result.get()?, "fetched");
/// assert_eq!(result.successful(), Some(true));
/// # Ok::<(), procvisor_pool::PoolError>(())
/// ```
pub struct ThreadResult<R> {
    slot: Arc<Slot<R>>,
}

impl<R> fmt::Debug for ThreadResult<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadResult")
            .field("ready", &self.ready())
            .finish()
    }
}

impl<R> ThreadResult<R> {
    pub(crate) fn new(slot: Arc<Slot<R>>) -> ThreadResult<R> {
        ThreadResult { slot }
    }

    pub(crate) fn slot(&self) -> &Arc<Slot<R>> {
        &self.slot
    }

    /// Whether the result has arrived.
    pub fn ready(&self) -> bool {
        self.slot.lock().outcome.is_some()
    }

    /// Whether the call has finished: returned, failed or was cancelled (Python's
    /// `Future.done()`; the same as [`ready`](Self::ready)).
    pub fn done(&self) -> bool {
        self.ready()
    }

    /// Whether a thread runs the call now (Python's `Future.running()`).
    pub fn running(&self) -> bool {
        self.slot.claim.state() == ClaimState::Started && !self.ready()
    }

    /// Whether the call was cancelled before a thread took it.
    pub fn cancelled(&self) -> bool {
        self.slot.claim.state() == ClaimState::Cancelled
    }

    /// Takes the call back if no thread has taken it yet: it will never run, and its result
    /// is [`PoolError::Cancelled`] (Python's `Future.cancel()`). Returns whether it is
    /// cancelled; false once a thread runs it or it is done.
    pub fn cancel(&self) -> bool {
        self.slot.cancel()
    }

    /// Whether the call succeeded; `None` while it is not ready.
    pub fn successful(&self) -> Option<bool> {
        self.slot.lock().outcome.as_ref().map(Result::is_ok)
    }

    /// Waits until the result is ready.
    pub fn wait(&self) {
        self.slot.wait_until(None);
    }

    /// Waits until the result is ready or `timeout` passes; returns whether it is ready.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        self.slot.wait_until(deadline).is_some()
    }

    /// Waits for the result and moves it out (no `Clone` needed).
    ///
    /// # Errors
    ///
    /// The call's error: its panic as [`PoolError::Failed`], or [`PoolError::Terminated`].
    pub fn into_result(self) -> Result<R, PoolError> {
        let mut state = self.slot.wait_until(None).expect("no deadline");
        take(&mut state)
    }

    /// Runs `callback` with the result once it is ready (Python's `callback` and
    /// `error_callback`): on the thread that finished the call, before the result is visible;
    /// at once on this thread when it is ready already.
    pub fn on_complete(&self, callback: impl FnOnce(&Result<R, PoolError>) + Send + 'static)
    where
        R: 'static,
    {
        let mut state = self.slot.lock();
        match &state.outcome {
            // The lock is held while it runs: nothing else can reach this result from inside
            // the callback (a `ThreadResult` is not `Clone`), so nothing waits on itself.
            Some(outcome) => {
                crate::callbacks::call_guarded(|| callback(outcome));
            }
            None => state.callbacks.push(Box::new(callback)),
        }
    }
}

fn take<R>(state: &mut State<R>) -> Result<R, PoolError> {
    state.taken = true;
    state.outcome.take().unwrap_or_else(|| {
        Err(PoolError::InvalidArgument(
            "the result was taken already".into(),
        ))
    })
}

impl<R: Clone> ThreadResult<R> {
    /// Python's `Future.result()`: the same as [`get`](Self::get).
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub fn result(&self) -> Result<R, PoolError> {
        self.get()
    }

    /// Python's `Future.result(timeout)`: the same as [`get_timeout`](Self::get_timeout).
    ///
    /// # Errors
    ///
    /// As [`get_timeout`](Self::get_timeout).
    pub fn result_timeout(&self, timeout: Duration) -> Result<R, PoolError> {
        self.get_timeout(timeout)
    }

    /// Waits for the call, then gives its error, or `None` when it returned (Python's
    /// `Future.exception()`).
    pub fn exception(&self) -> Option<PoolError> {
        self.get().err()
    }

    /// Waits for the result, as long as it takes (Python's `get()`), and clones it.
    ///
    /// # Errors
    ///
    /// As [`into_result`](Self::into_result).
    pub fn get(&self) -> Result<R, PoolError> {
        let state = self.slot.wait_until(None).expect("no deadline");
        clone_of(&state)
    }

    /// Waits for the result at most `timeout` (Python's `get(timeout)`).
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get), and [`PoolError::Timeout`] when `timeout` passed first.
    pub fn get_timeout(&self, timeout: Duration) -> Result<R, PoolError> {
        let deadline = Instant::now().checked_add(timeout);
        match self.slot.wait_until(deadline) {
            Some(state) => clone_of(&state),
            None => Err(PoolError::Timeout),
        }
    }
}

fn clone_of<R: Clone>(state: &State<R>) -> Result<R, PoolError> {
    state.outcome.clone().unwrap_or_else(|| {
        Err(PoolError::InvalidArgument(
            "the result was taken already".into(),
        ))
    })
}

impl<R> Future for ThreadResult<R> {
    type Output = Result<R, PoolError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.slot.lock();
        if state.outcome.is_some() || state.taken {
            return Poll::Ready(take(&mut state));
        }
        if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            state.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl<R> crate::futures::completable::Sealed for ThreadResult<R> {}
impl<R> Completable for ThreadResult<R> {
    fn poll_finished(&self, waker: &Waker) -> Option<Finished> {
        let mut state = self.slot.lock();
        match &state.outcome {
            Some(Ok(_)) => Some(Finished::Succeeded),
            Some(Err(PoolError::Cancelled { .. })) => Some(Finished::Cancelled),
            Some(Err(_)) => Some(Finished::Failed),
            None => {
                if !state.wakers.iter().any(|w| w.will_wake(waker)) {
                    state.wakers.push(waker.clone());
                }
                None
            }
        }
    }
}
