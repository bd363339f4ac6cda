//! The thread that runs an executor's done callbacks. A future's callback must run after its
//! result is visible (Python passes it the finished future), so it cannot run among the pool's
//! result callbacks, which run before; nor on the router's thread, which it would stall.

use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};

type Job = Box<dyn FnOnce() + Send>;

/// Starts its thread on first use; the thread ends when the executor and its futures are gone.
#[derive(Debug, Default)]
pub(crate) struct DoneCallbacks {
    sender: Mutex<Option<Sender<Job>>>,
}

impl DoneCallbacks {
    pub(crate) fn new() -> Arc<DoneCallbacks> {
        Arc::new(DoneCallbacks::default())
    }

    /// A waker that hands `job` to the callback thread when woken (once).
    pub(crate) fn waker_for(self: &Arc<Self>, job: Job) -> Waker {
        Waker::from(Arc::new(Pending {
            job: Mutex::new(Some(job)),
            runner: self.clone(),
        }))
    }

    fn run(&self, job: Job) {
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
            .name("procvisor-done-callbacks".into())
            .spawn(move || {
                for job in rx {
                    crate::callbacks::call_guarded(job);
                }
            });
        match spawned {
            Ok(_) => {
                let _ = tx.send(job);
                *sender = Some(tx);
            }
            Err(e) => {
                tracing::error!(target: "procvisor::pool", %e, "cannot start the done-callback thread; running the callback inline");
                drop(sender);
                crate::callbacks::call_guarded(job);
            }
        }
    }
}

struct Pending {
    job: Mutex<Option<Job>>,
    runner: Arc<DoneCallbacks>,
}

impl Wake for Pending {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let job = self.job.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(job) = job {
            self.runner.run(job);
        }
    }
}
