//! An executor's done callbacks. A future's callback must run after its result is visible
//! (Python passes it the finished future), so it cannot run among the pool's result callbacks,
//! which run before; nor on the router's thread, which it would stall. Each executor has a
//! callback thread of its own, and a callback waits for its future as a waker.

use crate::callbacks::{CallbackRunner, Job};
use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};

/// The thread that runs an executor's done callbacks.
pub(crate) type DoneCallbacks = CallbackRunner;

/// A thread for an executor's done callbacks.
pub(crate) fn done_callbacks() -> Arc<DoneCallbacks> {
    CallbackRunner::named("procvisor-done-callbacks")
}

/// A waker that hands `job` to `runner`'s thread when woken (once).
pub(crate) fn waker_for(runner: &Arc<DoneCallbacks>, job: Job) -> Waker {
    Waker::from(Arc::new(Pending {
        job: Mutex::new(Some(job)),
        runner: runner.clone(),
    }))
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
            self.runner.run_job(job);
        }
    }
}
