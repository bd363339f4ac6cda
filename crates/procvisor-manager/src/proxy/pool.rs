//! [`PoolProxy`]: a pool that a manager runs (Python's `SyncManager.Pool`).

use super::handle::{Handle, reply, twins};
use crate::client::{decode, encode, unexpected};
use crate::error::ManagerError;
use crate::offload::offload;
use crate::protocol::{Bytes, Op, Response};
use procvisor_runtime::__private::pool_support;
use procvisor_runtime::Target;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::Duration;

/// A pool of worker processes that a manager runs, from [`Manager::pool`](crate::Manager::pool):
/// Python's `manager.Pool(processes)`. Every client of the manager (its children, other
/// programs over TCP with the authkey) submits to the same workers, which are children of the
/// manager process.
///
/// ```
/// use procvisor_manager::Manager;
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
/// fn add(a: u64, b: u64) -> u64 {
///     a + b
/// }
/// procvisor_runtime::register!(square, add);
///
/// let manager = Manager::start()?;
/// let pool = manager.pool(2)?;
/// assert_eq!(pool.apply(add, (2, 3))?, 5);
/// assert_eq!(pool.map(square, 1..=4)?, vec![1, 4, 9, 16]);
/// assert_eq!(pool.starmap(add, [(1, 1), (2, 2)])?, vec![2, 4]);
/// pool.close()?;
/// pool.join()?;
/// # Ok::<(), procvisor_manager::ManagerError>(())
/// ```
///
/// Calls are typed as [`Pool`](procvisor_pool::Pool)'s: the client encodes the arguments and
/// sends the function's registered name (checked here first: an unregistered function is
/// [`ManagerError::Unregistered`], and nothing is sent); the manager process finds the function
/// by that name (it runs the same binary) and hands the work to its pool. A call waits in the
/// manager on a thread of its own, holding up no other client.
///
/// A task's failure comes back as [`ManagerError::Remote`] with `PoolError: ` and the pool's
/// message (a panic's message and location, a lost worker, ...); `ValueError: Pool not running`
/// after [`close`](Self::close) or [`terminate`](Self::terminate). A manager that goes while a
/// call waits fails it ([`ManagerError::Unreachable`]), never a hang. The pool ends with its
/// manager: a shutdown terminates it first.
///
/// A `map`'s items and its results travel in one message each way (chunked in the manager as
/// Python's `map` chunks), so one call carries at most a message's worth; cut a larger input
/// into several calls.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolProxy {
    handle: Handle,
    processes: usize,
}

impl std::fmt::Debug for PoolProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PoolProxy({:?}, {} processes)",
            self.handle, self.processes
        )
    }
}

/// The registered name of `F`, or why the manager's pool cannot run it.
fn function_name<F>() -> Result<String, ManagerError> {
    let name = pool_support::target_name::<F>();
    if pool_support::registration(name).is_some() {
        return Ok(name.to_string());
    }
    let short = pool_support::short_name(name);
    let message = if name.contains("{{closure}}") {
        "a pool runs registered functions, not closures: move the closure's body into a named \
         `fn`, register it with `procvisor::register!`, and pass the function"
            .to_string()
    } else {
        format!(
            "the function `{name}` is not registered, so a pool worker cannot run it.\n\
             Fix: add `procvisor::register!({short});` next to the function (at module level)."
        )
    };
    Err(ManagerError::Unregistered {
        function: short,
        message,
    })
}

/// The chunks of a `map` of `items` over `processes` workers, as Python's `map` cuts them
/// (about four per worker): each an encoded sequence of argument tuples, and its length.
fn chunks<T: Serialize>(
    items: impl IntoIterator<Item = T>,
    processes: usize,
) -> Result<Vec<(Bytes, u64)>, ManagerError> {
    let items: Vec<T> = items.into_iter().collect();
    let size = items.len().div_ceil(processes.max(1) * 4).max(1);
    items
        .chunks(size)
        .map(|chunk| Ok((encode(chunk)?, chunk.len() as u64)))
        .collect()
}

/// The values of every part (each an encoded `Vec` of values), in order.
fn values<R: DeserializeOwned>(response: Response) -> Result<Vec<R>, ManagerError> {
    match response {
        Response::List(parts) => {
            let mut values = Vec::new();
            for part in parts {
                values.extend(decode::<Vec<R>>(&part)?);
            }
            Ok(values)
        }
        other => Err(unexpected(&other)),
    }
}

/// The one value of an `apply`.
fn one<R: DeserializeOwned>(response: Response) -> Result<R, ManagerError> {
    let mut values = values::<R>(response)?;
    match values.len() {
        1 => Ok(values.pop().expect("one value")),
        n => Err(ManagerError::Codec(format!("expected one result, got {n}"))),
    }
}

impl PoolProxy {
    pub(crate) fn new(handle: Handle, processes: usize) -> PoolProxy {
        PoolProxy { handle, processes }
    }

    /// The number of worker processes the pool keeps.
    ///
    /// ```
    /// # fn main() -> Result<(), procvisor_manager::ManagerError> {
    /// let manager = procvisor_manager::Manager::start()?;
    /// assert_eq!(manager.pool(3)?.processes(), 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn processes(&self) -> usize {
        self.processes
    }

    fn apply_op<F, A>(args: &A) -> Result<Op, ManagerError>
    where
        F: Target<A>,
        A: Serialize,
    {
        Ok(Op::PoolApply {
            function: function_name::<F>()?,
            args: encode(std::slice::from_ref(args))?,
        })
    }

    fn map_op<F, T: Serialize>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<Op, ManagerError> {
        Ok(Op::PoolMap {
            function: function_name::<F>()?,
            chunks: chunks(items, self.processes)?,
        })
    }

    /// Runs `f(args)` on a worker of the manager's pool and waits for its result (Python's
    /// `pool.apply(f, args)`).
    ///
    /// ```
    /// use procvisor_manager::{Manager, ManagerError};
    ///
    /// fn worker_pid() -> u32 {
    ///     std::process::id()
    /// }
    /// procvisor_runtime::register!(worker_pid);
    ///
    /// let manager = Manager::start()?;
    /// let pool = manager.pool(1)?;
    /// let pid = pool.apply(worker_pid, ())?;
    /// // Neither this process nor the manager's: a worker of the manager's pool.
    /// assert_ne!(pid, std::process::id());
    /// assert_ne!(Some(pid), manager.pid());
    /// # Ok::<(), ManagerError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ManagerError::Unregistered`] when `f` is not registered (nothing is sent);
    /// [`ManagerError::Remote`] with `PoolError: ...` when the task failed (it panicked, its
    /// worker died), `ValueError: Pool not running` after `close`; [`ManagerError::Codec`]
    /// when the arguments cannot be encoded or the result decoded;
    /// [`ManagerError::Unreachable`] when the manager has gone.
    pub fn apply<F, A>(&self, f: F, args: A) -> Result<F::Output, ManagerError>
    where
        F: Target<A>,
        A: Serialize,
        F::Output: DeserializeOwned,
    {
        drop(f);
        self.handle
            .call(Self::apply_op::<F, A>(&args)?)
            .and_then(one)
    }

    /// [`apply`](Self::apply), as a future that is already under way: the task is submitted
    /// when this is called, as by Python's `pool.apply_async(f, args)`, and awaiting the
    /// future is its `get()`. Any executor can await it (see [async twins](crate#async-twins));
    /// it borrows nothing, so it can be spawned. Dropping it stops the wait, not the task.
    ///
    /// ```
    /// use procvisor_manager::{Manager, ManagerError};
    ///
    /// fn double(x: i32) -> i32 {
    ///     2 * x
    /// }
    /// procvisor_runtime::register!(double);
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = Manager::start()?;
    /// let pool = manager.pool(2)?;
    /// // Both run while this thread goes on.
    /// let a = pool.apply_async(double, (20,));
    /// let b = pool.apply_async(double, (1,));
    /// let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    /// assert_eq!(runtime.block_on(async { Ok::<_, ManagerError>(a.await? + b.await?) })?, 42);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`apply`](Self::apply).
    pub fn apply_async<F, A>(
        &self,
        f: F,
        args: A,
    ) -> impl Future<Output = Result<F::Output, ManagerError>> + Send + 'static
    where
        F: Target<A>,
        A: Serialize,
        F::Output: DeserializeOwned + Send + 'static,
    {
        drop(f);
        self.submit(Self::apply_op::<F, A>(&args), one::<F::Output>)
    }

    /// `f(item)` for every item, in order, on the manager's pool's workers, in chunks of
    /// Python's default size (about four chunks per worker); waits for all of them (Python's
    /// `pool.map(f, items)`).
    ///
    /// ```
    /// use procvisor_manager::Manager;
    ///
    /// fn shout(word: String) -> String {
    ///     word.to_uppercase()
    /// }
    /// procvisor_runtime::register!(shout);
    ///
    /// let manager = Manager::start()?;
    /// let pool = manager.pool(2)?;
    /// let words = ["a", "b", "c"].map(String::from);
    /// assert_eq!(pool.map(shout, words)?, ["A", "B", "C"]);
    /// # Ok::<(), procvisor_manager::ManagerError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The error of the first failed chunk in input order, once every chunk has finished; as
    /// [`apply`](Self::apply).
    pub fn map<F, T>(
        &self,
        f: F,
        items: impl IntoIterator<Item = T>,
    ) -> Result<Vec<F::Output>, ManagerError>
    where
        F: Target<(T,)>,
        T: Serialize,
        F::Output: DeserializeOwned,
    {
        drop(f);
        // A value encodes as its one-tuple: the items travel as they are.
        self.handle
            .call(self.map_op::<F, T>(items)?)
            .and_then(values)
    }

    /// [`map`](Self::map), as a future already under way (Python's `pool.map_async`): see
    /// [`apply_async`](Self::apply_async).
    ///
    /// ```
    /// use procvisor_manager::Manager;
    ///
    /// fn square(x: u64) -> u64 {
    ///     x * x
    /// }
    /// procvisor_runtime::register!(square);
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = Manager::start()?;
    /// let squares = manager.pool(2)?.map_async(square, 0..10);
    /// let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    /// assert_eq!(runtime.block_on(squares)?[9], 81);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map).
    pub fn map_async<F, T>(
        &self,
        f: F,
        items: impl IntoIterator<Item = T>,
    ) -> impl Future<Output = Result<Vec<F::Output>, ManagerError>> + Send + 'static
    where
        F: Target<(T,)>,
        T: Serialize,
        F::Output: DeserializeOwned + Send + 'static,
    {
        drop(f);
        self.submit(self.map_op::<F, T>(items), values::<F::Output>)
    }

    /// `f(a, b, ...)` for every tuple `(a, b, ...)`, in order (Python's `pool.starmap`).
    ///
    /// ```
    /// use procvisor_manager::Manager;
    ///
    /// fn power(base: u64, exp: u32) -> u64 {
    ///     base.pow(exp)
    /// }
    /// procvisor_runtime::register!(power);
    ///
    /// let manager = Manager::start()?;
    /// let pool = manager.pool(2)?;
    /// assert_eq!(pool.starmap(power, [(2, 10), (3, 2)])?, vec![1024, 9]);
    /// # Ok::<(), procvisor_manager::ManagerError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map).
    pub fn starmap<F, A>(
        &self,
        f: F,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Vec<F::Output>, ManagerError>
    where
        F: Target<A>,
        A: Serialize,
        F::Output: DeserializeOwned,
    {
        drop(f);
        self.handle
            .call(self.map_op::<F, A>(items)?)
            .and_then(values)
    }

    /// [`starmap`](Self::starmap), as a future already under way (Python's
    /// `pool.starmap_async`): see [`apply_async`](Self::apply_async).
    ///
    /// ```
    /// use procvisor_manager::Manager;
    ///
    /// fn add(a: i64, b: i64) -> i64 {
    ///     a + b
    /// }
    /// procvisor_runtime::register!(add);
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = Manager::start()?;
    /// let sums = manager.pool(1)?.starmap_async(add, [(1, 2), (3, 4)]);
    /// let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    /// assert_eq!(runtime.block_on(sums)?, vec![3, 7]);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map).
    pub fn starmap_async<F, A>(
        &self,
        f: F,
        items: impl IntoIterator<Item = A>,
    ) -> impl Future<Output = Result<Vec<F::Output>, ManagerError>> + Send + 'static
    where
        F: Target<A>,
        A: Serialize,
        F::Output: DeserializeOwned + Send + 'static,
    {
        drop(f);
        self.submit(self.map_op::<F, A>(items), values::<F::Output>)
    }

    /// Sends `op` now, on a blocking thread; the future reads its answer.
    fn submit<R: Send + 'static>(
        &self,
        op: Result<Op, ManagerError>,
        read: fn(Response) -> Result<R, ManagerError>,
    ) -> impl Future<Output = Result<R, ManagerError>> + Send + 'static {
        let handle = self.handle.clone();
        // Started here, not at the first poll: the call is under way as soon as it is made.
        let answer = offload(
            move |cancel| handle.call_unless_cancelled(op?, Some(cancel)),
            None,
        );
        async move { answer.await.and_then(read) }
    }

    twins! {
        /// No new work: the workers exit once the submitted work is done (Python's
        /// `pool.close()`).
        ///
        /// ```
        /// use procvisor_manager::Manager;
        ///
        /// fn id(x: u8) -> u8 {
        ///     x
        /// }
        /// procvisor_runtime::register!(id);
        ///
        /// let manager = Manager::start()?;
        /// let pool = manager.pool(1)?;
        /// pool.close()?;
        /// let refused = pool.apply(id, (1,)).unwrap_err();
        /// assert!(refused.is_remote("ValueError"), "{refused}");
        /// pool.join()?;
        /// # Ok::<(), procvisor_manager::ManagerError>(())
        /// ```
        ///
        /// # Errors
        ///
        /// [`ManagerError::Unreachable`] when the manager has gone.
        pub fn close / close_async(&self) -> () {
            send: Op::PoolClose,
            read: reply::done,
        }

        /// Fails every unfinished task and stops the workers now; returns once they have
        /// exited (Python's `pool.terminate()`).
        ///
        /// ```
        /// # fn main() -> Result<(), procvisor_manager::ManagerError> {
        /// let manager = procvisor_manager::Manager::start()?;
        /// let pool = manager.pool(1)?;
        /// pool.terminate()?;
        /// pool.join()?;
        /// # Ok(())
        /// # }
        /// ```
        ///
        /// # Errors
        ///
        /// [`ManagerError::Unreachable`] when the manager has gone.
        pub fn terminate / terminate_async(&self) -> () {
            send: Op::PoolTerminate,
            read: reply::done,
        }

        /// Waits for the workers to exit, after [`close`](Self::close) or
        /// [`terminate`](Self::terminate) (Python's `pool.join()`).
        ///
        /// ```
        /// # fn main() -> Result<(), procvisor_manager::ManagerError> {
        /// let manager = procvisor_manager::Manager::start()?;
        /// let pool = manager.pool(1)?;
        /// // Still running: Python's ValueError.
        /// assert!(pool.join().unwrap_err().is_remote("ValueError"));
        /// pool.close()?;
        /// pool.join()?;
        /// # Ok(())
        /// # }
        /// ```
        ///
        /// # Errors
        ///
        /// [`ManagerError::Remote`] with `ValueError: Pool is still running` before `close` or
        /// `terminate`; [`ManagerError::Unreachable`].
        pub fn join / join_async(&self) -> () {
            send: Op::PoolJoin { timeout: None },
            read: reply::done,
        }

        /// [`join`](Self::join), waiting at most `timeout`.
        ///
        /// ```
        /// use std::time::Duration;
        ///
        /// # fn main() -> Result<(), procvisor_manager::ManagerError> {
        /// let manager = procvisor_manager::Manager::start()?;
        /// let pool = manager.pool(1)?;
        /// pool.close()?;
        /// pool.join_timeout(Duration::from_secs(30))?;
        /// # Ok(())
        /// # }
        /// ```
        ///
        /// # Errors
        ///
        /// As [`join`](Self::join), and [`ManagerError::Timeout`].
        pub fn join_timeout / join_timeout_async(&self, timeout: Duration) -> () {
            send: Op::PoolJoin { timeout: Some(timeout) },
            read: reply::done,
        }
    }
}
