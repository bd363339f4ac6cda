//! [`Completable`]: what [`as_completed`](super::as_completed) and [`wait`](super::wait) can
//! watch: executor futures and the pools' own results.

use super::Future;
use crate::async_result::AsyncResult;
use crate::completion::{Completion, Outcome};
use crate::error::PoolError;
use std::task::Waker;

/// How a call finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// It returned a value.
    Succeeded,
    /// It failed (panicked, lost its worker, timed out, ...).
    Failed,
    /// It was cancelled before it started.
    Cancelled,
}

pub(crate) mod sealed {
    pub trait Sealed {}
}
pub(crate) use sealed::Sealed;

/// A call whose end can be waited for: a [`Future`], an [`AsyncResult`], or a reference to
/// either. Sealed: the pools' own types implement it.
pub trait Completable: Sealed {
    /// How the call finished, if it has; otherwise `waker` is woken once it does.
    fn poll_finished(&self, waker: &Waker) -> Option<Finished>;
}

fn finished(outcome: &Outcome) -> Finished {
    match outcome {
        Ok(_) => Finished::Succeeded,
        Err(PoolError::Cancelled { .. }) => Finished::Cancelled,
        Err(_) => Finished::Failed,
    }
}

fn poll(completion: &Completion, waker: &Waker) -> Option<Finished> {
    completion.poll_outcome(waker).map(finished)
}

impl<R> sealed::Sealed for Future<R> {}
impl<R> Completable for Future<R> {
    fn poll_finished(&self, waker: &Waker) -> Option<Finished> {
        poll(self.completion(), waker)
    }
}

impl<R> sealed::Sealed for AsyncResult<R> {}
impl<R> Completable for AsyncResult<R> {
    fn poll_finished(&self, waker: &Waker) -> Option<Finished> {
        poll(self.completion(), waker)
    }
}

impl<T: Completable> sealed::Sealed for &T {}
impl<T: Completable> Completable for &T {
    fn poll_finished(&self, waker: &Waker) -> Option<Finished> {
        (**self).poll_finished(waker)
    }
}
