//! A pool's counters: what it has done, and how its workers fared.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// A snapshot of a pool's counters ([`Pool::stats`](crate::Pool::stats)).
///
/// Tasks are counted as the router sees them: a chunk of a `map` is one task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// The number of worker processes the pool keeps.
    pub processes: usize,
    /// Workers started, set up and taking tasks now.
    pub workers_ready: usize,
    /// Tasks submitted.
    pub submitted: u64,
    /// Tasks that returned a value.
    pub completed: u64,
    /// Tasks that failed (panic, lost worker, time limit, terminate, broken pool).
    pub failed: u64,
    /// Tasks waiting for a worker (in a pool across hosts, those a host holds behind its
    /// running ones too).
    pub queued: usize,
    /// Tasks sent to a worker and not yet answered (in a pool across hosts, those a host said
    /// its workers run).
    pub running: usize,
    /// Workers that died unexpectedly (what the restart intensity counts).
    pub crashes: u64,
    /// Workers started to replace one that ended (crashed, killed or recycled).
    pub restarts: u64,
    /// Workers recycled after `maxtasksperchild` tasks.
    pub recycled: u64,
    /// Tasks killed at their time limit.
    pub time_limits: u64,
    /// Tasks started again after their worker was lost or killed.
    pub retries: u64,
    /// Tasks taken back from a busy worker for an idle one.
    pub rebalanced: u64,
}

/// The live counters, updated by the router.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) workers_ready: AtomicUsize,
    pub(crate) submitted: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) queued: AtomicUsize,
    pub(crate) running: AtomicUsize,
    pub(crate) crashes: AtomicU64,
    pub(crate) restarts: AtomicU64,
    pub(crate) recycled: AtomicU64,
    pub(crate) time_limits: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) rebalanced: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self, processes: usize) -> PoolStats {
        PoolStats {
            processes,
            workers_ready: self.workers_ready.load(Relaxed),
            submitted: self.submitted.load(Relaxed),
            completed: self.completed.load(Relaxed),
            failed: self.failed.load(Relaxed),
            queued: self.queued.load(Relaxed),
            running: self.running.load(Relaxed),
            crashes: self.crashes.load(Relaxed),
            restarts: self.restarts.load(Relaxed),
            recycled: self.recycled.load(Relaxed),
            time_limits: self.time_limits.load(Relaxed),
            retries: self.retries.load(Relaxed),
            rebalanced: self.rebalanced.load(Relaxed),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }
}
