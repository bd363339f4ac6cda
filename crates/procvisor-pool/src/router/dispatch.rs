//! Which worker gets which task.
//!
//! The queue lives here, in the router; a worker holds only what it was sent. A worker whose
//! tasks are short gets several at once (a pipeline), so that it never waits a round trip for
//! its next task: enough to cover about [`PIPELINE_TARGET`] of work, at most [`MAX_DEPTH`]. A
//! worker whose task runs much longer than its usual ones gets nothing more, and when another
//! worker sits idle with nothing queued, the router takes back the tasks queued behind the long
//! one (a revoke; the worker gives back those it has not started) and hands them out again.
//! So pipelining never strands a task behind a slow one, which a pool that pushes work to its
//! workers otherwise does.

use super::links::WorkerId;
use super::workers::schedule;
use super::{Phase, RouterMessage, RouterState, Stage, Worker};
use crate::error::PoolError;
use crate::protocol::{Outgoing, TargetRef};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// How much expected work to queue at a worker behind its running task.
const PIPELINE_TARGET: Duration = Duration::from_millis(1);
/// The most tasks sent to one worker and not yet answered.
const MAX_DEPTH: usize = 64;
/// A running task is overdue after this many times its worker's usual task time...
const OVERDUE_FACTOR: u32 = 8;
/// ...and never before this long.
const OVERDUE_MIN: Duration = Duration::from_millis(2);
/// The most argument bytes in one message to a worker (a message may carry 256 MiB).
const BATCH_BYTES: usize = 8 << 20;

impl Worker {
    /// When its running task counts as overdue.
    fn overdue_at(&self) -> Instant {
        let usual = self.service.unwrap_or(OVERDUE_MIN);
        self.head_since + (usual * OVERDUE_FACTOR).max(OVERDUE_MIN)
    }

    /// How many more tasks it may be sent now.
    fn room(&self, now: Instant, maxtasksperchild: Option<u64>) -> usize {
        if self.stage != Stage::Ready || self.end.is_some() {
            return 0;
        }
        let depth = if !self.in_flight.is_empty() && now >= self.overdue_at() {
            1
        } else {
            match self.service {
                None => 1,
                Some(service) => {
                    let per_target = PIPELINE_TARGET.as_nanos() / service.as_nanos().max(1);
                    (per_target as usize).clamp(1, MAX_DEPTH)
                }
            }
        };
        // Refilled only once half empty, so that tasks go out in batches (one message and one
        // wakeup of the worker for many tasks), not one by one as answers come back.
        if self.in_flight.len() > depth / 2 {
            return 0;
        }
        let quota = maxtasksperchild
            .map(|max| max.saturating_sub(self.dispatched) as usize)
            .unwrap_or(usize::MAX);
        (depth - self.in_flight.len()).min(quota)
    }
}

impl RouterState {
    /// Sends queued tasks to workers with room, fewest tasks first.
    pub(super) fn dispatch(&mut self) {
        match &self.phase {
            Phase::Terminating => {
                while let Some(job) = self.queue.pop_front() {
                    let task = job.info.clone();
                    self.fail(job, PoolError::Terminated { task });
                }
                return;
            }
            Phase::Broken(cause) => {
                let cause = cause.clone();
                while let Some(job) = self.queue.pop_front() {
                    let cause = cause.clone();
                    self.fail(job, PoolError::Broken { cause });
                }
                return;
            }
            Phase::Running | Phase::Closing => {}
        }
        let now = Instant::now();
        let mut batches: Vec<(WorkerId, Vec<_>, usize)> = Vec::new();
        while !self.queue.is_empty() {
            let Some(id) = self.pick(now) else {
                break;
            };
            let mut job = self.queue.pop_front().expect("not empty");
            if !job.take_for_worker() {
                continue;
            }
            let worker = self.workers.get_mut(&id).expect("picked");
            let target = if worker.known.insert(job.target.number) {
                TargetRef::Named(job.target.number, job.target.name.to_string())
            } else {
                TargetRef::Known(job.target.number)
            };
            if worker.in_flight.is_empty() {
                worker.head_since = now;
                if let Some(limit) = job.time_limit {
                    schedule(
                        limit,
                        self.myself.clone(),
                        RouterMessage::Deadline(id, job.id()),
                    );
                }
            }
            worker.dispatched += 1;
            let size = job.args.bytes().len();
            let entry = (job.id(), target, job.args.clone(), job.time_limit.is_none());
            worker.in_flight.push_back(job);
            match batches.iter_mut().find(|(w, _, _)| *w == id) {
                Some((_, batch, bytes)) if *bytes + size <= BATCH_BYTES => {
                    batch.push(entry);
                    *bytes += size;
                }
                Some((_, batch, bytes)) => {
                    // Full: this one goes out now, a new batch starts.
                    let full = std::mem::replace(batch, vec![entry]);
                    *bytes = size;
                    worker.send(Outgoing::Tasks(full));
                }
                None => batches.push((id, vec![entry], size)),
            }
        }
        for (id, batch, _) in batches {
            self.workers[&id].send(Outgoing::Tasks(batch));
        }
        if self.queue.is_empty() {
            self.rebalance(now);
        }
    }

    /// The worker with room and the fewest tasks.
    fn pick(&self, now: Instant) -> Option<WorkerId> {
        self.workers
            .iter()
            .filter(|(_, w)| w.room(now, self.maxtasksperchild) > 0)
            .min_by_key(|(id, w)| (w.in_flight.len(), **id))
            .map(|(id, _)| *id)
    }

    /// With a worker idle and nothing queued: take back what waits behind an overdue task.
    fn rebalance(&mut self, now: Instant) {
        let idle = self
            .workers
            .values()
            .any(|w| w.stage == Stage::Ready && w.end.is_none() && w.in_flight.is_empty());
        if !idle {
            return;
        }
        let mut next_check: Option<Instant> = None;
        for worker in self.workers.values_mut() {
            if worker.stage != Stage::Ready || worker.revoking || worker.in_flight.len() < 2 {
                continue;
            }
            let overdue_at = worker.overdue_at();
            if now >= overdue_at {
                let waiting: Vec<u64> = worker.in_flight.iter().skip(1).map(|j| j.id()).collect();
                worker.revoking = true;
                worker.send(Outgoing::Revoke(waiting));
            } else {
                next_check = Some(next_check.map_or(overdue_at, |t| t.min(overdue_at)));
            }
        }
        if let Some(at) = next_check {
            if self.rebalance_at.is_none_or(|scheduled| at < scheduled) {
                self.rebalance_at = Some(at);
                schedule(
                    at.saturating_duration_since(now),
                    self.myself.clone(),
                    RouterMessage::Rebalance,
                );
            }
        }
    }

    /// A worker gave back tasks it had not started: they go first in the queue, in order.
    pub(super) fn revoked(&mut self, id: WorkerId, tasks: &[u64]) {
        let Some(worker) = self.workers.get_mut(&id) else {
            return;
        };
        worker.revoking = false;
        let mut returned = Vec::new();
        let mut kept = std::collections::VecDeque::new();
        for job in worker.in_flight.drain(..) {
            if tasks.contains(&job.id()) {
                returned.push(job);
            } else {
                kept.push_back(job);
            }
        }
        worker.in_flight = kept;
        worker.dispatched = worker.dispatched.saturating_sub(returned.len() as u64);
        // The first of those left is the one running; it has been since before the revoke.
        if !returned.is_empty() {
            self.shared
                .counters
                .rebalanced
                .fetch_add(returned.len() as u64, Relaxed);
            tracing::debug!(target: "procvisor::pool", worker = %worker.name, tasks = returned.len(), "took back tasks queued behind a long one");
        }
        for job in returned.into_iter().rev() {
            self.queue.push_front(job);
        }
    }
}
