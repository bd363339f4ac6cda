//! Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event and Barrier proxies. Their waits
//! happen in the manager, on the caller's own connection, so they hold up no other caller.

use super::handle::Handle;
use crate::error::ManagerError;
use crate::protocol::{Op, Owner, Response};
use std::time::Duration;

/// Python's `manager.Lock()` (released by anyone) or `manager.RLock()` (re-entered and
/// released by the thread that holds it). Its shapes are the shared-memory `Lock`'s:
/// [`acquire`](Self::acquire) returns a guard that releases on drop, Python's `with lock:`.
///
/// ```
/// # fn main() -> Result<(), procvisor_manager::ManagerError> {
/// let manager = procvisor_manager::Manager::start()?;
/// let lock = manager.lock()?;
/// {
///     let _held = lock.acquire()?;
///     assert!(lock.locked()?);
///     assert!(lock.try_acquire().is_err());
/// }
/// assert!(!lock.locked()?);
/// # Ok(())
/// # }
/// ```
///
/// A process that dies holding it does not keep it: the manager releases what a dead client
/// held (see the book's chapter on managers).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct LockProxy {
    handle: Handle,
}

/// Holds a manager's lock until dropped (or [`leak`](Self::leak)ed, to release it later with
/// [`LockProxy::release`]).
#[derive(Debug)]
#[must_use = "the lock is released when the guard is dropped"]
pub struct ProxyGuard<'a> {
    lock: &'a LockProxy,
}

impl ProxyGuard<'_> {
    /// Keeps the lock held without the guard: release it with [`LockProxy::release`] (Python's
    /// `acquire()` then `release()`, in separate places).
    pub fn leak(self) {
        std::mem::forget(self);
    }
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

    fn acquire_within(&self, timeout: Option<Duration>) -> Result<ProxyGuard<'_>, ManagerError> {
        let acquired = self.handle.boolean(Op::Acquire {
            owner: Owner::current(),
            timeout,
        })?;
        if acquired {
            Ok(ProxyGuard { lock: self })
        } else {
            Err(ManagerError::Timeout)
        }
    }

    /// `acquire()`: waits as long as it takes; released when the guard drops.
    ///
    /// # Errors
    ///
    /// When the manager cannot be reached.
    pub fn acquire(&self) -> Result<ProxyGuard<'_>, ManagerError> {
        self.acquire_within(None)
    }

    /// `acquire(timeout=...)`.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Timeout`] when it stayed held for `timeout`; when the manager cannot be
    /// reached.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<ProxyGuard<'_>, ManagerError> {
        self.acquire_within(Some(timeout))
    }

    /// `acquire(blocking=False)`.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Timeout`] when it is held; when the manager cannot be reached.
    pub fn try_acquire(&self) -> Result<ProxyGuard<'_>, ManagerError> {
        self.acquire_within(Some(Duration::ZERO))
    }

    /// `release()`, for a guard that was [`leak`](ProxyGuard::leak)ed (a `Lock` may be
    /// released by any process, as in Python).
    ///
    /// # Errors
    ///
    /// The manager's `RuntimeError` when it is not held (an `RLock`: not by this thread).
    pub fn release(&self) -> Result<(), ManagerError> {
        self.handle.done(Op::Release {
            owner: Owner::current(),
        })
    }

    /// `locked()`: whether someone holds it now.
    ///
    /// # Errors
    ///
    /// When the manager cannot be reached.
    pub fn locked(&self) -> Result<bool, ManagerError> {
        self.handle.boolean(Op::IsSet)
    }
}

/// Python's `manager.Semaphore(value)` or `manager.BoundedSemaphore(value)`. Its shapes are
/// the shared-memory `Semaphore`'s: [`acquire`](Self::acquire) returns a permit that
/// is given back on drop.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SemaphoreProxy {
    handle: Handle,
}

/// A permit of a manager's semaphore, given back when dropped (or [`leak`](Self::leak)ed, to
/// give back later with [`SemaphoreProxy::release`]).
#[derive(Debug)]
#[must_use = "the permit is given back when it is dropped"]
pub struct ProxyPermit<'a> {
    semaphore: &'a SemaphoreProxy,
}

impl ProxyPermit<'_> {
    /// Keeps the permit without the guard: give it back with [`SemaphoreProxy::release`].
    pub fn leak(self) {
        std::mem::forget(self);
    }
}

impl Drop for ProxyPermit<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.semaphore.release() {
            tracing::warn!(target: "procvisor::manager", %e, "could not give back a manager semaphore's permit");
        }
    }
}

impl SemaphoreProxy {
    pub(crate) fn from_handle(handle: Handle) -> SemaphoreProxy {
        SemaphoreProxy { handle }
    }

    fn acquire_within(&self, timeout: Option<Duration>) -> Result<ProxyPermit<'_>, ManagerError> {
        let acquired = self.handle.boolean(Op::Acquire {
            owner: Owner::current(),
            timeout,
        })?;
        if acquired {
            Ok(ProxyPermit { semaphore: self })
        } else {
            Err(ManagerError::Timeout)
        }
    }

    /// `acquire()`: waits for a permit.
    ///
    /// # Errors
    ///
    /// When the manager cannot be reached.
    pub fn acquire(&self) -> Result<ProxyPermit<'_>, ManagerError> {
        self.acquire_within(None)
    }

    /// `acquire(timeout=...)`.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Timeout`]; when the manager cannot be reached.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<ProxyPermit<'_>, ManagerError> {
        self.acquire_within(Some(timeout))
    }

    /// `acquire(blocking=False)`.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Timeout`] when no permit is free; when the manager cannot be reached.
    pub fn try_acquire(&self) -> Result<ProxyPermit<'_>, ManagerError> {
        self.acquire_within(Some(Duration::ZERO))
    }

    /// `release()`: gives a permit (back). Past a bounded semaphore's start value, the
    /// manager's `ValueError`.
    ///
    /// # Errors
    ///
    /// As said; when the manager cannot be reached.
    pub fn release(&self) -> Result<(), ManagerError> {
        self.handle.done(Op::Release {
            owner: Owner::current(),
        })
    }

    /// The free permits now (Python's `get_value()`).
    ///
    /// # Errors
    ///
    /// When the manager cannot be reached.
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

    /// The condition's lock: acquire it around waits and notifies.
    pub fn lock(&self) -> &LockProxy {
        &self.lock
    }

    /// `acquire()`: takes the condition's lock (see [`LockProxy::acquire`]).
    ///
    /// # Errors
    ///
    /// When the manager cannot be reached.
    pub fn acquire(&self) -> Result<ProxyGuard<'_>, ManagerError> {
        self.lock.acquire()
    }

    fn wait_within(&self, timeout: Option<Duration>) -> Result<bool, ManagerError> {
        self.lock.handle.boolean(Op::Wait {
            owner: Owner::current(),
            timeout,
        })
    }

    /// `wait()`: gives the lock up, waits for a notify, takes the lock again.
    ///
    /// # Errors
    ///
    /// Without the lock held, the manager's `RuntimeError`; when the manager cannot be
    /// reached.
    pub fn wait(&self) -> Result<(), ManagerError> {
        self.wait_within(None).map(drop)
    }

    /// `wait(timeout)`: whether it was notified.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, ManagerError> {
        self.wait_within(Some(timeout))
    }

    /// `wait_for(predicate)`: waits until `predicate` holds (checked with the lock held).
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_for(&self, predicate: impl FnMut() -> bool) -> Result<(), ManagerError> {
        self.wait_for_within(predicate, None).map(drop)
    }

    /// `wait_for(predicate, timeout)`: the predicate's last value.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_for_timeout(
        &self,
        predicate: impl FnMut() -> bool,
        timeout: Duration,
    ) -> Result<bool, ManagerError> {
        self.wait_for_within(predicate, Some(timeout))
    }

    fn wait_for_within(
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
            self.wait_within(left)?;
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

    /// `wait()`: waits until the flag is set.
    ///
    /// # Errors
    ///
    /// When the manager cannot be reached.
    pub fn wait(&self) -> Result<(), ManagerError> {
        self.handle
            .boolean(Op::WaitFlag { timeout: None })
            .map(drop)
    }

    /// `wait(timeout)`: whether the flag is set.
    ///
    /// # Errors
    ///
    /// When the manager cannot be reached.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, ManagerError> {
        self.handle.boolean(Op::WaitFlag {
            timeout: Some(timeout),
        })
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

    /// `wait()`: this caller's arrival index (0 for the first). An abort or a reset is the
    /// manager's `BrokenBarrierError`, as in Python.
    ///
    /// # Errors
    ///
    /// As said; when the manager cannot be reached.
    pub fn wait(&self) -> Result<u64, ManagerError> {
        self.wait_within(None)
    }

    /// `wait(timeout)`: a timeout breaks the barrier (`BrokenBarrierError`), as in Python.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<u64, ManagerError> {
        self.wait_within(Some(timeout))
    }

    fn wait_within(&self, timeout: Option<Duration>) -> Result<u64, ManagerError> {
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
