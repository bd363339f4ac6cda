//! [`PoolBuilder`]: Python's `Pool(processes, initializer, initargs, maxtasksperchild,
//! context)`, plus what Python lacks: restart intensity, retries and a per-task time limit.

use crate::actor_pool::ActorPool;
use crate::core::{Core, Shared};
use crate::error::PoolError;
use crate::pool::{Owner, Pool};
use crate::protocol::WorkerMode;
use crate::router::links::{Started, WorkerSpec, start_worker};
use crate::router::{Router, RouterArgs};
use procvisor_runtime::__private::pool_support;
use procvisor_runtime::{
    Actor, ChildSpec, Context, RestartIntensity, StartMethod, Target, get_context,
};
use procvisor_wire::Payload;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Builds a [`Pool`] (or an [`ActorPool`]) with more than a number of processes.
///
/// ```
/// use procvisor_pool::Pool;
/// use procvisor_runtime::RestartIntensity;
/// use std::time::Duration;
///
/// fn square(x: i64) -> i64 {
///     x * x
/// }
/// procvisor_runtime::register!(square);
///
/// let pool = Pool::builder()
///     .processes(2)
///     .maxtasksperchild(100)
///     .restart_intensity(RestartIntensity::new(10, Duration::from_secs(1)))
///     .task_time_limit(Duration::from_secs(30))
///     .build()?;
/// assert_eq!(pool.map(square, 1..=3)?, vec![1, 4, 9]);
/// # Ok::<(), procvisor_pool::PoolError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until built"]
pub struct PoolBuilder {
    processes: Option<usize>,
    initializer: Option<Result<(&'static str, Payload), PoolError>>,
    maxtasksperchild: Option<u64>,
    context: Option<Context>,
    intensity: Option<RestartIntensity>,
    retries: u32,
    task_time_limit: Option<Duration>,
    cluster: Option<crate::remote::BusHandle>,
}

impl PoolBuilder {
    /// Runs the pool's workers on the hosts of a cluster (`procvisor::cluster::Cluster`)
    /// instead of on this machine: the same calls, results and errors, plus
    /// [`PoolError::HostLost`] for the tasks of a host that is lost. Each host runs as many
    /// workers as it has CPUs (or as its agent was told); [`processes`](Self::processes) is
    /// ignored.
    pub fn cluster(mut self, cluster: &impl crate::remote::Hosts) -> Self {
        self.cluster = Some(crate::remote::BusHandle(cluster.host_bus()));
        self
    }

    /// The number of worker processes (default: [`cpu_count`](procvisor_runtime::cpu_count)).
    pub fn processes(mut self, processes: usize) -> Self {
        self.processes = Some(processes);
        self
    }

    /// A registered function each worker runs once, with `args`, before its first task
    /// (Python's `initializer` and `initargs`). If it fails (returns `Err`, panics), the worker
    /// exits; the pool restarts it within its restart intensity, then breaks with the
    /// initializer's error as the cause (Python restarts it for ever).
    pub fn initializer<F, A>(mut self, initializer: F, args: A) -> Self
    where
        F: Target<A>,
        A: Serialize,
    {
        let name = pool_support::target_name::<F>();
        let checked = if pool_support::registration(name).is_none() {
            Err(PoolError::Unregistered {
                target: name,
                short: pool_support::short_name(name),
            })
        } else {
            Payload::encode(&args)
                .map(|args| (name, args))
                .map_err(|e| PoolError::Arguments {
                    target: pool_support::short_name(name),
                    message: e.to_string(),
                })
        };
        drop(initializer);
        self.initializer = Some(checked);
        self
    }

    /// Replaces each worker after it has run this many tasks (a chunk of a `map` is one task),
    /// to contain leaks in code the worker calls. The replacement starts as the old worker
    /// leaves; no task is lost or run twice.
    pub fn maxtasksperchild(mut self, tasks: u64) -> Self {
        self.maxtasksperchild = Some(tasks);
        self
    }

    /// Starts the workers with this context's start method (default: the process-wide one).
    pub fn context(mut self, context: Context) -> Self {
        self.context = Some(context);
        self
    }

    /// Starts the workers with `method`.
    pub fn start_method(self, method: StartMethod) -> Self {
        self.context(get_context(method))
    }

    /// How many unexpected worker deaths the pool absorbs per period before it gives up and
    /// reports itself broken (default: more than 3 in 5 seconds, as in Elixir). Deaths the pool
    /// causes itself (time limits, `maxtasksperchild`) do not count.
    pub fn restart_intensity(mut self, intensity: RestartIntensity) -> Self {
        self.intensity = Some(intensity);
        self
    }

    /// How many times a task whose worker died (or was killed at its time limit) is started
    /// again before its error is reported (default 0: tasks may not be idempotent). A panic or
    /// an error returned by the task is never retried. Per call: [`Tasks::retries`](crate::Tasks::retries).
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// A time limit for every task: a task still running after `limit` has its worker killed
    /// (and replaced) and fails with [`PoolError::TimeLimitExceeded`]. Per call:
    /// [`Tasks::time_limit`](crate::Tasks::time_limit).
    pub fn task_time_limit(mut self, limit: Duration) -> Self {
        self.task_time_limit = Some(limit);
        self
    }

    /// Starts the pool's workers and its router.
    ///
    /// # Errors
    ///
    /// [`PoolError::InvalidArgument`] for zero processes or a zero `maxtasksperchild`;
    /// [`PoolError::Unregistered`] or [`PoolError::Arguments`] for the initializer;
    /// [`PoolError::Start`] when a worker cannot be started (the workers already started are
    /// stopped first).
    pub fn build(mut self) -> Result<Pool, PoolError> {
        if let Some(bus) = self.cluster.take() {
            let initializer = match self.initializer.take().transpose()? {
                Some((name, args)) if args.fd_count() > 0 => {
                    return Err(PoolError::Arguments {
                        target: pool_support::short_name(name),
                        message: "the initializer's arguments hold a descriptor, which cannot go \
                                  to another host"
                            .into(),
                    });
                }
                Some((name, args)) => Some((name.to_string(), args.bytes().to_vec())),
                None => None,
            };
            let workers = crate::remote::RemoteWorkers::Functions {
                initializer,
                maxtasksperchild: self.maxtasksperchild,
            };
            let core = self.launch_remote(&bus.0, &workers)?;
            return Ok(Pool::from_owner(Arc::new(Owner(core))));
        }
        let initializer = self.initializer.take().transpose()?;
        let mode = WorkerMode::Functions {
            initializer: initializer.map(|(name, args)| (name.to_string(), args)),
        };
        Ok(Pool::from_owner(Arc::new(Owner(self.launch(mode)?))))
    }

    /// Async twin of [`build`](Self::build): starts the workers on a blocking thread.
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build).
    pub async fn build_async(self) -> Result<Pool, PoolError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("procvisor-pool-start".into())
            .spawn(move || {
                let _ = tx.send(self.build());
            })
            .map_err(|e| start_error(e.to_string()))?;
        rx.await
            .unwrap_or_else(|_| Err(start_error("the starting thread panicked".into())))
    }

    /// Builds a pool of actors of type `A` (registered with
    /// [`register_actor!`](procvisor_runtime::register_actor)), one per worker process, each
    /// started from `args` in its process (see [`ActorPool`]).
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build), and [`PoolError::UnregisteredActor`] when `A` is not
    /// registered. An initializer set on this builder is refused: the actor's `start` is its
    /// initializer.
    pub fn build_actors<A: Actor>(mut self, args: A::Args) -> Result<ActorPool<A>, PoolError> {
        let name = std::any::type_name::<A>();
        if !pool_support::actor_registered(name) {
            return Err(PoolError::UnregisteredActor {
                actor: name,
                short: pool_support::short_name(name),
            });
        }
        if self.initializer.is_some() {
            return Err(PoolError::InvalidArgument(
                "a pool of actors has no initializer: the actor's start is its initializer".into(),
            ));
        }
        let args = Payload::encode(&args).map_err(|e| PoolError::Arguments {
            target: pool_support::short_name(name),
            message: e.to_string(),
        })?;
        if let Some(bus) = self.cluster.take() {
            if args.fd_count() > 0 {
                return Err(PoolError::Arguments {
                    target: pool_support::short_name(name),
                    message:
                        "the actor's arguments hold a descriptor, which cannot go to another host"
                            .into(),
                });
            }
            let workers = crate::remote::RemoteWorkers::Actors {
                actor: name.to_string(),
                args: args.bytes().to_vec(),
                maxtasksperchild: self.maxtasksperchild,
            };
            return ActorPool::from_owner(Arc::new(Owner(self.launch_remote(&bus.0, &workers)?)));
        }
        let mode = WorkerMode::Actor {
            actor: name.to_string(),
            args,
        };
        ActorPool::from_owner(Arc::new(Owner(self.launch(mode)?)))
    }

    /// A supervisor's child that runs this pool of functions, under `id`: started with the
    /// supervisor (or by [`start_child`](procvisor_runtime::SupervisorRef::start_child)),
    /// restarted as a whole when it breaks (its own restart intensity exceeded), and reached by
    /// [`Pool::supervised`] from the supervisor's process.
    ///
    /// A setting the pool refuses (zero processes, an unregistered initializer) makes the
    /// child fail to start, with the pool's error as the cause.
    pub fn child_spec(self, id: &str) -> ChildSpec {
        crate::supervised::child_spec(id, self.plan(None))
    }

    /// A supervisor's child that runs a pool of actors of type `A`, each started with `args`
    /// (see [`child_spec`](Self::child_spec) and [`ActorPool::supervised`]).
    pub fn actors_child_spec<A: Actor>(self, id: &str, args: A::Args) -> ChildSpec {
        let name = std::any::type_name::<A>();
        let short = pool_support::short_name(name);
        let actor = if pool_support::actor_registered(name) {
            Payload::encode(&args)
                .map(|args| (name.to_string(), args))
                .map_err(|e| {
                    PoolError::Arguments {
                        target: short,
                        message: e.to_string(),
                    }
                    .to_string()
                })
        } else {
            Err(PoolError::UnregisteredActor { actor: name, short }.to_string())
        };
        crate::supervised::child_spec(id, self.plan(Some(actor)))
    }

    /// This builder's settings, in a form a child spec can carry.
    fn plan(self, actor: Option<Result<(String, Payload), String>>) -> PoolPlan {
        let cluster = self
            .cluster
            .as_ref()
            .map(|bus| crate::remote::remember_bus(bus.0.clone()));
        PoolPlan {
            cluster,
            processes: self.processes,
            initializer: self.initializer.map(|checked| {
                checked
                    .map(|(name, args)| (name.to_string(), args))
                    .map_err(|e| e.to_string())
            }),
            maxtasksperchild: self.maxtasksperchild,
            start_method: self.context.map(|c| c.start_method()),
            intensity: self.intensity,
            retries: self.retries,
            task_time_limit: self.task_time_limit,
            actor,
        }
    }

    /// The pool a host runs for a pool of another host (a cluster's agent does this).
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build).
    #[doc(hidden)]
    pub fn build_for_remote(
        mut self,
        workers: &crate::remote::RemoteWorkers,
    ) -> Result<Pool, PoolError> {
        match workers {
            crate::remote::RemoteWorkers::Functions {
                initializer,
                maxtasksperchild,
            } => {
                self.maxtasksperchild = *maxtasksperchild;
                if let Some((name, args)) = initializer {
                    let Some(name) = pool_support::registered_name(name) else {
                        return Err(PoolError::InvalidArgument(format!(
                            "the initializer `{name}` is not registered in this host's binary"
                        )));
                    };
                    self.initializer = Some(Ok((name, Payload::from_bytes(args.clone()))));
                }
                self.build()
            }
            crate::remote::RemoteWorkers::Actors {
                actor,
                args,
                maxtasksperchild,
            } => {
                self.maxtasksperchild = *maxtasksperchild;
                if !pool_support::actor_registered(actor) {
                    return Err(PoolError::InvalidArgument(format!(
                        "the actor type `{actor}` is not registered in this host's binary"
                    )));
                }
                let mode = WorkerMode::Actor {
                    actor: actor.clone(),
                    args: Payload::from_bytes(args.clone()),
                };
                Ok(Pool::from_owner(Arc::new(Owner(self.launch(mode)?))))
            }
        }
    }

    /// A pool whose workers run on the bus's hosts.
    fn launch_remote(
        self,
        bus: &Arc<dyn crate::remote::HostBus>,
        workers: &crate::remote::RemoteWorkers,
    ) -> Result<Core, PoolError> {
        if self.maxtasksperchild == Some(0) {
            return Err(PoolError::InvalidArgument(
                "maxtasksperchild must be a positive int or None".into(),
            ));
        }
        static POOLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let mut nonce = [0u8; 4];
        let _ = getrandom::fill(&mut nonce);
        let name = format!(
            "{}-{}-{:08x}",
            std::process::id(),
            POOLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            u32::from_le_bytes(nonce)
        );
        let processes = bus.slots().max(1);
        let mut shared = Shared::new(processes, self.retries, self.task_time_limit);
        shared.remote = true;
        let shared = Arc::new(shared);
        let intensity = self.intensity.unwrap_or_default();
        let router =
            crate::remote::start_remote_router(shared.clone(), bus, &name, workers, intensity)?;
        Ok(Core { shared, router })
    }

    fn launch(self, mode: WorkerMode) -> Result<Core, PoolError> {
        let processes = self.processes.unwrap_or_else(procvisor_runtime::cpu_count);
        if processes == 0 {
            return Err(PoolError::InvalidArgument(
                "Number of processes must be at least 1".into(),
            ));
        }
        if self.maxtasksperchild == Some(0) {
            return Err(PoolError::InvalidArgument(
                "maxtasksperchild must be a positive int or None".into(),
            ));
        }
        let spec = WorkerSpec {
            mode,
            context: self.context,
        };
        let initial = start_all(&spec, processes)?;
        let shared = Arc::new(Shared::new(processes, self.retries, self.task_time_limit));
        let router = spawn_router(
            Router,
            RouterArgs {
                shared: shared.clone(),
                spec,
                maxtasksperchild: self.maxtasksperchild,
                intensity: self.intensity.unwrap_or_default(),
                initial,
            },
        )?;
        Ok(Core { shared, router })
    }
}

fn start_error(message: String) -> PoolError {
    PoolError::Start(Arc::new(procvisor_runtime::ProcessError::Start {
        name: "a pool worker".into(),
        source: std::io::Error::other(message),
    }))
}

/// Starts every worker; on a failure, stops those already started (Python's
/// `TestPoolNotLeakOnFailure`).
fn start_all(spec: &WorkerSpec, processes: usize) -> Result<Vec<Started>, PoolError> {
    let mut started = Vec::with_capacity(processes);
    for _ in 0..processes {
        match start_worker(spec) {
            Ok(worker) => started.push(worker),
            Err(error) => {
                for mut worker in started {
                    let _ = worker.process.kill();
                    let _ = worker.process.join_timeout(Duration::from_secs(5));
                }
                return Err(error);
            }
        }
    }
    Ok(started)
}

/// Starts the router, under the node's root supervisor, on a thread of its own with a
/// single-threaded runtime: the router, its link tasks and its timers then never wake each
/// other across threads (on a small machine, those wakeups cost more than the work).
pub(crate) fn spawn_router<R>(
    router: R,
    args: R::Arguments,
) -> Result<ractor::ActorRef<crate::router::RouterMessage>, PoolError>
where
    R: ractor::Actor<Msg = crate::router::RouterMessage>,
{
    let root = pool_support::root_supervisor();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| start_error(format!("cannot start the pool's runtime: {e}")))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("procvisor-pool-router".into())
        .spawn(move || {
            runtime.block_on(async move {
                match ractor::Actor::spawn_linked(None, router, args, root).await {
                    Ok((router, handle)) => {
                        let _ = tx.send(Ok(router));
                        let _ = handle.await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        })
        .map_err(|e| start_error(format!("cannot start the pool's router thread: {e}")))?;
    match rx.recv() {
        Ok(Ok(router)) => Ok(router),
        Ok(Err(e)) => Err(start_error(format!("cannot start the pool's router: {e}"))),
        Err(_) => Err(start_error("the pool's router did not start".into())),
    }
}

/// A [`PoolBuilder`]'s settings as a child spec carries them to the supervisor that starts the
/// pool (a context does not travel; its start method does), with the actor type and arguments
/// of a pool of actors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PoolPlan {
    processes: Option<usize>,
    initializer: Option<Result<(String, Payload), String>>,
    maxtasksperchild: Option<u64>,
    start_method: Option<StartMethod>,
    intensity: Option<RestartIntensity>,
    retries: u32,
    task_time_limit: Option<Duration>,
    actor: Option<Result<(String, Payload), String>>,
    /// The cluster a pool across hosts runs on (see [`remote::remember_bus`]).
    cluster: Option<u64>,
}

impl PoolPlan {
    /// The actor type of a pool of actors.
    pub(crate) fn actor(&self) -> Option<&str> {
        match &self.actor {
            Some(Ok((name, _))) => Some(name),
            _ => None,
        }
    }

    /// Starts the pool it describes (blocking: it starts processes).
    pub(crate) fn launch(self) -> Result<Core, String> {
        let builder = PoolBuilder {
            processes: self.processes,
            initializer: None,
            maxtasksperchild: self.maxtasksperchild,
            context: self.start_method.map(get_context),
            intensity: self.intensity,
            retries: self.retries,
            task_time_limit: self.task_time_limit,
            cluster: None,
        };
        if let Some(key) = self.cluster {
            let bus = crate::remote::remembered_bus(key).ok_or(
                "the cluster of this pool across hosts is not known in this process: such a pool \
                 is supervised in the process that joined the cluster",
            )?;
            let payload_bytes = |args: Payload| -> Result<Vec<u8>, String> {
                if args.fd_count() > 0 {
                    return Err("arguments that hold a descriptor cannot go to another host".into());
                }
                Ok(args.bytes().to_vec())
            };
            let workers = match self.actor {
                Some(actor) => {
                    let (actor, args) = actor?;
                    crate::remote::RemoteWorkers::Actors {
                        actor,
                        args: payload_bytes(args)?,
                        maxtasksperchild: self.maxtasksperchild,
                    }
                }
                None => crate::remote::RemoteWorkers::Functions {
                    initializer: match self.initializer.transpose()? {
                        Some((name, args)) => Some((name, payload_bytes(args)?)),
                        None => None,
                    },
                    maxtasksperchild: self.maxtasksperchild,
                },
            };
            return builder
                .launch_remote(&bus, &workers)
                .map_err(|e| e.to_string());
        }
        let mode = match self.actor {
            Some(actor) => {
                let (actor, args) = actor?;
                if self.initializer.is_some() {
                    return Err(
                        "a pool of actors has no initializer: the actor's start is its initializer"
                            .into(),
                    );
                }
                WorkerMode::Actor { actor, args }
            }
            None => WorkerMode::Functions {
                initializer: self.initializer.transpose()?,
            },
        };
        builder.launch(mode).map_err(|e| e.to_string())
    }
}
