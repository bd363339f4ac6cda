//! Managers: objects held by a manager process and used from any process through proxies,
//! on this machine or over TCP. This is Python's `multiprocessing.Manager`.
//!
//! ```
//! use procvisor_manager::Manager;
//!
//! # fn main() -> Result<(), procvisor_manager::ManagerError> {
//! let manager = Manager::start()?;
//! let l = manager.list_from(0..10)?;
//! l.reverse()?;
//! assert_eq!(l.to_vec()?, vec![9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
//! # Ok(())
//! # }
//! ```
//!
//! - [`Manager::start`] starts a manager process (any start method) and shuts it down when
//!   dropped; [`Manager::connect`] reaches one that runs elsewhere, with its authkey.
//! - Proxies for Python's dict, list, set, Namespace, Value, Array, Lock, RLock, Semaphore,
//!   BoundedSemaphore, Condition, Event, Barrier, Queue and JoinableQueue, typed
//!   ([`DictProxy<K, V>`]) or heterogeneous with [`Object`].
//! - Proxies are serde values: pass one to a child process and it reaches the same object.
//!   A proxy may sit inside another object (a dict of list proxies).
//! - Your own types: any [`Actor`](procvisor_runtime::Actor) runs in the manager with
//!   [`Manager::spawn`], reached through an [`ActorProxy`].
//! - A pool in the manager, shared by all its clients: [`Manager::pool`] and its
//!   [`PoolProxy`] (Python's `manager.Pool`).
//! - [`SharedMemoryManager`] makes shared-memory segments and unlinks them all when it stops,
//!   even when the program that owns it is killed.
//! - Errors raised in the manager come back as [`ManagerError::Remote`] with Python's message
//!   (`KeyError: ...`), and the manager serves on. A manager that has gone is
//!   [`ManagerError::Unreachable`] at once, never a hang.
//!
//! A manager is the flexible, slow way to share: every operation is a round trip to another
//! process. Shared memory (`procvisor-sync`'s `Value`, `Array`, locks and queues) is far
//! faster where it fits.
//!
//! # Async twins
//!
//! Every proxy method `x` has a twin `x_async` that returns a future, for async code on any
//! executor (a single-threaded one too): the round trip runs on a blocking thread, so a call
//! that waits in the manager (`get`, `acquire`, `wait`, `join`) holds up no other task.
//! Cancelling a twin loses nothing: a `get_async` dropped after the manager handed it an item
//! puts the item back at the front of the queue, and an `acquire_async` dropped after the lock
//! was granted releases it. Inside a tokio task, an `RLock` or a `Condition` belongs to the
//! task, which may resume on another thread while it holds it.
//!
//! ```
//! use procvisor_manager::{Manager, ManagerError};
//! use std::time::Duration;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let manager = Manager::start()?;
//! let jobs = manager.queue::<u32>(0)?;
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! runtime.block_on(async {
//!     jobs.put_async(7).await?;
//!     assert_eq!(jobs.get_async().await?, 7);
//!     // Nothing comes within 50 ms: the get is cancelled, and takes nothing with it.
//!     let waited = tokio::time::timeout(Duration::from_millis(50), jobs.get_async()).await;
//!     assert!(waited.is_err());
//!     jobs.put_async(8).await?;
//!     assert_eq!(jobs.get_async().await?, 8);
//!     Ok::<(), ManagerError>(())
//! })?;
//! # Ok(())
//! # }
//! ```

mod client;
mod error;
mod manager;
mod object_actor;
mod offload;
mod per_process;
mod protocol;
mod proxy;
mod server;
mod shared_memory_manager;
mod supervised;

pub use error::ManagerError;
pub use manager::{Manager, ManagerBuilder, ManagerStats};
pub use object_actor::{ManagedObject, ObjectInfo, ObjectKind, ObjectMsg, Proxy};
pub use procvisor_wire::{Address, Object, object};
pub use proxy::{
    ActorProxy, ArrayProxy, BarrierProxy, ConditionProxy, DictProxy, EntryIter, EventProxy,
    ListIter, ListProxy, LockProxy, NamespaceProxy, PoolProxy, ProxyGuard, ProxyPermit, QueueProxy,
    SemaphoreProxy, SetProxy, ValueProxy,
};
pub use server::ManagerServer;
pub use shared_memory_manager::SharedMemoryManager;
