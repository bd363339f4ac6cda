//! Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event and Barrier proxies. Their waits
//! happen in the manager, on the caller's own connection, so they hold up no other caller.

use super::handle::Handle;
use crate::error::ManagerError;
use crate::protocol::{Op, Owner, Response};
use std::time::Duration;

/// Python's `manager.Lock()` (released by anyone) or `manager.RLock()` (re-entered and
/// released by the thread that holds it). [`lock`](Self::lock) gives a guard, Python's `with`.
///
/// ```
/// # fn main() -> Result<(), procvisor_manager::ManagerError> {
/// let manager = procvisor_manager::Manager::start()?;
/// let lock = manager.lock()?;
/// {
///     let _held = lock.lock()?;
///     assert!(!lock.try_acquire()?);
/// }
/// assert!(lock.try_acquire()?);
/// lock.release()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct LockProxy {
    handle: Handle,
}

/// Holds a manager's lock until dropped.
#[derive(Debug)]
#[must_use = "the lock is released when the guard is dropped"]
pub struct ProxyGuard<'a> {
    lock: &'a LockProxy,
}

impl Drop for ProxyGuard<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.lock.release() {
            tracing::warn!(target: "procvisor::manager", %e, "could not release a manager lock");
        }
    }
}

impl LockProxy {
    pub(crate) fn from_handle(handle: Handle) -> LockProxy {
        LockProxy { handle }
    }

    /// `acquire()`: waits as long as it takes.
    pub fn acquire(&self) -> Result<(), ManagerError> {
        self.acquire_timeout(None).map(|_| ())
    }

    /// `acquire(timeout=...)`: whether it was acquired (`None` waits for ever).
    pub fn acquire_timeout(&self, timeout: Option<Duration>) -> Result<bool, ManagerError> {
        self.handle.boolean(Op::Acquire {
            owner: Owner::current(),
            timeout,
        })
    }

    /// `acquire(blocking=False)`.
    pub fn try_acquire(&self) -> Result<bool, ManagerError> {
        self.acquire_timeout(Some(Duration::ZERO))
    }

    /// `release()`: an unheld lock is the manager's `RuntimeError`.
    pub fn release(&self) -> Result<(), ManagerError> {
        self.handle.done(Op::Release {
            owner: Owner::current(),
        })
    }

    /// `with lock:`: acquires, and releases when the guard is dropped.
    pub fn lock(&self) -> Result<ProxyGuard<'_>, ManagerError> {
        self.acquire()?;
        Ok(ProxyGuard { lock: self })
    }

    /// Whether someone holds it now.
    pub fn is_locked(&self) -> Result<bool, ManagerError> {
        self.handle.boolean(Op::IsSet)
    }
}

/// Python's `manager.Semaphore(value)` or `manager.BoundedSemaphore(value)`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SemaphoreProxy {
    handle: Handle,
}

impl SemaphoreProxy {
    pub(crate) fn from_handle(handle: Handle) -> SemaphoreProxy {
        SemaphoreProxy { handle }
    }

    /// `acquire(timeout=...)`: whether it was acquired.
    pub fn acquire_timeout(&self, timeout: Option<Duration>) -> Result<bool, ManagerError> {
        self.handle.boolean(Op::Acquire {
            owner: Owner::current(),
            timeout,
        })
    }

    /// `acquire()`.
    pub fn acquire(&self) -> Result<(), ManagerError> {
        self.acquire_timeout(None).map(|_| ())
    }

    /// `release()`: past a bounded semaphore's start value, the manager's `ValueError`.
    pub fn release(&self) -> Result<(), ManagerError> {
        self.handle.done(Op::Release {
            owner: Owner::current(),
        })
    }

    /// The current value (Python's `_value`, or `get_value()`).
    pub fn value(&self) -> Result<u64, ManagerError> {
        self.handle.int(Op::Load).map(|v| v as u64)
    }
}

/// Python's `manager.Condition()`, over its own re-entrant lock.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ConditionProxy {
    lock: LockProxy,
}

impl ConditionProxy {
    pub(crate) fn from_handle(handle: Handle) -> ConditionProxy {
        ConditionProxy {
            lock: LockProxy::from_handle(handle),
        }
    }

    /// The condition's lock: acquire it (or [`lock`](LockProxy::lock) it) around waits and
    /// notifies.
    pub fn lock(&self) -> &LockProxy {
        &self.lock
    }

    /// `wait(timeout)`: gives the lock up, waits for a notify, takes the lock again; whether
    /// it was notified. Without the lock held, the manager's `RuntimeError`.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<bool, ManagerError> {
        self.lock.handle.boolean(Op::Wait {
            owner: Owner::current(),
            timeout,
        })
    }

    /// `wait_for(predicate, timeout)`: waits until `predicate` holds; its last value.
    pub fn wait_for(
        &self,
        mut predicate: impl FnMut() -> bool,
        timeout: Option<Duration>,
    ) -> Result<bool, ManagerError> {
        let deadline = timeout.and_then(|t| std::time::Instant::now().checked_add(t));
        loop {
            if predicate() {
                return Ok(true);
            }
            let left = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Ok(predicate());
                    }
                    Some(left)
                }
                None => None,
            };
            self.wait(left)?;
        }
    }

    /// `notify(n)`: without the lock held, the manager's `RuntimeError`.
    pub fn notify(&self, n: u64) -> Result<(), ManagerError> {
        self.lock.handle.done(Op::Notify {
            owner: Owner::current(),
            n,
        })
    }

    /// `notify_all()`.
    pub fn notify_all(&self) -> Result<(), ManagerError> {
        self.notify(u64::MAX)
    }
}

/// Python's `manager.Event()`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct EventProxy {
    handle: Handle,
}

impl EventProxy {
    pub(crate) fn from_handle(handle: Handle) -> EventProxy {
        EventProxy { handle }
    }

    /// `is_set()`.
    pub fn is_set(&self) -> Result<bool, ManagerError> {
        self.handle.boolean(Op::IsSet)
    }

    /// `set()`: wakes every waiter.
    pub fn set(&self) -> Result<(), ManagerError> {
        self.handle.done(Op::SetFlag)
    }

    /// `clear()`.
    pub fn clear(&self) -> Result<(), ManagerError> {
        self.handle.done(Op::ClearFlag)
    }

    /// `wait(timeout)`: whether the flag is set.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<bool, ManagerError> {
        self.handle.boolean(Op::WaitFlag { timeout })
    }
}

/// Python's `manager.Barrier(parties)`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct BarrierProxy {
    handle: Handle,
}

impl BarrierProxy {
    pub(crate) fn from_handle(handle: Handle) -> BarrierProxy {
        BarrierProxy { handle }
    }

    /// `wait(timeout)`: this caller's arrival index (0 for the first). A timeout, an abort
    /// or a reset is the manager's `BrokenBarrierError`, as in Python.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<u64, ManagerError> {
        self.handle
            .int(Op::BarrierWait { timeout })
            .map(|i| i as u64)
    }

    /// `abort()`.
    pub fn abort(&self) -> Result<(), ManagerError> {
        self.handle.done(Op::Abort)
    }

    /// `reset()`.
    pub fn reset(&self) -> Result<(), ManagerError> {
        self.handle.done(Op::Reset)
    }

    fn state(&self) -> Result<(u64, u64, bool), ManagerError> {
        match self.handle.call(Op::BarrierState)? {
            Response::Barrier {
                parties,
                waiting,
                broken,
            } => Ok((parties, waiting, broken)),
            other => Err(crate::client::unexpected(&other)),
        }
    }

    /// `parties`.
    pub fn parties(&self) -> Result<u64, ManagerError> {
        Ok(self.state()?.0)
    }

    /// `n_waiting`.
    pub fn n_waiting(&self) -> Result<u64, ManagerError> {
        Ok(self.state()?.1)
    }

    /// `broken`.
    pub fn broken(&self) -> Result<bool, ManagerError> {
        Ok(self.state()?.2)
    }
}
