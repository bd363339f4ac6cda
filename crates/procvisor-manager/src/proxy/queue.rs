//! `QueueProxy`: Python's `manager.Queue()` and `manager.JoinableQueue()`.

use super::handle::{Handle, proxy_serde};
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
    fn put_within(&self, item: T, timeout: Option<Duration>) -> Result<(), ManagerError> {
        self.handle.done(Op::Put {
            item: encode(&item)?,
            timeout,
        })
    }

    /// `put(item)`: waits while a bounded queue is full.
    ///
    /// # Errors
    ///
    /// When the manager cannot be reached, or the item cannot be encoded.
    pub fn put(&self, item: T) -> Result<(), ManagerError> {
        self.put_within(item, None)
    }

    /// `put(item, timeout=...)`.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Timeout`] (Python's `queue.Full`); as [`put`](Self::put).
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), ManagerError> {
        self.put_within(item, Some(timeout))
    }

    /// `put_nowait(item)`.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Timeout`] when it is full (Python's `queue.Full`); as [`put`](Self::put).
    pub fn put_nowait(&self, item: T) -> Result<(), ManagerError> {
        self.put_within(item, Some(Duration::ZERO))
    }

    /// `get()`: waits for an item.
    ///
    /// # Errors
    ///
    /// When the manager cannot be reached, or the item is not a `T`.
    pub fn get(&self) -> Result<T, ManagerError> {
        self.handle.value(Op::Take { timeout: None })
    }

    /// `get(timeout=...)`.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Timeout`] (Python's `queue.Empty`); as [`get`](Self::get).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, ManagerError> {
        self.handle.value(Op::Take {
            timeout: Some(timeout),
        })
    }

    /// `get_nowait()`.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Timeout`] when it is empty (Python's `queue.Empty`); as
    /// [`get`](Self::get).
    pub fn get_nowait(&self) -> Result<T, ManagerError> {
        self.get_timeout(Duration::ZERO)
    }

    fn state(&self) -> Result<(u64, u64, u64), ManagerError> {
        match self.handle.call(Op::QueueState)? {
            Response::Queue {
                size,
                maxsize,
                unfinished,
            } => Ok((size, maxsize, unfinished)),
            other => Err(unexpected(&other)),
        }
    }

    /// `qsize()`.
    pub fn qsize(&self) -> Result<usize, ManagerError> {
        Ok(self.state()?.0 as usize)
    }

    /// `empty()`.
    pub fn empty(&self) -> Result<bool, ManagerError> {
        Ok(self.state()?.0 == 0)
    }

    /// `full()`.
    pub fn full(&self) -> Result<bool, ManagerError> {
        let (size, maxsize, _) = self.state()?;
        Ok(maxsize > 0 && size >= maxsize)
    }

    /// `task_done()`: once more than items were put, the manager's
    /// `ValueError`.
    pub fn task_done(&self) -> Result<(), ManagerError> {
        self.handle.done(Op::TaskDone)
    }

    /// `join()`: waits until every item put was marked done.
    ///
    /// # Errors
    ///
    /// When the manager cannot be reached.
    pub fn join(&self) -> Result<(), ManagerError> {
        self.handle.done(Op::Join { timeout: None })
    }

    /// [`join`](Self::join), at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Timeout`]; as [`join`](Self::join).
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), ManagerError> {
        self.handle.done(Op::Join {
            timeout: Some(timeout),
        })
    }
}
