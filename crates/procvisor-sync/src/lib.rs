//! Synchronisation and shared state between processes: Python's `Lock`, `RLock`,
//! `Semaphore`, `BoundedSemaphore`, `Condition`, `Event`, `Barrier`, `Value`, `Array`,
//! `RawValue`, `RawArray`, `Queue`, `JoinableQueue`, `SimpleQueue`, and `shared_memory`'s
//! `SharedMemory` and `ShareableList`.
//!
//! ```
//! use procvisor_sync::{Lock, Value};
//!
//! let counter = Value::new(0_u64)?;
//! let lock = Lock::new()?;
//! {
//!     let _guard = lock.acquire()?;
//!     counter.update(|n| n + 1);
//! }
//! assert_eq!(counter.get(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Across processes
//!
//! Every object lives in its own shared-memory segment (a `memfd`). Handles are cheap to clone
//! and serialize as the segment's descriptor, so an object passed to a child process, as a
//! `Process` argument or inside a message on a `Connection`, is the same object there, whatever
//! the start method. A handle received as the wrong type (an `Event` where a `Lock` was
//! expected, a `Value<f64>` as a `Value<i32>`) is refused when decoded.
//!
//! # Robust locks
//!
//! A process that dies while holding a [`Lock`], [`RLock`], or the lock of a [`Value`],
//! [`Array`] or [`Condition`] does not deadlock the others: the next acquirer gets the lock
//! within tens of milliseconds of the death, and its guard's `previous_owner_died()` is true.
//! Semaphores are not robust: a semaphore does not know which process took a permit.
//!
//! # Memory safety
//!
//! Other processes may write shared memory at any moment, so every access to shared bytes
//! from safe code is atomic (one access per naturally aligned chunk of 8, 4, 2 or 1 bytes, so a
//! field of up to 8 bytes is never torn) or made under a lock; guards hand out copies, not
//! references into shared memory. See [`SharedType`] for what a racing read can see.

mod array;
mod barrier;
mod blocking;
mod condition;
mod error;
mod event;
mod futex;
mod lock;
mod queue;
mod raw_lock;
mod segment;
mod semaphore;
mod shareable_list;
mod shared;
mod shared_lock;
mod shared_memory;
mod shared_type;
pub mod tracker;
mod value;

pub use array::{Array, ArrayGuard, IndexError, RawArray, TooLongError};
pub use barrier::Barrier;
pub use condition::{Condition, ConditionGuard};
pub use error::{AcquireError, BrokenBarrierError, ReleaseError};
pub use event::Event;
pub use lock::{Lock, LockGuard, RLock, RLockGuard};
pub use queue::{
    DEFAULT_QUEUE_BYTES, GetError, JoinableQueue, NotClosed, PutError, Queue, SimpleQueue,
};
pub use semaphore::{BoundedSemaphore, Permit, Semaphore};
pub use shareable_list::{ShareableList, ShareableListError};
pub use shared_lock::{SharedLock, SharedLockGuard};
pub use shared_memory::{SharedMemory, SharedMemoryError};
pub use shared_type::SharedType;
pub use value::{RawValue, Value, ValueGuard};
