//! The threads of a [`ThreadPool`](super::ThreadPool) and the queue they take work from.

use crate::error::PoolError;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Instant;

/// One unit of work: `None` runs it; otherwise it is told why it will not run.
pub(crate) type Work = Box<dyn FnOnce(Option<Skip>) + Send>;

/// Why queued work does not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skip {
    /// The pool was closed or terminated before it was queued.
    Refused,
    /// The pool was terminated while it waited.
    Terminated,
}

/// A thread's initializer.
pub(crate) type Initializer = Arc<dyn Fn() + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Running,
    /// `close`: the queue drains, then the threads end.
    Closing,
    /// `terminate`: queued work fails, the threads end after what they run.
    Terminating,
}

struct Queue {
    work: VecDeque<Work>,
    phase: Phase,
    alive: usize,
}

/// The queue and the threads.
pub(crate) struct Workers {
    queue: Mutex<Queue>,
    has_work: Condvar,
    ended: Condvar,
    handles: Mutex<Vec<JoinHandle<()>>>,
    pub(crate) threads: usize,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let queue = self.lock();
        f.debug_struct("Workers")
            .field("threads", &self.threads)
            .field("alive", &queue.alive)
            .field("queued", &queue.work.len())
            .field("phase", &queue.phase)
            .finish()
    }
}

impl Workers {
    /// Starts `threads` threads, each running `initializer` first.
    pub(crate) fn start(
        threads: usize,
        initializer: Option<Initializer>,
        name: &str,
    ) -> Result<Arc<Workers>, PoolError> {
        if threads == 0 {
            return Err(PoolError::InvalidArgument(
                "Number of threads must be at least 1".into(),
            ));
        }
        let workers = Arc::new(Workers {
            queue: Mutex::new(Queue {
                work: VecDeque::new(),
                phase: Phase::Running,
                alive: threads,
            }),
            has_work: Condvar::new(),
            ended: Condvar::new(),
            handles: Mutex::new(Vec::new()),
            threads,
        });
        for index in 0..threads {
            let shared = workers.clone();
            let initializer = initializer.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{index}"))
                .spawn(move || shared.run(initializer));
            match spawned {
                Ok(handle) => workers.handles_lock().push(handle),
                Err(e) => {
                    workers.lock().alive -= threads - index;
                    workers.terminate();
                    return Err(PoolError::InvalidArgument(format!(
                        "cannot start a pool thread: {e}"
                    )));
                }
            }
        }
        Ok(workers)
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn handles_lock(&self) -> MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.handles.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(&self, initializer: Option<Initializer>) {
        if let Some(initializer) = initializer {
            // A failing initializer is reported and the thread works on (Python's thread pool
            // would lose the thread and hang its tasks).
            if let Err(failure) =
                procvisor_runtime::__private::pool_support::catch_panic(|| initializer())
            {
                tracing::error!(target: "procvisor::pool", %failure, "a thread pool's initializer panicked");
            }
        }
        loop {
            let work = {
                let mut queue = self.lock();
                loop {
                    if let Some(work) = queue.work.pop_front() {
                        break Some(work);
                    }
                    if queue.phase != Phase::Running {
                        break None;
                    }
                    queue = self.has_work.wait(queue).unwrap_or_else(|p| p.into_inner());
                }
            };
            match work {
                Some(work) => work(None),
                None => break,
            }
        }
        let mut queue = self.lock();
        queue.alive -= 1;
        if queue.alive == 0 {
            self.ended.notify_all();
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        self.lock().phase
    }

    /// Queues work; `Err` (and the work is told) when the pool takes no more.
    pub(crate) fn push(&self, work: Vec<Work>) -> Result<(), PoolError> {
        let mut queue = self.lock();
        if queue.phase != Phase::Running {
            drop(queue);
            for item in work {
                item(Some(Skip::Refused));
            }
            return Err(PoolError::NotRunning);
        }
        let many = work.len() > 1;
        queue.work.extend(work);
        drop(queue);
        if many {
            self.has_work.notify_all();
        } else {
            self.has_work.notify_one();
        }
        Ok(())
    }

    pub(crate) fn close(&self) {
        let mut queue = self.lock();
        if queue.phase == Phase::Running {
            queue.phase = Phase::Closing;
        }
        drop(queue);
        self.has_work.notify_all();
    }

    /// Fails what is queued; the threads end after what they run now.
    pub(crate) fn terminate(&self) {
        let dropped: Vec<Work> = {
            let mut queue = self.lock();
            queue.phase = Phase::Terminating;
            queue.work.drain(..).collect()
        };
        self.has_work.notify_all();
        for work in dropped {
            work(Some(Skip::Terminated));
        }
    }

    /// Waits until every thread has ended, or `deadline` passes (false then).
    pub(crate) fn wait_ended(&self, deadline: Option<Instant>) -> bool {
        let mut queue = self.lock();
        while queue.alive > 0 {
            match deadline {
                None => queue = self.ended.wait(queue).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    queue = self
                        .ended
                        .wait_timeout(queue, deadline - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
        drop(queue);
        for handle in self.handles_lock().drain(..) {
            let _ = handle.join();
        }
        true
    }
}
