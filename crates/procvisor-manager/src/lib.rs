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
//! - Proxies for Python's dict, list, Namespace, Value, Array, Lock, RLock, Semaphore,
//!   BoundedSemaphore, Condition, Event, Barrier, Queue and JoinableQueue, typed
//!   ([`DictProxy<K, V>`]) or heterogeneous with [`Object`].
//! - Proxies are serde values: pass one to a child process and it reaches the same object.
//!   A proxy may sit inside another object (a dict of list proxies).
//! - Custom types: implement [`Managed`] and [`register_managed!`].
//! - Errors raised in the manager come back as [`ManagerError::Remote`] with Python's message
//!   (`KeyError: ...`), and the manager serves on. A manager that has gone is
//!   [`ManagerError::Unreachable`] at once, never a hang.
//!
//! A manager is the flexible, slow way to share: every operation is a round trip to another
//! process. Shared memory (`procvisor-sync`'s `Value`, `Array`, locks and queues) is far
//! faster where it fits.

mod client;
mod error;
mod managed;
mod manager;
mod per_process;
mod protocol;
mod proxy;
mod server;
mod supervised;

pub use error::ManagerError;
pub use managed::Managed;
pub use manager::{Manager, ManagerBuilder, ManagerStats};
pub use procvisor_wire::{Address, Object, object};
pub use proxy::{
    ActorProxy, ArrayProxy, BarrierProxy, ConditionProxy, DictProxy, EventProxy, ListProxy,
    LockProxy, NamespaceProxy, Proxy, ProxyGuard, ProxyPermit, QueueProxy, SemaphoreProxy,
    ValueProxy,
};
pub use server::ManagerServer;

#[doc(hidden)]
pub mod __private {
    pub use crate::managed::{MANAGED, ManagedRegistration, managed_registration};
    pub use linkme;
}
