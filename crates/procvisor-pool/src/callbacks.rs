//! The pool's callback thread: `on_complete` callbacks run here, one at a time, as Python runs
//! `callback` and `error_callback` on its result-handler thread. A slow callback delays other
//! callbacks, never the router.

use crate::completion::Completion;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};

/// Starts its thread on first use.
#[derive(Debug, Default)]
pub(crate) struct CallbackRunner {
    sender: Mutex<Option<Sender<Arc<Completion>>>>,
}

impl CallbackRunner {
    pub(crate) fn new() -> Arc<CallbackRunner> {
        Arc::new(CallbackRunner::default())
    }

    /// Runs `completion`'s callbacks on the callback thread.
    pub(crate) fn run(&self, completion: Arc<Completion>) {
        let mut sender = self.sender.lock().unwrap_or_else(|p| p.into_inner());
        let completion = match sender.as_ref() {
            Some(running) => match running.send(completion) {
                Ok(()) => return,
                Err(returned) => returned.0,
            },
            None => completion,
        };
        let (tx, rx) = channel::<Arc<Completion>>();
        let spawned = std::thread::Builder::new()
            .name("procvisor-pool-callbacks".into())
            .spawn(move || {
                for completion in rx {
                    completion.run_callbacks();
                }
            });
        match spawned {
            Ok(_) => {
                let _ = tx.send(completion);
                *sender = Some(tx);
            }
            Err(e) => {
                // No thread: run them here rather than never.
                tracing::error!(target: "procvisor::pool", %e, "cannot start the callback thread; running callbacks inline");
                drop(sender);
                completion.run_callbacks();
            }
        }
    }
}

/// Runs a user callback; a panic is logged and does not stop the thread (in Python, an
/// exception in a callback kills the result handler and hangs the pool).
pub(crate) fn call_guarded(f: impl FnOnce()) {
    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic with a non-string payload".into());
        tracing::error!(target: "procvisor::pool", %message, "a result callback panicked");
    }
}
