//! Pools whose workers run on other hosts: what a pool needs from the crate that carries its
//! work there (`procvisor-cluster`, on NATS), and the router that keeps such a pool's promises.
//!
//! The pool side is unchanged: `map`, `imap`, `apply_async`, chunks, callbacks and progress
//! make the same tasks and receive their results the same way. Instead of worker processes of
//! its own, the pool's router hands tasks to *hosts*, each of which runs them on an ordinary
//! local pool of its own, and answers with their results. Between the two sits a [`HostBus`]:
//! it delivers [`HostCommand`]s and reports [`HostEvent`]s, and may lose or repeat messages;
//! the router makes that safe:
//!
//! - every task is acknowledged by the host that takes it ([`HostEvent::Accepted`]); one that
//!   is refused or never acknowledged goes to another host;
//! - a host runs a task once, whatever is repeated (it deduplicates by task id), and the router
//!   reports each task once (it ignores a second result);
//! - a host that falls silent for the host timeout is lost: its running tasks fail with
//!   [`PoolError::HostLost`](crate::PoolError::HostLost) (or are retried, if the call allows),
//!   its other tasks go to other hosts, it is told to kill its workers, and nothing it sends
//!   later is believed (it is *fenced*);
//! - a router cut off from every host for the host timeout fails the pool's work with
//!   [`PoolError::ClusterUnreachable`](crate::PoolError::ClusterUnreachable).

mod router;
mod serve;
mod table;
#[cfg(test)]
mod table_tests;

pub(crate) use router::start_remote_router;
pub(crate) use serve::run as serve_remote;

use procvisor_runtime::{ExitReason, Failure};
use procvisor_wire::Payload;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

/// A host's name in its cluster (unique there).
pub type HostId = String;

/// One task as it travels to a host: its number in the pool, the registered function, and
/// the encoded chunk of arguments (as a local worker receives them).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoteTask {
    /// The task's number in its pool (what the host deduplicates by).
    pub id: u64,
    /// The registered function's full name.
    pub target: String,
    /// The encoded chunk of argument tuples (it holds no descriptor: none can cross).
    pub args: Payload,
    /// The time limit of one run of the task.
    pub time_limit: Option<Duration>,
}

/// How a task ended on its host, when it did not return a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RemoteFailure {
    /// It panicked, or its arguments or result could not cross (the worker lives on).
    Failed(Failure),
    /// Its worker process died under it.
    WorkerLost {
        /// The worker's process name.
        worker: String,
        /// Its pid on its host.
        pid: u32,
        /// How it ended.
        exit: ExitReason,
        /// What it reported as it died, when it could.
        cause: Option<Failure>,
    },
    /// It ran past its time limit; its worker was killed.
    TimeLimitExceeded {
        /// The worker's process name.
        worker: String,
        /// Its pid on its host.
        pid: u32,
        /// The limit.
        limit: Duration,
    },
    /// The host could not run it (its pool broke, the function is not in its binary, ...).
    Refused(String),
}

/// What a host answered for one task: the encoded chunk of results, or how it failed.
pub type RemoteOutcome = Result<Payload, RemoteFailure>;

/// What the router asks of a host.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum HostCommand {
    /// Run these tasks (acknowledge them; run each id once, however often it is sent).
    Run(Vec<RemoteTask>),
    /// No more work will come: stop the workers once what runs is done.
    Close,
    /// Stop the workers now; what runs is lost.
    Terminate,
    /// The host's life `incarnation` was declared lost: kill its workers, send nothing more
    /// for this pool. A later life of the host (it restarted meanwhile) is not touched: the
    /// fence of its previous life may arrive after it joined.
    Fence {
        /// The life fenced ([`HostEvent::Joined`]'s `incarnation`).
        incarnation: u64,
    },
}

/// What the router hears from the hosts.
#[derive(Debug, Clone)]
pub enum HostEvent {
    /// A host is ready to take this pool's work, with this many workers. A host that comes
    /// back after it was lost joins again under a new incarnation.
    Joined {
        /// The host.
        host: HostId,
        /// Which life of the host this is (a restarted agent has a new one).
        incarnation: u64,
        /// How many tasks it runs at once.
        slots: usize,
    },
    /// The host is alive, and runs these tasks now.
    Beat {
        /// The host.
        host: HostId,
        /// Its life.
        incarnation: u64,
        /// The tasks it is running now.
        running: Vec<u64>,
    },
    /// The host took these tasks.
    Accepted {
        /// The host.
        host: HostId,
        /// The tasks.
        ids: Vec<u64>,
        /// The tasks it runs now (those it just took included, if it had free workers).
        running: Vec<u64>,
    },
    /// These tasks did not reach the host, or it would not take them: send them elsewhere.
    Refused {
        /// The host.
        host: HostId,
        /// The tasks.
        ids: Vec<u64>,
        /// Why.
        reason: String,
    },
    /// Tasks ended on the host.
    Results {
        /// The host.
        host: HostId,
        /// Its life.
        incarnation: u64,
        /// Each task's outcome.
        results: Vec<(u64, RemoteOutcome)>,
        /// The tasks it runs now (it started others as these ended).
        running: Vec<u64>,
    },
    /// The router lost its connection to the bus.
    Disconnected(String),
    /// The router has its connection again.
    Reconnected,
}

/// What a pool's workers are, for a host to start them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RemoteWorkers {
    /// Workers that run registered functions.
    Functions {
        /// A registered function each worker runs first, and its encoded arguments.
        initializer: Option<(String, Vec<u8>)>,
        /// How many tasks a worker runs before it is replaced.
        maxtasksperchild: Option<u64>,
    },
    /// Workers that each host one actor of the registered type `actor`, started from `args`
    /// (encoded); the tasks are its messages.
    Actors {
        /// The actor type's full name.
        actor: String,
        /// Its encoded arguments.
        args: Vec<u8>,
        /// How many tasks a worker runs before it is replaced.
        maxtasksperchild: Option<u64>,
    },
}

/// What a pool needs to reach its hosts.
pub trait HostBus: Send + Sync + 'static {
    /// Opens a pool on the hosts that are there now (and on those that join later): the
    /// events of this pool from now on, and where to send its commands.
    ///
    /// # Errors
    ///
    /// When the hosts cannot be reached, or none is there.
    fn open_pool(
        &self,
        pool: &str,
        workers: &RemoteWorkers,
    ) -> Result<(Arc<dyn HostSender>, UnboundedReceiver<HostEvent>), crate::PoolError>;

    /// How long a host may be silent before it is lost.
    fn host_timeout(&self) -> Duration;

    /// How many workers the hosts have now, in all (what `map` cuts its chunks for).
    fn slots(&self) -> usize;

    /// The largest task (encoded arguments) the bus carries; a larger one fails when sent.
    fn max_task_size(&self) -> usize {
        usize::MAX
    }

    /// What tells two buses to the same hosts apart from others (so that a supervised pool's
    /// bus is kept once, however many handles on it there are).
    fn identity(&self) -> usize;
}

/// Sends one pool's commands to its hosts. Never blocks: what cannot be delivered comes back
/// as [`HostEvent::Refused`] (for [`HostCommand::Run`]) or is lost (the others are repeated by
/// the router's own rules: a fenced host kills its workers by itself too).
pub trait HostSender: Send + Sync {
    /// Sends `command` to `host`.
    fn send(&self, host: &str, command: HostCommand);
}

/// Buses of supervised pools across hosts, by number: a child spec carries the number (a bus
/// cannot travel), and the supervisor that starts the pool finds the bus here.
static BUSES: std::sync::Mutex<Vec<Arc<dyn HostBus>>> = std::sync::Mutex::new(Vec::new());

/// Keeps `bus` for the supervised pools that will run on it; its number.
pub(crate) fn remember_bus(bus: Arc<dyn HostBus>) -> u64 {
    let mut buses = BUSES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(i) = buses
        .iter()
        .position(|known| known.identity() == bus.identity())
    {
        return i as u64;
    }
    buses.push(bus);
    (buses.len() - 1) as u64
}

/// The bus numbered `key` by [`remember_bus`] in this process.
pub(crate) fn remembered_bus(key: u64) -> Option<Arc<dyn HostBus>> {
    let buses = BUSES.lock().unwrap_or_else(|p| p.into_inner());
    buses.get(key as usize).cloned()
}

/// A pool builder's bus to its hosts.
#[derive(Clone)]
pub(crate) struct BusHandle(pub(crate) Arc<dyn HostBus>);

impl std::fmt::Debug for BusHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HostBus({} slots)", self.0.slots())
    }
}

/// Something a pool can carry its work to: a cluster.
pub trait Hosts {
    /// The bus to the hosts.
    fn host_bus(&self) -> Arc<dyn HostBus>;
}
