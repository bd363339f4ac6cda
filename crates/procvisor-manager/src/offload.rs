//! How a proxy's async twin waits: the blocking round trip runs on a blocking thread, and the
//! caller's task awaits its answer. Any executor can await it, a single-threaded one included.
//!
//! Dropping the future cancels the call: the connection's sending half is shut, which a call
//! waiting in the manager notices (as it notices a client that died) and gives up without
//! taking anything. What the manager gave just before is not lost: an item a cancelled `get`
//! took goes back to the front of its queue, a lock or permit a cancelled `acquire` obtained is
//! released. That is the `undo` of [`offload`], run on whichever side sees the answer last.

use crate::error::ManagerError;
use std::future::Future;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::sync::oneshot;

/// Gives back what an answer nobody took had obtained.
pub(crate) type Undo<T> = Box<dyn FnOnce(T) + Send>;

type SharedUndo<T> = Arc<Mutex<Option<Undo<T>>>>;

/// A blocking call's answer, as a future.
pub(crate) struct Offloaded<T: Send + 'static> {
    answer: Option<oneshot::Receiver<Result<T, ManagerError>>>,
    undo: SharedUndo<Result<T, ManagerError>>,
    cancel: Arc<Cancel>,
}

/// How a dropped future stops its call: the connection the call runs on, while it does.
#[derive(Default)]
pub(crate) struct Cancel {
    state: Mutex<CancelState>,
}

#[derive(Default)]
struct CancelState {
    cancelled: bool,
    connection: Option<RawFd>,
}

impl Cancel {
    fn lock(&self) -> std::sync::MutexGuard<'_, CancelState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cancel(&self) {
        let mut state = self.lock();
        state.cancelled = true;
        if let Some(fd) = state.connection {
            // SAFETY: `fd` is open: the call clears it (under this lock) before its connection
            // can close. Shutting the sending half leaves the answer readable.
            unsafe { libc::shutdown(fd, libc::SHUT_WR) };
        }
    }

    /// The call now runs on `fd`; false if it was cancelled already (then it must not start).
    pub(crate) fn watch(&self, fd: RawFd) -> bool {
        let mut state = self.lock();
        state.connection = Some(fd);
        !state.cancelled
    }

    /// The call is over; whether it was cancelled (its connection is then of no further use).
    pub(crate) fn unwatch(&self) -> bool {
        let mut state = self.lock();
        state.connection = None;
        state.cancelled
    }
}

/// Runs `work` off the caller's executor; `undo` (if any) receives its answer when the future
/// was dropped before taking it.
pub(crate) fn offload<T: Send + 'static>(
    work: impl FnOnce(&Cancel) -> Result<T, ManagerError> + Send + 'static,
    undo: Option<Undo<Result<T, ManagerError>>>,
) -> Offloaded<T> {
    let (tx, rx) = oneshot::channel();
    let undo = Arc::new(Mutex::new(undo));
    let cancel = Arc::new(Cancel::default());
    let (undo_here, cancel_here) = (undo.clone(), cancel.clone());
    run_blocking(move || {
        if let Err(unwanted) = tx.send(work(&cancel_here)) {
            give_back(&undo_here, unwanted);
        }
    });
    Offloaded {
        answer: Some(rx),
        undo,
        cancel,
    }
}

fn give_back<T>(undo: &SharedUndo<T>, unwanted: T) {
    let undo = undo.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(undo) = undo {
        undo(unwanted);
    }
}

/// Runs `f` on a blocking thread of `blocking`'s pool. Not tokio's: a runtime waits for its
/// blocking tasks when it is dropped, and a cancelled `get` may wait in the manager for ever.
pub(crate) fn run_blocking(f: impl FnOnce() + Send + 'static) {
    blocking::unblock(f).detach();
}

impl<T: Send + 'static> Future for Offloaded<T> {
    type Output = Result<T, ManagerError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(answer) = self.answer.as_mut() else {
            panic!("an async proxy call was polled after it completed");
        };
        match Pin::new(answer).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(answer) => {
                self.answer = None;
                Poll::Ready(answer.unwrap_or_else(|_| {
                    Err(ManagerError::Unreachable {
                        address: "(unknown)".into(),
                        reason: "the thread that made the call ended without an answer".into(),
                    })
                }))
            }
        }
    }
}

impl<T: Send + 'static> Drop for Offloaded<T> {
    fn drop(&mut self) {
        let Some(mut answer) = self.answer.take() else {
            return;
        };
        answer.close();
        self.cancel.cancel();
        // Sent before the close and never taken: give it back, off this (async) thread.
        if let Ok(unwanted) = answer.try_recv() {
            let undo = self.undo.clone();
            run_blocking(move || give_back(&undo, unwanted));
        }
    }
}
