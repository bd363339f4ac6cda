//! How a pool ends: closed (work done, workers stopped), terminated (work failed, workers
//! killed), or broken (its workers crashed more often than its restart intensity allows).

use super::workers::schedule;
use super::{End, Job, Phase, RouterMessage, RouterState, Stage};
use crate::error::PoolError;
use crate::lifecycle::PoolState;
use crate::protocol::Outgoing;
use std::time::Duration;

/// How long workers get to exit after SIGTERM before SIGKILL.
const TERMINATE_GRACE: Duration = Duration::from_secs(1);

impl RouterState {
    /// Records an unexpected worker end against the restart intensity.
    pub(super) fn crashed(&mut self, cause: String) {
        self.last_crash = Some(cause);
        if !self.crashes.record(self.intensity) {
            self.over_intensity = true;
        }
    }

    pub(super) fn crash_limit_exceeded(&self) -> bool {
        self.over_intensity && !matches!(self.phase, Phase::Broken(_))
    }

    /// Gives up: every pending task fails with the cause, every worker is killed, and new work
    /// is refused.
    pub(super) fn break_pool(&mut self) {
        let intensity = self.intensity;
        let cause = format!(
            "more than {} worker crashes within {:?} (the last: {})",
            intensity.max_restarts,
            intensity.period,
            self.last_crash.as_deref().unwrap_or("unknown")
        );
        tracing::error!(target: "procvisor::pool", %cause, "the pool is broken");
        self.phase = Phase::Broken(cause.clone());
        self.shared
            .lifecycle
            .advance(PoolState::Broken(cause.clone()));
        for job in self.take_pending() {
            let cause = cause.clone();
            self.fail(job, PoolError::Broken { cause });
        }
        for worker in self.workers.values_mut() {
            worker.end = Some(End::Terminated);
            if let Some(process) = &worker.process {
                let _ = process.kill();
            }
        }
    }

    /// Every task the router holds: queued, sent, or waiting for its worker's exit status.
    fn take_pending(&mut self) -> Vec<Job> {
        let mut pending: Vec<Job> = self.queue.drain(..).collect();
        for worker in self.workers.values_mut() {
            pending.extend(worker.in_flight.drain(..));
            pending.extend(worker.lost.take());
        }
        pending
    }

    pub(super) fn close(&mut self) {
        if self.phase == Phase::Running {
            self.phase = Phase::Closing;
        }
        self.stop_idle_if_closing();
    }

    /// When closing and the work is done: asks every worker to exit.
    pub(super) fn stop_idle_if_closing(&mut self) {
        if self.phase != Phase::Closing || self.has_work() {
            return;
        }
        for worker in self.workers.values_mut() {
            if worker.end.is_none() && matches!(worker.stage, Stage::Booting | Stage::Ready) {
                worker.end = Some(End::Stopped);
                worker.send(Outgoing::Stop);
            }
        }
    }

    pub(super) fn terminate(&mut self) {
        if matches!(self.phase, Phase::Terminating | Phase::Broken(_)) {
            return;
        }
        self.phase = Phase::Terminating;
        for job in self.take_pending() {
            let task = job.info.clone();
            self.fail(job, PoolError::Terminated { task });
        }
        for worker in self.workers.values_mut() {
            if worker.end.is_none() || matches!(worker.end, Some(End::Stopped | End::Recycled)) {
                worker.end = Some(End::Terminated);
            }
            if let Some(process) = &worker.process {
                let _ = process.terminate();
            }
        }
        if !self.workers.is_empty() {
            schedule(
                TERMINATE_GRACE,
                self.myself.clone(),
                RouterMessage::KillStragglers,
            );
        }
    }

    pub(super) fn kill_stragglers(&mut self) {
        for worker in self.workers.values() {
            if let Some(process) = &worker.process {
                tracing::warn!(target: "procvisor::pool", worker = %worker.name, pid = worker.pid, "a worker ignored SIGTERM; killing it");
                let _ = process.kill();
            }
        }
    }

    /// Whether the router's work is over: the pool is not running and every worker is gone.
    pub(super) fn finished(&self) -> bool {
        self.phase != Phase::Running && self.workers.is_empty() && self.queue.is_empty()
    }
}
