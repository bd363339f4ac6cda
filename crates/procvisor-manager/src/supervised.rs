//! Managers as children of a supervisor.
//!
//! A manager child is a small actor, the manager's service, that the supervisor starts in its
//! own process. Its `start` starts the manager process (at the same address on every restart)
//! and runs the child's setup function there; it ends as crashed when the manager process
//! dies, so the supervisor's strategy and intensity decide what happens next; and it shuts the
//! manager down when the supervisor stops it. [`Manager::supervised`] reaches the current
//! manager by the child's id, from any process of the program.

use crate::client::Endpoint;
use crate::error::ManagerError;
use crate::manager::{Manager, ManagerBuilder};
use procvisor_runtime::__private::pool_support;
use procvisor_runtime::{
    Actor, ActorContext, ChildSpec, ExitReason, InitError, Placement, ProcessNode, RemoteRef,
    ServiceNode, StartMethod, get_context,
};
use procvisor_wire::{Address, Payload};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A [`ManagerBuilder`]'s settings as a child spec carries them, with the registered setup
/// function's name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ManagerPlan {
    pub(crate) address: Option<Address>,
    pub(crate) authkey: Option<Vec<u8>>,
    pub(crate) start_method: Option<StartMethod>,
    pub(crate) liveness: Duration,
    pub(crate) setup: Option<String>,
    pub(crate) initializer: Option<crate::manager::CheckedInitializer>,
}

/// The child spec of a manager described by `plan`, under `id`.
pub(crate) fn child_spec(id: &str, plan: ManagerPlan) -> ChildSpec {
    ChildSpec::actor::<ManagerService>(id, plan)
        .placed(Placement::Local)
        .labelled("manager")
}

/// The managers supervisors run in this process, and the address each child id has had.
#[derive(Default)]
struct Registry {
    state: Mutex<RegistryState>,
    changed: Condvar,
}

#[derive(Default)]
struct RegistryState {
    running: HashMap<String, (Endpoint, u64)>,
    /// Where each child's manager listened: its restarts listen there again.
    addresses: HashMap<String, Address>,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::default);
static INCARNATIONS: AtomicU64 = AtomicU64::new(0);

impl Registry {
    fn lock(&self) -> MutexGuard<'_, RegistryState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The endpoint of the manager running under `id`: from this process's supervisors, or asked
/// of the child's service by name; waiting up to `timeout` for one to be there.
pub(crate) fn find(id: &str, timeout: Duration) -> Result<Endpoint, ManagerError> {
    let deadline = Instant::now().checked_add(timeout);
    let left = || {
        deadline.map_or(Duration::MAX, |d| {
            d.saturating_duration_since(Instant::now())
        })
    };
    loop {
        {
            let state = REGISTRY.lock();
            if let Some((endpoint, _)) = state.running.get(id) {
                return Ok(endpoint.clone());
            }
        }
        // Another process's supervisor: its service answers to the child id.
        let service = RemoteRef::<ManagerService>::named(id);
        let ask = left().clamp(Duration::from_millis(100), Duration::from_secs(5));
        if let Ok(Some(endpoint)) = service.call_timeout(ServiceMsg::Where, ask) {
            return Ok(endpoint);
        }
        if left().is_zero() {
            return Err(ManagerError::NotSupervised { id: id.to_string() });
        }
        // A restart in progress, here or there: wait for the registry to change, briefly (the
        // other process's restart is not announced here).
        let state = REGISTRY.lock();
        let _ = REGISTRY
            .changed
            .wait_timeout(state, left().min(Duration::from_millis(20)));
    }
}

/// The service actor of a supervised manager.
pub(crate) struct ManagerService {
    id: String,
    manager: Option<Manager>,
    incarnation: u64,
}

/// What the service is asked, or hears from its watcher.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ServiceMsg {
    /// Where the manager listens (answered with its endpoint).
    Where,
    /// The manager process has ended.
    Ended,
}

impl Actor for ManagerService {
    type Args = ManagerPlan;
    type Msg = ServiceMsg;
    type Reply = Option<Endpoint>;

    async fn start(plan: ManagerPlan, ctx: &ActorContext<Self>) -> Result<Self, InitError> {
        let id = ctx
            .name()
            .ok_or("a manager service runs as a supervisor's child")?
            .to_string();
        // A restart listens where the first start did (a TCP port 0 became a port then).
        let remembered = REGISTRY.lock().addresses.get(&id).cloned();
        let address = match (plan.address.clone(), remembered) {
            (Some(Address::Tcp(any)), Some(Address::Tcp(bound))) if any.port() == 0 => {
                Address::Tcp(bound)
            }
            (Some(address), _) | (None, Some(address)) => address,
            (None, None) => Address::arbitrary()?,
        };
        // Starting a process and waiting for it blocks: not on the runtime's thread.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let launch_id = id.clone();
        std::thread::Builder::new()
            .name("procvisor-manager-start".into())
            .spawn(move || {
                let _ = tx.send(launch(&launch_id, plan, address));
            })?;
        let manager = rx
            .await
            .map_err(|_| "the thread starting the manager panicked")??;
        let sentinel = manager.sentinel()?;
        let myself = ctx.myself();
        tokio::spawn(async move {
            let _ = procvisor_wire::wait_async(&[&sentinel]).await;
            // Gone already (stopped by its supervisor) is fine: nothing to report then.
            let _ = myself.cast(ServiceMsg::Ended);
        });
        let incarnation = INCARNATIONS.fetch_add(1, Ordering::Relaxed);
        {
            let mut state = REGISTRY.lock();
            state
                .addresses
                .insert(id.clone(), manager.address().clone());
            state
                .running
                .insert(id.clone(), (manager.endpoint().clone(), incarnation));
        }
        REGISTRY.changed.notify_all();
        Ok(ManagerService {
            id,
            manager: Some(manager),
            incarnation,
        })
    }

    async fn handle(&mut self, msg: ServiceMsg, ctx: &ActorContext<Self>) -> Option<Endpoint> {
        match msg {
            ServiceMsg::Where => self.manager.as_ref().map(|m| m.endpoint().clone()),
            ServiceMsg::Ended => {
                self.retire();
                let exit = match self.manager.as_mut() {
                    Some(manager) => manager.ended().await,
                    None => None,
                };
                match exit {
                    // Shut down through a handle: a normal end, which a transient child
                    // keeps.
                    Some(ExitReason::Code(0)) => ctx.stop(),
                    Some(ExitReason::Code(code)) => {
                        ctx.fail(format!("the manager process exited with code {code}"));
                    }
                    Some(signal) => ctx.fail(format!("the manager process was killed by {signal}")),
                    None => ctx.fail("the manager process ended"),
                }
                None
            }
        }
    }

    async fn stopping(&mut self) {
        self.retire();
        if let Some(manager) = self.manager.take() {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let stopped = std::thread::Builder::new()
                .name("procvisor-manager-stop".into())
                .spawn(move || {
                    let _ = manager.shutdown();
                    let _ = tx.send(());
                });
            if stopped.is_ok() {
                let _ = rx.await;
            }
        }
    }

    fn describe(&self) -> Option<ServiceNode> {
        let manager = self.manager.as_ref()?;
        let stats = manager
            .connected()
            .with_liveness_timeout(Duration::from_secs(2))
            .stats();
        let summary = match stats {
            // The one connection is this question's.
            Ok(stats) => {
                let others = stats.connections.saturating_sub(1);
                format!(
                    "{} {}, {} other {}",
                    stats.objects,
                    if stats.objects == 1 {
                        "object"
                    } else {
                        "objects"
                    },
                    others,
                    if others == 1 {
                        "connection"
                    } else {
                        "connections"
                    },
                )
            }
            Err(e) => format!("not answering: {e}"),
        };
        let process = manager.pid().map(|pid| {
            ProcessNode::new(
                "Manager",
                pid,
                format!("listening at {}", manager.address()),
            )
        });
        Some(ServiceNode::new(
            "manager",
            summary,
            process.into_iter().collect(),
        ))
    }
}

/// Starts the manager at `address` and runs the setup function against it.
fn launch(id: &str, plan: ManagerPlan, address: Address) -> Result<Manager, String> {
    if let Address::Unix(path) = &address {
        remove_stale_socket(path);
    }
    let mut builder = ManagerBuilder::default()
        .address(address)
        .liveness_timeout(plan.liveness)
        .checked_initializer(plan.initializer);
    if let Some(key) = &plan.authkey {
        builder = builder.authkey(key);
    }
    if let Some(method) = plan.start_method {
        builder = builder.context(get_context(method));
    }
    let manager = builder.start().map_err(|e| e.to_string())?;
    if let Some(setup) = &plan.setup {
        let args = Payload::encode(&(manager.connected(),)).map_err(|e| e.to_string())?;
        if let Err(failure) = pool_support::run_here(setup, &args) {
            return Err(format!(
                "the setup of manager \"{id}\" ({}) failed: {failure}",
                pool_support::short_name(setup)
            ));
        }
    }
    Ok(manager)
}

/// A socket file left by a manager that was killed is in the way of its restart, and is
/// removed. One that still accepts belongs to the previous incarnation shutting down (its
/// service was just killed): its end is waited for, up to five seconds; after that, the start
/// fails, saying the address is taken.
fn remove_stale_socket(path: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match std::os::unix::net::UnixStream::connect(path) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                let _ = std::fs::remove_file(path);
                return;
            }
            Err(_) => return, // nothing there
            Ok(_) if Instant::now() >= deadline => return,
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

impl ManagerService {
    /// Takes the manager out of the registry (its handles then fail, as the manager is gone).
    fn retire(&self) {
        let mut state = REGISTRY.lock();
        if state
            .running
            .get(&self.id)
            .is_some_and(|(_, incarnation)| *incarnation == self.incarnation)
        {
            state.running.remove(&self.id);
        }
    }
}

impl Drop for ManagerService {
    /// Killed by its supervisor, or crashed: the manager goes with it.
    fn drop(&mut self) {
        self.retire();
        if let Some(manager) = self.manager.take() {
            // Shutting down waits for the process: not on the runtime's thread.
            let _ = std::thread::Builder::new()
                .name("procvisor-manager-stop".into())
                .spawn(move || drop(manager));
        }
    }
}

procvisor_runtime::register_actor!(ManagerService);
