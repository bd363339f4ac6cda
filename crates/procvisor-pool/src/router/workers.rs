//! A worker's life as the router sees it: started, ready, answering, gone, exited; and the
//! replacements the pool starts to stay at full strength.

use super::links::{self, Started, WorkerId};
use super::{End, Phase, RouterMessage, RouterState, Stage, Worker};
use crate::error::{PoolError, WorkerExit};
use crate::protocol::{Outgoing, ToRouter};
use procvisor_runtime::{ExitReason, Failure};
use procvisor_wire::Payload;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// How much the moving average of a worker's task time moves per task.
const SERVICE_WEIGHT: f64 = 0.2;

impl RouterState {
    /// Adds a worker record in the `Starting` stage.
    pub(super) fn new_worker(&mut self) -> WorkerId {
        let id = self.next_worker;
        self.next_worker += 1;
        self.workers.insert(id, Worker::starting());
        id
    }

    /// Starts worker processes until the pool is at full strength again (or needs none).
    pub(super) fn replenish(&mut self) {
        if self.over_intensity {
            return;
        }
        let wanted = match self.phase {
            Phase::Running => self.shared.processes,
            Phase::Closing if self.has_work() => self.shared.processes,
            _ => 0,
        };
        let live = self.workers.values().filter(|w| w.counts()).count();
        for _ in live..wanted {
            let id = self.new_worker();
            self.shared.counters.restarts.fetch_add(1, Relaxed);
            let spec = self.spec.clone();
            let router = self.myself.clone();
            tokio::task::spawn_blocking(move || {
                let started = links::start_worker(&spec);
                let _ = router.send_message(RouterMessage::Started(id, Box::new(started)));
            });
        }
    }

    /// Whether any task is queued, running, or waiting for its worker's exit status, or an
    /// `Imap` may still submit some.
    pub(super) fn has_work(&self) -> bool {
        self.shared
            .open_streams
            .load(std::sync::atomic::Ordering::Acquire)
            > 0
            || !self.queue.is_empty()
            || self
                .workers
                .values()
                .any(|w| !w.in_flight.is_empty() || w.lost.is_some())
    }

    pub(super) fn started(&mut self, id: WorkerId, started: Result<Started, PoolError>) {
        let started = match started {
            Ok(started) => started,
            Err(error) => {
                self.workers.remove(&id);
                tracing::error!(target: "procvisor::pool", %error, "cannot start a pool worker");
                self.crashed(format!("{error}"));
                if self.crash_limit_exceeded() {
                    self.break_pool();
                } else {
                    self.replenish();
                }
                return;
            }
        };
        let Some(worker) = self.workers.get_mut(&id) else {
            return;
        };
        let links =
            links::spawn_link_tasks(id, started.link, &started.process, self.myself.clone());
        worker.name = started.name;
        worker.pid = started.pid;
        match links {
            Ok(links) => {
                worker.links = Some(links);
                worker.stage = Stage::Booting;
                tracing::debug!(target: "procvisor::pool", worker = %worker.name, pid = worker.pid, "worker started");
            }
            Err(e) => {
                tracing::error!(target: "procvisor::pool", worker = %worker.name, %e, "cannot watch a pool worker; killing it");
                let _ = started.process.kill();
                worker.end = Some(End::Terminated);
                worker.stage = Stage::Gone;
                links::spawn_exit_waiter(id, started.process, self.myself.clone());
                self.replenish();
                return;
            }
        }
        worker.process = Some(started.process);
        // Started after the pool stopped needing it.
        match self.phase {
            Phase::Terminating | Phase::Broken(_) => {
                worker.end = Some(End::Terminated);
                if let Some(process) = &worker.process {
                    let _ = process.kill();
                }
            }
            Phase::Closing if !self.has_work() => {
                let worker = self.workers.get_mut(&id).expect("just updated");
                worker.end = Some(End::Stopped);
                worker.send(Outgoing::Stop);
            }
            _ => {}
        }
    }

    pub(super) fn heard_from(&mut self, id: WorkerId, message: ToRouter) {
        match message {
            ToRouter::Ready(actor) => {
                if let Some(worker) = self.workers.get_mut(&id) {
                    if worker.stage == Stage::Booting {
                        worker.stage = Stage::Ready;
                    }
                    worker.actor = actor;
                }
            }
            ToRouter::AnswerRing(ring) => {
                if let Some(worker) = self.workers.get_mut(&id) {
                    worker.answers = Some(ring);
                }
            }
            ToRouter::Leaving(failure) => self.leaving(id, failure),
            ToRouter::InitFailed(failure) => {
                if let Some(worker) = self.workers.get_mut(&id) {
                    tracing::error!(target: "procvisor::pool", worker = %worker.name, pid = worker.pid, %failure, "the worker's initializer failed");
                    worker.init_failure = Some(failure);
                }
            }
            ToRouter::Done { id: task, result } => self.done(id, task, result),
            ToRouter::Revoked(tasks) => self.revoked(id, &tasks),
            ToRouter::DoneMany(done) => {
                for (task, result) in done {
                    self.done(id, task, result);
                }
            }
        }
    }

    /// What fails before a worker can take tasks: its initializer, or its actor.
    fn what_fails(&self) -> &'static str {
        match self.spec.mode {
            crate::protocol::WorkerMode::Functions { .. } => "the initializer of",
            crate::protocol::WorkerMode::Actor { .. } => "the actor of",
        }
    }

    /// A worker's actor stopped itself (or failed): the tasks it was sent go back to the queue
    /// (it runs none of them), and a replacement starts. A stop is a planned end; a failure
    /// counts as a crash.
    fn leaving(&mut self, id: WorkerId, failure: Option<Failure>) {
        let Some(worker) = self.workers.get_mut(&id) else {
            return;
        };
        let sent = std::mem::take(&mut worker.in_flight);
        for job in sent.into_iter().rev() {
            self.queue.push_front(job);
        }
        let worker = self.workers.get_mut(&id).expect("just found");
        match failure {
            None => {
                tracing::info!(target: "procvisor::pool", worker = %worker.name, pid = worker.pid, "the worker's actor stopped; replacing the worker");
                worker.end.get_or_insert(End::Left);
            }
            Some(failure) => {
                tracing::warn!(target: "procvisor::pool", worker = %worker.name, pid = worker.pid, %failure, "the worker's actor failed");
                worker.init_failure = Some(failure);
            }
        }
        self.replenish();
        self.dispatch();
    }

    fn done(&mut self, id: WorkerId, task: u64, result: Result<procvisor_wire::Payload, Failure>) {
        let Some(worker) = self.workers.get_mut(&id) else {
            return;
        };
        let Some(position) = worker.in_flight.iter().position(|job| job.id() == task) else {
            tracing::debug!(target: "procvisor::pool", task, "an answer for a task the worker no longer holds");
            return;
        };
        let job = worker
            .in_flight
            .remove(position)
            .expect("position is in range");
        let now = Instant::now();
        if position == 0 {
            let took = now.saturating_duration_since(worker.head_since);
            worker.service = Some(match worker.service {
                None => took,
                Some(average) => {
                    average.mul_f64(1.0 - SERVICE_WEIGHT) + took.mul_f64(SERVICE_WEIGHT)
                }
            });
            worker.head_since = now;
            if let Some(next) = worker.in_flight.front() {
                if let Some(limit) = next.time_limit {
                    let (router, next_id) = (self.myself.clone(), next.id());
                    schedule(limit, router, RouterMessage::Deadline(id, next_id));
                }
            }
        }
        let recycle = worker.in_flight.is_empty()
            && worker.end.is_none()
            && self
                .maxtasksperchild
                .is_some_and(|max| worker.dispatched >= max);
        if recycle {
            worker.end = Some(End::Recycled);
            worker.send(Outgoing::Stop);
            self.shared.counters.recycled.fetch_add(1, Relaxed);
            tracing::debug!(target: "procvisor::pool", worker = %worker.name, "recycling the worker after its maxtasksperchild tasks");
        }
        match result {
            Ok(payload) => self.complete(job, payload),
            Err(failure) => {
                let task = job.info.clone();
                self.fail(job, PoolError::Failed { task, failure });
            }
        }
        if recycle {
            self.replenish();
        }
    }

    /// The worker's link ended: it died or exited. Its queued tasks go to other workers; the
    /// task it was running waits for its exit status (for the error message) unless the router
    /// killed it on purpose.
    pub(super) fn link_ended(&mut self, id: WorkerId) {
        // The answers it held back when it went are those of tasks that finished: they count,
        // and the task it was running is the first one left.
        let held = self
            .workers
            .get_mut(&id)
            .and_then(|worker| worker.answers.take())
            .map(|ring| ring.records())
            .unwrap_or_default();
        for record in held {
            match procvisor_wire::codec::decode::<(u64, Result<Payload, Failure>)>(&record) {
                Ok((task, result)) => self.done(id, task, result),
                Err(e) => {
                    tracing::warn!(target: "procvisor::pool", %e, "an answer a worker held back cannot be read")
                }
            }
        }
        let Some(worker) = self.workers.get_mut(&id) else {
            return;
        };
        worker.links = None;
        worker.stage = Stage::Gone;
        let mut in_flight = std::mem::take(&mut worker.in_flight);
        let head = in_flight.pop_front();
        let requeued = in_flight.len();
        for job in in_flight.into_iter().rev() {
            self.queue.push_front(job);
        }
        let (name, pid, end) = (worker.name.clone(), worker.pid, worker.end.clone());
        if let Some(head) = head {
            match end {
                Some(End::TimeLimit(limit)) => {
                    let task = head.info.clone();
                    let error = PoolError::TimeLimitExceeded {
                        task,
                        worker: name.clone(),
                        pid,
                        limit,
                    };
                    self.fail_or_retry(head, error);
                }
                _ => {
                    self.workers.get_mut(&id).expect("still there").lost = Some(head);
                }
            }
        }
        if requeued > 0 {
            tracing::debug!(target: "procvisor::pool", worker = %name, requeued, "tasks of a lost worker go to other workers");
        }
        let worker = self.workers.get_mut(&id).expect("still there");
        match worker.process.take() {
            Some(process) => links::spawn_exit_waiter(id, process, self.myself.clone()),
            None => {
                let _ =
                    self.myself
                        .send_message(RouterMessage::Exited(id, ExitReason::Code(-1), None));
            }
        }
        if end.is_none() {
            let what = self.what_fails();
            let worker = self.workers.get_mut(&id).expect("still there");
            let cause = match &worker.init_failure {
                Some(failure) => format!("{what} {name} (pid {pid}) failed: {failure}"),
                None => format!("{name} (pid {pid}) died"),
            };
            self.crashed(cause);
        }
        self.replenish();
        self.dispatch();
    }

    /// The exit status of a worker whose link ended.
    pub(super) fn exited(
        &mut self,
        id: WorkerId,
        reason: ExitReason,
        cause: Option<procvisor_runtime::Failure>,
    ) {
        let Some(worker) = self.workers.remove(&id) else {
            return;
        };
        let exit = WorkerExit(reason);
        if worker.end.is_none() {
            self.shared.counters.crashes.fetch_add(1, Relaxed);
            let description = format!("{} (pid {}) {exit}", worker.name, worker.pid);
            match &worker.lost {
                Some(job) => {
                    tracing::warn!(target: "procvisor::pool", worker = %worker.name, pid = worker.pid, %exit, task = %job.info, "a pool worker died while running a task")
                }
                None => {
                    tracing::warn!(target: "procvisor::pool", worker = %worker.name, pid = worker.pid, %exit, "a pool worker died")
                }
            }
            if let Some(failure) = &worker.init_failure {
                self.last_crash = Some(format!("{} {description}: {failure}", self.what_fails()));
            } else {
                self.last_crash = Some(description);
            }
        }
        if let Some(job) = worker.lost {
            let task = job.info.clone();
            let error = PoolError::WorkerLost {
                task,
                worker: worker.name,
                pid: worker.pid,
                exit,
                cause: cause.map(Box::new),
            };
            self.fail_or_retry(job, error);
        }
        if self.crash_limit_exceeded() {
            self.break_pool();
        }
        self.dispatch();
        self.stop_idle_if_closing();
    }

    /// A worker cannot be written to, though alive: kill it, so that its tasks go elsewhere.
    pub(super) fn write_failed(&mut self, id: WorkerId, error: &str) {
        let Some(worker) = self.workers.get_mut(&id) else {
            return;
        };
        tracing::error!(target: "procvisor::pool", worker = %worker.name, pid = worker.pid, %error, "cannot send to a pool worker; killing it");
        // The pool's doing, not the worker's: not a crash.
        worker.end.get_or_insert(End::Unreachable);
        if let Some(process) = &worker.process {
            let _ = process.kill();
        }
        self.replenish();
    }

    /// A task reached its time limit, if it is still running on that worker.
    pub(super) fn deadline(&mut self, id: WorkerId, task: u64) {
        let Some(worker) = self.workers.get_mut(&id) else {
            return;
        };
        let Some(head) = worker.in_flight.front() else {
            return;
        };
        let Some(limit) = head.time_limit else {
            return;
        };
        if head.id() != task || worker.end.is_some() || worker.head_since.elapsed() < limit {
            return;
        }
        tracing::warn!(target: "procvisor::pool", worker = %worker.name, pid = worker.pid, task = %head.info, ?limit, "a task passed its time limit; killing its worker");
        worker.end = Some(End::TimeLimit(limit));
        self.shared.counters.time_limits.fetch_add(1, Relaxed);
        if let Some(process) = &worker.process {
            let _ = process.kill();
        }
        self.replenish();
    }
}

/// Sends `message` to the router after `delay`.
pub(super) fn schedule(
    delay: Duration,
    router: ractor::ActorRef<RouterMessage>,
    message: RouterMessage,
) {
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let _ = router.send_message(message);
    });
}
