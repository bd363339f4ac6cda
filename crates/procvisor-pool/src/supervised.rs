//! Pools as children of a supervisor.
//!
//! A pool child is a small actor, the pool's service, that the supervisor starts in its own
//! process. Its `start` builds the pool; it ends as crashed when the pool breaks (so the
//! supervisor's strategy and intensity decide what happens next, and escalate), normally when
//! the pool is closed or terminated through a handle, and it terminates the pool when the
//! supervisor stops it. Handles find the current pool by the child's id.

use crate::builder::PoolPlan;
use crate::error::PoolError;
use crate::lifecycle::PoolState;
use crate::pool::Owner;
use procvisor_runtime::{
    Actor, ActorContext, ChildSpec, InitError, Placement, ProcessNode, ServiceNode,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The child spec of a pool described by `plan`, under `id`.
pub(crate) fn child_spec(id: &str, plan: PoolPlan) -> ChildSpec {
    ChildSpec::actor::<PoolService>(id, plan)
        .placed(Placement::Local)
        .labelled("pool")
}

/// A pool that a supervisor runs in this process.
#[derive(Clone)]
pub(crate) struct Running {
    pub(crate) owner: Arc<Owner>,
    /// The actor type of a pool of actors.
    pub(crate) actor: Option<String>,
    incarnation: u64,
}

/// The pools supervisors run in this process, by child id.
#[derive(Default)]
struct Registry {
    pools: Mutex<HashMap<String, Running>>,
    changed: Condvar,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::default);
static INCARNATIONS: AtomicU64 = AtomicU64::new(0);

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Running>> {
        self.pools.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The pool running under `id`, waiting up to `timeout` for one to be there (a restart in
/// progress).
pub(crate) fn find(id: &str, timeout: Duration) -> Result<Running, PoolError> {
    let deadline = Instant::now().checked_add(timeout);
    let mut pools = REGISTRY.lock();
    loop {
        if let Some(running) = pools.get(id) {
            return Ok(running.clone());
        }
        let left = deadline.map_or(Duration::MAX, |d| {
            d.saturating_duration_since(Instant::now())
        });
        if left.is_zero() {
            return Err(PoolError::NotSupervised { id: id.to_string() });
        }
        pools = REGISTRY
            .changed
            .wait_timeout(pools, left)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
}

/// The service actor of a supervised pool.
pub(crate) struct PoolService {
    id: String,
    running: Running,
}

/// What the service hears from its pool's watcher.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ServiceMsg {
    /// The pool stopped for good: broken (with the cause), or closed or terminated.
    Ended { broken: Option<String> },
}

impl Actor for PoolService {
    type Args = PoolPlan;
    type Msg = ServiceMsg;
    type Reply = ();

    async fn start(plan: PoolPlan, ctx: &ActorContext<Self>) -> Result<Self, InitError> {
        let id = ctx
            .name()
            .ok_or("a pool service runs as a supervisor's child")?
            .to_string();
        let actor = plan.actor().map(str::to_string);
        // Starting workers blocks: do it on a thread of its own, not on the runtime.
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("procvisor-pool-start".into())
            .spawn(move || {
                let _ = tx.send(plan.launch());
            })?;
        let core = rx
            .await
            .map_err(|_| "the thread starting the pool panicked")??;
        let owner = Arc::new(Owner(core));
        let running = Running {
            owner: owner.clone(),
            actor,
            incarnation: INCARNATIONS.fetch_add(1, Ordering::Relaxed),
        };
        let shared = owner.shared.clone();
        let myself = ctx.myself();
        tokio::spawn(async move {
            let broken = match shared.lifecycle.ended().await {
                PoolState::Broken(cause) => Some(cause),
                _ => None,
            };
            // Gone already (stopped by its supervisor) is fine: nothing to report then.
            let _ = myself.cast(ServiceMsg::Ended { broken });
        });
        REGISTRY.lock().insert(id.clone(), running.clone());
        REGISTRY.changed.notify_all();
        Ok(PoolService { id, running })
    }

    async fn handle(&mut self, msg: ServiceMsg, ctx: &ActorContext<Self>) {
        match msg {
            ServiceMsg::Ended {
                broken: Some(cause),
            } => {
                let cause = format!("the pool broke: {cause}");
                self.retire(&cause);
                ctx.fail(cause);
            }
            ServiceMsg::Ended { broken: None } => {
                self.retire("it was closed or terminated through a handle");
                ctx.stop();
            }
        }
    }

    async fn stopping(&mut self) {
        self.retire("its supervisor stopped it");
        let _ = self.running.owner.terminate_async().await;
    }

    fn describe(&self) -> Option<ServiceNode> {
        let stats = self.running.owner.stats();
        let what = match &self.running.actor {
            Some(actor) => format!(
                "actors {}",
                procvisor_runtime::__private::pool_support::short_name(actor)
            ),
            None => "functions".to_string(),
        };
        let workers = if stats.processes == 1 {
            "worker"
        } else {
            "workers"
        };
        let kind = format!("pool of {} {workers} ({what})", stats.processes);
        let summary = format!(
            "{} tasks running, {} queued, {} done, {} failed, {} {} replaced",
            stats.running,
            stats.queued,
            stats.completed,
            stats.failed,
            stats.crashes,
            if stats.crashes == 1 {
                "worker"
            } else {
                "workers"
            },
        );
        let workers = self
            .running
            .owner
            .describe_workers()
            .into_iter()
            .map(|w| ProcessNode::new(w.name, w.pid, w.state))
            .collect();
        Some(ServiceNode::new(&kind, summary, workers))
    }
}

impl PoolService {
    /// Takes the pool out of the registry and tells its handles why, once.
    fn retire(&self, cause: &str) {
        let shared = &self.running.owner.shared;
        let _ = shared
            .supervised_end
            .set((self.id.clone(), cause.to_string()));
        let mut pools = REGISTRY.lock();
        if pools
            .get(&self.id)
            .is_some_and(|r| r.incarnation == self.running.incarnation)
        {
            pools.remove(&self.id);
        }
    }
}

impl Drop for PoolService {
    /// Killed by its supervisor, or crashed: the pool goes with it, whoever else holds a handle.
    fn drop(&mut self) {
        self.retire("its supervisor killed it");
        let owner = self.running.owner.clone();
        if !owner.shared.lifecycle.is_finished() {
            // Terminating waits for the workers: not on the runtime's thread.
            let _ = std::thread::Builder::new()
                .name("procvisor-pool-stop".into())
                .spawn(move || {
                    let _ = owner.terminate();
                });
        }
    }
}

procvisor_runtime::register_actor!(PoolService);
