//! [`SharedLock`]: the lock of a [`Value`](crate::Value) or an [`Array`](crate::Array), its own
//! or one the caller supplies (Python's `Value(typecode, v, lock=some_lock)`).

use crate::error::AcquireError;
use crate::lock::{Lock, LockGuard, RLock, RLockGuard};
use crate::raw_lock::{Acquired, my_pid};
use std::fmt;

/// The lock that guards a [`Value`](crate::Value) or an [`Array`](crate::Array): a
/// re-entrant [`RLock`] (its own, as in Python, or a shared one) or a plain [`Lock`].
///
/// Objects built on one lock (with `with_lock`) exclude each other: while one process holds
/// one of them, the others wait, in every process. With a plain [`Lock`], which is not
/// re-entrant, a thread that holds the lock must not call the object's own `get`, `set` or
/// `update` (they would wait for ever, as they do in Python): use the guard of `lock()`.
///
/// ```
/// use procvisor_sync::{RLock, SharedLock, Value};
///
/// let lock = RLock::new()?;
/// let a = Value::with_lock(1_i32, lock.clone())?;
/// let b = Value::with_lock(2_i32, lock.clone())?;
/// assert!(a.get_lock().same_as(b.get_lock()));
/// let _held = a.lock()?;
/// assert!(b.get_lock().locked(), "holding a holds b");
/// assert!(matches!(b.get_lock(), SharedLock::RLock(_)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub enum SharedLock {
    /// A plain lock.
    Lock(Lock),
    /// A re-entrant lock (what `Value::new` and `Array::new` create).
    RLock(RLock),
}

impl From<Lock> for SharedLock {
    fn from(lock: Lock) -> SharedLock {
        SharedLock::Lock(lock)
    }
}

impl From<RLock> for SharedLock {
    fn from(lock: RLock) -> SharedLock {
        SharedLock::RLock(lock)
    }
}

/// Holds a [`SharedLock`]; releases it on drop.
#[must_use = "if unused the lock will immediately unlock"]
#[derive(Debug)]
pub enum SharedLockGuard<'a> {
    /// A [`Lock`]'s guard.
    Lock(LockGuard<'a>),
    /// An [`RLock`]'s guard.
    RLock(RLockGuard<'a>),
}

impl SharedLockGuard<'_> {
    /// Whether the process that held the lock before died holding it.
    pub fn previous_owner_died(&self) -> bool {
        match self {
            SharedLockGuard::Lock(guard) => guard.previous_owner_died(),
            SharedLockGuard::RLock(guard) => guard.previous_owner_died(),
        }
    }
}

impl SharedLock {
    /// Waits for the lock as long as it takes (Python's `with v.get_lock():`).
    ///
    /// ```
    /// let v = procvisor_sync::Value::new(1_i32)?;
    /// let _held = v.get_lock().acquire()?;
    /// v.set(v.get() + 1); // an RLock: the value's own calls re-enter it
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// None in practice; a holder that died is handled, see the guard's
    /// `previous_owner_died`.
    pub fn acquire(&self) -> Result<SharedLockGuard<'_>, AcquireError> {
        Ok(match self {
            SharedLock::Lock(lock) => SharedLockGuard::Lock(lock.acquire()?),
            SharedLock::RLock(lock) => SharedLockGuard::RLock(lock.acquire()?),
        })
    }

    /// Whether some process holds it now.
    ///
    /// ```
    /// let v = procvisor_sync::Value::new(0_u8)?;
    /// assert!(!v.get_lock().locked());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn locked(&self) -> bool {
        match self {
            SharedLock::Lock(lock) => lock.locked(),
            SharedLock::RLock(lock) => lock.locked(),
        }
    }

    /// The pid of the process holding it.
    ///
    /// ```
    /// let v = procvisor_sync::Value::new(0_u8)?;
    /// let _held = v.lock()?;
    /// assert_eq!(v.get_lock().owner(), Some(std::process::id()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn owner(&self) -> Option<u32> {
        match self {
            SharedLock::Lock(lock) => lock.owner(),
            SharedLock::RLock(lock) => lock.owner(),
        }
    }

    /// Whether `other` is the same lock (in this or another process).
    ///
    /// ```
    /// let lock = procvisor_sync::Lock::new()?;
    /// let a = procvisor_sync::Value::with_lock(0_u8, lock.clone())?;
    /// let b = procvisor_sync::Array::with_lock(&[0_u8; 4], lock)?;
    /// assert!(a.get_lock().same_as(b.get_lock()));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn same_as(&self, other: &SharedLock) -> bool {
        match (self, other) {
            (SharedLock::Lock(a), SharedLock::Lock(b)) => a.same_as(b),
            (SharedLock::RLock(a), SharedLock::RLock(b)) => a.same_as(b),
            _ => false,
        }
    }

    /// The plain lock, if it is one.
    ///
    /// ```
    /// let v = procvisor_sync::Value::with_lock(0_u8, procvisor_sync::Lock::new()?)?;
    /// assert!(v.get_lock().as_lock().is_some());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn as_lock(&self) -> Option<&Lock> {
        match self {
            SharedLock::Lock(lock) => Some(lock),
            SharedLock::RLock(_) => None,
        }
    }

    /// The re-entrant lock, if it is one (always, for an object with a lock of its own).
    ///
    /// ```
    /// let v = procvisor_sync::Value::new(0_u8)?;
    /// assert_eq!(v.get_lock().as_rlock().map(|l| l.level()), Some(0));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn as_rlock(&self) -> Option<&RLock> {
        match self {
            SharedLock::RLock(lock) => Some(lock),
            SharedLock::Lock(_) => None,
        }
    }

    /// Takes the lock for one of the object's own operations.
    pub(crate) fn enter(&self) -> Option<Acquired> {
        match self {
            SharedLock::Lock(lock) => lock.raw().lock(my_pid(), None),
            SharedLock::RLock(lock) => lock.state().enter(None, true),
        }
    }

    /// Releases what [`enter`](Self::enter) took.
    pub(crate) fn exit(&self) {
        match self {
            SharedLock::Lock(lock) => {
                lock.raw().unlock();
            }
            SharedLock::RLock(lock) => {
                let _ = lock.state().exit();
            }
        }
    }
}

impl fmt::Debug for SharedLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SharedLock::Lock(lock) => lock.fmt(f),
            SharedLock::RLock(lock) => lock.fmt(f),
        }
    }
}

#[cfg(all(test, not(procvisor_loom)))]
mod tests {
    use crate::{AcquireError, Array, Lock, RawValue, Value};

    #[test]
    fn holding_one_object_holds_every_object_on_its_lock() {
        let lock = Lock::new().unwrap();
        let a = Value::with_lock(1_i32, lock.clone()).unwrap();
        let b = Array::with_lock(&[1_i32, 2], lock.clone()).unwrap();
        let guard = b.lock().unwrap();
        assert!(matches!(lock.try_acquire(), Err(AcquireError::WouldBlock)));
        assert_eq!(a.get_lock().owner(), Some(std::process::id()));
        guard.set(1, 5).unwrap();
        drop(guard);
        assert!(!a.get_lock().locked(), "the guard released the shared lock");
        a.set(3);
        assert_eq!((a.get(), b.to_vec()), (3, vec![1, 5]));
    }

    #[test]
    fn a_synchronized_value_locks_but_its_raw_handle_does_not() {
        let raw = RawValue::new(1_u16).unwrap();
        let value = Value::synchronized(raw.clone()).unwrap();
        let guard = value.lock().unwrap();
        raw.set(2); // a raw handle never waits
        assert_eq!(guard.get(), 2);
        drop(guard);
        assert_eq!(format!("{value:?}"), "<Synchronized wrapper for 2>");
    }
}
