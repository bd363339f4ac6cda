//! The supervisor itself: an actor (so it can live in any process, and a tree can span
//! processes) that starts its children in order, restarts them by OTP's rules, takes children
//! added and removed while it runs, tells its subscribers what happens, and gives up, failing,
//! when its children crash more often than its intensity allows.

use super::child::{self, ChildExit, Running};
use super::events::{EventKind, EventSink, SinkMsg, SupervisorEvent};
use super::spec::{AutoShutdown, ChildSpec, Restart, Strategy, SupervisorSpec};
use super::tree::{ChildNode, ChildState, SupervisionTree};
use crate::actor::{Actor, ActorContext, Address, InitError, RemoteRef};
use crate::supervision_policy::RestartLog;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What a supervisor hears. (Public only because [`RemoteRef`]s to supervisors name it.)
#[doc(hidden)]
#[derive(Debug, Serialize, Deserialize)]
pub enum SupervisorMsg {
    /// A child ended.
    ChildExited {
        key: u64,
        generation: u64,
        exit: ChildExit,
    },
    /// A backoff delay passed: restart what was waiting.
    RestartDue { epoch: u64 },
    /// Describe the tree.
    Tree,
    /// Stop every child (in reverse start order), then stop.
    Shutdown,
    /// Add a child and start it.
    StartChild(ChildSpec),
    /// Stop a child, keeping its spec (a temporary child's goes).
    TerminateChild(String),
    /// Start a stopped child again.
    RestartChild(String),
    /// Forget a stopped child.
    DeleteChild(String),
    /// Kill a child, as a crash.
    KillChild(String),
    /// List the children.
    WhichChildren,
    /// Count the children.
    CountChildren,
    /// Send every event from now on to this sink.
    Subscribe(RemoteRef<EventSink>),
    /// An event from a supervisor below, to pass on.
    Event(SupervisorEvent),
}

/// A supervisor's answer.
#[doc(hidden)]
#[derive(Debug, Serialize, Deserialize)]
pub enum SupervisorReply {
    Tree(SupervisionTree),
    Done,
    Child(Result<ChildInfo, Fault>),
    Unit(Result<(), Fault>),
    Children(Vec<ChildInfo>),
    Counts(ChildCounts),
}

/// Why a request about a child was refused, as it travels (see
/// [`SupervisorError`](crate::SupervisorError)).
#[doc(hidden)]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Fault {
    NotFound(String),
    AlreadyStarted { id: String, pid: Option<u32> },
    AlreadyPresent(String),
    Running(String),
    Restarting(String),
    NotRunning(String),
    MaxChildren(usize),
    StartFailed { id: String, reason: String },
    Ended,
}

/// One child, as [`which_children`](crate::SupervisorRef::which_children) lists it (OTP's
/// `which_children`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChildInfo {
    /// Its id.
    pub id: String,
    /// The process it runs in, while it runs.
    pub pid: Option<u32>,
    /// Where it is in its life.
    pub state: ChildState,
    /// Whether it is a supervisor (OTP's type `supervisor`) rather than a worker.
    pub supervisor: bool,
    /// What it is (`actor Counter`, `process work`, `supervisor (one_for_one)`).
    pub kind: String,
}

/// How many children a supervisor has (OTP's `count_children`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChildCounts {
    /// Children it knows, running or not.
    pub specs: usize,
    /// Children running now.
    pub active: usize,
    /// Children that are supervisors.
    pub supervisors: usize,
    /// Children that are workers.
    pub workers: usize,
}

struct Slot {
    /// Its identity in this supervisor, for its end reports (never reused).
    key: u64,
    spec: ChildSpec,
    generation: u64,
    running: Option<Running>,
    state: ChildState,
    restarts: u32,
    last_exit: Option<String>,
    /// Why it was last restarted, when that was not its own end (a sibling's, by the strategy).
    restarted_with: Option<String>,
    /// The address of its last incarnation (actors and supervisors): the next one takes its
    /// name over.
    address: Option<Address>,
    /// It ended by itself (for `auto_shutdown`).
    ended_by_itself: bool,
}

/// The supervisor actor (see [`Supervisor`](crate::Supervisor)).
#[doc(hidden)]
pub struct SupervisorActor {
    spec: SupervisorSpec,
    slots: Vec<Slot>,
    next_key: u64,
    log: RestartLog,
    myself: RemoteRef<SupervisorActor>,
    /// Children waiting for a backoff delay to pass, and the delay's number.
    waiting: Vec<u64>,
    epoch: u64,
    /// Set once it gave up or shut down: it takes nothing more.
    over: bool,
    sinks: Vec<RemoteRef<EventSink>>,
}

impl std::fmt::Debug for SupervisorActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupervisorActor")
            .field("name", &self.spec.name)
            .finish_non_exhaustive()
    }
}

crate::register_actor!(SupervisorActor);

/// Why a spec's children cannot all be supervised together, if they cannot.
fn check_children(spec: &SupervisorSpec) -> Result<(), String> {
    let mut ids = std::collections::HashSet::new();
    for child in &spec.children {
        child.check()?;
        if !ids.insert(child.id.as_str()) {
            return Err(format!(
                "two children have the id \"{}\": ids are unique",
                child.id
            ));
        }
        if child.significant && spec.auto_shutdown == AutoShutdown::Never {
            return Err(format!(
                "child \"{}\" is significant, but the supervisor's auto_shutdown is never",
                child.id
            ));
        }
    }
    Ok(())
}

impl Actor for SupervisorActor {
    type Args = SupervisorSpec;
    type Msg = SupervisorMsg;
    type Reply = SupervisorReply;

    async fn start(spec: SupervisorSpec, ctx: &ActorContext<Self>) -> Result<Self, InitError> {
        check_children(&spec)?;
        let mut supervisor = SupervisorActor {
            slots: Vec::new(),
            next_key: 0,
            log: RestartLog::default(),
            myself: ctx.myself(),
            waiting: Vec::new(),
            epoch: 0,
            over: false,
            sinks: Vec::new(),
            spec,
        };
        for child in supervisor.spec.children.clone() {
            supervisor.add_slot(child);
        }
        // OTP: children start in order; if one cannot, the ones started stop (in reverse) and
        // the supervisor does not start.
        for index in 0..supervisor.slots.len() {
            if let Err(error) = supervisor.start_slot(index).await {
                let id = supervisor.slots[index].spec.id.clone();
                supervisor.stop_slots(0..index, false).await;
                return Err(format!("child \"{id}\" could not start: {error}").into());
            }
            supervisor.emit_started(index);
        }
        tracing::info!(target: "procvisor::supervisor", supervisor = %supervisor.spec.name, children = supervisor.slots.len(), "supervisor started");
        Ok(supervisor)
    }

    async fn handle(&mut self, msg: SupervisorMsg, ctx: &ActorContext<Self>) -> SupervisorReply {
        match msg {
            SupervisorMsg::ChildExited {
                key,
                generation,
                exit,
            } => {
                self.child_exited(key, generation, exit, ctx).await;
                SupervisorReply::Done
            }
            SupervisorMsg::RestartDue { epoch } => {
                if epoch == self.epoch && !self.over {
                    let waiting = std::mem::take(&mut self.waiting);
                    self.restart(waiting).await;
                }
                SupervisorReply::Done
            }
            SupervisorMsg::Tree => SupervisorReply::Tree(self.tree().await),
            SupervisorMsg::Shutdown => {
                self.shut_down().await;
                ctx.stop();
                SupervisorReply::Done
            }
            SupervisorMsg::StartChild(spec) => SupervisorReply::Child(self.start_child(spec).await),
            SupervisorMsg::TerminateChild(id) => {
                SupervisorReply::Unit(self.terminate_child(&id).await)
            }
            SupervisorMsg::RestartChild(id) => {
                SupervisorReply::Child(self.restart_child(&id).await)
            }
            SupervisorMsg::DeleteChild(id) => SupervisorReply::Unit(self.delete_child(&id)),
            SupervisorMsg::KillChild(id) => SupervisorReply::Unit(self.kill_child(&id)),
            SupervisorMsg::WhichChildren => {
                SupervisorReply::Children((0..self.slots.len()).map(|i| self.info(i)).collect())
            }
            SupervisorMsg::CountChildren => SupervisorReply::Counts(self.counts()),
            SupervisorMsg::Subscribe(sink) => {
                if self.over {
                    let _ = sink.cast(SinkMsg::Ended);
                } else {
                    self.sinks.push(sink);
                }
                SupervisorReply::Done
            }
            SupervisorMsg::Event(event) => {
                self.pass_on(event);
                SupervisorReply::Done
            }
        }
    }

    async fn stopping(&mut self) {
        // A stop from outside (a parent supervisor's shutdown): children go first, in reverse.
        self.shut_down().await;
    }
}

impl SupervisorActor {
    fn add_slot(&mut self, spec: ChildSpec) -> usize {
        self.next_key += 1;
        self.slots.push(Slot {
            key: self.next_key,
            spec,
            generation: 0,
            running: None,
            state: ChildState::Stopped,
            restarts: 0,
            last_exit: None,
            restarted_with: None,
            address: None,
            ended_by_itself: false,
        });
        self.slots.len() - 1
    }

    fn position(&self, id: &str) -> Option<usize> {
        self.slots.iter().position(|s| s.spec.id == id)
    }

    async fn start_slot(&mut self, index: usize) -> Result<(), String> {
        let slot = &mut self.slots[index];
        slot.generation += 1;
        let replacing = slot.address.take();
        let running = child::start(
            &slot.spec,
            slot.key,
            slot.generation,
            &self.myself,
            replacing.clone(),
        )
        .await
        .inspect_err(|_| slot.address = replacing)?;
        tracing::debug!(target: "procvisor::supervisor", supervisor = %self.spec.name, child_id = %slot.spec.id, pid = ?running.pid, "child started");
        slot.address = running.address();
        slot.running = Some(running);
        slot.state = ChildState::Running;
        slot.ended_by_itself = false;
        Ok(())
    }

    /// Stops the running children of `range`, last first, recording how each ended.
    async fn stop_slots(&mut self, range: std::ops::Range<usize>, announce: bool) {
        for index in range.rev() {
            self.stop_slot(index, announce).await;
        }
    }

    async fn stop_slot(&mut self, index: usize, announce: bool) {
        let slot = &mut self.slots[index];
        self.waiting.retain(|&k| k != slot.key);
        let Some(running) = slot.running.take() else {
            if slot.state == ChildState::Restarting {
                slot.state = ChildState::Stopped;
            }
            return;
        };
        // Its end report will be stale (the generation moves on).
        slot.generation += 1;
        let exit = child::stop(&running, slot.spec.shutdown).await;
        slot.last_exit = Some(match &exit {
            ChildExit::Normal => "stopped by its supervisor".to_string(),
            how => format!("stopped by its supervisor ({how})"),
        });
        slot.state = ChildState::Stopped;
        if announce {
            let id = slot.spec.id.clone();
            self.emit(&id, EventKind::Terminated(exit));
        }
    }

    async fn child_exited(
        &mut self,
        key: u64,
        generation: u64,
        exit: ChildExit,
        ctx: &ActorContext<Self>,
    ) {
        let Some(index) = self.slots.iter().position(|s| s.key == key) else {
            return;
        };
        let slot = &mut self.slots[index];
        if generation != slot.generation || slot.running.is_none() || self.over {
            return;
        }
        slot.running = None;
        let id = slot.spec.id.clone();
        let restart = match (slot.spec.restart, &exit) {
            (Restart::Permanent, _) => true,
            (Restart::Transient, exit) => !exit.is_normal(),
            (Restart::Temporary, _) => false,
        };
        if exit.is_normal() {
            tracing::info!(target: "procvisor::supervisor", supervisor = %self.spec.name, child_id = %id, "child stopped");
        } else {
            tracing::warn!(target: "procvisor::supervisor", supervisor = %self.spec.name, child_id = %id, cause = %exit, "child crashed");
        }
        slot.last_exit = Some(exit.to_string());
        slot.restarted_with = None;
        self.emit(&id, EventKind::Ended(exit.clone()));
        if !restart {
            self.ended_for_good(index);
            self.maybe_shut_down_by_itself(ctx).await;
            return;
        }
        if !self.log.record(self.spec.restart_intensity()) {
            let intensity = self.spec.restart_intensity();
            let cause = format!(
                "supervisor \"{}\" gave up: more than {} restarts within {:?} (the last: child \"{id}\": {exit})",
                self.spec.name, intensity.max_restarts, intensity.period,
            );
            self.give_up(cause, ctx).await;
            return;
        }
        let group: Vec<usize> = match self.spec.strategy {
            Strategy::OneForOne => vec![index],
            Strategy::OneForAll => (0..self.slots.len()).collect(),
            Strategy::RestForOne => (index..self.slots.len()).collect(),
        };
        // The others of the group stop first, in reverse start order.
        let cause = format!(
            "{} restart after \"{id}\" {}",
            self.spec.strategy,
            match &exit {
                ChildExit::Normal => "stopped".to_string(),
                exit => format!("crashed: {exit}"),
            }
        );
        for &other in group.iter().rev() {
            if other != index {
                self.stop_slot(other, true).await;
                self.slots[other].restarted_with = Some(cause.clone());
            }
        }
        // As in OTP, a temporary sibling stopped with the group is not restarted: it is gone.
        let keys: Vec<u64> = group.iter().map(|&i| self.slots[i].key).collect();
        self.slots.retain(|s| {
            !(keys.contains(&s.key) && s.key != key && s.spec.restart == Restart::Temporary)
        });
        let group: Vec<u64> = self
            .slots
            .iter()
            .filter(|s| keys.contains(&s.key))
            .map(|s| s.key)
            .collect();
        let delay = self
            .spec
            .backoff_policy()
            .delay(self.log.recent().saturating_sub(1) as u32);
        for slot in self.slots.iter_mut().filter(|s| group.contains(&s.key)) {
            slot.state = ChildState::Restarting;
        }
        for &key in &group {
            if let Some(slot) = self.slots.iter().find(|s| s.key == key) {
                let id = slot.spec.id.clone();
                self.emit(&id, EventKind::Restarting { delay });
            }
        }
        if delay.is_zero() {
            self.restart(group).await;
        } else {
            self.waiting.extend(group);
            self.epoch += 1;
            let (myself, epoch) = (self.myself.clone(), self.epoch);
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = myself.cast(SupervisorMsg::RestartDue { epoch });
            });
        }
    }

    /// Child `index` ended and is not restarted: a temporary child goes (OTP), others stay
    /// stopped.
    fn ended_for_good(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        slot.ended_by_itself = true;
        if slot.spec.restart == Restart::Temporary || self.spec.forget_ended {
            if slot.spec.significant {
                // Kept (as removed) until the auto_shutdown check has seen it.
                slot.state = ChildState::Removed;
            } else {
                self.slots.remove(index);
            }
        } else {
            slot.state = ChildState::Stopped;
        }
    }

    /// OTP 24's `auto_shutdown`: the supervisor ends when its significant children did.
    async fn maybe_shut_down_by_itself(&mut self, ctx: &ActorContext<Self>) {
        let significant: Vec<&Slot> = self.slots.iter().filter(|s| s.spec.significant).collect();
        let done = |s: &&Slot| s.ended_by_itself && s.running.is_none();
        let shut = match self.spec.auto_shutdown {
            AutoShutdown::Never => false,
            AutoShutdown::AnySignificant => significant.iter().any(done),
            AutoShutdown::AllSignificant => !significant.is_empty() && significant.iter().all(done),
        };
        self.slots
            .retain(|s| !(s.spec.significant && s.state == ChildState::Removed));
        if shut {
            tracing::info!(target: "procvisor::supervisor", supervisor = %self.spec.name, "significant children ended: the supervisor shuts down");
            self.shut_down().await;
            ctx.stop();
        }
    }

    /// Starts the children of `group` again, in start order. A child that cannot start counts
    /// as a crash of its own.
    async fn restart(&mut self, group: Vec<u64>) {
        for index in 0..self.slots.len() {
            if !group.contains(&self.slots[index].key) || self.slots[index].running.is_some() {
                continue;
            }
            self.slots[index].restarts += 1;
            let id = self.slots[index].spec.id.clone();
            match self.start_slot(index).await {
                Ok(()) => {
                    let slot = &self.slots[index];
                    let (pid, restarts) =
                        (slot.running.as_ref().and_then(|r| r.pid), slot.restarts);
                    tracing::info!(target: "procvisor::supervisor", supervisor = %self.spec.name, child_id = %id, restarts, pid = ?pid, "child restarted");
                    self.emit(&id, EventKind::Restarted { pid, restarts });
                }
                Err(error) => {
                    tracing::warn!(target: "procvisor::supervisor", supervisor = %self.spec.name, child_id = %id, %error, "child could not restart");
                    let slot = &mut self.slots[index];
                    // Through the mailbox, like any end: the intensity decides what follows.
                    slot.running = Some(child::failed_start(&error));
                    let _ = self.myself.cast(SupervisorMsg::ChildExited {
                        key: slot.key,
                        generation: slot.generation,
                        exit: ChildExit::StartFailed(error),
                    });
                }
            }
        }
    }

    /// Stops every child and ends as failed: the parent supervisor sees a crash (escalation),
    /// and a top-level supervisor's `wait` returns the cause.
    async fn give_up(&mut self, cause: String, ctx: &ActorContext<Self>) {
        tracing::error!(target: "procvisor::supervisor", supervisor = %self.spec.name, %cause, "supervisor gave up");
        self.over = true;
        self.stop_slots(0..self.slots.len(), true).await;
        for slot in &mut self.slots {
            slot.state = ChildState::Stopped;
        }
        self.emit(
            "",
            EventKind::GaveUp {
                cause: cause.clone(),
            },
        );
        self.close_sinks();
        ctx.fail_with(crate::__private::pool_support::failure(
            crate::outcome::FailureKind::Failed,
            cause,
        ));
    }

    /// Stops every child (in reverse start order) and tells the subscribers it is over.
    async fn shut_down(&mut self) {
        if self.over {
            return;
        }
        self.over = true;
        self.stop_slots(0..self.slots.len(), true).await;
        self.emit("", EventKind::ShutDown);
        self.close_sinks();
    }

    async fn start_child(&mut self, spec: ChildSpec) -> Result<ChildInfo, Fault> {
        if self.over {
            return Err(Fault::Ended);
        }
        if let Some(index) = self.position(&spec.id) {
            return Err(match &self.slots[index].running {
                Some(running) => Fault::AlreadyStarted {
                    id: spec.id,
                    pid: running.pid,
                },
                None => Fault::AlreadyPresent(spec.id),
            });
        }
        let checked = spec.check().and_then(|()| {
            if spec.significant && self.spec.auto_shutdown == AutoShutdown::Never {
                Err(format!(
                    "child \"{}\" is significant, but the supervisor's auto_shutdown is never",
                    spec.id
                ))
            } else {
                Ok(())
            }
        });
        if let Err(reason) = checked {
            return Err(Fault::StartFailed {
                id: spec.id,
                reason,
            });
        }
        if let Some(max) = self.spec.max_children {
            // Children that run (or are about to run again) count; stopped ones do not.
            let active = self
                .slots
                .iter()
                .filter(|s| s.running.is_some() || s.state == ChildState::Restarting)
                .count();
            if active >= max {
                return Err(Fault::MaxChildren(max));
            }
        }
        let id = spec.id.clone();
        let index = self.add_slot(spec);
        if let Err(reason) = self.start_slot(index).await {
            self.slots.remove(index);
            return Err(Fault::StartFailed { id, reason });
        }
        self.emit_started(index);
        Ok(self.info(index))
    }

    async fn terminate_child(&mut self, id: &str) -> Result<(), Fault> {
        let index = self
            .position(id)
            .ok_or_else(|| Fault::NotFound(id.into()))?;
        self.stop_slot(index, true).await;
        if self.slots[index].spec.restart == Restart::Temporary || self.spec.forget_ended {
            self.slots.remove(index);
        }
        Ok(())
    }

    async fn restart_child(&mut self, id: &str) -> Result<ChildInfo, Fault> {
        if self.over {
            return Err(Fault::Ended);
        }
        let index = self.stopped_slot(id)?;
        if let Err(reason) = self.start_slot(index).await {
            self.slots[index].state = ChildState::Stopped;
            return Err(Fault::StartFailed {
                id: id.into(),
                reason,
            });
        }
        self.emit_started(index);
        Ok(self.info(index))
    }

    fn delete_child(&mut self, id: &str) -> Result<(), Fault> {
        let index = self.stopped_slot(id)?;
        self.slots.remove(index);
        Ok(())
    }

    /// The slot of child `id`, which must be stopped (neither running nor about to restart),
    /// as OTP's `restart_child` and `delete_child` require.
    fn stopped_slot(&self, id: &str) -> Result<usize, Fault> {
        let index = self
            .position(id)
            .ok_or_else(|| Fault::NotFound(id.into()))?;
        let slot = &self.slots[index];
        if slot.running.is_some() {
            return Err(Fault::Running(id.into()));
        }
        if slot.state == ChildState::Restarting {
            return Err(Fault::Restarting(id.into()));
        }
        Ok(index)
    }

    fn kill_child(&mut self, id: &str) -> Result<(), Fault> {
        let index = self
            .position(id)
            .ok_or_else(|| Fault::NotFound(id.into()))?;
        match &self.slots[index].running {
            Some(running) => {
                child::kill(running);
                Ok(())
            }
            None => Err(Fault::NotRunning(id.into())),
        }
    }

    fn info(&self, index: usize) -> ChildInfo {
        let slot = &self.slots[index];
        ChildInfo {
            id: slot.spec.id.clone(),
            pid: slot.running.as_ref().and_then(|r| r.pid),
            state: slot.state,
            supervisor: slot.spec.is_supervisor(),
            kind: slot.spec.describe(),
        }
    }

    fn counts(&self) -> ChildCounts {
        let supervisors = self.slots.iter().filter(|s| s.spec.is_supervisor()).count();
        ChildCounts {
            specs: self.slots.len(),
            active: self.slots.iter().filter(|s| s.running.is_some()).count(),
            supervisors,
            workers: self.slots.len() - supervisors,
        }
    }

    fn emit_started(&self, index: usize) {
        let slot = &self.slots[index];
        let pid = slot.running.as_ref().and_then(|r| r.pid);
        self.emit(&slot.spec.id, EventKind::Started { pid });
    }

    /// Tells every subscriber (and the supervisor above) about `kind` for child `id`.
    fn emit(&self, id: &str, kind: EventKind) {
        self.pass_on(SupervisorEvent {
            supervisor: self.spec.name.clone(),
            child: id.to_string(),
            kind,
        });
    }

    fn pass_on(&self, event: SupervisorEvent) {
        if let Some(parent) = &self.spec.parent {
            let _ = parent.cast(SupervisorMsg::Event(event.clone()));
        }
        for sink in &self.sinks {
            let _ = sink.cast(SinkMsg::Event(event.clone()));
        }
    }

    fn close_sinks(&mut self) {
        for sink in self.sinks.drain(..) {
            let _ = sink.cast(SinkMsg::Ended);
        }
    }

    async fn tree(&self) -> SupervisionTree {
        let mut children = Vec::with_capacity(self.slots.len());
        for slot in &self.slots {
            let subtree = match slot.running.as_ref().and_then(|r| r.supervisor.clone()) {
                Some(nested) => match nested
                    .call_timeout_async(SupervisorMsg::Tree, Duration::from_secs(5))
                    .await
                {
                    Ok(SupervisorReply::Tree(tree)) => Some(Box::new(tree)),
                    _ => None,
                },
                None => None,
            };
            let service = match slot.running.as_ref().and_then(Running::address) {
                Some(address) if subtree.is_none() => {
                    crate::node::node()
                        .actor_net()
                        .describe(address, Duration::from_secs(2))
                        .await
                }
                _ => None,
            };
            children.push(ChildNode {
                id: slot.spec.id.clone(),
                // A service (a pool, a manager) is shown as what it runs, not as its actor.
                kind: service
                    .as_ref()
                    .map_or_else(|| slot.spec.describe(), |s| s.kind.clone()),
                restart: slot.spec.restart,
                state: slot.state,
                pid: slot.running.as_ref().and_then(|r| r.pid),
                restarts: slot.restarts,
                last_exit: slot.last_exit.clone(),
                restarted_with: slot.restarted_with.clone(),
                subtree,
                service,
            });
        }
        SupervisionTree {
            name: self.spec.name.clone(),
            strategy: self.spec.strategy,
            pid: std::process::id(),
            recent_restarts: self.log.recent() as u32,
            children,
        }
    }
}
