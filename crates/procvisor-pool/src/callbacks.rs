//! The pool's callback thread: `on_complete` callbacks run here, one at a time, as Python runs
//! `callback` and `error_callback` on its result-handler thread. A slow callback delays other
//! callbacks, never the router. (An executor has a thread of its own of this kind for its
//! futures' done callbacks.)

use crate::completion::Completion;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};

/// One piece of work for the thread.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// Starts its thread on first use; the thread ends when the runner is dropped.
#[derive(Debug)]
pub(crate) struct CallbackRunner {
    name: &'static str,
    sender: Mutex<Option<Sender<Job>>>,
}

impl CallbackRunner {
    /// The pool's runner, for its results' callbacks.
    pub(crate) fn new() -> Arc<CallbackRunner> {
        CallbackRunner::named("procvisor-pool-callbacks")
    }

    /// A runner whose thread is called `name`.
    pub(crate) fn named(name: &'static str) -> Arc<CallbackRunner> {
        Arc::new(CallbackRunner {
            name,
            sender: Mutex::new(None),
        })
    }

    /// Runs `completion`'s callbacks on the callback thread.
    pub(crate) fn run(&self, completion: Arc<Completion>) {
        self.run_job(Box::new(move || completion.run_callbacks()));
    }

    /// Runs `job` on the thread, after the jobs before it.
    pub(crate) fn run_job(&self, job: Job) {
        let mut sender = self.sender.lock().unwrap_or_else(|p| p.into_inner());
        let job = match sender.as_ref() {
            Some(running) => match running.send(job) {
                Ok(()) => return,
                Err(returned) => returned.0,
            },
            None => job,
        };
        let (tx, rx) = channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name(self.name.into())
            .spawn(move || {
                for job in rx {
                    call_guarded(job);
                }
            });
        match spawned {
            Ok(_) => {
                let _ = tx.send(job);
                *sender = Some(tx);
            }
            Err(e) => {
                // No thread: run it here rather than never.
                tracing::error!(target: "procvisor::pool", %e, thread = self.name, "cannot start a callback thread; running the callback inline");
                drop(sender);
                call_guarded(job);
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
