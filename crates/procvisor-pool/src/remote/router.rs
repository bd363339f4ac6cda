//! The remote router: the actor a pool's handles talk to (as to a local router), over a
//! [`Table`] and a bus to the hosts.

use super::table::{Commands, Table};
use super::{HostBus, HostEvent, HostSender};
use crate::core::Shared;
use crate::error::PoolError;
use crate::router::RouterMessage;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

pub(crate) struct RemoteRouter;

pub(crate) struct RemoteArgs {
    shared: Arc<Shared>,
    sender: Arc<dyn HostSender>,
    events: UnboundedReceiver<HostEvent>,
    host_timeout: Duration,
    max_task_size: usize,
    intensity: procvisor_runtime::RestartIntensity,
}

pub(crate) struct RemoteState {
    table: Table,
    sender: Arc<dyn HostSender>,
    shared: Arc<Shared>,
    myself: ActorRef<RouterMessage>,
    tasks: Vec<JoinHandle<()>>,
}

/// Opens pool `name` of `workers` on the bus's hosts and starts its router.
pub(crate) fn start_remote_router(
    shared: Arc<Shared>,
    bus: &Arc<dyn HostBus>,
    name: &str,
    workers: &super::RemoteWorkers,
    intensity: procvisor_runtime::RestartIntensity,
) -> Result<ActorRef<RouterMessage>, PoolError> {
    let (sender, events) = bus.open_pool(name, workers)?;
    crate::builder::spawn_router(
        RemoteRouter,
        RemoteArgs {
            shared,
            sender,
            events,
            host_timeout: bus.host_timeout(),
            max_task_size: bus.max_task_size(),
            intensity,
        },
    )
}

/// How often leases are checked: often enough that a lost host is declared within a tenth of
/// its timeout.
fn tick_every(host_timeout: Duration) -> Duration {
    (host_timeout / 10).clamp(Duration::from_millis(20), Duration::from_millis(500))
}

impl Actor for RemoteRouter {
    type Msg = RouterMessage;
    type State = RemoteState;
    type Arguments = RemoteArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<RouterMessage>,
        args: RemoteArgs,
    ) -> Result<RemoteState, ActorProcessingErr> {
        let RemoteArgs {
            shared,
            sender,
            mut events,
            host_timeout,
            max_task_size,
            intensity,
        } = args;
        let mut table = Table::new(shared.clone(), host_timeout)
            .max_task_size(max_task_size)
            .intensity(intensity);
        // The hosts that joined while the pool was opened are in the table before any task
        // comes: the first tasks are spread over all of them.
        let now = Instant::now();
        while let Ok(event) = events.try_recv() {
            for (host, command) in table.on_event(event, now) {
                sender.send(&host, command);
            }
        }
        let forward = {
            let myself = myself.clone();
            tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    if myself.send_message(RouterMessage::Remote(event)).is_err() {
                        return;
                    }
                }
            })
        };
        let ticker = {
            let myself = myself.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(tick_every(host_timeout));
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    if myself.send_message(RouterMessage::Tick).is_err() {
                        return;
                    }
                }
            })
        };
        Ok(RemoteState {
            table,
            sender,
            shared,
            myself,
            tasks: vec![forward, ticker],
        })
    }

    async fn handle(
        &self,
        _: ActorRef<RouterMessage>,
        message: RouterMessage,
        state: &mut RemoteState,
    ) -> Result<(), ActorProcessingErr> {
        let now = Instant::now();
        let commands = match message {
            RouterMessage::Inbox => {
                let jobs = state.shared.take_inbox();
                state.table.submit(jobs, now)
            }
            RouterMessage::Remote(event) => state.table.on_event(event, now),
            RouterMessage::Tick => state.table.tick(now),
            RouterMessage::StreamEnded => state.table.stream_ended(),
            RouterMessage::Close => state.table.close(),
            RouterMessage::Terminate => state.table.terminate(),
            RouterMessage::Describe(reply) => {
                let _ = reply.send(state.table.describe());
                Commands::new()
            }
            RouterMessage::Running(reply) => {
                let _ = reply.send(Vec::new());
                Commands::new()
            }
            // What only a local router hears.
            _ => Commands::new(),
        };
        for (host, command) in commands {
            state.sender.send(&host, command);
        }
        state.table.publish_counts();
        if state.table.finished() {
            state.shared.lifecycle.finish();
            state.myself.stop(None);
        }
        Ok(())
    }
}

impl Drop for RemoteState {
    /// Nothing the router held may wait for ever once it is gone.
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        if self.shared.lifecycle.is_finished() {
            return;
        }
        let cause = "the pool's router stopped unexpectedly".to_string();
        for job in self.shared.take_inbox() {
            job.deliver(Err(PoolError::Broken {
                cause: cause.clone(),
            }));
        }
        self.table.abandon(&cause);
        self.shared
            .lifecycle
            .advance(crate::lifecycle::PoolState::Broken(cause));
        self.shared.lifecycle.finish();
    }
}
