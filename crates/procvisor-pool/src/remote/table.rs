//! The remote router's bookkeeping, as plain data: which host holds which task, when each host
//! was last heard from, and what follows from an event or from the passing of time. No I/O and
//! no clock of its own (every call says what time it is), so every rule is tested directly.

use super::{HostCommand, HostEvent, HostId, RemoteFailure, RemoteOutcome, RemoteTask};
use crate::core::Shared;
use crate::error::{PoolError, WorkerExit};
use crate::router::Job;
use procvisor_runtime::RestartIntensity;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// How many tasks a host holds per worker when tasks are short: one running and the rest ready
/// to start, so that the round trips to the host (a few hundred microseconds through the
/// server) hide behind the running ones. The host runs no more than its workers at once; the
/// others are not running, so a lost host's share of them goes to other hosts.
const WINDOW_SHORT_TASKS: usize = 16;

/// ... and when tasks are long (or not yet measured): one running, one ready. A host that
/// joins later, or finishes early, then finds work left to take, rather than all of it queued
/// at the first host.
const WINDOW_LONG_TASKS: usize = 2;

/// Tasks that take less than this (from when they were sent, or from the host's previous
/// answer if they waited behind it) are short.
const SHORT_TASK: Duration = Duration::from_millis(100);

/// How many `Run` commands a host may have unanswered: new tasks wait for an answer and then
/// go together, so that a burst of small tasks travels in a few messages, not one each.
const RUNS_UNANSWERED: usize = 2;

/// One host of the pool.
struct Host {
    incarnation: u64,
    slots: usize,
    last_seen: Instant,
    /// Sent to it and not answered: whether it acknowledged each.
    in_flight: BTreeMap<u64, (Job, bool)>,
    /// What it said it was running, in its last heartbeat.
    running: HashSet<u64>,
    /// `Run` commands sent to it and not yet acknowledged.
    runs_unanswered: usize,
    /// It refused tasks: none go to it until it is heard from again.
    refusing: bool,
    /// When it last answered tasks.
    last_answer: Option<Instant>,
}

/// A host the pool no longer believes: nothing from this life of it counts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fenced {
    incarnation: u64,
}

/// Where the pool as a whole is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Running,
    Closing,
    Finished,
}

pub(crate) struct Table {
    shared: Arc<Shared>,
    host_timeout: Duration,
    queue: VecDeque<Job>,
    hosts: BTreeMap<HostId, Host>,
    fenced: BTreeMap<HostId, Fenced>,
    disconnected_since: Option<Instant>,
    /// When the router last came back after being cut off.
    reconnected_at: Option<Instant>,
    /// Since when work has waited with no host to take it.
    hostless_since: Option<Instant>,
    phase: Phase,
    max_task_size: usize,
    /// When each task in flight was sent.
    sent_at: std::collections::HashMap<u64, Instant>,
    /// How long tasks take from sending to answer (a moving average): it sets the window.
    task_time: Option<Duration>,
    /// How often a host may be lost before the pool gives it up.
    intensity: RestartIntensity,
    /// When each host was lost, within the intensity's period.
    losses: BTreeMap<HostId, VecDeque<Instant>>,
    /// Hosts lost more often than the intensity allows: not used again by this pool.
    given_up: HashSet<HostId>,
}

/// What the router must send after a step.
pub(crate) type Commands = Vec<(HostId, HostCommand)>;

impl Table {
    pub(crate) fn new(shared: Arc<Shared>, host_timeout: Duration) -> Table {
        Table {
            shared,
            host_timeout,
            queue: VecDeque::new(),
            hosts: BTreeMap::new(),
            fenced: BTreeMap::new(),
            disconnected_since: None,
            reconnected_at: None,
            hostless_since: None,
            phase: Phase::Running,
            max_task_size: usize::MAX,
            sent_at: std::collections::HashMap::new(),
            task_time: None,
            intensity: RestartIntensity::default(),
            losses: BTreeMap::new(),
            given_up: HashSet::new(),
        }
    }

    /// How often a host may be lost (and come back) before the pool gives it up.
    pub(crate) fn intensity(mut self, intensity: RestartIntensity) -> Table {
        self.intensity = intensity;
        self
    }

    /// Tasks larger than `bytes` fail when sent, rather than bounce between hosts.
    pub(crate) fn max_task_size(mut self, bytes: usize) -> Table {
        self.max_task_size = bytes;
        self
    }

    pub(crate) fn finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// New work.
    pub(crate) fn submit(&mut self, jobs: Vec<Job>, now: Instant) -> Commands {
        if self.phase == Phase::Finished {
            for job in jobs {
                let task = job.info.clone();
                self.fail(job, PoolError::Terminated { task });
            }
            return Vec::new();
        }
        self.queue.extend(jobs);
        self.dispatch(now)
    }

    /// One event from the hosts.
    pub(crate) fn on_event(&mut self, event: HostEvent, now: Instant) -> Commands {
        let mut commands = Vec::new();
        match event {
            HostEvent::Joined {
                host,
                incarnation,
                slots,
            } => {
                if self.is_fenced(&host, incarnation) {
                    return commands;
                }
                if self.given_up.contains(&host) {
                    // Lost too often: its workers are not used again (and are stopped).
                    commands.push((host, HostCommand::Fence { incarnation }));
                    return commands;
                }
                if let Some(old) = self.hosts.get(&host) {
                    if old.incarnation == incarnation {
                        self.hosts.get_mut(&host).expect("known").slots = slots.max(1);
                        return self.dispatch(now);
                    }
                    // A new life of a host we still held tasks at: the old one is gone.
                    commands.extend(self.lose(&host, now, "it restarted"));
                    if self.given_up.contains(&host) {
                        // That loss was one too many: the new life is not used either.
                        commands.push((host, HostCommand::Fence { incarnation }));
                        return commands;
                    }
                }
                self.fenced.remove(&host);
                self.hosts.insert(
                    host,
                    Host {
                        incarnation,
                        slots: slots.max(1),
                        last_seen: now,
                        in_flight: BTreeMap::new(),
                        running: HashSet::new(),
                        runs_unanswered: 0,
                        refusing: false,
                        last_answer: None,
                    },
                );
            }
            HostEvent::Beat {
                host,
                incarnation,
                running,
            } => {
                if let Some(h) = self.live_host(&host, incarnation) {
                    h.last_seen = now;
                    h.running = running.into_iter().collect();
                    h.refusing = false;
                } else if self.is_fenced(&host, incarnation) {
                    // It missed (or could not yet act on) its fence: say it again.
                    commands.push((host, HostCommand::Fence { incarnation }));
                }
            }
            HostEvent::Accepted { host, ids, running } => {
                if let Some(h) = self.hosts.get_mut(&host) {
                    // Which tasks run is known at once, not at the next heartbeat.
                    h.running = running.into_iter().collect();
                    h.last_seen = now;
                    h.runs_unanswered = h.runs_unanswered.saturating_sub(1);
                    h.refusing = false;
                    for id in ids {
                        if let Some((_, acked)) = h.in_flight.get_mut(&id) {
                            *acked = true;
                        }
                    }
                }
            }
            HostEvent::Refused { host, ids, reason } => {
                tracing::debug!(target: "procvisor::cluster", %host, %reason, count = ids.len(), "tasks refused; sending them elsewhere");
                if let Some(h) = self.hosts.get_mut(&host) {
                    h.runs_unanswered = h.runs_unanswered.saturating_sub(1);
                    // Not again until it is heard from: tasks must not bounce off it.
                    h.refusing = true;
                    let mut back: Vec<Job> = ids
                        .iter()
                        .filter_map(|id| h.in_flight.remove(id).map(|(job, _)| job))
                        .collect();
                    back.sort_by_key(|job| job.info.id);
                    for job in back.into_iter().rev() {
                        self.queue.push_front(job);
                    }
                }
            }
            HostEvent::Results {
                host,
                incarnation,
                results,
                running,
            } => {
                let Some(h) = self.live_host(&host, incarnation) else {
                    // Fenced: a lost host's late word is not believed.
                    tracing::debug!(target: "procvisor::cluster", %host, count = results.len(), "results from a fenced host dropped");
                    if self.is_fenced(&host, incarnation) {
                        commands.push((host, HostCommand::Fence { incarnation }));
                    }
                    return commands;
                };
                h.last_seen = now;
                h.running = running.into_iter().collect();
                let previous = h.last_answer.replace(now);
                for (id, _) in &results {
                    if let Some(sent) = self.sent_at.remove(id) {
                        // Time spent waiting behind the host's other tasks is not the task's.
                        let began = previous.map_or(sent, |p| p.max(sent));
                        let took = now.saturating_duration_since(began);
                        self.task_time = Some(match self.task_time {
                            Some(average) => (average * 7 + took) / 8,
                            None => took,
                        });
                    }
                }
                let h = self.hosts.get_mut(&host).expect("live");
                let answered: Vec<(Job, RemoteOutcome)> = results
                    .into_iter()
                    .filter_map(|(id, outcome)| {
                        h.in_flight.remove(&id).map(|(job, _)| (job, outcome))
                    })
                    .collect();
                for (job, outcome) in answered {
                    self.answer(job, outcome, &host);
                }
            }
            HostEvent::Disconnected(reason) => {
                tracing::warn!(target: "procvisor::cluster", %reason, "the pool's router lost the cluster");
                self.disconnected_since.get_or_insert(now);
            }
            HostEvent::Reconnected => {
                self.disconnected_since = None;
                self.reconnected_at = Some(now);
                // Silence while we could not hear is not the hosts' fault.
                for h in self.hosts.values_mut() {
                    h.last_seen = now;
                }
            }
        }
        commands.extend(self.dispatch(now));
        commands
    }

    /// The passing of time: hosts silent past the timeout are lost, and work that cannot reach
    /// any host fails.
    pub(crate) fn tick(&mut self, now: Instant) -> Commands {
        let mut commands = Vec::new();
        if let Some(since) = self.disconnected_since {
            if now.duration_since(since) > self.host_timeout {
                let reason = format!(
                    "the pool's router has been cut off from the cluster for {:?}",
                    now.duration_since(since)
                );
                let hosts: Vec<HostId> = self.hosts.keys().cloned().collect();
                for host in hosts {
                    self.fence(&host, &mut commands);
                    let h = self.hosts.remove(&host).expect("known");
                    for (job, _) in h.in_flight.into_values() {
                        self.fail(job, unreachable(&reason));
                    }
                }
                self.fail_queue(&reason);
            }
            return commands;
        }
        let silent: Vec<HostId> = self
            .hosts
            .iter()
            .filter(|(_, h)| now.duration_since(h.last_seen) > self.host_timeout)
            .map(|(host, _)| host.clone())
            .collect();
        for host in silent {
            commands.extend(self.lose(&host, now, "it fell silent"));
        }
        if self.hosts.is_empty() && !self.queue.is_empty() {
            let since = *self.hostless_since.get_or_insert(now);
            if now.duration_since(since) > self.host_timeout {
                self.fail_queue("no host of the cluster runs this pool's workers");
            }
        } else {
            self.hostless_since = None;
        }
        commands.extend(self.dispatch(now));
        commands.extend(self.close_if_done());
        commands
    }

    /// An `Imap` read all its input: a closing pool may be done.
    pub(crate) fn stream_ended(&mut self) -> Commands {
        self.close_if_done()
    }

    /// `close()`: the hosts stop once the work is done.
    pub(crate) fn close(&mut self) -> Commands {
        if self.phase == Phase::Running {
            self.phase = Phase::Closing;
        }
        self.close_if_done()
    }

    /// `terminate()`: fails what is left and stops every host's workers now.
    pub(crate) fn terminate(&mut self) -> Commands {
        let mut commands = Vec::new();
        self.sent_at.clear();
        let hosts = std::mem::take(&mut self.hosts);
        for (host, h) in hosts {
            for (job, _) in h.in_flight.into_values() {
                let task = job.info.clone();
                self.fail(job, PoolError::Terminated { task });
            }
            commands.push((host, HostCommand::Terminate));
        }
        for job in std::mem::take(&mut self.queue) {
            let task = job.info.clone();
            self.fail(job, PoolError::Terminated { task });
        }
        self.phase = Phase::Finished;
        commands
    }

    /// Each host as a supervisor's tree shows it.
    pub(crate) fn describe(&self) -> Vec<crate::router::WorkerRow> {
        self.hosts
            .iter()
            .map(|(host, h)| crate::router::WorkerRow {
                name: format!("host {host}"),
                pid: 0,
                state: format!(
                    "{} worker(s), {} task(s) in flight",
                    h.slots,
                    h.in_flight.len()
                ),
            })
            .collect()
    }

    pub(crate) fn publish_counts(&self) {
        let counters = &self.shared.counters;
        // Running: what the hosts said runs. The rest of what they hold waits there, queued.
        let running: usize = self
            .hosts
            .values()
            .map(|h| {
                h.in_flight
                    .keys()
                    .filter(|id| h.running.contains(id))
                    .count()
            })
            .sum();
        let held: usize = self.hosts.values().map(|h| h.in_flight.len()).sum();
        counters
            .queued
            .store(self.queue.len() + (held - running), Relaxed);
        counters.running.store(running, Relaxed);
        let ready = self.hosts.values().map(|h| h.slots).sum();
        if counters.workers_ready.swap(ready, Relaxed) != ready {
            self.shared.lifecycle.poke();
        }
    }

    /// Everything still held, failed with `cause` (the router is going away).
    pub(crate) fn abandon(&mut self, cause: &str) {
        let hosts = std::mem::take(&mut self.hosts);
        for h in hosts.into_values() {
            for (job, _) in h.in_flight.into_values() {
                job.deliver(Err(PoolError::Broken {
                    cause: cause.to_string(),
                }));
            }
        }
        for job in std::mem::take(&mut self.queue) {
            job.deliver(Err(PoolError::Broken {
                cause: cause.to_string(),
            }));
        }
    }

    fn is_fenced(&self, host: &str, incarnation: u64) -> bool {
        self.fenced
            .get(host)
            .is_some_and(|f| f.incarnation == incarnation)
    }

    fn live_host(&mut self, host: &str, incarnation: u64) -> Option<&mut Host> {
        self.hosts
            .get_mut(host)
            .filter(|h| h.incarnation == incarnation)
    }

    /// Hands queued tasks to the hosts with room: each task to the least loaded host (tasks in
    /// flight per worker), one `Run` per host.
    fn dispatch(&mut self, now: Instant) -> Commands {
        let mut batches: BTreeMap<HostId, Vec<RemoteTask>> = BTreeMap::new();
        if self.disconnected_since.is_some() {
            return Vec::new();
        }
        let max_task_size = self.max_task_size;
        let window = match self.task_time {
            Some(took) if took < SHORT_TASK => WINDOW_SHORT_TASKS,
            _ => WINDOW_LONG_TASKS,
        };
        while !self.queue.is_empty() {
            let Some((host, h)) = self
                .hosts
                .iter_mut()
                .filter(|(host, h)| {
                    !h.refusing
                        && h.in_flight.len() < h.slots * window
                        && (h.runs_unanswered < RUNS_UNANSWERED || batches.contains_key(*host))
                })
                .min_by_key(|(_, h)| h.in_flight.len() * 1000 / h.slots)
            else {
                break;
            };
            let mut job = self.queue.pop_front().expect("not empty");
            if !job.take_for_worker() {
                continue;
            }
            if let Some(message) = cannot_travel(&job, max_task_size) {
                let target = job.info.target.to_string();
                self.shared.counters.failed.fetch_add(1, Relaxed);
                job.deliver(Err(PoolError::Arguments { target, message }));
                continue;
            }
            batches.entry(host.clone()).or_default().push(RemoteTask {
                id: job.info.id,
                target: job.target.name.to_string(),
                args: (*job.args).clone(),
                time_limit: job.time_limit,
            });
            self.sent_at.insert(job.info.id, now);
            h.in_flight.insert(job.info.id, (job, false));
        }
        for host in batches.keys() {
            if let Some(h) = self.hosts.get_mut(host) {
                h.runs_unanswered += 1;
            }
        }
        batches
            .into_iter()
            .map(|(host, tasks)| (host, HostCommand::Run(tasks)))
            .collect()
    }

    /// Host `host` is lost: its running tasks fail (or are retried), the rest go elsewhere, and
    /// it is fenced.
    fn lose(&mut self, host: &str, now: Instant, why: &str) -> Commands {
        let Some(h) = self.hosts.remove(host) else {
            return Vec::new();
        };
        let last_seen = now.duration_since(h.last_seen);
        tracing::warn!(target: "procvisor::cluster", %host, ?last_seen, why, running = h.running.len(), "host lost");
        let mut back = Vec::new();
        for id in h.in_flight.keys() {
            self.sent_at.remove(id);
        }
        for (id, (job, _)) in h.in_flight {
            if h.running.contains(&id) {
                let task = job.info.clone();
                self.fail_or_retry(
                    job,
                    PoolError::HostLost {
                        task,
                        host: host.to_string(),
                        last_seen,
                    },
                );
            } else {
                back.push(job);
            }
        }
        for job in back.into_iter().rev() {
            self.queue.push_front(job);
        }
        self.fenced.insert(
            host.to_string(),
            Fenced {
                incarnation: h.incarnation,
            },
        );
        // Hosts lost around an outage of the servers (the router cut off, or just back: the
        // hosts reconnect and restart their pools meanwhile) did nothing wrong; counting those
        // losses would give up every host of the cluster after one restart of its servers.
        let outage = self.disconnected_since.is_some()
            || self
                .reconnected_at
                .is_some_and(|at| now.duration_since(at) <= 2 * self.host_timeout);
        let fence = vec![(
            host.to_string(),
            HostCommand::Fence {
                incarnation: h.incarnation,
            },
        )];
        if outage {
            return fence;
        }
        let losses = self.losses.entry(host.to_string()).or_default();
        losses.push_back(now);
        while losses
            .front()
            .is_some_and(|at| now.duration_since(*at) > self.intensity.period)
        {
            losses.pop_front();
        }
        if losses.len() > self.intensity.max_restarts as usize {
            tracing::error!(target: "procvisor::cluster", %host, losses = losses.len(), period = ?self.intensity.period, "host lost too often: the pool gives it up");
            self.given_up.insert(host.to_string());
        }
        fence
    }

    fn fence(&mut self, host: &str, commands: &mut Commands) {
        if let Some(h) = self.hosts.get(host) {
            self.fenced.insert(
                host.to_string(),
                Fenced {
                    incarnation: h.incarnation,
                },
            );
            commands.push((
                host.to_string(),
                HostCommand::Fence {
                    incarnation: h.incarnation,
                },
            ));
        }
    }

    fn fail_queue(&mut self, reason: &str) {
        for job in std::mem::take(&mut self.queue) {
            self.fail(job, unreachable(reason));
        }
        self.hostless_since = None;
    }

    /// Delivers what a host answered for `job`.
    fn answer(&mut self, job: Job, outcome: RemoteOutcome, host: &str) {
        let task = job.info.clone();
        match outcome {
            Ok(payload) => {
                self.shared.counters.completed.fetch_add(1, Relaxed);
                job.deliver(Ok(payload));
            }
            Err(RemoteFailure::Failed(failure)) => {
                self.fail(job, PoolError::Failed { task, failure })
            }
            Err(RemoteFailure::WorkerLost {
                worker,
                pid,
                exit,
                cause,
            }) => {
                self.shared.counters.crashes.fetch_add(1, Relaxed);
                self.fail_or_retry(
                    job,
                    PoolError::WorkerLost {
                        task,
                        worker: format!("{worker} on {host}"),
                        pid,
                        exit: WorkerExit(exit),
                        cause: cause.map(Box::new),
                    },
                );
            }
            Err(RemoteFailure::TimeLimitExceeded { worker, pid, limit }) => {
                self.shared.counters.time_limits.fetch_add(1, Relaxed);
                self.fail_or_retry(
                    job,
                    PoolError::TimeLimitExceeded {
                        task,
                        worker: format!("{worker} on {host}"),
                        pid,
                        limit,
                    },
                );
            }
            Err(RemoteFailure::Refused(reason)) => self.fail(
                job,
                PoolError::HostRefused {
                    task,
                    host: host.to_string(),
                    reason,
                },
            ),
        }
    }

    fn fail(&self, job: Job, error: PoolError) {
        self.shared.counters.failed.fetch_add(1, Relaxed);
        job.deliver(Err(error));
    }

    fn fail_or_retry(&mut self, mut job: Job, error: PoolError) {
        if job.retry(&self.shared, &error) {
            self.queue.push_front(job);
        } else {
            self.fail(job, error);
        }
    }

    fn close_if_done(&mut self) -> Commands {
        let idle = self.queue.is_empty() && self.hosts.values().all(|h| h.in_flight.is_empty());
        let streams_open = self.shared.open_streams.load(Relaxed) > 0;
        if self.phase != Phase::Closing || !idle || streams_open {
            return Vec::new();
        }
        self.phase = Phase::Finished;
        self.hosts
            .keys()
            .map(|host| (host.clone(), HostCommand::Close))
            .collect()
    }
}

/// Why `job` cannot go to another host, if it cannot.
fn cannot_travel(job: &Job, max_task_size: usize) -> Option<String> {
    if job.args.fd_count() > 0 {
        return Some(
            "its arguments hold a descriptor (a pipe, a file, shared memory), which cannot go to \
             another host"
                .into(),
        );
    }
    let size = job.args.bytes().len();
    (size > max_task_size).then(|| {
        format!(
            "its arguments are {size} bytes, more than the cluster's servers carry in one message \
             ({max_task_size} bytes): raise the servers' max_payload, or send a path or a key \
             instead of the data"
        )
    })
}

fn unreachable(reason: &str) -> PoolError {
    PoolError::ClusterUnreachable {
        reason: reason.to_string(),
    }
}
