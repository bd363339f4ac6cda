//! Where a call waits for its reply: from a thread (with a deadline) or from a task.

use super::envelope::CallFailure;
use super::link::{Drained, Link};
use procvisor_wire::Payload;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::Instant;

pub(crate) type CallResult = Result<Payload, CallFailure>;

/// How long a blocking call polls for its reply before it sleeps. A call that sleeps calls the
/// link's reader task back, and the task then wakes a runtime thread for each message until it
/// steps aside again: 50 µs, a few times a typical round trip, let one call in a hundred do
/// that on a small virtual machine, and those brought a runtime thread awake about once every
/// five calls. At 200 µs it is about one call in ten thousand.
const SPIN: std::time::Duration = std::time::Duration::from_micros(200);

#[derive(Default)]
struct State {
    result: Option<CallResult>,
    waker: Option<Waker>,
    sleeping: bool,
}

/// One pending call's reply.
#[derive(Default)]
pub(crate) struct CallSlot {
    state: Mutex<State>,
    filled: Condvar,
    /// The link the reply comes back by, if it comes from another process.
    link: Option<Arc<Link>>,
}

impl std::fmt::Debug for CallSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallSlot").finish_non_exhaustive()
    }
}

impl CallSlot {
    /// A slot for the reply to a call that leaves by `link` (`None`: a call in this process).
    pub(crate) fn toward(link: Option<Arc<Link>>) -> CallSlot {
        CallSlot {
            link,
            ..CallSlot::default()
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores the reply (the first one wins) and wakes the waiter.
    pub(crate) fn fill(&self, result: CallResult) {
        let mut state = self.lock();
        if state.result.is_some() {
            return;
        }
        state.result = Some(result);
        let waker = state.waker.take();
        let sleeping = state.sleeping;
        drop(state);
        if sleeping {
            self.filled.notify_one();
        }
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Waits for the reply until `deadline`; `None` when it passed first.
    ///
    /// It polls for a few hundred microseconds before it sleeps: a reply from another process
    /// usually comes much sooner, and a sleeping thread takes tens of microseconds to wake on a
    /// small or virtual machine.
    ///
    /// While it polls it also reads the link the reply comes back by itself, when no one else
    /// is reading it: the reply then reaches this thread without any thread waking.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> Option<CallResult> {
        let link = self.link.as_deref();
        let spin_until = Instant::now() + SPIN;
        let reading = link.map(Link::caller_reading);
        while Instant::now() < spin_until {
            if let Some(result) = self.lock().result.take() {
                return Some(result);
            }
            if let Some(link) = link {
                if link.drain_here() == Drained::Ended {
                    break;
                }
            }
            // Yield the CPU at each look, as a `Connection` does: on a busy machine the process
            // that must answer may be waiting for this very core.
            std::thread::yield_now();
        }
        drop(reading);
        // From here the link's reader task must deliver the reply.
        if let Some(link) = link {
            link.want_reader();
        }
        let mut state = self.lock();
        loop {
            if let Some(result) = state.result.take() {
                return Some(result);
            }
            state.sleeping = true;
            state = match deadline {
                None => self.filled.wait(state).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        state.sleeping = false;
                        return None;
                    }
                    self.filled
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
            state.sleeping = false;
        }
    }

    /// The reply if it is in; otherwise registers `waker`.
    pub(crate) fn poll(&self, waker: &Waker) -> Poll<CallResult> {
        let mut state = self.lock();
        match state.result.take() {
            Some(result) => Poll::Ready(result),
            None => {
                state.waker = Some(waker.clone());
                drop(state);
                // The link's reader task delivers the reply.
                if let Some(link) = &self.link {
                    link.want_reader();
                }
                Poll::Pending
            }
        }
    }
}

/// Waits on `slot` from synchronous code. On a thread of a multi-threaded tokio runtime the wait
/// moves off the runtime ([`tokio::task::block_in_place`]). On a single-threaded runtime (a
/// `#[tokio::test]`, say) the thread just waits: replies are delivered by the node's own
/// runtime, never by the caller's, so nothing the wait needs is held up (the caller's other
/// tasks are, as with any blocking call there).
pub(crate) fn wait_blocking(
    slot: &CallSlot,
    deadline: Option<Instant>,
) -> Result<Option<CallResult>, super::error::ActorError> {
    match tokio::runtime::Handle::try_current() {
        Err(_) => Ok(slot.wait(deadline)),
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            Ok(tokio::task::block_in_place(|| slot.wait(deadline)))
        }
        Ok(_) => Ok(slot.wait(deadline)),
    }
}
