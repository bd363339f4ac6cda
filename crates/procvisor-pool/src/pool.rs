//! [`Pool`]: Python's `multiprocessing.Pool`, as a router actor over supervised worker
//! processes.

use crate::async_result::AsyncResult;
use crate::builder::PoolBuilder;
use crate::core::Core;
use crate::error::PoolError;
use crate::imap::Imap;
use crate::stats::PoolStats;
use crate::tasks::Tasks;
use procvisor_runtime::Target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

/// The owning handle of a pool: dropping it terminates the pool (Python's `with` block).
#[derive(Debug)]
pub(crate) struct Owner(pub(crate) Core);

impl std::ops::Deref for Owner {
    type Target = Core;

    fn deref(&self) -> &Core {
        &self.0
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        // A forked child's copy owns nothing.
        if self.0.check_owner().is_ok() && !self.0.shared.lifecycle.is_finished() {
            let _ = self.0.terminate();
        }
    }
}

/// A pool of worker processes that run registered functions: Python's `multiprocessing.Pool`.
///
/// ```
/// use procvisor_pool::Pool;
///
/// fn f(x: i64) -> i64 {
///     x * x
/// }
/// procvisor_runtime::register!(f);
///
/// let pool = Pool::new(5)?;
/// assert_eq!(pool.map(f, [1, 2, 3])?, vec![1, 4, 9]);
/// # Ok::<(), procvisor_pool::PoolError>(())
/// ```
///
/// Each worker is an OS process started with the pool's start method, under the pool's router
/// actor, which holds the queue and one link per worker. A worker that dies fails only the task
/// it was running, with an error that names the task, the worker's pid and its exit code or
/// signal ([`PoolError::WorkerLost`]); its other tasks go to other workers and a replacement
/// starts at once. A panic in a task is that task's error; the worker lives on.
///
/// Calls take options through [`tasks`](Self::tasks): chunk size, retries, a time limit,
/// `imap`'s window, a progress hook.
///
/// # Drop
///
/// Dropping a `Pool` terminates it, as leaving Python's `with Pool(...)` block does: unfinished
/// tasks fail with [`PoolError::Terminated`] and the workers are stopped (SIGTERM, then SIGKILL
/// after a second) before `drop` returns. To let submitted work finish, call
/// [`close`](Self::close) and [`join`](Self::join) first.
///
/// A pool belongs to the process that created it: in a forked child, its copy refuses work
/// ([`PoolError::WrongProcess`]) and its drop does nothing.
#[derive(Debug)]
pub struct Pool {
    owner: Arc<Owner>,
}

impl Pool {
    pub(crate) fn from_owner(owner: Arc<Owner>) -> Pool {
        Pool { owner }
    }

    pub(crate) fn owner(&self) -> &Arc<Owner> {
        &self.owner
    }

    /// A pool of `processes` workers started with the default start method.
    ///
    /// # Errors
    ///
    /// As [`PoolBuilder::build`].
    pub fn new(processes: usize) -> Result<Pool, PoolError> {
        Pool::builder().processes(processes).build()
    }

    /// A builder for the other settings.
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// Runs a task that came from a pool on another host (a cluster's agent does this);
    /// `done` gets its outcome, once. Returns its number in this pool (`None` when it was
    /// answered at once, its function unknown here).
    ///
    /// # Errors
    ///
    /// When this pool takes no work (then `done` is not called).
    #[doc(hidden)]
    pub fn run_remote(
        &self,
        task: crate::remote::RemoteTask,
        done: Box<dyn FnOnce(crate::remote::RemoteOutcome) + Send>,
    ) -> Result<Option<u64>, PoolError> {
        crate::remote::serve_remote(&self.owner, task, done)
    }

    /// Runs the function registered as `name` (its full name, as
    /// `pool_support::target_name` gives it) on `args`, the encoding of a sequence of one
    /// argument tuple; the result is the encoding of a `Vec` of one value. For a manager that
    /// serves a pool to clients who know the types.
    ///
    /// # Errors
    ///
    /// [`PoolError::InvalidArgument`] when `name` is not registered in this binary; as
    /// [`apply_async`](Self::apply_async).
    #[doc(hidden)]
    pub fn apply_encoded(
        &self,
        name: &str,
        args: procvisor_wire::Payload,
    ) -> Result<AsyncResult<procvisor_wire::Payload>, PoolError> {
        self.tasks().apply_encoded(name, args)
    }

    /// [`apply_encoded`](Self::apply_encoded) for a `map`: one task per chunk (the encoding of
    /// a sequence of argument tuples, and how many it holds); the result is each chunk's
    /// encoded `Vec` of values, in order.
    ///
    /// # Errors
    ///
    /// As [`apply_encoded`](Self::apply_encoded).
    #[doc(hidden)]
    pub fn map_encoded(
        &self,
        name: &str,
        chunks: Vec<(procvisor_wire::Payload, usize)>,
    ) -> Result<AsyncResult<Vec<procvisor_wire::Payload>>, PoolError> {
        self.tasks().map_encoded(name, chunks)
    }

    /// The numbers of the tasks the workers run now (for a cluster's agent).
    #[doc(hidden)]
    pub fn running_tasks(&self) -> Vec<u64> {
        self.owner.running_tasks()
    }

    /// The number of worker processes the pool keeps.
    pub fn processes(&self) -> usize {
        self.owner.shared.processes
    }

    /// Calls with options: chunk size, retries, time limit, window, progress.
    pub fn tasks(&self) -> Tasks<'_> {
        Tasks::new(&self.owner)
    }

    /// Runs `f(args)` in a worker and waits for its result (Python's `apply`).
    ///
    /// # Errors
    ///
    /// The task's error (see [`PoolError`]), or why it could not be submitted.
    pub fn apply<F, A>(&self, f: F, args: A) -> Result<F::Output, PoolError>
    where
        F: Target<A>,
        A: Serialize,
        F::Output: DeserializeOwned,
    {
        self.tasks().apply(f, args)
    }

    /// Submits `f(args)`; the result arrives later (Python's `apply_async`).
    ///
    /// # Errors
    ///
    /// [`PoolError::NotRunning`] after `close` or `terminate`, [`PoolError::Broken`],
    /// [`PoolError::Unregistered`], [`PoolError::Arguments`].
    pub fn apply_async<F, A>(&self, f: F, args: A) -> Result<AsyncResult<F::Output>, PoolError>
    where
        F: Target<A>,
        A: Serialize,
        F::Output: DeserializeOwned,
    {
        self.tasks().apply_async(f, args)
    }

    /// `f(item)` for every item, in order, in chunks of Python's default size (about four
    /// chunks per worker); waits for all of them (Python's `map`).
    ///
    /// # Errors
    ///
    /// The error of the first failed chunk in input order, once every chunk has finished; or
    /// why the work could not be submitted.
    pub fn map<F, T>(
        &self,
        f: F,
        items: impl IntoIterator<Item = T>,
    ) -> Result<Vec<F::Output>, PoolError>
    where
        F: Target<(T,)>,
        T: Serialize,
        F::Output: DeserializeOwned,
    {
        self.tasks().map(f, items)
    }

    /// [`map`](Self::map) without waiting (Python's `map_async`).
    ///
    /// # Errors
    ///
    /// As [`apply_async`](Self::apply_async).
    pub fn map_async<F, T>(
        &self,
        f: F,
        items: impl IntoIterator<Item = T>,
    ) -> Result<AsyncResult<Vec<F::Output>>, PoolError>
    where
        F: Target<(T,)>,
        T: Serialize,
        F::Output: DeserializeOwned,
    {
        self.tasks().map_async(f, items)
    }

    /// `f(item)` for every item, lazily, in input order (Python's `imap`, chunk size 1 unless
    /// set with [`tasks`](Self::tasks)). See [`Imap`] for the window that bounds its memory.
    ///
    /// # Errors
    ///
    /// As [`apply_async`](Self::apply_async).
    pub fn imap<'a, F, T, I>(&self, f: F, items: I) -> Result<Imap<'a, F::Output>, PoolError>
    where
        F: Target<(T,)>,
        T: Serialize + Send + 'a,
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'a,
        F::Output: DeserializeOwned,
    {
        self.tasks().imap(f, items)
    }

    /// [`imap`](Self::imap), with the results in the order they finish (Python's
    /// `imap_unordered`).
    ///
    /// # Errors
    ///
    /// As [`apply_async`](Self::apply_async).
    pub fn imap_unordered<'a, F, T, I>(
        &self,
        f: F,
        items: I,
    ) -> Result<Imap<'a, F::Output>, PoolError>
    where
        F: Target<(T,)>,
        T: Serialize + Send + 'a,
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'a,
        F::Output: DeserializeOwned,
    {
        self.tasks().imap_unordered(f, items)
    }

    /// `f(a, b, ...)` for every tuple `(a, b, ...)`, in order (Python's `starmap`).
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map).
    pub fn starmap<F, A>(
        &self,
        f: F,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Vec<F::Output>, PoolError>
    where
        F: Target<A>,
        A: Serialize,
        F::Output: DeserializeOwned,
    {
        self.tasks().starmap(f, items)
    }

    /// [`starmap`](Self::starmap) without waiting (Python's `starmap_async`).
    ///
    /// # Errors
    ///
    /// As [`apply_async`](Self::apply_async).
    pub fn starmap_async<F, A>(
        &self,
        f: F,
        items: impl IntoIterator<Item = A>,
    ) -> Result<AsyncResult<Vec<F::Output>>, PoolError>
    where
        F: Target<A>,
        A: Serialize,
        F::Output: DeserializeOwned,
    {
        self.tasks().starmap_async(f, items)
    }

    /// No new work: the workers exit once the submitted work is done (Python's `close`).
    pub fn close(&self) {
        let _ = self.owner.close();
    }

    /// Fails every unfinished task with [`PoolError::Terminated`] and stops the workers now
    /// (SIGTERM, then SIGKILL after a second); returns once they have exited (Python's
    /// `terminate`, which leaves the unfinished results waiting for ever).
    pub fn terminate(&self) {
        let _ = self.owner.terminate();
    }

    /// Async twin of [`terminate`](Self::terminate).
    pub async fn terminate_async(&self) {
        let _ = self.owner.terminate_async().await;
    }

    /// Waits for the workers to exit, after [`close`](Self::close) or
    /// [`terminate`](Self::terminate) (Python's `join`).
    ///
    /// # Errors
    ///
    /// [`PoolError::InvalidArgument`] (`Pool is still running`) before `close` or `terminate`.
    pub fn join(&self) -> Result<(), PoolError> {
        self.owner.join_within(None)
    }

    /// [`join`](Self::join), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`join`](Self::join), and [`PoolError::Timeout`].
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), PoolError> {
        self.owner.join_within(Some(timeout))
    }

    /// Async twin of [`join`](Self::join).
    ///
    /// # Errors
    ///
    /// As [`join`](Self::join).
    pub async fn join_async(&self) -> Result<(), PoolError> {
        self.owner.join_async().await
    }

    /// The pool's counters: tasks, workers ready, crashes, restarts, time limits.
    pub fn stats(&self) -> PoolStats {
        self.owner.stats()
    }

    /// The pids of the worker processes taking tasks now.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.owner.worker_pids()
    }

    /// The pool a supervisor runs under the child id `id` (started from
    /// [`PoolBuilder::child_spec`]), in this process: the supervisor's process.
    ///
    /// ```
    /// use procvisor_pool::Pool;
    /// use procvisor_runtime::Supervisor;
    ///
    /// fn square(x: i64) -> i64 {
    ///     x * x
    /// }
    /// procvisor_runtime::register!(square);
    ///
    /// let supervisor = Supervisor::builder("work")
    ///     .child(Pool::builder().processes(2).child_spec("squares"))
    ///     .start()?;
    /// let pool = Pool::supervised("squares")?;
    /// assert_eq!(pool.map(square, 1..=3)?, vec![1, 4, 9]);
    /// supervisor.shutdown()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// The handle does not own the pool: dropping it leaves the pool to its supervisor. When the
    /// pool breaks (its workers crash more often than its restart intensity allows), its child
    /// ends as crashed and the supervisor's strategy decides what happens next; calls through
    /// this handle then fail with [`PoolError::SupervisedEnded`], and `supervised` with the
    /// same id reaches the pool the supervisor started next. `close` or `terminate` through
    /// the handle ends the child normally (a permanent child is then started again).
    ///
    /// # Errors
    ///
    /// [`PoolError::NotSupervised`] when no pool runs under `id` in this process now;
    /// [`PoolError::InvalidArgument`] when it is a pool of actors (see
    /// [`ActorPool::supervised`](crate::ActorPool::supervised)).
    pub fn supervised(id: &str) -> Result<Pool, PoolError> {
        Pool::supervised_timeout(id, Duration::ZERO)
    }

    /// [`supervised`](Self::supervised), waiting up to `timeout` for the pool to be there: a
    /// supervisor restarting it, a supervisor still starting.
    ///
    /// # Errors
    ///
    /// As [`supervised`](Self::supervised).
    pub fn supervised_timeout(id: &str, timeout: Duration) -> Result<Pool, PoolError> {
        let running = crate::supervised::find(id, timeout)?;
        if let Some(actor) = running.actor {
            let short = procvisor_runtime::__private::pool_support::short_name(&actor);
            return Err(PoolError::InvalidArgument(format!(
                "the supervised pool \"{id}\" runs actors: reach it with ActorPool::<{short}>::supervised"
            )));
        }
        Ok(Pool::from_owner(running.owner))
    }
}
