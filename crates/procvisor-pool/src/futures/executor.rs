//! [`Executor`]: Python's `ProcessPoolExecutor` over any of procvisor's pools.

use super::done_callbacks::{DoneCallbacks, done_callbacks};
use super::future::Future;
use super::map::{MapOptions, MapResults};
use crate::actor_pool::ActorPool;
use crate::claim::{Claim, ClaimState};
use crate::completion::Completion;
use crate::core::Core;
use crate::error::PoolError;
use crate::options::TaskOptions;
use crate::pool::Pool;
use procvisor_runtime::{Actor, Target};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Python's `concurrent.futures.ProcessPoolExecutor`: an [`Executor`] over a [`Pool`] of
/// registered functions.
pub type ProcessPoolExecutor = Executor<Pool>;

/// Python's `concurrent.futures` executor over one of procvisor's pools: a [`Pool`] of
/// functions (also one across hosts) or an [`ActorPool`].
///
/// [`submit`](Self::submit) gives a [`Future`]; [`map`](Self::map) gives the results in
/// order; [`shutdown`](Self::shutdown) lets the submitted calls finish and stops the workers,
/// [`cancel_pending`](Self::cancel_pending) first takes back the calls no worker has started
/// (Python's `shutdown(cancel_futures=True)`).
///
/// ```
/// use procvisor_pool::futures::ProcessPoolExecutor;
///
/// fn square(x: i64) -> i64 {
///     x * x
/// }
/// procvisor_runtime::register!(square);
///
/// let executor = ProcessPoolExecutor::new(2)?;
/// let future = executor.submit(square, (12,))?;
/// assert_eq!(future.result()?, 144);
/// executor.shutdown()?;
/// assert!(executor.submit(square, (1,)).is_err(), "no new calls after shutdown");
/// # Ok::<(), procvisor_pool::PoolError>(())
/// ```
///
/// Any pool's settings (start method, initializer, `maxtasksperchild`, retries, time limits,
/// a cluster) come with it: build the pool, then [`Executor::from_pool`] it.
///
/// # Drop
///
/// Dropping an executor shuts it down and waits for its calls, as leaving Python's
/// `with ProcessPoolExecutor() as executor:` block does.
pub struct Executor<P = Pool> {
    pool: P,
    core: Core,
    pending: Mutex<Pending>,
    callbacks: Arc<DoneCallbacks>,
    shut_down: AtomicBool,
}

impl<P> fmt::Debug for Executor<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("processes", &self.core.shared.processes)
            .field("shut_down", &self.shut_down.load(Ordering::Relaxed))
            .finish()
    }
}

/// The calls submitted and not yet started, for [`Executor::cancel_pending`].
#[derive(Default)]
struct Pending {
    calls: Vec<(Arc<Claim>, Arc<Completion>, crate::error::TaskInfo)>,
    /// Drop the started ones once there are this many.
    prune_at: usize,
}

impl Pending {
    fn track(&mut self, claim: Arc<Claim>, completion: Arc<Completion>, info: crate::TaskInfo) {
        self.calls.push((claim, completion, info));
        if self.calls.len() >= self.prune_at {
            self.calls
                .retain(|(claim, _, _)| claim.state() == ClaimState::Queued);
            self.prune_at = (self.calls.len() * 2).max(64);
        }
    }
}

impl ProcessPoolExecutor {
    /// An executor over a new pool of `max_workers` worker processes (Python's
    /// `ProcessPoolExecutor(max_workers)`; [`cpu_count`](procvisor_runtime::cpu_count) is
    /// Python's default).
    ///
    /// # Errors
    ///
    /// As [`PoolBuilder::build`](crate::PoolBuilder::build): zero workers is
    /// [`PoolError::InvalidArgument`] (Python's `ValueError`).
    pub fn new(max_workers: usize) -> Result<ProcessPoolExecutor, PoolError> {
        Ok(Executor::from_pool(Pool::new(max_workers)?))
    }
}

impl From<Pool> for Executor<Pool> {
    fn from(pool: Pool) -> Executor<Pool> {
        let core = Core::clone(pool.owner());
        Executor::over(pool, core)
    }
}

impl<A: Actor> From<ActorPool<A>> for Executor<ActorPool<A>> {
    fn from(pool: ActorPool<A>) -> Executor<ActorPool<A>> {
        let core = Core::clone(pool.owner());
        Executor::over(pool, core)
    }
}

impl Executor<Pool> {
    /// Submits `f(args)` (Python's `submit(fn, *args)`).
    ///
    /// # Errors
    ///
    /// [`PoolError::NotRunning`] after [`shutdown`](Self::shutdown) (Python's
    /// `RuntimeError`), and as [`Pool::apply_async`].
    pub fn submit<F, A>(&self, f: F, args: A) -> Result<Future<F::Output>, PoolError>
    where
        F: Target<A>,
        A: Serialize,
        F::Output: DeserializeOwned,
    {
        self.check_open()?;
        let claim = Arc::new(Claim::default());
        let result = self.pool.tasks().apply_claimed(f, args, claim.clone())?;
        Ok(self.future(result, claim))
    }

    /// `f(item)` for every item, results in input order (Python's `map(fn, iterable)`).
    /// Lazy: calls are submitted a window ahead of what was read, not all at once.
    ///
    /// # Errors
    ///
    /// As [`submit`](Self::submit); each result is the call's own `Result`.
    pub fn map<'a, F, T, I>(&self, f: F, items: I) -> Result<MapResults<'a, F::Output>, PoolError>
    where
        F: Target<(T,)>,
        T: Serialize + Send + 'a,
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'a,
        F::Output: DeserializeOwned,
    {
        self.map_with(f, items, MapOptions::new())
    }

    /// [`map`](Self::map) with Python's `timeout`, `chunksize` and `buffersize`.
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map), and [`PoolError::InvalidArgument`] for a zero chunk size or
    /// buffer size.
    pub fn map_with<'a, F, T, I>(
        &self,
        f: F,
        items: I,
        options: MapOptions,
    ) -> Result<MapResults<'a, F::Output>, PoolError>
    where
        F: Target<(T,)>,
        T: Serialize + Send + 'a,
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'a,
        F::Output: DeserializeOwned,
    {
        self.check_open()?;
        let mut tasks = self.pool.tasks().chunksize(options.chunksize.unwrap_or(1));
        if let Some(buffersize) = options.buffersize {
            tasks = tasks.window(buffersize);
        }
        let imap = tasks.imap(f, items)?.stop_at_close();
        Ok(MapResults::new(imap, options.timeout))
    }
}

impl<A: Actor> Executor<ActorPool<A>> {
    /// Submits `msg` to a worker's actor.
    ///
    /// # Errors
    ///
    /// [`PoolError::NotRunning`] after [`shutdown`](Self::shutdown), and as
    /// [`ActorPool::submit`].
    pub fn submit(&self, msg: A::Msg) -> Result<Future<A::Reply>, PoolError> {
        self.check_open()?;
        let claim = Arc::new(Claim::default());
        let result = self.pool.submit_claimed(&msg, claim.clone())?;
        Ok(self.future(result, claim))
    }

    /// Every message, replies in input order; lazy as a pool's executor's `map`.
    ///
    /// # Errors
    ///
    /// As [`submit`](Self::submit).
    pub fn map<'a, I>(&self, msgs: I) -> Result<MapResults<'a, A::Reply>, PoolError>
    where
        I: IntoIterator<Item = A::Msg>,
        I::IntoIter: Send + 'a,
    {
        self.map_with(msgs, MapOptions::new())
    }

    /// [`map`](Self::map) with Python's `timeout`, `chunksize` and `buffersize`.
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map).
    pub fn map_with<'a, I>(
        &self,
        msgs: I,
        options: MapOptions,
    ) -> Result<MapResults<'a, A::Reply>, PoolError>
    where
        I: IntoIterator<Item = A::Msg>,
        I::IntoIter: Send + 'a,
    {
        self.check_open()?;
        let task_options = TaskOptions {
            chunksize: Some(options.chunksize.unwrap_or(1)),
            window: options.buffersize,
            ..TaskOptions::default()
        };
        let imap = self.pool.imap_with(msgs, &task_options)?.stop_at_close();
        Ok(MapResults::new(imap, options.timeout))
    }
}

impl<P> Executor<P> {
    /// An executor over `pool`, built with any settings: a [`Pool`] of functions (also one
    /// across hosts), or an [`ActorPool`], whose calls are its actors' messages.
    ///
    /// ```
    /// use procvisor_pool::Pool;
    /// use procvisor_pool::futures::Executor;
    ///
    /// fn square(x: i64) -> i64 {
    ///     x * x
    /// }
    /// procvisor_runtime::register!(square);
    ///
    /// let pool = Pool::builder().processes(2).retries(1).build()?;
    /// let executor = Executor::from_pool(pool);
    /// assert_eq!(executor.submit(square, (5,))?.result()?, 25);
    /// # Ok::<(), procvisor_pool::PoolError>(())
    /// ```
    pub fn from_pool(pool: P) -> Executor<P>
    where
        Executor<P>: From<P>,
    {
        Executor::from(pool)
    }

    fn over(pool: P, core: Core) -> Executor<P> {
        Executor {
            pool,
            core,
            pending: Mutex::new(Pending::default()),
            callbacks: done_callbacks(),
            shut_down: AtomicBool::new(false),
        }
    }

    /// The pool the calls run on (for its statistics, its workers' pids, ...).
    pub fn pool(&self) -> &P {
        &self.pool
    }

    fn check_open(&self) -> Result<(), PoolError> {
        if self.shut_down.load(Ordering::Acquire) {
            return Err(PoolError::NotRunning);
        }
        Ok(())
    }

    fn future<R: DeserializeOwned>(
        &self,
        result: crate::AsyncResult<R>,
        claim: Arc<Claim>,
    ) -> Future<R> {
        let (completion, decode, info) = result.into_parts();
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .track(claim.clone(), completion.clone(), info.clone());
        Future::new(completion, decode, info, claim, self.callbacks.clone())
    }

    /// Cancels every submitted call that no worker has started (each fails with
    /// [`PoolError::Cancelled`]); returns how many it cancelled (not counting those cancelled
    /// before). `cancel_pending` then
    /// [`shutdown`](Self::shutdown) is Python's `shutdown(cancel_futures=True)`.
    pub fn cancel_pending(&self) -> usize {
        let calls =
            std::mem::take(&mut self.pending.lock().unwrap_or_else(|p| p.into_inner()).calls);
        let mut cancelled = 0;
        for (claim, completion, info) in calls {
            if claim.cancel_queued() {
                completion.accept(0, Err(PoolError::Cancelled { task: info }));
                cancelled += 1;
            }
        }
        cancelled
    }

    /// Takes no new calls, lets the submitted ones finish, then stops the workers and waits
    /// for them (Python's `shutdown(wait=True)`). Calling it again does nothing.
    ///
    /// # Errors
    ///
    /// [`PoolError::WrongProcess`] in a process other than the executor's.
    pub fn shutdown(&self) -> Result<(), PoolError> {
        self.shutdown_nowait()?;
        self.core.join_within(None)
    }

    /// [`shutdown`](Self::shutdown), waiting at most `timeout` for the calls and workers.
    ///
    /// # Errors
    ///
    /// [`PoolError::Timeout`] when they are not done by then (they go on).
    pub fn shutdown_timeout(&self, timeout: Duration) -> Result<(), PoolError> {
        self.shutdown_nowait()?;
        self.core.join_within(Some(timeout))
    }

    /// Takes no new calls; the submitted ones finish and the workers stop, without waiting
    /// here (Python's `shutdown(wait=False)`).
    ///
    /// # Errors
    ///
    /// [`PoolError::WrongProcess`] in a process other than the executor's.
    pub fn shutdown_nowait(&self) -> Result<(), PoolError> {
        self.core.check_owner()?;
        self.shut_down.store(true, Ordering::Release);
        self.core.close()
    }

    /// Async twin of [`shutdown`](Self::shutdown).
    ///
    /// # Errors
    ///
    /// As [`shutdown`](Self::shutdown).
    pub async fn shutdown_async(&self) -> Result<(), PoolError> {
        self.shutdown_nowait()?;
        self.core.join_async().await
    }

    /// Stops the workers now (Python 3.14's `terminate_workers()`): calls not finished fail
    /// with [`PoolError::Terminated`] or [`PoolError::Cancelled`] (those never started).
    ///
    /// # Errors
    ///
    /// [`PoolError::WrongProcess`] in a process other than the executor's.
    pub fn terminate_workers(&self) -> Result<(), PoolError> {
        self.core.check_owner()?;
        self.shut_down.store(true, Ordering::Release);
        self.cancel_pending();
        self.core.terminate()
    }
}

impl<P> Drop for Executor<P> {
    fn drop(&mut self) {
        if self.core.check_owner().is_err() {
            return;
        }
        if let Err(error) = self.shutdown() {
            tracing::warn!(target: "procvisor::pool", %error, "shutting down an executor on drop");
        }
    }
}
