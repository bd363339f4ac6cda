//! The router: one ractor actor per pool that owns the task queue and one link per worker
//! process, sends work to workers, routes their answers to the callers, and replaces workers
//! that die, within the pool's restart intensity.
//!
//! Why not ractor's factory: its restart is hard-coded, it waits for a respawn inside its
//! handler (dispatch stalls), and it drops the job of a worker that dies. Here a worker starts
//! on a blocking thread while the others keep working, and the dead worker's task is failed
//! with the cause (or retried) while its queued tasks go to other workers.

mod dispatch;
mod ending;
pub(crate) mod links;
mod workers;

use crate::core::{Shared, Target};
use crate::error::{PoolError, TaskInfo};
use crate::protocol::{Outgoing, ToRouter};
use crate::sink::Sink;
use links::{LinkTasks, Started, WorkerId, WorkerSpec};
use procvisor_runtime::{ExitReason, Failure, Process, RestartIntensity, RestartLog};
use procvisor_wire::Payload;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// One task as the router holds it until it is answered.
///
/// A job that is dropped without an answer (a mailbox dropped with its router, say) answers
/// [`PoolError::NotRunning`] on its way out: nothing waits for ever on a task the pool forgot.
pub(crate) struct Job {
    pub(crate) target: Target,
    pub(crate) args: Arc<Payload>,
    pub(crate) sink: Option<Arc<dyn Sink>>,
    pub(crate) part: u64,
    pub(crate) info: TaskInfo,
    pub(crate) retries_left: u32,
    pub(crate) time_limit: Option<Duration>,
    /// Set for a task that may be cancelled before it starts (an executor's future).
    pub(crate) claim: Option<Arc<crate::claim::Claim>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Job({})", self.info)
    }
}

impl Job {
    fn id(&self) -> u64 {
        self.info.id
    }

    /// Takes one of the task's retries for another attempt after `error` (counted, and said
    /// why); false when it has none left.
    pub(crate) fn retry(&mut self, shared: &Shared, error: &PoolError) -> bool {
        if self.retries_left == 0 {
            return false;
        }
        self.retries_left -= 1;
        self.info.attempts += 1;
        shared.counters.retries.fetch_add(1, Relaxed);
        tracing::info!(target: "procvisor::pool", task = %self.info, %error, "retrying");
        true
    }

    /// Takes the task for a worker: false (and the task is dropped unanswered: its caller
    /// answered it) when it was cancelled first.
    pub(crate) fn take_for_worker(&mut self) -> bool {
        if self.claim.as_ref().is_none_or(|claim| claim.start()) {
            return true;
        }
        self.sink = None;
        false
    }

    /// Answers the task.
    pub(crate) fn deliver(mut self, outcome: Result<Payload, PoolError>) {
        if let Some(sink) = self.sink.take() {
            sink.deliver(self.part, outcome);
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if let Some(sink) = self.sink.take() {
            sink.deliver(self.part, Err(PoolError::NotRunning));
        }
    }
}

/// What the router hears.
#[derive(Debug)]
pub(crate) enum RouterMessage {
    /// New work waits in the pool's inbox (see `Shared::take_inbox`).
    Inbox,
    /// A worker process started (or could not).
    Started(WorkerId, Box<Result<Started, PoolError>>),
    /// A worker said something (one or more messages, in order).
    FromWorker(WorkerId, Vec<ToRouter>),
    /// A worker's link ended: it died or exited.
    LinkEnded(WorkerId),
    /// A message could not be written to a worker (it cannot get work any more).
    WriteFailed(WorkerId, String),
    /// A worker whose link ended has exited, this way.
    /// A worker ended: how, and what it reported before it died.
    Exited(WorkerId, ExitReason, Option<procvisor_runtime::Failure>),
    /// Check whether this task, running on this worker, is past its time limit.
    Deadline(WorkerId, u64),
    /// Look for idle workers and queued-up ones again.
    Rebalance,
    /// Workers that did not stop after SIGTERM get SIGKILL.
    KillStragglers,
    /// An `Imap` has read all its input (or was dropped).
    StreamEnded,
    /// `close()`.
    Close,
    /// `terminate()`.
    Terminate,
    /// Say what each worker is doing (for a supervisor's tree).
    Describe(std::sync::mpsc::Sender<Vec<WorkerRow>>),
    /// Say which tasks run now: each worker's first (a host's agent reports them).
    Running(std::sync::mpsc::Sender<Vec<u64>>),
    /// Word from the hosts of a pool across hosts.
    Remote(crate::remote::HostEvent),
    /// Time passed (a pool across hosts checks its hosts' leases).
    Tick,
}

/// One worker as a supervisor's tree shows it.
#[derive(Debug, Clone)]
pub(crate) struct WorkerRow {
    pub(crate) name: String,
    pub(crate) pid: u32,
    pub(crate) state: String,
}

/// Why the router expects a worker to end (an end without one is a crash).
#[derive(Debug, Clone)]
enum End {
    /// Sent `Stop` after `maxtasksperchild` tasks.
    Recycled,
    /// Sent `Stop` because the pool is closing and the work is done.
    Stopped,
    /// Killed: its running task passed its time limit.
    TimeLimit(Duration),
    /// Killed by `terminate`, a broken pool, or the router stopping.
    Terminated,
    /// Killed because a message to it could not be written.
    Unreachable,
    /// Its actor stopped itself (it left; a replacement takes its place).
    Left,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The process is being started on a blocking thread.
    Starting,
    /// Started; its initializer runs.
    Booting,
    /// Takes tasks.
    Ready,
    /// Its link ended; waiting for its exit status.
    Gone,
}

struct Worker {
    stage: Stage,
    name: String,
    pid: u32,
    process: Option<Process>,
    links: Option<LinkTasks>,
    /// Sent and not answered, in the order the worker runs them: the first is running.
    in_flight: VecDeque<Job>,
    /// Since when the first task of `in_flight` has been the first.
    head_since: Instant,
    /// Function numbers this worker has been told the names of.
    known: HashSet<u32>,
    /// Tasks sent to it (not counting those taken back), for `maxtasksperchild`.
    dispatched: u64,
    /// How long its tasks take (moving average), which sets how many to queue at it.
    service: Option<Duration>,
    /// A revoke is on its way.
    revoking: bool,
    end: Option<End>,
    /// What its initializer reported before it exited (or its actor, when it failed).
    init_failure: Option<Failure>,
    /// Where its actor is, for an actor worker.
    actor: Option<crate::protocol::ActorAt>,
    /// Where it keeps the answers it holds back: read when its link ends.
    answers: Option<crate::answer_ring::AnswerRing>,
    /// The task it was running when its link ended, until its exit status is known.
    lost: Option<Job>,
}

impl Worker {
    fn starting() -> Worker {
        Worker {
            stage: Stage::Starting,
            name: String::new(),
            pid: 0,
            process: None,
            links: None,
            in_flight: VecDeque::new(),
            head_since: Instant::now(),
            known: HashSet::new(),
            dispatched: 0,
            service: None,
            revoking: false,
            end: None,
            init_failure: None,
            actor: None,
            answers: None,
            lost: None,
        }
    }

    /// Whether it counts toward the pool's strength (a replacement is not needed for it).
    fn counts(&self) -> bool {
        self.stage != Stage::Gone && self.end.is_none()
    }

    fn send(&self, message: Outgoing) {
        if let Some(links) = &self.links {
            let _ = links.outbox.send(message);
        }
    }
}

/// Where the pool as a whole is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Running,
    Closing,
    Terminating,
    Broken(String),
}

/// What the router starts with.
pub(crate) struct RouterArgs {
    pub(crate) shared: Arc<Shared>,
    pub(crate) spec: WorkerSpec,
    pub(crate) maxtasksperchild: Option<u64>,
    pub(crate) intensity: RestartIntensity,
    pub(crate) initial: Vec<Started>,
}

pub(crate) struct RouterState {
    shared: Arc<Shared>,
    spec: Arc<WorkerSpec>,
    maxtasksperchild: Option<u64>,
    intensity: RestartIntensity,
    myself: ActorRef<RouterMessage>,
    queue: VecDeque<Job>,
    workers: BTreeMap<WorkerId, Worker>,
    next_worker: WorkerId,
    crashes: RestartLog,
    /// A crash exceeded the restart intensity: no more replacements; the pool breaks once the
    /// crashed worker's exit status is known.
    over_intensity: bool,
    /// The last crash, for the broken pool's cause.
    last_crash: Option<String>,
    phase: Phase,
    rebalance_at: Option<Instant>,
}

/// The router actor.
#[derive(Debug)]
pub(crate) struct Router;

impl Actor for Router {
    type Msg = RouterMessage;
    type State = RouterState;
    type Arguments = RouterArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<RouterMessage>,
        args: RouterArgs,
    ) -> Result<RouterState, ActorProcessingErr> {
        let mut state = RouterState {
            shared: args.shared,
            spec: Arc::new(args.spec),
            maxtasksperchild: args.maxtasksperchild,
            intensity: args.intensity,
            myself,
            queue: VecDeque::new(),
            workers: BTreeMap::new(),
            next_worker: 0,
            crashes: RestartLog::default(),
            over_intensity: false,
            last_crash: None,
            phase: Phase::Running,
            rebalance_at: None,
        };
        for started in args.initial {
            let id = state.new_worker();
            state.started(id, Ok(started));
        }
        Ok(state)
    }

    async fn handle(
        &self,
        _: ActorRef<RouterMessage>,
        message: RouterMessage,
        state: &mut RouterState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RouterMessage::Inbox => {
                let jobs = state.shared.take_inbox();
                state.submit(jobs);
            }
            RouterMessage::Started(id, started) => state.started(id, *started),
            RouterMessage::FromWorker(id, messages) => {
                for message in messages {
                    state.heard_from(id, message);
                }
                // Once per burst of answers: the refills go out as one batch per worker.
                state.dispatch();
                state.stop_idle_if_closing();
            }
            RouterMessage::LinkEnded(id) => state.link_ended(id),
            RouterMessage::WriteFailed(id, error) => state.write_failed(id, &error),
            RouterMessage::Exited(id, reason, cause) => state.exited(id, reason, cause),
            RouterMessage::Deadline(id, task) => state.deadline(id, task),
            RouterMessage::Rebalance => {
                state.rebalance_at = None;
                state.dispatch();
            }
            RouterMessage::KillStragglers => state.kill_stragglers(),
            RouterMessage::StreamEnded => state.stop_idle_if_closing(),
            RouterMessage::Close => state.close(),
            RouterMessage::Terminate => state.terminate(),
            RouterMessage::Describe(reply) => {
                let _ = reply.send(state.describe());
            }
            RouterMessage::Running(reply) => {
                let running = state
                    .workers
                    .values()
                    .filter(|w| w.stage == Stage::Ready)
                    .filter_map(|w| w.in_flight.front().map(Job::id))
                    .collect();
                let _ = reply.send(running);
            }
            RouterMessage::Remote(_) | RouterMessage::Tick => {}
        }
        state.publish_counts();
        if state.finished() {
            state.shared.lifecycle.finish();
            state.myself.stop(None);
        }
        Ok(())
    }
}

impl RouterState {
    fn submit(&mut self, jobs: Vec<Job>) {
        match &self.phase {
            Phase::Running | Phase::Closing => {
                self.queue.extend(jobs);
                // Closing pools may have asked every worker to stop already.
                self.replenish();
                self.dispatch();
            }
            Phase::Terminating => {
                for job in jobs {
                    let task = job.info.clone();
                    self.fail(job, PoolError::Terminated { task });
                }
            }
            Phase::Broken(cause) => {
                let cause = cause.clone();
                for job in jobs {
                    self.fail(
                        job,
                        PoolError::Broken {
                            cause: cause.clone(),
                        },
                    );
                }
            }
        }
    }

    /// Each worker: its name, pid and what it does.
    fn describe(&self) -> Vec<WorkerRow> {
        let mut rows: Vec<WorkerRow> = self
            .workers
            .values()
            .filter(|w| w.pid != 0)
            .map(|w| WorkerRow {
                name: w.name.clone(),
                pid: w.pid,
                state: match (w.stage, w.in_flight.len()) {
                    (Stage::Starting | Stage::Booting, _) => "starting".into(),
                    (Stage::Gone, _) => "ending".into(),
                    (Stage::Ready, 0) => "idle".into(),
                    (Stage::Ready, 1) => "busy (1 task)".into(),
                    (Stage::Ready, n) => format!("busy ({n} tasks)"),
                },
            })
            .collect();
        rows.sort_by_key(|row| row.pid);
        rows
    }

    /// Delivers a task's result.
    fn complete(&self, job: Job, result: Payload) {
        let counters = &self.shared.counters;
        counters.completed.fetch_add(1, Relaxed);
        // The exact count is published after this message; until then, whoever has the result
        // in hand must not see its task still running.
        let _ = counters
            .running
            .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
        job.deliver(Ok(result));
    }

    /// Delivers a task's error.
    fn fail(&self, job: Job, error: PoolError) {
        self.shared.counters.failed.fetch_add(1, Relaxed);
        job.deliver(Err(error));
    }

    /// Fails a task whose worker was lost or killed, or sends it round again if it has retries
    /// left.
    fn fail_or_retry(&mut self, mut job: Job, error: PoolError) {
        if job.retry(&self.shared, &error) {
            self.queue.push_front(job);
        } else {
            self.fail(job, error);
        }
    }

    /// Copies the queue and running counts into the shared counters.
    fn publish_counts(&self) {
        let counters = &self.shared.counters;
        counters.queued.store(self.queue.len(), Relaxed);
        let running = self.workers.values().map(|w| w.in_flight.len()).sum();
        counters.running.store(running, Relaxed);
        let ready = self
            .workers
            .values()
            .filter(|w| w.stage == Stage::Ready && w.end.is_none());
        let count = ready.clone().count();
        if counters.workers_ready.swap(count, Relaxed) != count {
            *self
                .shared
                .worker_pids
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = ready.clone().map(|w| w.pid).collect();
            *self
                .shared
                .worker_actors
                .lock()
                .unwrap_or_else(|p| p.into_inner()) =
                ready.filter_map(|w| w.actor.clone()).collect();
            self.shared.lifecycle.poke();
        }
    }
}

impl Drop for RouterState {
    /// The router is gone: nothing it held may wait for ever. (ractor runs no `post_stop` after
    /// a panic in a handler; the state is dropped either way.)
    fn drop(&mut self) {
        if self.shared.lifecycle.is_finished() {
            return;
        }
        let cause = "the pool's router stopped unexpectedly".to_string();
        let mut pending: Vec<Job> = self.queue.drain(..).collect();
        pending.extend(self.shared.take_inbox());
        for worker in self.workers.values_mut() {
            pending.extend(worker.in_flight.drain(..));
            pending.extend(worker.lost.take());
            if let Some(process) = &worker.process {
                let _ = process.kill();
            }
        }
        for job in pending {
            job.deliver(Err(PoolError::Broken {
                cause: cause.clone(),
            }));
        }
        self.shared
            .lifecycle
            .advance(crate::lifecycle::PoolState::Broken(cause));
        self.shared.lifecycle.finish();
    }
}
