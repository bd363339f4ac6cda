//! Python's `multiprocessing` for Rust.
//!
//! ```
//! use procvisor::{Process, pipe, register};
//!
//! fn f(mut conn: procvisor::Connection) {
//!     conn.send(&(42, None::<i32>, "hello")).unwrap();
//! }
//! register!(f);
//!
//! let (mut parent_conn, child_conn) = pipe(true)?;
//! let mut p = Process::new(f, (child_conn,))?;
//! p.start()?;
//! let got: (i32, Option<i32>, String) = parent_conn.recv()?;
//! assert_eq!(got, (42, None, "hello".to_string()));
//! p.join()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is here
//!
//! Python's names, Rust's shapes: every blocking call `x()` waits as long as it takes,
//! `x_timeout(duration)` at most that long, `try_x()` (or Python's `x_nowait`) not at all, and
//! `x_async()` is its twin for async code.
//!
//! - **Processes**: [`Process`] (`fork`, `spawn`, `forkserver`: [`StartMethod`],
//!   [`get_context`], [`set_start_method`]), [`register!`], [`current_process`],
//!   [`active_children`].
//! - **Communication**: [`pipe`] and [`Connection`], [`Listener`] and [`Client`], [`wait`];
//!   [`Queue`], [`SimpleQueue`], [`JoinableQueue`].
//! - **Synchronisation**: [`Lock`], [`RLock`], [`Semaphore`], [`BoundedSemaphore`],
//!   [`Condition`], [`Event`], [`Barrier`].
//! - **Shared memory**: [`Value`], [`Array`], [`SharedMemory`], [`ShareableList`].
//! - **Pools**: [`Pool`] of registered functions, [`ActorPool`] of actors; [`AsyncResult`],
//!   [`Imap`]; [`ThreadPool`] of closures on threads (Python's `ThreadPool`).
//! - **`concurrent.futures`**: [`ProcessPoolExecutor`] and the rest in [`futures`]: `Future`,
//!   `as_completed`, `wait`.
//! - **Managers**: [`Manager`] and its proxies ([`DictProxy`], [`ListProxy`], [`SetProxy`],
//!   [`PoolProxy`], ...), [`ManagerServer`], [`SharedMemoryManager`].
//! - **Actors and supervision**: [`Actor`], [`RemoteRef`], [`spawn_in`], [`ActorHost`];
//!   [`Supervisor`], [`SupervisorRef`], [`ChildSpec`], [`DynamicSupervisor`],
//!   [`SupervisorEvents`].
//! - **Beyond one machine** (feature `cluster`): `cluster::Cluster`, and
//!   `Pool::builder().cluster(&cluster)` for a pool whose workers run on many hosts.
//!
//! The layers below (`wire`, `sync`, `runtime`, `pool`, `manager`) are re-exported whole under
//! those names, for what this list leaves out.

pub use procvisor_manager::{
    ActorProxy, ArrayProxy, BarrierProxy, ConditionProxy, DictProxy, EntryIter, EventProxy,
    ListIter, ListProxy, LockProxy, ManagedObject, Manager, ManagerBuilder, ManagerError,
    ManagerServer, ManagerStats, NamespaceProxy, ObjectInfo, ObjectKind, ObjectMsg, PoolProxy,
    Proxy, ProxyGuard, ProxyPermit, QueueProxy, SemaphoreProxy, SetProxy, SharedMemoryManager,
    ValueProxy,
};
pub use procvisor_pool::futures::{ProcessPoolExecutor, ThreadPoolExecutor};
pub use procvisor_pool::{
    ActorPool, AsyncResult, Imap, Pool, PoolBuilder, PoolError, PoolStats, Progress, TaskInfo,
    Tasks, ThreadImap, ThreadPool, ThreadPoolBuilder, ThreadResult, WorkerExit,
};
pub use procvisor_runtime::{
    Actor, ActorContext, ActorError, ActorHost, ActorId, AutoShutdown, Backoff, CallFailure,
    ChildCounts, ChildExit, ChildInfo, ChildNode, ChildSpec, ChildState, DynamicSpec,
    DynamicSupervisor, EventKind, InitError, Place, Placement, ProcessNode, RemoteRef, ReplyLater,
    Restart, ServiceNode, Shutdown, Strategy, SupervisionTree, Supervisor, SupervisorError,
    SupervisorEvent, SupervisorEvents, SupervisorRef, SupervisorSpec, register_actor, spawn_in,
    spawn_local, spawn_local_named, spawn_named_in,
};
pub use procvisor_runtime::{
    Context, ContextError, CurrentProcess, DEFAULT_START_METHOD, ExitCode, ExitReason, Failure,
    FailureKind, LOG_TARGETS, Logger, ParentProcess, Preload, Process, ProcessError, ProcessReturn,
    RestartIntensity, Sentinel, StartMethod, Target, active_children, active_processes, cpu_count,
    current_process, default_context, get_all_start_methods, get_context, get_executable,
    get_logger, get_start_method, get_start_method_if_set, log_to_stderr, parent_process, register,
    registered_targets, set_executable, set_forkserver_preload, set_start_method,
    set_start_method_forced,
};
pub use procvisor_sync::{
    AcquireError, Array, ArrayGuard, Barrier, BoundedSemaphore, BrokenBarrierError, Condition,
    ConditionGuard, DEFAULT_QUEUE_BYTES, Event, GetError, IndexError, JoinableQueue, Lock,
    LockGuard, NotClosed, Permit, PutError, Queue, RLock, RLockGuard, RawArray, RawValue,
    ReleaseError, Semaphore, ShareableList, ShareableListError, SharedLock, SharedLockGuard,
    SharedMemory, SharedMemoryError, SharedType, SimpleQueue, TooLongError, Value, ValueGuard,
};
pub use procvisor_wire::{
    Address, AuthenticationError, Client, Connection, ConnectionError, Incoming, Listener,
    ListenerBuilder, ListenerError, MAX_VALUE_SIZE, Object, Payload, SharedFd, Waitable, object,
    pipe, wait, wait_async, wait_timeout,
};
/// `tracing`, for [`log_to_stderr`]'s level and for logging in targets (children's events reach
/// the parent).
pub use tracing;

/// The transport layer, for what the facade does not re-export.
pub mod wire {
    pub use procvisor_wire::*;
}

/// The synchronisation layer, for what the facade does not re-export.
pub mod sync {
    pub use procvisor_sync::*;
}

/// The manager layer, for what the facade does not re-export.
pub mod manager {
    pub use procvisor_manager::*;
}

/// Python's `concurrent.futures`: [`ProcessPoolExecutor`] (an
/// [`Executor`](futures::Executor) over any pool), [`Future`](futures::Future),
/// [`as_completed`](futures::as_completed) and [`wait`](futures::wait).
pub mod futures {
    pub use procvisor_pool::futures::*;
}

/// The pool layer, for what the facade does not re-export.
pub mod pool {
    pub use procvisor_pool::*;
}

/// Pools across hosts, on NATS (the `cluster` feature): [`Cluster`](cluster::Cluster),
/// launchers, and [`current_host`](cluster::current_host). A pool runs on a cluster with
/// `Pool::builder().cluster(&cluster)`.
#[cfg(feature = "cluster")]
pub mod cluster {
    pub use procvisor_cluster::*;
}

/// The runtime layer, for what the facade does not re-export.
pub mod runtime {
    pub use procvisor_runtime::*;
}

#[doc(hidden)]
pub use procvisor_runtime::__private;
