//! [`Tasks`]: a pool's calls with options.

use crate::async_result::AsyncResult;
use crate::calls::Call;
use crate::core::{Core, Target as PoolTarget};
use crate::error::PoolError;
use crate::imap::Imap;
use crate::options::{Progress, TaskOptions};
use procvisor_runtime::__private::pool_support;
use procvisor_runtime::Target;
use procvisor_wire::Payload;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

/// The calls of a [`Pool`](crate::Pool), with options set for them.
///
/// ```
/// use procvisor_pool::Pool;
/// use std::time::Duration;
///
/// fn square(x: i64) -> i64 {
///     x * x
/// }
/// procvisor_runtime::register!(square);
///
/// let pool = Pool::new(2)?;
/// let squares = pool
///     .tasks()
///     .chunksize(10)
///     .retries(2)
///     .time_limit(Duration::from_secs(5))
///     .map(square, 0..100)?;
/// assert_eq!(squares[99], 9801);
/// # Ok::<(), procvisor_pool::PoolError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "options do nothing until a call is made"]
pub struct Tasks<'p> {
    core: &'p Core,
    options: TaskOptions,
}

impl<'p> Tasks<'p> {
    pub(crate) fn new(core: &'p Core) -> Tasks<'p> {
        Tasks {
            core,
            options: TaskOptions::default(),
        }
    }

    /// Items per task for `map`, `starmap` and `imap` (default: Python's, about four chunks
    /// per worker for `map`; 1 for `imap`). Larger chunks cost less per item; smaller ones
    /// spread uneven work better.
    pub fn chunksize(mut self, chunksize: usize) -> Self {
        self.options.chunksize = Some(chunksize);
        self
    }

    /// Starts a task again, up to `retries` times, when its worker dies or is killed at its
    /// time limit (default: the pool's, itself 0). Panics are not retried.
    pub fn retries(mut self, retries: u32) -> Self {
        self.options.retries = Some(retries);
        self
    }

    /// Kills the worker of a task (chunk) still running after `limit`; the task fails with
    /// [`PoolError::TimeLimitExceeded`] (or is retried) and the worker is replaced.
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.options.time_limit = Some(Some(limit));
        self
    }

    /// No time limit for these calls, whatever the pool's default.
    pub fn no_time_limit(mut self) -> Self {
        self.options.time_limit = Some(None);
        self
    }

    /// How many chunks an `imap` keeps submitted and not yet consumed (default: 64 per
    /// worker, at least 256).
    pub fn window(mut self, chunks: usize) -> Self {
        self.options.window = Some(chunks);
        self
    }

    /// Calls `hook` on the caller's thread as the results of a `map`, `starmap` or `imap`
    /// arrive. (The `_async` forms do not report progress: nothing of theirs runs on the
    /// caller's thread until `get`.)
    pub fn on_progress(mut self, hook: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        self.options.progress = Some(Arc::new(hook));
        self
    }

    /// Shows a progress bar on the terminal for `map`, `starmap` and `imap` (feature
    /// `progress`).
    #[cfg(feature = "progress")]
    pub fn progress_bar(self) -> Self {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} [{elapsed_precise} < {eta_precise}]",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        self.on_progress(move |progress| {
            if let Some(total) = progress.total {
                bar.set_length(total);
            }
            bar.set_position(progress.done);
            if progress.total == Some(progress.done) {
                bar.finish();
            }
        })
    }

    fn call<F>(&self) -> Result<Call<'_>, PoolError> {
        let target = self.function::<F>()?;
        Ok(Call {
            core: self.core,
            target,
            options: &self.options,
        })
    }

    /// The call of the function registered as `name` in this binary (the name a client of a
    /// manager's pool sends).
    fn call_by_name(&self, name: &str) -> Result<Call<'_>, PoolError> {
        let registered = pool_support::registered_name(name)
            .filter(|name| pool_support::registration(name).is_some())
            .ok_or_else(|| {
                PoolError::InvalidArgument(format!(
                    "the function `{name}` is not registered in this binary, so a pool worker \
                     cannot run it (is it the same build?)"
                ))
            })?;
        let target = self.core.target(registered, |_| true)?;
        Ok(Call {
            core: self.core,
            target,
            options: &self.options,
        })
    }

    /// [`Pool::apply_encoded`](crate::Pool::apply_encoded) with these options.
    pub(crate) fn apply_encoded(
        &self,
        name: &str,
        args: Payload,
    ) -> Result<AsyncResult<Payload>, PoolError> {
        self.call_by_name(name)?.apply_encoded(args)
    }

    /// [`Pool::map_encoded`](crate::Pool::map_encoded) with these options.
    pub(crate) fn map_encoded(
        &self,
        name: &str,
        chunks: Vec<(Payload, usize)>,
    ) -> Result<AsyncResult<Vec<Payload>>, PoolError> {
        self.call_by_name(name)?.map_encoded(chunks)
    }

    fn function<F>(&self) -> Result<PoolTarget, PoolError> {
        self.core.target(pool_support::target_name::<F>(), |name| {
            pool_support::registration(name).is_some()
        })
    }

    /// [`Pool::apply`](crate::Pool::apply) with these options.
    ///
    /// # Errors
    ///
    /// As [`Pool::apply`](crate::Pool::apply).
    pub fn apply<F, A>(&self, f: F, args: A) -> Result<F::Output, PoolError>
    where
        F: Target<A>,
        A: Serialize,
        F::Output: DeserializeOwned,
    {
        self.apply_async(f, args)?.get()
    }

    /// [`Pool::apply_async`](crate::Pool::apply_async) with these options.
    ///
    /// # Errors
    ///
    /// As [`Pool::apply_async`](crate::Pool::apply_async).
    pub fn apply_async<F, A>(&self, f: F, args: A) -> Result<AsyncResult<F::Output>, PoolError>
    where
        F: Target<A>,
        A: Serialize,
        F::Output: DeserializeOwned,
    {
        drop(f);
        self.call::<F>()?.apply_async(&args)
    }

    /// [`apply_async`](Self::apply_async) of a call that `claim` can take back until a
    /// worker has it (an executor's `submit`).
    pub(crate) fn apply_claimed<F, A>(
        &self,
        f: F,
        args: A,
        claim: Arc<crate::claim::Claim>,
    ) -> Result<AsyncResult<F::Output>, PoolError>
    where
        F: Target<A>,
        A: Serialize,
        F::Output: DeserializeOwned,
    {
        drop(f);
        self.call::<F>()?.apply_claimed(&args, Some(claim))
    }

    /// [`Pool::map`](crate::Pool::map) with these options.
    ///
    /// # Errors
    ///
    /// As [`Pool::map`](crate::Pool::map). When an item cannot be encoded the call fails at that
    /// chunk; the chunks already sent still run, and their results are dropped.
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
        drop(f);
        // A value encodes as its one-tuple: the items travel as they are.
        self.call::<F>()?.map(items.into_iter())
    }

    /// [`Pool::map_async`](crate::Pool::map_async) with these options.
    ///
    /// # Errors
    ///
    /// As [`Pool::map_async`](crate::Pool::map_async).
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
        drop(f);
        self.call::<F>()?.map_async(items.into_iter())
    }

    /// [`Pool::imap`](crate::Pool::imap) with these options.
    ///
    /// # Errors
    ///
    /// As [`Pool::imap`](crate::Pool::imap).
    pub fn imap<'a, F, T, I>(&self, f: F, items: I) -> Result<Imap<'a, F::Output>, PoolError>
    where
        F: Target<(T,)>,
        T: Serialize + Send + 'a,
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'a,
        F::Output: DeserializeOwned,
    {
        drop(f);
        self.call::<F>()?.imap(items.into_iter(), true)
    }

    /// [`Pool::imap_unordered`](crate::Pool::imap_unordered) with these options.
    ///
    /// # Errors
    ///
    /// As [`Pool::imap`](crate::Pool::imap).
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
        drop(f);
        self.call::<F>()?.imap(items.into_iter(), false)
    }

    /// [`Pool::starmap`](crate::Pool::starmap) with these options.
    ///
    /// # Errors
    ///
    /// As [`Pool::map`](crate::Pool::map).
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
        drop(f);
        self.call::<F>()?.map(items.into_iter())
    }

    /// [`Pool::starmap_async`](crate::Pool::starmap_async) with these options.
    ///
    /// # Errors
    ///
    /// As [`Pool::apply_async`](crate::Pool::apply_async).
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
        drop(f);
        self.call::<F>()?.map_async(items.into_iter())
    }
}
