//! Python's `concurrent.futures` over procvisor's pools: an [`Executor`] whose
//! [`submit`](Executor::submit) gives a [`Future`], and the module functions
//! [`as_completed`] and [`wait`].
//!
//! ```
//! use procvisor_pool::futures::{ProcessPoolExecutor, ReturnWhen, as_completed, wait};
//!
//! fn square(x: i64) -> i64 {
//!     x * x
//! }
//! procvisor_runtime::register!(square);
//!
//! let executor = ProcessPoolExecutor::new(2)?;
//! let futures = (0..10)
//!     .map(|x| executor.submit(square, (x,)))
//!     .collect::<Result<Vec<_>, _>>()?;
//! let total: i64 = as_completed(&futures).map(|f| f.result().unwrap()).sum();
//! assert_eq!(total, 285);
//! assert!(wait(&futures, ReturnWhen::AllCompleted).not_done.is_empty());
//! let squares: Vec<i64> = executor.map(square, 0..5)?.collect::<Result<_, _>>()?;
//! assert_eq!(squares, [0, 1, 4, 9, 16]);
//! executor.shutdown()?;
//! # Ok::<(), procvisor_pool::PoolError>(())
//! ```
//!
//! # How it differs from Python's
//!
//! - A worker that dies fails only the call it was running
//!   ([`PoolError::WorkerLost`](crate::PoolError::WorkerLost)), and the pool replaces it. Python's executor breaks whole
//!   (`BrokenProcessPool`) and every pending future fails. Here the counterpart of
//!   `BrokenProcessPool` is [`PoolError::Broken`](crate::PoolError::Broken): workers crashed more often than the pool's
//!   restart intensity allows.
//! - [`Executor::map`] is lazy: it submits a window of calls ahead of what was consumed
//!   (Python's `buffersize`), never the whole input at once.
//! - The executor works over every pool kind: a pool of functions, a pool of actors
//!   ([`ActorPool`](crate::ActorPool)), and a pool across hosts.

pub(crate) mod completable;
mod done_callbacks;
mod executor;
mod future;
mod map;
mod thread_executor;
mod waiting;

pub use completable::{Completable, Finished};
pub use executor::{Executor, ProcessPoolExecutor};
pub use future::Future;
pub use map::{MapOptions, MapResults};
pub use thread_executor::ThreadPoolExecutor;
pub use waiting::{
    AsCompleted, AsCompletedTimeout, Done, ReturnWhen, as_completed, as_completed_timeout, wait,
    wait_async, wait_timeout,
};
