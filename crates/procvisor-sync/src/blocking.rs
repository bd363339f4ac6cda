//! The async twins of blocking waits.
//!
//! A futex cannot be registered with a reactor, so an async wait that cannot complete at once
//! runs the blocking wait on another thread in short slices, checking between slices whether
//! the future was dropped: on tokio's blocking pool inside a tokio runtime, and on a helper
//! thread of its own under any other executor (or none). The result comes back through a
//! oneshot channel, which any executor can await. A small state machine hands the result over:
//! if the future is dropped after the wait succeeded but before it saw the success, whatever was
//! acquired is released, so cancellation never leaks a lock or a permit.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAITING: u8 = 0;
const DONE: u8 = 1;
const CANCELLED: u8 = 2;
const TAKEN: u8 = 3;

/// How long one blocking slice waits before checking for cancellation.
const SLICE: Duration = Duration::from_millis(50);

struct Handoff<T> {
    state: AtomicU8,
    value: Mutex<Option<T>>,
    release: Box<dyn Fn(T) + Send + Sync>,
}

impl<T> Handoff<T> {
    fn undo(&self) {
        if let Some(value) = self.value.lock().unwrap_or_else(|p| p.into_inner()).take() {
            (self.release)(value);
        }
    }
}

/// Marks the handoff cancelled when the waiting future is dropped.
struct OnDrop<T>(Arc<Handoff<T>>);

impl<T> Drop for OnDrop<T> {
    fn drop(&mut self) {
        if self.0.state.swap(CANCELLED, Ordering::AcqRel) == DONE {
            self.0.undo();
        }
    }
}

/// Runs `attempt(slice)` on another thread until it returns `Some` or `deadline` passes (`None`
/// then). `release` undoes a success nobody will see. Works under any executor.
pub(crate) async fn wait_on_pool<T, A>(
    mut attempt: A,
    release: impl Fn(T) + Send + Sync + 'static,
    deadline: Option<Instant>,
) -> Option<T>
where
    T: Send + 'static,
    A: FnMut(Duration) -> Option<T> + Send + 'static,
{
    let handoff = Arc::new(Handoff {
        state: AtomicU8::new(WAITING),
        value: Mutex::new(None),
        release: Box::new(release),
    });
    let cancel_on_drop = OnDrop(handoff.clone());
    let worker = handoff.clone();
    let mut wait = move || {
        loop {
            if worker.state.load(Ordering::Acquire) == CANCELLED {
                return false;
            }
            let slice = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    left.min(SLICE)
                }
                None => SLICE,
            };
            if let Some(value) = attempt(slice) {
                *worker.value.lock().unwrap_or_else(|p| p.into_inner()) = Some(value);
                if worker
                    .state
                    .compare_exchange(WAITING, DONE, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    // The future was dropped meanwhile: nobody will see this success.
                    worker.undo();
                    return false;
                }
                return true;
            }
        }
    };
    let finished = match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.spawn_blocking(wait).await.unwrap_or(false),
        Err(_) => {
            let (done, result) = tokio::sync::oneshot::channel();
            let waiter = std::thread::Builder::new()
                .name("procvisor-async-wait".into())
                .spawn(move || {
                    let _ = done.send(wait());
                });
            match waiter {
                // A dropped sender (the wait panicked) counts as a failed wait.
                Ok(_) => result.await.unwrap_or(false),
                // No thread to wait on: say so rather than block the executor's thread.
                Err(e) => {
                    tracing::error!(
                        target: "procvisor::sync",
                        "an async wait could not start its helper thread ({e}); it gives up as if timed out"
                    );
                    false
                }
            }
        }
    };
    let taken = finished
        && handoff
            .state
            .compare_exchange(DONE, TAKEN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
    drop(cancel_on_drop);
    if taken {
        return handoff
            .value
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }
    None
}
