//! [`ActorPool`]: a supervised pool of actors, one per worker process, behind the pool's router.

use crate::async_result::AsyncResult;
use crate::calls::Call;
use crate::core::Target;
use crate::error::PoolError;
use crate::imap::Imap;
use crate::options::TaskOptions;
use crate::pool::Owner;
use crate::stats::PoolStats;
use procvisor_runtime::__private::pool_support;
use procvisor_runtime::{Actor, ActorError, RemoteRef};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

/// A pool of actors of type `A`, each in a worker process of its own, behind a router: the
/// pool's tasks are the actor's messages, and its results the actor's replies.
///
/// Every worker starts its actor once (its [`start`](Actor::start): load a model, open a
/// connection), then handles the tasks the router gives it, one at a time. The pool is
/// supervised like a [`Pool`](crate::Pool): a worker that dies fails exactly the task it was
/// running (with its pid and signal) and is replaced, within the pool's restart intensity;
/// retries, time limits, revokes, `maxtasksperchild` and progress work the same. Every worker's
/// actor is also an actor like any other: [`workers`](Self::workers) gives a [`RemoteRef`] to
/// each, and [`broadcast`](Self::broadcast) sends one message to all of them (reload a model,
/// flush a cache).
///
/// ```
/// use procvisor_pool::ActorPool;
/// use procvisor_runtime::{Actor, ActorContext, InitError, register_actor};
///
/// /// Counts the words of a text that belong to a vocabulary.
/// struct Counter {
///     vocabulary: Vec<String>,
/// }
///
/// impl Actor for Counter {
///     type Args = Vec<String>;
///     type Msg = String;
///     type Reply = usize;
///
///     async fn start(words: Vec<String>, _: &ActorContext<Self>) -> Result<Self, InitError> {
///         Ok(Counter { vocabulary: words })
///     }
///
///     async fn handle(&mut self, text: String, _: &ActorContext<Self>) -> usize {
///         text.split_whitespace().filter(|w| self.vocabulary.iter().any(|v| v == w)).count()
///     }
/// }
/// register_actor!(Counter);
///
/// let pool = ActorPool::<Counter>::new(2, vec!["cat".into(), "dog".into()])?;
/// assert_eq!(pool.call("a cat and a dog and a cat".into())?, 3);
/// assert_eq!(pool.map(["cat".to_string(), "bird".into(), "dog dog".into()])?, vec![1, 0, 2]);
/// assert_eq!(pool.workers().len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A panic in a worker's `handle` fails that task (with the panic's message and location), as a
/// pool's function would; the actor goes on with its state. An actor that ends itself
/// ([`ActorContext::stop`](procvisor_runtime::ActorContext::stop), or
/// [`fail`](procvisor_runtime::ActorContext::fail), which counts as a crash) is replaced; the
/// tasks it had been sent go to the others. An error from `start` makes the worker exit; the
/// pool restarts it within its restart intensity, then reports itself broken with the error.
///
/// # Drop
///
/// As a [`Pool`](crate::Pool)'s: dropping it terminates the pool.
pub struct ActorPool<A: Actor> {
    owner: Arc<Owner>,
    target: Target,
    options: TaskOptions,
    actor: PhantomData<fn() -> A>,
}

impl<A: Actor> std::fmt::Debug for ActorPool<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorPool")
            .field("actor", &std::any::type_name::<A>())
            .field("processes", &self.processes())
            .finish_non_exhaustive()
    }
}

impl<A: Actor> ActorPool<A> {
    pub(crate) fn from_owner(owner: Arc<Owner>) -> Result<ActorPool<A>, PoolError> {
        let target = owner.target(std::any::type_name::<A>(), |_| true)?;
        // Every worker's actor has started when the pool is handed out: `workers` and
        // `broadcast` reach all of them, and a `start` that keeps failing is the build's error.
        owner.shared.lifecycle.wait_for(|| full(&owner.shared))?;
        Ok(ActorPool {
            owner,
            target,
            options: TaskOptions::default(),
            actor: PhantomData,
        })
    }

    /// `processes` workers, each with an actor started from `args`.
    ///
    /// # Errors
    ///
    /// As [`PoolBuilder::build_actors`](crate::PoolBuilder::build_actors).
    pub fn new(processes: usize, args: A::Args) -> Result<ActorPool<A>, PoolError> {
        crate::Pool::builder()
            .processes(processes)
            .build_actors::<A>(args)
    }

    /// The pool of `A` actors a supervisor runs under the child id `id` (started from
    /// [`PoolBuilder::actors_child_spec`](crate::PoolBuilder::actors_child_spec)), in this
    /// process: as [`Pool::supervised`](crate::Pool::supervised).
    ///
    /// # Errors
    ///
    /// [`PoolError::NotSupervised`] when no pool runs under `id` in this process now;
    /// [`PoolError::InvalidArgument`] when its workers are not `A`s.
    pub fn supervised(id: &str) -> Result<ActorPool<A>, PoolError> {
        ActorPool::supervised_timeout(id, Duration::ZERO)
    }

    /// [`supervised`](Self::supervised), waiting up to `timeout` for the pool to be there.
    ///
    /// # Errors
    ///
    /// As [`supervised`](Self::supervised).
    pub fn supervised_timeout(id: &str, timeout: Duration) -> Result<ActorPool<A>, PoolError> {
        let running = crate::supervised::find(id, timeout)?;
        let name = std::any::type_name::<A>();
        if running.actor.as_deref() != Some(name) {
            let short = pool_support::short_name(name);
            let runs = match &running.actor {
                Some(actor) => format!("actors {}", pool_support::short_name(actor)),
                None => "functions (reach it with Pool::supervised)".to_string(),
            };
            return Err(PoolError::InvalidArgument(format!(
                "the supervised pool \"{id}\" does not run {short} actors: it runs {runs}"
            )));
        }
        ActorPool::from_owner(running.owner)
    }

    /// The number of worker processes the pool keeps.
    pub fn processes(&self) -> usize {
        self.owner.shared.processes
    }

    pub(crate) fn owner(&self) -> &Arc<Owner> {
        &self.owner
    }

    /// [`submit`](Self::submit) of a message that `claim` can take back until a worker has it.
    pub(crate) fn submit_claimed(
        &self,
        msg: &A::Msg,
        claim: Arc<crate::claim::Claim>,
    ) -> Result<AsyncResult<A::Reply>, PoolError> {
        self.engine().apply_claimed(msg, Some(claim))
    }

    /// [`imap`](Self::imap) with other options than the pool's, for an executor's map.
    pub(crate) fn imap_with<'a, I>(
        &self,
        msgs: I,
        options: &TaskOptions,
    ) -> Result<Imap<'a, A::Reply>, PoolError>
    where
        I: IntoIterator<Item = A::Msg>,
        I::IntoIter: Send + 'a,
    {
        Call {
            core: &self.owner,
            target: self.target.clone(),
            options,
        }
        .imap(msgs.into_iter(), true)
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

    /// Has a worker's actor handle `msg`, and waits for its reply.
    ///
    /// # Errors
    ///
    /// As [`Pool::apply`](crate::Pool::apply).
    pub fn call(&self, msg: A::Msg) -> Result<A::Reply, PoolError> {
        self.submit(msg)?.get()
    }

    /// [`call`](Self::call), waiting at most `timeout` for the reply (the task goes on).
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call), and [`PoolError::Timeout`].
    pub fn call_timeout(&self, msg: A::Msg, timeout: Duration) -> Result<A::Reply, PoolError> {
        self.submit(msg)?.get_timeout(timeout)
    }

    /// Async twin of [`call`](Self::call).
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub async fn call_async(&self, msg: A::Msg) -> Result<A::Reply, PoolError> {
        self.submit(msg)?.await
    }

    /// Has a worker's actor handle `msg`, without waiting and without its reply.
    ///
    /// # Errors
    ///
    /// When the message cannot be submitted (see [`submit`](Self::submit)).
    pub fn cast(&self, msg: A::Msg) -> Result<(), PoolError> {
        self.submit(msg).map(drop)
    }

    /// Submits `msg`; its reply arrives later.
    ///
    /// # Errors
    ///
    /// As [`Pool::apply_async`](crate::Pool::apply_async).
    pub fn submit(&self, msg: A::Msg) -> Result<AsyncResult<A::Reply>, PoolError> {
        self.engine().apply_async(&msg)
    }

    /// Every message, in order; waits for every reply.
    ///
    /// # Errors
    ///
    /// As [`Pool::map`](crate::Pool::map).
    pub fn map(&self, msgs: impl IntoIterator<Item = A::Msg>) -> Result<Vec<A::Reply>, PoolError> {
        self.engine().map(msgs.into_iter())
    }

    /// [`map`](Self::map) without waiting.
    ///
    /// # Errors
    ///
    /// As [`Pool::map_async`](crate::Pool::map_async).
    pub fn map_async(
        &self,
        msgs: impl IntoIterator<Item = A::Msg>,
    ) -> Result<AsyncResult<Vec<A::Reply>>, PoolError> {
        self.engine().map_async(msgs.into_iter())
    }

    /// Every message, lazily; replies in input order.
    ///
    /// # Errors
    ///
    /// As [`Pool::imap`](crate::Pool::imap).
    pub fn imap<'a, I>(&self, msgs: I) -> Result<Imap<'a, A::Reply>, PoolError>
    where
        I: IntoIterator<Item = A::Msg>,
        I::IntoIter: Send + 'a,
    {
        self.engine().imap(msgs.into_iter(), true)
    }

    /// Every message, lazily; replies in the order they come.
    ///
    /// # Errors
    ///
    /// As [`Pool::imap`](crate::Pool::imap).
    pub fn imap_unordered<'a, I>(&self, msgs: I) -> Result<Imap<'a, A::Reply>, PoolError>
    where
        I: IntoIterator<Item = A::Msg>,
        I::IntoIter: Send + 'a,
    {
        self.engine().imap(msgs.into_iter(), false)
    }

    /// A reference to every worker's actor taking tasks now, to call, cast to or stop directly
    /// (not through the queue). A reference to a worker that dies fails like any reference to
    /// an actor that is gone; ask again for the replacement's. Empty for a pool across hosts:
    /// its workers' actors are not reachable from here.
    pub fn workers(&self) -> Vec<RemoteRef<A>> {
        self.owner
            .shared
            .worker_actors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(path, id)| pool_support::actor_at::<A>(path.clone(), *id))
            .collect()
    }

    /// Sends `msg` to every worker's actor at once (not through the queue: between two tasks of
    /// each), and waits for every reply, in the order of [`workers`](Self::workers). A worker
    /// being replaced is waited for first, so that the message reaches as many workers as the
    /// pool keeps (a replacement starts from the pool's arguments, so it needs what is
    /// broadcast, a new model say, as much as the others).
    ///
    /// # Errors
    ///
    /// Per worker, as [`RemoteRef::call`]; [`ActorError::Unreachable`] for every worker when
    /// the pool stopped running (closed, terminated, broken) before it was at full strength.
    pub fn broadcast(&self, msg: A::Msg) -> Vec<Result<A::Reply, ActorError>>
    where
        A::Msg: Clone,
    {
        self.broadcast_until(msg, None)
    }

    /// [`broadcast`](Self::broadcast), each reply waited for at most `timeout`.
    pub fn broadcast_timeout(
        &self,
        msg: A::Msg,
        timeout: Duration,
    ) -> Vec<Result<A::Reply, ActorError>>
    where
        A::Msg: Clone,
    {
        self.broadcast_until(msg, Some(timeout))
    }

    fn broadcast_until(
        &self,
        msg: A::Msg,
        timeout: Option<Duration>,
    ) -> Vec<Result<A::Reply, ActorError>>
    where
        A::Msg: Clone,
    {
        if let Err(e) = self.full_strength() {
            return self.all_failed(&e);
        }
        if self.owner.shared.remote {
            return self.all_failed(&remote_workers());
        }
        let workers = self.workers();
        let count = workers.len();
        let all = call_all(workers, msg, timeout);
        // Waited for on a thread of its own: this one may be a runtime's.
        std::thread::scope(|s| {
            s.spawn(move || pool_support::runtime().block_on(all))
                .join()
                .unwrap_or_else(|_| {
                    (0..count)
                        .map(|_| Err(ActorError::Unreachable("the broadcast panicked".into())))
                        .collect()
                })
        })
    }

    /// Async twin of [`broadcast`](Self::broadcast).
    pub async fn broadcast_async(&self, msg: A::Msg) -> Vec<Result<A::Reply, ActorError>>
    where
        A::Msg: Clone,
    {
        let shared = &self.owner.shared;
        if let Err(e) = shared.lifecycle.wait_for_async(|| full(shared)).await {
            return self.all_failed(&e);
        }
        if shared.remote {
            return self.all_failed(&remote_workers());
        }
        call_all(self.workers(), msg, None).await
    }

    /// Waits until every worker the pool keeps is taking tasks.
    fn full_strength(&self) -> Result<(), PoolError> {
        let shared = &self.owner.shared;
        shared.lifecycle.wait_for(|| full(shared))
    }

    /// One error per worker the pool keeps.
    fn all_failed(&self, e: &PoolError) -> Vec<Result<A::Reply, ActorError>> {
        (0..self.processes())
            .map(|_| Err(ActorError::Unreachable(e.to_string())))
            .collect()
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
        self.owner.join_within(None)
    }

    /// See [`Pool::join_timeout`](crate::Pool::join_timeout).
    ///
    /// # Errors
    ///
    /// As [`Pool::join_timeout`](crate::Pool::join_timeout).
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), PoolError> {
        self.owner.join_within(Some(timeout))
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

/// Calls every worker with `msg` at once (each call its own task), and gathers the replies in
/// the workers' order.
async fn call_all<A: Actor>(
    workers: Vec<RemoteRef<A>>,
    msg: A::Msg,
    timeout: Option<Duration>,
) -> Vec<Result<A::Reply, ActorError>>
where
    A::Msg: Clone,
{
    let calls: Vec<_> = workers
        .into_iter()
        .map(|worker| {
            let msg = msg.clone();
            tokio::spawn(async move {
                match timeout {
                    None => worker.call_async(msg).await,
                    Some(timeout) => worker.call_timeout_async(msg, timeout).await,
                }
            })
        })
        .collect();
    let mut replies = Vec::with_capacity(calls.len());
    for call in calls {
        replies.push(
            call.await.unwrap_or_else(|e| {
                Err(ActorError::Unreachable(format!("the call was lost: {e}")))
            }),
        );
    }
    replies
}

/// Whether every worker the pool keeps is taking tasks.
fn full(shared: &crate::core::Shared) -> bool {
    shared
        .counters
        .workers_ready
        .load(std::sync::atomic::Ordering::Acquire)
        >= shared.processes
}

/// Why a pool across hosts cannot reach its workers' actors directly.
fn remote_workers() -> PoolError {
    PoolError::InvalidArgument(
        "the workers of a pool across hosts are not reachable from here: broadcast and workers \
         are for pools on this machine"
            .into(),
    )
}
