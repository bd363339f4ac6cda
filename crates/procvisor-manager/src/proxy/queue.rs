//! `QueueProxy`: Python's `manager.Queue()` and `manager.JoinableQueue()`.

use super::handle::{Handle, proxy_serde, reply, twins};
use crate::client::{encode, unexpected};
use crate::error::ManagerError;
use crate::protocol::{Op, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::time::Duration;

/// A queue held by a manager. [`ManagerError::Timeout`] is Python's `queue.Empty` (from a
/// get) and `queue.Full` (from a put).
///
/// ```
/// # fn main() -> Result<(), procvisor_manager::ManagerError> {
/// let manager = procvisor_manager::Manager::start()?;
/// let q = manager.joinable_queue::<String>(0)?;
/// q.put("job".to_string())?;
/// assert_eq!(q.get()?, "job");
/// q.task_done()?;
/// q.join()?;
/// assert!(q.get_timeout(std::time::Duration::ZERO).is_err());
/// # Ok(())
/// # }
/// ```
pub struct QueueProxy<T> {
    handle: Handle,
    _types: PhantomData<fn() -> T>,
}
proxy_serde!(QueueProxy<T>);

impl<T: Serialize + DeserializeOwned> QueueProxy<T> {
    twins! {
        /// `put(item)`: waits while a bounded queue is full.
        ///
        /// # Errors
        ///
        /// When the manager cannot be reached, or the item cannot be encoded.
        pub fn put / put_async(&self, item: T) -> () {
            send: put(&item, None)?,
            read: reply::done,
        }

        /// `put(item, timeout=...)`.
        ///
        /// # Errors
        ///
        /// [`ManagerError::Timeout`] (Python's `queue.Full`); as [`put`](Self::put).
        pub fn put_timeout / put_timeout_async(&self, item: T, timeout: Duration) -> () {
            send: put(&item, Some(timeout))?,
            read: reply::done,
        }

        /// `put_nowait(item)`.
        ///
        /// # Errors
        ///
        /// [`ManagerError::Timeout`] when it is full (Python's `queue.Full`); as [`put`](Self::put).
        pub fn put_nowait / put_nowait_async(&self, item: T) -> () {
            send: put(&item, Some(Duration::ZERO))?,
            read: reply::done,
        }

        /// `qsize()`.
        pub fn qsize / qsize_async(&self) -> usize {
            send: Op::QueueState,
            read: |r| state(r).map(|s| s.0 as usize),
        }

        /// `empty()`.
        pub fn empty / empty_async(&self) -> bool {
            send: Op::QueueState,
            read: |r| state(r).map(|s| s.0 == 0),
        }

        /// `full()`.
        pub fn full / full_async(&self) -> bool {
            send: Op::QueueState,
            read: |r| state(r).map(|(size, maxsize, _)| maxsize > 0 && size >= maxsize),
        }

        /// `task_done()`: once more than items were put, the manager's
        /// `ValueError`.
        pub fn task_done / task_done_async(&self) -> () {
            send: Op::TaskDone,
            read: reply::done,
        }

        /// `join()`: waits until every item put was marked done.
        ///
        /// # Errors
        ///
        /// When the manager cannot be reached.
        pub fn join / join_async(&self) -> () {
            send: Op::Join { timeout: None },
            read: reply::done,
        }

        /// [`join`](Self::join), at most `timeout`.
        ///
        /// # Errors
        ///
        /// [`ManagerError::Timeout`]; as [`join`](Self::join).
        pub fn join_timeout / join_timeout_async(&self, timeout: Duration) -> () {
            send: Op::Join { timeout: Some(timeout) },
            read: reply::done,
        }
    }

    /// `get()`: waits for an item.
    ///
    /// # Errors
    ///
    /// When the manager cannot be reached, or the item is not a `T`.
    pub fn get(&self) -> Result<T, ManagerError> {
        self.take(None)
    }

    /// `get(timeout=...)`.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Timeout`] (Python's `queue.Empty`); as [`get`](Self::get).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, ManagerError> {
        self.take(Some(timeout))
    }

    /// `get_nowait()`.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Timeout`] when it is empty (Python's `queue.Empty`); as
    /// [`get`](Self::get).
    pub fn get_nowait(&self) -> Result<T, ManagerError> {
        self.take(Some(Duration::ZERO))
    }

    /// [`get`](Self::get), as a future: see [async twins](crate#async-twins). Dropped after
    /// the manager handed it an item, it puts the item back at the front of the queue: a
    /// cancelled `get_async` (a `select!` that chose another branch, a timeout) loses nothing.
    pub async fn get_async(&self) -> Result<T, ManagerError> {
        self.take_async(None).await
    }

    /// [`get_timeout`](Self::get_timeout), as a future; cancelled, it loses nothing (see
    /// [`get_async`](Self::get_async)).
    pub async fn get_timeout_async(&self, timeout: Duration) -> Result<T, ManagerError> {
        self.take_async(Some(timeout)).await
    }

    /// [`get_nowait`](Self::get_nowait), as a future; cancelled, it loses nothing (see
    /// [`get_async`](Self::get_async)).
    pub async fn get_nowait_async(&self) -> Result<T, ManagerError> {
        self.take_async(Some(Duration::ZERO)).await
    }

    fn take(&self, timeout: Option<Duration>) -> Result<T, ManagerError> {
        self.handle
            .call(Op::Take { timeout })
            .and_then(reply::value)
    }

    async fn take_async(&self, timeout: Option<Duration>) -> Result<T, ManagerError> {
        self.handle
            .call_async_or_give_back(Op::Take { timeout }, |queue, taken| {
                if let Response::Bytes(item) = taken
                    && let Err(e) = queue.done(Op::GiveBack(item))
                {
                    tracing::warn!(target: "procvisor::manager", %e, "could not put back an item a cancelled get_async had taken");
                }
            })
            .await
            .and_then(reply::value)
    }
}

fn put<T: Serialize>(item: &T, timeout: Option<Duration>) -> Result<Op, ManagerError> {
    Ok(Op::Put {
        item: encode(item)?,
        timeout,
    })
}

/// A queue's size, bound and unfinished count.
fn state(response: Response) -> Result<(u64, u64, u64), ManagerError> {
    match response {
        Response::Queue {
            size,
            maxsize,
            unfinished,
        } => Ok((size, maxsize, unfinished)),
        other => Err(unexpected(&other)),
    }
}
