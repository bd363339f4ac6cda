//! [`ThreadPool`]: Python's `multiprocessing.pool.ThreadPool` (and `multiprocessing.dummy`'s
//! `Pool`): the [`Pool`](crate::Pool) API on threads of this process, for I/O-bound work and
//! closures.

mod imap;
mod result;
mod workers;

pub use imap::ThreadImap;
pub use result::ThreadResult;

use crate::error::PoolError;
use imap::chunk_info;
pub(crate) use result::Slot;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use workers::{Initializer, Skip, Work, Workers};

/// Python's `ThreadPool`: the [`Pool`](crate::Pool) API on threads of this process.
///
/// Where a process pool runs registered functions with arguments that cross to another process,
/// a thread pool runs closures: they may borrow nothing (they must be `'static`), but capture
/// anything `Send`, and their results need not be serialisable. Use it for I/O-bound work
/// (downloads, files, blocking clients), where Python programmers reach for `ThreadPool` or
/// `multiprocessing.dummy`.
///
/// ```
/// use procvisor_pool::ThreadPool;
///
/// let pool = ThreadPool::new(4)?;
/// let base = 10;
/// assert_eq!(pool.map(move |x: i32| x + base, [1, 2, 3])?, [11, 12, 13]);
/// let lengths = pool.imap(|word: &str| word.len(), ["thread", "pool"])?;
/// assert_eq!(lengths.collect::<Result<Vec<_>, _>>()?, [6, 4]);
/// pool.close();
/// pool.join()?;
/// # Ok::<(), procvisor_pool::PoolError>(())
/// ```
///
/// A panic in a call fails that call ([`PoolError::Failed`], with the message and location)
/// and the thread goes on. Threads cannot be killed: [`terminate`](Self::terminate) fails the
/// queued calls at once but waits for the running ones, and a thread pool has no time limits
/// or `maxtasksperchild`. Dropping the pool terminates it without waiting for running calls.
pub struct ThreadPool {
    workers: Arc<Workers>,
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("workers", &self.workers)
            .finish()
    }
}

/// Settings of a [`ThreadPool`]: its number of threads and an initializer.
///
/// ```
/// use procvisor_pool::ThreadPool;
/// use std::cell::Cell;
///
/// thread_local!(static GREETING: Cell<&'static str> = const { Cell::new("") });
/// let pool = ThreadPool::builder()
///     .threads(2)
///     .initializer(|| GREETING.with(|g| g.set("ready")))
///     .build()?;
/// assert_eq!(pool.apply(|| GREETING.with(|g| g.get()))?, "ready");
/// # Ok::<(), procvisor_pool::PoolError>(())
/// ```
#[derive(Default)]
#[must_use = "a builder does nothing until build is called"]
pub struct ThreadPoolBuilder {
    threads: Option<usize>,
    initializer: Option<Initializer>,
    name: Option<String>,
}

impl fmt::Debug for ThreadPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolBuilder")
            .field("threads", &self.threads)
            .field("initializer", &self.initializer.is_some())
            .finish()
    }
}

impl ThreadPoolBuilder {
    /// How many threads (default: [`cpu_count`](procvisor_runtime::cpu_count), as Python's).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// Runs `initializer` on each thread as it starts (Python's `initializer` and `initargs`:
    /// capture the arguments). A panic in it is logged and the thread works on.
    pub fn initializer(mut self, initializer: impl Fn() + Send + Sync + 'static) -> Self {
        self.initializer = Some(Arc::new(initializer));
        self
    }

    /// The threads' name prefix (default `procvisor-thread-pool`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Starts the threads.
    ///
    /// # Errors
    ///
    /// [`PoolError::InvalidArgument`] for zero threads, or when a thread cannot start.
    pub fn build(self) -> Result<ThreadPool, PoolError> {
        let threads = self.threads.unwrap_or_else(procvisor_runtime::cpu_count);
        let name = self.name.as_deref().unwrap_or("procvisor-thread-pool");
        Ok(ThreadPool {
            workers: Workers::start(threads, self.initializer, name)?,
        })
    }
}

/// Runs `f`, turning a panic into the call's error.
pub(crate) fn guarded<R>(f: impl FnOnce() -> R, position: usize) -> Result<R, PoolError> {
    procvisor_runtime::__private::pool_support::catch_panic(f).map_err(|failure| {
        PoolError::Failed {
            task: chunk_info(position),
            failure,
        }
    })
}

/// The error of a call that did not run.
pub(crate) fn skipped(skip: Skip, position: usize) -> PoolError {
    match skip {
        Skip::Refused => PoolError::NotRunning,
        Skip::Terminated => PoolError::Terminated {
            task: chunk_info(position),
        },
    }
}

impl ThreadPool {
    /// A pool of `threads` threads.
    ///
    /// # Errors
    ///
    /// As [`ThreadPoolBuilder::build`].
    pub fn new(threads: usize) -> Result<ThreadPool, PoolError> {
        ThreadPool::builder().threads(threads).build()
    }

    /// A builder for the other settings.
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder::default()
    }

    /// The number of threads.
    pub fn threads(&self) -> usize {
        self.workers.threads
    }

    /// Runs `f` on a thread of the pool and waits for its result (Python's `apply`).
    ///
    /// # Errors
    ///
    /// Its panic ([`PoolError::Failed`]), or [`PoolError::NotRunning`] after `close`.
    pub fn apply<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, PoolError> {
        self.apply_async(f)?.into_result()
    }

    /// Queues `f`; its result arrives later (Python's `apply_async`).
    ///
    /// # Errors
    ///
    /// [`PoolError::NotRunning`] after `close` or `terminate`.
    pub fn apply_async<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<ThreadResult<R>, PoolError> {
        let slot = Slot::new();
        let filled = slot.clone();
        let work: Work = Box::new(move |skip| match skip {
            None if filled.start() => filled.set(guarded(f, 0)),
            // Cancelled: its result is set already.
            None => {}
            Some(skip) => filled.set(Err(skipped(skip, 0))),
        });
        self.workers.push(vec![work])?;
        Ok(ThreadResult::new(slot))
    }

    /// `f(item)` for every item, in order; waits for all (Python's `map`). Items go to the
    /// threads in chunks of Python's default size (about four per thread).
    ///
    /// # Errors
    ///
    /// The first failed item's error (in input order), once every item has finished.
    pub fn map<T, R>(
        &self,
        f: impl Fn(T) -> R + Send + Sync + 'static,
        items: impl IntoIterator<Item = T>,
    ) -> Result<Vec<R>, PoolError>
    where
        T: Send + 'static,
        R: Send + 'static,
    {
        self.map_async(f, items)?.into_result()
    }

    /// [`map`](Self::map) without waiting (Python's `map_async`).
    ///
    /// # Errors
    ///
    /// [`PoolError::NotRunning`] after `close` or `terminate`.
    pub fn map_async<T, R>(
        &self,
        f: impl Fn(T) -> R + Send + Sync + 'static,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ThreadResult<Vec<R>>, PoolError>
    where
        T: Send + 'static,
        R: Send + 'static,
    {
        self.check_running()?;
        let items: Vec<T> = items.into_iter().collect();
        let chunksize = crate::options::default_chunksize(items.len(), self.threads());
        self.map_chunks(Arc::new(f), items, chunksize)
    }

    fn map_chunks<T, R>(
        &self,
        f: Arc<dyn Fn(T) -> R + Send + Sync>,
        items: Vec<T>,
        chunksize: usize,
    ) -> Result<ThreadResult<Vec<R>>, PoolError>
    where
        T: Send + 'static,
        R: Send + 'static,
    {
        let slot = Slot::new();
        let gather = Arc::new(Gather::new(items.len().div_ceil(chunksize), slot.clone()));
        let mut items = items.into_iter();
        let mut work: Vec<Work> = Vec::new();
        for position in 0..gather.chunks() {
            let chunk: Vec<T> = items.by_ref().take(chunksize).collect();
            let (f, gather) = (f.clone(), gather.clone());
            work.push(Box::new(move |skip| {
                let results = match skip {
                    None if gather.slot.start() => {
                        guarded(|| chunk.into_iter().map(|item| f(item)).collect(), position)
                    }
                    // The whole map was cancelled before any of it ran.
                    None => Err(PoolError::Cancelled {
                        task: chunk_info(position),
                    }),
                    Some(skip) => Err(skipped(skip, position)),
                };
                gather.arrive(position, results);
            }));
        }
        if work.is_empty() {
            slot.set(Ok(Vec::new()));
        } else {
            self.workers.push(work)?;
        }
        Ok(ThreadResult::new(slot))
    }

    /// Every item, lazily; results in input order (Python's `imap`, one item per call unless
    /// [`imap_chunked`](Self::imap_chunked)).
    ///
    /// # Errors
    ///
    /// [`PoolError::NotRunning`] after `close` or `terminate`.
    pub fn imap<'a, T, R>(
        &self,
        f: impl Fn(T) -> R + Send + Sync + 'static,
        items: impl IntoIterator<Item = T> + 'a,
    ) -> Result<ThreadImap<'a, T, R>, PoolError>
    where
        T: Send + 'static,
        R: Send + 'static,
    {
        self.imap_chunked(f, items, 1)
    }

    /// [`imap`](Self::imap) with `chunksize` items per call.
    ///
    /// # Errors
    ///
    /// As [`imap`](Self::imap), and [`PoolError::InvalidArgument`] for a zero chunk size.
    pub fn imap_chunked<'a, T, R>(
        &self,
        f: impl Fn(T) -> R + Send + Sync + 'static,
        items: impl IntoIterator<Item = T> + 'a,
        chunksize: usize,
    ) -> Result<ThreadImap<'a, T, R>, PoolError>
    where
        T: Send + 'static,
        R: Send + 'static,
    {
        self.lazy(Arc::new(f), Box::new(items.into_iter()), chunksize, true)
    }

    /// Every item, lazily; results in the order they finish (Python's `imap_unordered`).
    ///
    /// # Errors
    ///
    /// As [`imap`](Self::imap).
    pub fn imap_unordered<'a, T, R>(
        &self,
        f: impl Fn(T) -> R + Send + Sync + 'static,
        items: impl IntoIterator<Item = T> + 'a,
    ) -> Result<ThreadImap<'a, T, R>, PoolError>
    where
        T: Send + 'static,
        R: Send + 'static,
    {
        self.lazy(Arc::new(f), Box::new(items.into_iter()), 1, false)
    }

    fn lazy<'a, T, R>(
        &self,
        f: Arc<dyn Fn(T) -> R + Send + Sync>,
        items: Box<dyn Iterator<Item = T> + 'a>,
        chunksize: usize,
        ordered: bool,
    ) -> Result<ThreadImap<'a, T, R>, PoolError>
    where
        T: Send + 'static,
        R: Send + 'static,
    {
        self.check_running()?;
        let chunksize = crate::options::checked_chunksize(chunksize)?;
        Ok(ThreadImap::new(
            self.workers.clone(),
            items,
            f,
            chunksize,
            ordered,
        ))
    }

    /// `f(args)` for every argument tuple, in order (Python's `starmap`): the closure takes
    /// the tuple, as `|(a, b)| a * b`.
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map).
    pub fn starmap<A, R>(
        &self,
        f: impl Fn(A) -> R + Send + Sync + 'static,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Vec<R>, PoolError>
    where
        A: Send + 'static,
        R: Send + 'static,
    {
        self.map(f, items)
    }

    /// [`starmap`](Self::starmap) without waiting.
    ///
    /// # Errors
    ///
    /// As [`map_async`](Self::map_async).
    pub fn starmap_async<A, R>(
        &self,
        f: impl Fn(A) -> R + Send + Sync + 'static,
        items: impl IntoIterator<Item = A>,
    ) -> Result<ThreadResult<Vec<R>>, PoolError>
    where
        A: Send + 'static,
        R: Send + 'static,
    {
        self.map_async(f, items)
    }

    fn check_running(&self) -> Result<(), PoolError> {
        match self.workers.phase() {
            workers::Phase::Running => Ok(()),
            _ => Err(PoolError::NotRunning),
        }
    }

    /// No new work; the threads end once the queued work is done (Python's `close`).
    pub fn close(&self) {
        self.workers.close();
    }

    /// Fails the queued calls ([`PoolError::Terminated`]) and waits for the running ones to
    /// end (Python's `terminate`; a thread cannot be killed).
    pub fn terminate(&self) {
        self.workers.terminate();
        self.workers.wait_ended(None);
    }

    /// Waits for the threads to end, after `close` or `terminate` (Python's `join`).
    ///
    /// # Errors
    ///
    /// [`PoolError::InvalidArgument`] on a running pool (Python's `ValueError`).
    pub fn join(&self) -> Result<(), PoolError> {
        self.join_within(None)
    }

    /// [`join`](Self::join), at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`join`](Self::join), and [`PoolError::Timeout`].
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), PoolError> {
        self.join_within(Instant::now().checked_add(timeout))
    }

    fn join_within(&self, deadline: Option<Instant>) -> Result<(), PoolError> {
        if self.workers.phase() == workers::Phase::Running {
            return Err(PoolError::InvalidArgument("Pool is still running".into()));
        }
        if self.workers.wait_ended(deadline) {
            Ok(())
        } else {
            Err(PoolError::Timeout)
        }
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        // Fails what waits; a thread running a call ends after it, unwaited.
        self.workers.terminate();
    }
}

/// Gathers the chunks of a `map_async` into one result.
struct Gather<R> {
    parts: std::sync::Mutex<Parts<R>>,
    slot: Arc<Slot<Vec<R>>>,
}

/// The chunks in so far, how many, and the first failure in input order.
type Parts<R> = (Vec<Option<Vec<R>>>, usize, Option<(usize, PoolError)>);

impl<R> Gather<R> {
    fn new(chunks: usize, slot: Arc<Slot<Vec<R>>>) -> Gather<R> {
        Gather {
            parts: std::sync::Mutex::new(((0..chunks).map(|_| None).collect(), 0, None)),
            slot,
        }
    }

    fn chunks(&self) -> usize {
        self.parts.lock().unwrap_or_else(|p| p.into_inner()).0.len()
    }

    fn arrive(&self, position: usize, results: Result<Vec<R>, PoolError>) {
        let mut parts = self.parts.lock().unwrap_or_else(|p| p.into_inner());
        let (chunks, arrived, error) = &mut *parts;
        match results {
            Ok(values) => chunks[position] = Some(values),
            Err(e) => {
                if error.as_ref().is_none_or(|(first, _)| position < *first) {
                    *error = Some((position, e));
                }
            }
        }
        *arrived += 1;
        if *arrived < chunks.len() {
            return;
        }
        let outcome = match error.take() {
            Some((_, e)) => Err(e),
            None => Ok(chunks
                .iter_mut()
                .filter_map(Option::take)
                .flatten()
                .collect()),
        };
        drop(parts);
        self.slot.set(outcome);
    }
}
