//! [`ThreadPoolExecutor`]: Python's `concurrent.futures.ThreadPoolExecutor`, over a
//! [`ThreadPool`].

use crate::error::PoolError;
use crate::thread_pool::{ThreadImap, ThreadPool, ThreadResult};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// A submitted call that may still be taken back.
trait Takeback: Send + Sync {
    fn cancel(&self) -> bool;
}

impl<R: Send> Takeback for crate::thread_pool::Slot<R> {
    fn cancel(&self) -> bool {
        self.cancel_queued()
    }
}

/// Python's `concurrent.futures.ThreadPoolExecutor`: closures on threads of this process.
///
/// [`submit`](Self::submit) gives a [`ThreadResult`], which is also this executor's future:
/// `result()`, `exception()`, `done()`, `running()`, `cancel()`, `cancelled()`, and `.await`;
/// [`as_completed`](super::as_completed) and [`wait`](super::wait) take it.
///
/// ```
/// use procvisor_pool::futures::{ThreadPoolExecutor, as_completed};
///
/// let executor = ThreadPoolExecutor::new(4)?;
/// let futures = (1..=3)
///     .map(|x| executor.submit(move || x * 10))
///     .collect::<Result<Vec<_>, _>>()?;
/// let mut got: Vec<i32> = as_completed(&futures).map(|f| f.result().unwrap()).collect();
/// got.sort();
/// assert_eq!(got, [10, 20, 30]);
/// let lengths: Vec<usize> = executor.map(|s: &str| s.len(), ["a", "bb"])?.collect::<Result<_, _>>()?;
/// assert_eq!(lengths, [1, 2]);
/// executor.shutdown()?;
/// # Ok::<(), procvisor_pool::PoolError>(())
/// ```
///
/// Dropping it shuts it down and waits for its calls, as leaving Python's `with` block does.
pub struct ThreadPoolExecutor {
    pool: ThreadPool,
    submitted: Mutex<Vec<Weak<dyn Takeback>>>,
    shut_down: AtomicBool,
}

impl fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolExecutor")
            .field("threads", &self.pool.threads())
            .field("shut_down", &self.shut_down.load(Ordering::Relaxed))
            .finish()
    }
}

impl ThreadPoolExecutor {
    /// An executor of `max_workers` threads (Python's `ThreadPoolExecutor(max_workers)`).
    ///
    /// # Errors
    ///
    /// [`PoolError::InvalidArgument`] for zero threads (Python's `ValueError`).
    pub fn new(max_workers: usize) -> Result<ThreadPoolExecutor, PoolError> {
        Ok(ThreadPoolExecutor::from_pool(ThreadPool::new(max_workers)?))
    }

    /// An executor over `pool` (with its initializer and thread names: Python's
    /// `initializer`, `initargs` and `thread_name_prefix`).
    pub fn from_pool(pool: ThreadPool) -> ThreadPoolExecutor {
        ThreadPoolExecutor {
            pool,
            submitted: Mutex::new(Vec::new()),
            shut_down: AtomicBool::new(false),
        }
    }

    /// The thread pool the calls run on.
    pub fn pool(&self) -> &ThreadPool {
        &self.pool
    }

    fn check_open(&self) -> Result<(), PoolError> {
        if self.shut_down.load(Ordering::Acquire) {
            return Err(PoolError::NotRunning);
        }
        Ok(())
    }

    /// Submits `f` (Python's `submit(fn, *args)`: capture the arguments).
    ///
    /// # Errors
    ///
    /// [`PoolError::NotRunning`] after [`shutdown`](Self::shutdown).
    pub fn submit<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<ThreadResult<R>, PoolError> {
        self.check_open()?;
        let result = self.pool.apply_async(f)?;
        let slot: Arc<dyn Takeback> = result.slot().clone();
        let mut submitted = self.submitted.lock().unwrap_or_else(|p| p.into_inner());
        if submitted.len() >= 64 && submitted.len().is_power_of_two() {
            submitted.retain(|weak| weak.strong_count() > 0);
        }
        submitted.push(Arc::downgrade(&slot));
        Ok(result)
    }

    /// `f(item)` for every item, results in input order, lazily (Python's `map`).
    ///
    /// # Errors
    ///
    /// [`PoolError::NotRunning`] after [`shutdown`](Self::shutdown).
    pub fn map<'a, T, R>(
        &self,
        f: impl Fn(T) -> R + Send + Sync + 'static,
        items: impl IntoIterator<Item = T> + 'a,
    ) -> Result<ThreadImap<'a, T, R>, PoolError>
    where
        T: Send + 'static,
        R: Send + 'static,
    {
        self.check_open()?;
        self.pool.imap(f, items)
    }

    /// Cancels every submitted call no thread has taken (each fails with
    /// [`PoolError::Cancelled`]); returns how many it cancelled (not counting those cancelled
    /// before). With [`shutdown`](Self::shutdown) after
    /// it, Python's `shutdown(cancel_futures=True)`.
    pub fn cancel_pending(&self) -> usize {
        let submitted =
            std::mem::take(&mut *self.submitted.lock().unwrap_or_else(|p| p.into_inner()));
        submitted
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|call| call.cancel())
            .count()
    }

    /// Takes no new calls, lets the submitted ones finish, and waits for the threads
    /// (Python's `shutdown(wait=True)`).
    ///
    /// # Errors
    ///
    /// None today; a `Result` as the process executor's.
    pub fn shutdown(&self) -> Result<(), PoolError> {
        self.shutdown_nowait();
        self.pool.join()
    }

    /// [`shutdown`](Self::shutdown), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`PoolError::Timeout`] when calls still run then (they go on).
    pub fn shutdown_timeout(&self, timeout: Duration) -> Result<(), PoolError> {
        self.shutdown_nowait();
        self.pool.join_timeout(timeout)
    }

    /// Takes no new calls; the submitted ones finish, without waiting here (Python's
    /// `shutdown(wait=False)`).
    pub fn shutdown_nowait(&self) {
        self.shut_down.store(true, Ordering::Release);
        self.pool.close();
    }
}

impl Drop for ThreadPoolExecutor {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
