//! Where children are started from.
//!
//! The kernel's parent-death signal fires when the *thread* that created a child exits, not the
//! process. A child started from a short-lived thread (a tokio blocking-pool thread, a scoped
//! thread) would be killed when that thread ends. So children are started from the main thread
//! when that is the caller, and otherwise from one long-lived launcher thread per node.

use std::sync::Mutex;
use std::sync::mpsc::{Sender, channel};

type Job = Box<dyn FnOnce() + Send>;

/// The node's launcher thread, started on first use.
#[derive(Debug, Default)]
pub(crate) struct Launcher {
    jobs: Mutex<Option<Sender<Job>>>,
}

fn on_main_thread() -> bool {
    // SAFETY: gettid and getpid have no preconditions.
    unsafe { libc::gettid() == libc::getpid() }
}

impl Launcher {
    /// Runs `f` on a thread that lives as long as the process, and returns its result.
    pub(crate) fn run<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> R {
        if on_main_thread() {
            return f();
        }
        let (done_tx, done_rx) = channel();
        let job: Job = Box::new(move || {
            let _ = done_tx.send(f());
        });
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        let sender = jobs.get_or_insert_with(|| {
            let (tx, rx) = channel::<Job>();
            std::thread::Builder::new()
                .name("procvisor-launcher".into())
                .spawn(move || {
                    for job in rx {
                        job();
                    }
                })
                .expect("cannot start the launcher thread");
            tx
        });
        sender
            .send(job)
            .expect("the launcher thread lives as long as the process");
        drop(jobs);
        done_rx.recv().expect("the launcher thread ran the job")
    }
}
