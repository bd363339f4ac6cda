//! [`WorkerPool`]: a supervised pool of user-defined [`Worker`] actors.

use crate::async_result::AsyncResult;
use crate::calls::Call;
use crate::core::Target;
use crate::error::PoolError;
use crate::imap::Imap;
use crate::options::TaskOptions;
use crate::pool::Owner;
use crate::stats::PoolStats;
use crate::worker_trait::Worker;
use std::marker::PhantomData;
use std::time::Duration;

/// A pool of [`Worker`] actors, one per process: each worker builds its state once, then
/// handles tasks. Built with [`PoolBuilder::build_workers`](crate::PoolBuilder::build_workers)
/// or [`WorkerPool::new`]; supervised like a [`Pool`](crate::Pool) (a crashed worker fails its
/// task, is rebuilt, and the others go on), and dropped like one (terminated).
///
/// See [`Worker`] for an example.
pub struct WorkerPool<W: Worker> {
    owner: Owner,
    target: Target,
    options: TaskOptions,
    worker: PhantomData<fn() -> W>,
}

impl<W: Worker> std::fmt::Debug for WorkerPool<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerPool")
            .field("worker", &std::any::type_name::<W>())
            .field("processes", &self.processes())
            .finish_non_exhaustive()
    }
}

impl<W: Worker> WorkerPool<W> {
    pub(crate) fn from_owner(owner: Owner) -> Result<WorkerPool<W>, PoolError> {
        let target = owner.target(std::any::type_name::<W>(), |_| true)?;
        Ok(WorkerPool {
            owner,
            target,
            options: TaskOptions::default(),
            worker: PhantomData,
        })
    }

    /// `processes` workers, each built from `init`.
    ///
    /// # Errors
    ///
    /// As [`PoolBuilder::build_workers`](crate::PoolBuilder::build_workers).
    pub fn new(processes: usize, init: W::Init) -> Result<WorkerPool<W>, PoolError> {
        crate::Pool::builder()
            .processes(processes)
            .build_workers::<W>(init)
    }

    /// The number of worker processes the pool keeps.
    pub fn processes(&self) -> usize {
        self.owner.shared.processes
    }

    fn engine(&self) -> Call<'_> {
        Call {
            core: &self.owner,
            target: self.target.clone(),
            options: &self.options,
        }
    }

    /// Sets the chunk size of [`map`](Self::map) and [`imap`](Self::imap) (see
    /// [`Tasks::chunksize`](crate::Tasks::chunksize)).
    pub fn with_chunksize(mut self, chunksize: usize) -> Self {
        self.options.chunksize = Some(chunksize);
        self
    }

    /// Sets the retries of every call (see [`Tasks::retries`](crate::Tasks::retries)).
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.options.retries = Some(retries);
        self
    }

    /// Sets the time limit of every task (see [`Tasks::time_limit`](crate::Tasks::time_limit)).
    pub fn with_time_limit(mut self, limit: Duration) -> Self {
        self.options.time_limit = Some(Some(limit));
        self
    }

    /// No time limit, whatever the pool's default.
    pub fn with_no_time_limit(mut self) -> Self {
        self.options.time_limit = Some(None);
        self
    }

    /// Sets the window of [`imap`](Self::imap) (see [`Tasks::window`](crate::Tasks::window)).
    pub fn with_window(mut self, chunks: usize) -> Self {
        self.options.window = Some(chunks);
        self
    }

    /// Sets a progress hook for [`map`](Self::map) and [`imap`](Self::imap) (see
    /// [`Tasks::on_progress`](crate::Tasks::on_progress)).
    pub fn with_progress(mut self, hook: impl Fn(crate::Progress) + Send + Sync + 'static) -> Self {
        self.options.progress = Some(std::sync::Arc::new(hook));
        self
    }

    /// Has a worker handle `task` and waits for the output.
    ///
    /// # Errors
    ///
    /// As [`Pool::apply`](crate::Pool::apply).
    pub fn call(&self, task: W::Task) -> Result<W::Output, PoolError> {
        self.submit(task)?.get(None)
    }

    /// Submits `task`; the output arrives later.
    ///
    /// # Errors
    ///
    /// As [`Pool::apply_async`](crate::Pool::apply_async).
    pub fn submit(&self, task: W::Task) -> Result<AsyncResult<W::Output>, PoolError> {
        self.engine().apply_async(&task)
    }

    /// Every task, in order; waits for all of them.
    ///
    /// # Errors
    ///
    /// As [`Pool::map`](crate::Pool::map).
    pub fn map(
        &self,
        tasks: impl IntoIterator<Item = W::Task>,
    ) -> Result<Vec<W::Output>, PoolError> {
        self.engine().map(tasks.into_iter())
    }

    /// [`map`](Self::map) without waiting.
    ///
    /// # Errors
    ///
    /// As [`Pool::map_async`](crate::Pool::map_async).
    pub fn map_async(
        &self,
        tasks: impl IntoIterator<Item = W::Task>,
    ) -> Result<AsyncResult<Vec<W::Output>>, PoolError> {
        self.engine().map_async(tasks.into_iter())
    }

    /// Every task, lazily, outputs in input order.
    ///
    /// # Errors
    ///
    /// As [`Pool::imap`](crate::Pool::imap).
    pub fn imap<'a, I>(&self, tasks: I) -> Result<Imap<'a, W::Output>, PoolError>
    where
        I: IntoIterator<Item = W::Task>,
        I::IntoIter: Send + 'a,
    {
        self.engine().imap(tasks.into_iter(), true)
    }

    /// Every task, lazily, outputs in the order they finish.
    ///
    /// # Errors
    ///
    /// As [`Pool::imap`](crate::Pool::imap).
    pub fn imap_unordered<'a, I>(&self, tasks: I) -> Result<Imap<'a, W::Output>, PoolError>
    where
        I: IntoIterator<Item = W::Task>,
        I::IntoIter: Send + 'a,
    {
        self.engine().imap(tasks.into_iter(), false)
    }

    /// See [`Pool::close`](crate::Pool::close).
    pub fn close(&self) {
        let _ = self.owner.close();
    }

    /// See [`Pool::terminate`](crate::Pool::terminate).
    pub fn terminate(&self) {
        let _ = self.owner.terminate();
    }

    /// See [`Pool::join`](crate::Pool::join).
    ///
    /// # Errors
    ///
    /// As [`Pool::join`](crate::Pool::join).
    pub fn join(&self) -> Result<(), PoolError> {
        self.owner.join(None)
    }

    /// See [`Pool::join_timeout`](crate::Pool::join_timeout).
    ///
    /// # Errors
    ///
    /// As [`Pool::join_timeout`](crate::Pool::join_timeout).
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), PoolError> {
        self.owner.join(Some(timeout))
    }

    /// See [`Pool::join_async`](crate::Pool::join_async).
    ///
    /// # Errors
    ///
    /// As [`Pool::join`](crate::Pool::join).
    pub async fn join_async(&self) -> Result<(), PoolError> {
        self.owner.join_async().await
    }

    /// See [`Pool::terminate_async`](crate::Pool::terminate_async).
    pub async fn terminate_async(&self) {
        let _ = self.owner.terminate_async().await;
    }

    /// See [`Pool::stats`](crate::Pool::stats).
    pub fn stats(&self) -> PoolStats {
        self.owner.stats()
    }

    /// See [`Pool::worker_pids`](crate::Pool::worker_pids).
    pub fn worker_pids(&self) -> Vec<u32> {
        self.owner.worker_pids()
    }
}
