//! The supervisor itself: an actor (so it can live in any process, and a tree can span
//! processes) that starts its children in order, restarts them by OTP's rules, and gives up,
//! failing, when they crash more often than its intensity allows.

use super::child::{self, ChildExit, Running};
use super::spec::{ChildSpec, Restart, Strategy, SupervisorSpec};
use super::tree::{ChildNode, ChildState, SupervisionTree};
use crate::actor::{Actor, ActorContext, InitError, RemoteRef};
use crate::supervision_policy::RestartLog;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What a supervisor hears. (Public only because [`RemoteRef`]s to supervisors name it.)
#[doc(hidden)]
#[derive(Debug, Serialize, Deserialize)]
pub enum SupervisorMsg {
    /// A child ended.
    ChildExited {
        index: usize,
        generation: u64,
        exit: ChildExit,
    },
    /// A backoff delay passed: restart what was waiting.
    RestartDue { epoch: u64 },
    /// Describe the tree.
    Tree,
    /// Stop every child (in reverse start order), then stop.
    Shutdown,
}

/// A supervisor's answer.
#[doc(hidden)]
#[derive(Debug, Serialize, Deserialize)]
pub enum SupervisorReply {
    Tree(SupervisionTree),
    Done,
}

struct Slot {
    spec: ChildSpec,
    generation: u64,
    running: Option<Running>,
    state: ChildState,
    restarts: u32,
    last_exit: Option<String>,
    /// Why it was last restarted, when that was not its own end (a sibling's, by the strategy).
    restarted_with: Option<String>,
}

/// The supervisor actor (see [`Supervisor`](crate::Supervisor)).
#[doc(hidden)]
pub struct SupervisorActor {
    spec: SupervisorSpec,
    slots: Vec<Slot>,
    log: RestartLog,
    myself: RemoteRef<SupervisorActor>,
    /// Children waiting for a backoff delay to pass, and the delay's number.
    waiting: Vec<usize>,
    epoch: u64,
    gave_up: bool,
}

impl std::fmt::Debug for SupervisorActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupervisorActor")
            .field("name", &self.spec.name)
            .finish_non_exhaustive()
    }
}

crate::register_actor!(SupervisorActor);

impl Actor for SupervisorActor {
    type Args = SupervisorSpec;
    type Msg = SupervisorMsg;
    type Reply = SupervisorReply;

    async fn start(spec: SupervisorSpec, ctx: &ActorContext<Self>) -> Result<Self, InitError> {
        let slots = spec
            .children
            .iter()
            .map(|spec| Slot {
                spec: spec.clone(),
                generation: 0,
                running: None,
                state: ChildState::Stopped,
                restarts: 0,
                last_exit: None,
                restarted_with: None,
            })
            .collect();
        let mut supervisor = SupervisorActor {
            spec,
            slots,
            log: RestartLog::default(),
            myself: ctx.myself(),
            waiting: Vec::new(),
            epoch: 0,
            gave_up: false,
        };
        // OTP: children start in order; if one cannot, the ones started stop (in reverse) and
        // the supervisor does not start.
        for index in 0..supervisor.slots.len() {
            if let Err(error) = supervisor.start_child(index).await {
                let id = supervisor.slots[index].spec.id.clone();
                supervisor.stop_children(0..index).await;
                return Err(format!("child \"{id}\" could not start: {error}").into());
            }
        }
        tracing::info!(target: "procvisor::supervisor", supervisor = %supervisor.spec.name, children = supervisor.slots.len(), "supervisor started");
        Ok(supervisor)
    }

    async fn handle(&mut self, msg: SupervisorMsg, ctx: &ActorContext<Self>) -> SupervisorReply {
        match msg {
            SupervisorMsg::ChildExited {
                index,
                generation,
                exit,
            } => {
                self.child_exited(index, generation, exit, ctx).await;
                SupervisorReply::Done
            }
            SupervisorMsg::RestartDue { epoch } => {
                if epoch == self.epoch && !self.gave_up {
                    let waiting = std::mem::take(&mut self.waiting);
                    self.restart(waiting).await;
                }
                SupervisorReply::Done
            }
            SupervisorMsg::Tree => SupervisorReply::Tree(self.tree().await),
            SupervisorMsg::Shutdown => {
                self.stop_children(0..self.slots.len()).await;
                ctx.stop();
                SupervisorReply::Done
            }
        }
    }

    async fn stopping(&mut self) {
        // A stop from outside (a parent supervisor's shutdown): children go first, in reverse.
        self.stop_children(0..self.slots.len()).await;
    }
}

impl SupervisorActor {
    async fn start_child(&mut self, index: usize) -> Result<(), String> {
        let slot = &mut self.slots[index];
        slot.generation += 1;
        let running = child::start(&slot.spec, index, slot.generation, &self.myself).await?;
        tracing::debug!(target: "procvisor::supervisor", supervisor = %self.spec.name, child_id = %slot.spec.id, pid = ?running.pid, "child started");
        slot.running = Some(running);
        slot.state = ChildState::Running;
        Ok(())
    }

    /// Stops the running children of `range`, last first, recording how each ended.
    async fn stop_children(&mut self, range: std::ops::Range<usize>) {
        for index in range.rev() {
            let slot = &mut self.slots[index];
            if let Some(running) = slot.running.take() {
                // Its end report will be stale (the generation moves on).
                slot.generation += 1;
                let exit = child::stop(&running, slot.spec.shutdown).await;
                slot.last_exit = Some(match exit {
                    ChildExit::Normal => "stopped by its supervisor".to_string(),
                    ChildExit::Crashed(how) => format!("stopped by its supervisor ({how})"),
                });
                slot.state = ChildState::Stopped;
            }
        }
    }

    async fn child_exited(
        &mut self,
        index: usize,
        generation: u64,
        exit: ChildExit,
        ctx: &ActorContext<Self>,
    ) {
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        if generation != slot.generation || slot.running.is_none() || self.gave_up {
            return;
        }
        slot.running = None;
        let id = slot.spec.id.clone();
        let restart = match (slot.spec.restart, &exit) {
            (Restart::Permanent, _) => true,
            (Restart::Transient, exit) => !exit.is_normal(),
            (Restart::Temporary, _) => false,
        };
        match &exit {
            ChildExit::Normal => {
                tracing::info!(target: "procvisor::supervisor", supervisor = %self.spec.name, child_id = %id, "child stopped");
            }
            ChildExit::Crashed(cause) => {
                tracing::warn!(target: "procvisor::supervisor", supervisor = %self.spec.name, child_id = %id, %cause, "child crashed");
            }
        }
        slot.last_exit = Some(exit.to_string());
        slot.restarted_with = None;
        if !restart {
            slot.state = if slot.spec.restart == Restart::Temporary {
                ChildState::Removed
            } else {
                ChildState::Stopped
            };
            return;
        }
        if !self.log.record(self.spec.restart_intensity()) {
            let intensity = self.spec.restart_intensity();
            let cause = format!(
                "supervisor \"{}\" gave up: more than {} restarts within {:?} (the last: child \"{id}\": {})",
                self.spec.name,
                intensity.max_restarts,
                intensity.period,
                slot.last_exit.as_deref().unwrap_or("ended")
            );
            self.give_up(cause, ctx).await;
            return;
        }
        let group = match self.spec.strategy {
            Strategy::OneForOne => vec![index],
            Strategy::OneForAll => (0..self.slots.len()).collect(),
            Strategy::RestForOne => (index..self.slots.len()).collect(),
        };
        // The others of the group stop first, in reverse start order.
        for &other in group.iter().rev() {
            if other != index {
                self.stop_children(other..other + 1).await;
            }
        }
        // As in OTP, a temporary sibling stopped with the group is not restarted: it is gone.
        let cause = format!(
            "{} restart after \"{id}\" {}",
            self.spec.strategy,
            match &exit {
                ChildExit::Normal => "stopped".to_string(),
                ChildExit::Crashed(cause) => format!("crashed: {cause}"),
            }
        );
        for &other in &group {
            if other != index {
                self.slots[other].restarted_with = Some(cause.clone());
                if self.slots[other].spec.restart == Restart::Temporary {
                    self.slots[other].state = ChildState::Removed;
                }
            }
        }
        let group: Vec<usize> = group
            .into_iter()
            .filter(|&i| self.slots[i].state != ChildState::Removed)
            .collect();
        for &i in &group {
            self.slots[i].state = ChildState::Restarting;
        }
        let delay = self
            .spec
            .backoff_policy()
            .delay(self.log.recent().saturating_sub(1) as u32);
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

    /// Starts the children of `group` again, in start order. A child that cannot start counts
    /// as a crash of its own.
    async fn restart(&mut self, mut group: Vec<usize>) {
        group.sort_unstable();
        group.dedup();
        for index in group {
            if self.slots[index].running.is_some() {
                continue;
            }
            self.slots[index].restarts += 1;
            let id = self.slots[index].spec.id.clone();
            match self.start_child(index).await {
                Ok(()) => {
                    let slot = &self.slots[index];
                    tracing::info!(target: "procvisor::supervisor", supervisor = %self.spec.name, child_id = %id, restarts = slot.restarts, pid = ?slot.running.as_ref().and_then(|r| r.pid), "child restarted");
                }
                Err(error) => {
                    tracing::warn!(target: "procvisor::supervisor", supervisor = %self.spec.name, child_id = %id, %error, "child could not restart");
                    let generation = self.slots[index].generation;
                    // Through the mailbox, like any end: the intensity decides what follows.
                    self.slots[index].running = Some(child::failed_start());
                    let _ = self.myself.cast(SupervisorMsg::ChildExited {
                        index,
                        generation,
                        exit: ChildExit::Crashed(format!("it could not restart: {error}")),
                    });
                }
            }
        }
    }

    /// Stops every child and ends as failed: the parent supervisor sees a crash (escalation),
    /// and a top-level supervisor's `wait` returns the cause.
    async fn give_up(&mut self, cause: String, ctx: &ActorContext<Self>) {
        tracing::error!(target: "procvisor::supervisor", supervisor = %self.spec.name, %cause, "supervisor gave up");
        self.gave_up = true;
        self.stop_children(0..self.slots.len()).await;
        for slot in &mut self.slots {
            slot.state = ChildState::Stopped;
        }
        ctx.fail(crate::__private::pool_support::failure(
            crate::outcome::FailureKind::Error,
            cause,
        ));
    }

    async fn tree(&self) -> SupervisionTree {
        let mut children = Vec::with_capacity(self.slots.len());
        for slot in &self.slots {
            let subtree = match slot.running.as_ref().and_then(|r| r.supervisor.clone()) {
                Some(nested) => match nested
                    .call_async(SupervisorMsg::Tree, Some(Duration::from_secs(5)))
                    .await
                {
                    Ok(SupervisorReply::Tree(tree)) => Some(Box::new(tree)),
                    _ => None,
                },
                None => None,
            };
            children.push(ChildNode {
                id: slot.spec.id.clone(),
                kind: slot.spec.describe(),
                restart: slot.spec.restart,
                state: slot.state,
                pid: slot.running.as_ref().and_then(|r| r.pid),
                restarts: slot.restarts,
                last_exit: slot.last_exit.clone(),
                restarted_with: slot.restarted_with.clone(),
                subtree,
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
