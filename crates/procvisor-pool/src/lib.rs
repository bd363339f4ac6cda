//! `Pool` for procvisor: Python's `multiprocessing.Pool` as a router actor over supervised
//! worker processes.
//!
//! ```
//! use procvisor_pool::Pool;
//!
//! fn f(x: i64) -> i64 {
//!     x * x
//! }
//! procvisor_runtime::register!(f);
//!
//! let pool = Pool::new(5)?;
//! assert_eq!(pool.map(f, [1, 2, 3])?, vec![1, 4, 9]);
//! # Ok::<(), procvisor_pool::PoolError>(())
//! ```
//!
//! # What is here
//!
//! - [`Pool`]: Python's whole `Pool` API: `apply`, `apply_async`, `map`, `map_async`, `imap`,
//!   `imap_unordered`, `starmap`, `starmap_async`, `close`, `terminate`, `join`; options per
//!   call through [`Pool::tasks`] ([`Tasks`]); settings through [`PoolBuilder`].
//! - [`AsyncResult`] (Python's, and a future) and [`Imap`] (an iterator and a stream).
//! - [`ActorPool`]: a pool of actors, one per worker process, each started once and then
//!   handling the pool's tasks as its messages; every worker addressable, broadcasts to all.
//! - [`PoolError`]: every way a task or the pool can fail, [`PoolStats`]: its counters.
//!
//! # Failure model
//!
//! A worker that dies (killed, aborted, out of memory, exited) fails only the task it was
//! running, with an error naming the task, the worker's pid and how it ended; its other tasks
//! go to other workers, and a replacement starts at once. More than 3 such deaths within 5
//! seconds (configurable) break the pool: every pending and new task fails fast with the cause.
//! Retries and per-task time limits are opt-in. Python's Pool hangs for ever on a lost task
//! (cpython gh-66587); this one never waits on a dead process.

mod actor_pool;
mod answer_ring;
mod async_result;
mod builder;
mod callbacks;
mod calls;
mod chunk_stream;
mod claim;
mod completion;
mod core;
mod error;
pub mod futures;
mod imap;
mod lifecycle;
mod options;
mod poll_briefly;
mod pool;
mod protocol;
pub mod remote;
mod router;
mod sink;
mod stats;
mod supervised;
mod tasks;
mod thread_pool;
mod worker_main;

pub use actor_pool::ActorPool;
pub use async_result::{AsyncResult, Waiting};
pub use builder::PoolBuilder;
pub use error::{PoolError, TaskInfo, WorkerExit};
pub use imap::Imap;
pub use options::Progress;
pub use pool::Pool;
pub use stats::PoolStats;
pub use tasks::Tasks;
pub use thread_pool::{ThreadImap, ThreadPool, ThreadPoolBuilder, ThreadResult};
