//! [`Lock`] and [`RLock`]: mutual exclusion between processes (and threads).

use crate::error::{AcquireError, ReleaseError};
use crate::futex::{self, AtomicU32, Ordering};
use crate::raw_lock::{Acquired, RawLock, my_pid};
use crate::shared::{Kind, Shared, shared_serde};
use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct LockState {
    pub(crate) raw: RawLock,
}

/// A lock shared between processes: Python's `multiprocessing.Lock`.
///
/// ```
/// use procvisor_sync::Lock;
///
/// let lock = Lock::new()?;
/// {
///     let _guard = lock.acquire()?;
///     assert!(lock.locked());
/// }
/// assert!(!lock.locked());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Clones (and copies received by other processes) are the same lock. It is not re-entrant:
/// acquiring it twice from the same thread blocks (use [`RLock`]). Like Python's, it belongs to
/// no thread: a guard may be sent to another thread and dropped there, and [`release`](Self::release)
/// releases it from anywhere.
///
/// # A holder that dies
///
/// If the process holding the lock dies (killed, aborted) inside its locked section, the next
/// acquirer gets the lock (within tens of milliseconds) instead of waiting forever, and its
/// guard's [`previous_owner_died`](LockGuard::previous_owner_died) is `true`. See the book's
/// "Guarantees" section for what this covers.
#[derive(Clone)]
pub struct Lock {
    shared: Shared<LockState>,
}

shared_serde!(Lock, Kind::Lock, shared);

/// Holds a [`Lock`]; releases it on drop.
#[must_use = "if unused the Lock will immediately unlock"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
    owner_died: bool,
}

/// Turns an acquisition into a guard (told whether the previous owner died) or an error.
pub(crate) fn outcome<G>(
    acquired: Option<Acquired>,
    guard: impl FnOnce(bool) -> G,
    blocking: bool,
) -> Result<G, AcquireError> {
    match acquired {
        Some(Acquired::Cleanly) => Ok(guard(false)),
        Some(Acquired::FromDeadOwner) => {
            report_recovery();
            Ok(guard(true))
        }
        None if blocking => Err(AcquireError::Timeout),
        None => Err(AcquireError::WouldBlock),
    }
}

/// Logs the takeover of a dead holder's lock, for acquisitions without a guard to tell.
pub(crate) fn note_recovery(acquired: Option<Acquired>) {
    if acquired == Some(Acquired::FromDeadOwner) {
        report_recovery();
    }
}

/// A recovered lock is worth a line in any log.
fn report_recovery() {
    tracing::warn!(
        target: "procvisor::sync",
        "a lock was taken over from a process that died while holding it; the state it protects may be inconsistent"
    );
}

impl Lock {
    /// A new, unlocked lock.
    ///
    /// # Errors
    ///
    /// When the shared memory for it cannot be created.
    pub fn new() -> std::io::Result<Lock> {
        Ok(Lock {
            shared: Shared::create(Kind::Lock, 0, 0)?,
        })
    }

    pub(crate) fn from_shared(shared: Shared<LockState>) -> Lock {
        Lock { shared }
    }

    pub(crate) fn raw(&self) -> &RawLock {
        &self.shared.state().raw
    }

    /// Waits as long as it takes.
    ///
    /// # Errors
    ///
    /// None in practice (it waits as long as it takes); a holder that died is handled, see
    /// [`LockGuard::previous_owner_died`].
    pub fn acquire(&self) -> Result<LockGuard<'_>, AcquireError> {
        outcome(
            self.raw().lock(my_pid(), None),
            |died| LockGuard {
                lock: self,
                owner_died: died,
            },
            true,
        )
    }

    /// Waits at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`AcquireError::Timeout`].
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<LockGuard<'_>, AcquireError> {
        outcome(
            self.raw().lock(my_pid(), futex::deadline(Some(timeout))),
            |died| LockGuard {
                lock: self,
                owner_died: died,
            },
            true,
        )
    }

    /// Does not wait.
    ///
    /// If the holder died, the lock is taken over at once, as a waiting acquisition would, and
    /// the guard's [`previous_owner_died`](LockGuard::previous_owner_died) is `true`. Telling
    /// a dead holder from a live one in another process costs a `kill(pid, 0)` and a read of
    /// its `/proc` status.
    ///
    /// # Errors
    ///
    /// [`AcquireError::WouldBlock`] when a live process holds it.
    pub fn try_acquire(&self) -> Result<LockGuard<'_>, AcquireError> {
        outcome(
            self.raw().try_lock_or_take_over(my_pid()),
            |died| LockGuard {
                lock: self,
                owner_died: died,
            },
            false,
        )
    }

    /// Async twin of [`acquire`](Self::acquire). It works on any executor: the waiting happens
    /// on tokio's blocking pool inside a tokio runtime, and on a helper thread elsewhere.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future never leaves the lock held.
    ///
    /// # Errors
    ///
    /// As [`acquire`](Self::acquire).
    pub async fn acquire_async(&self) -> Result<LockGuard<'_>, AcquireError> {
        self.acquire_async_for(None).await
    }

    /// Async twin of [`acquire_timeout`](Self::acquire_timeout).
    ///
    /// # Cancel safety
    ///
    /// As [`acquire_async`](Self::acquire_async).
    ///
    /// # Errors
    ///
    /// As [`acquire_timeout`](Self::acquire_timeout).
    pub async fn acquire_timeout_async(
        &self,
        timeout: Duration,
    ) -> Result<LockGuard<'_>, AcquireError> {
        self.acquire_async_for(Some(timeout)).await
    }

    async fn acquire_async_for(
        &self,
        timeout: Option<Duration>,
    ) -> Result<LockGuard<'_>, AcquireError> {
        if let Some(acquired) = self.raw().try_lock_or_take_over(my_pid()) {
            return outcome(
                Some(acquired),
                |died| LockGuard {
                    lock: self,
                    owner_died: died,
                },
                true,
            );
        }
        let deadline = futex::deadline(timeout);
        let (attempt_lock, release_lock) = (self.clone(), self.clone());
        let acquired = crate::blocking::wait_on_pool(
            move |slice| {
                attempt_lock
                    .raw()
                    .lock(my_pid(), Some(Instant::now() + slice))
            },
            move |_| {
                release_lock.raw().unlock();
            },
            deadline,
        )
        .await;
        outcome(
            acquired,
            |died| LockGuard {
                lock: self,
                owner_died: died,
            },
            true,
        )
    }

    /// Whether some process holds it now (Python 3.14's `locked()`).
    pub fn locked(&self) -> bool {
        self.raw().owner().is_some()
    }

    /// The pid of the process holding it.
    pub fn owner(&self) -> Option<u32> {
        self.raw().owner()
    }

    /// Releases it, whoever holds it: Python's manual `release()`, for a lock acquired through
    /// [`LockGuard::leak`].
    ///
    /// # Errors
    ///
    /// [`ReleaseError::NotHeld`] when it was not held.
    pub fn release(&self) -> Result<(), ReleaseError> {
        if self.raw().unlock() {
            Ok(())
        } else {
            Err(ReleaseError::NotHeld)
        }
    }

    /// Whether `other` is the same lock (in this or another process).
    pub fn same_as(&self, other: &Lock) -> bool {
        self.shared.same_as(&other.shared)
    }
}

impl LockGuard<'_> {
    /// Whether the process that held the lock before died holding it, so whatever it protects
    /// may be half-updated. Check it where a crash mid-update matters.
    pub fn previous_owner_died(&self) -> bool {
        self.owner_died
    }

    /// Keeps the lock held without the guard (to release it later with [`Lock::release`], as
    /// Python code does).
    pub fn leak(self) {
        std::mem::forget(self);
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.lock.raw().unlock();
    }
}

impl fmt::Debug for Lock {
    /// Python's repr: `<Lock(owner=None)>`, `<Lock(owner=SomeOtherProcess)>`, or the pid.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.owner() {
            None => f.write_str("<Lock(owner=None)>"),
            Some(pid) if pid == my_pid() => write!(f, "<Lock(owner=pid {pid}, this process)>"),
            Some(pid) => write!(f, "<Lock(owner=pid {pid})>"),
        }
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard").finish_non_exhaustive()
    }
}

#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct RLockState {
    pub(crate) raw: RawLock,
    owner_tid: AtomicU32,
    count: AtomicU32,
}

/// This thread's id, as re-entrant locks record their owner.
pub(crate) fn my_tid() -> u32 {
    thread_local! {
        static TID: u32 = {
            // SAFETY: gettid has no preconditions.
            (unsafe { libc::gettid() }) as u32
        };
    }
    TID.with(|t| *t)
}

impl RLockState {
    fn held_by_me(&self) -> bool {
        self.raw.owner() == Some(my_pid()) && self.owner_tid.load(Ordering::Relaxed) == my_tid()
    }

    /// One more level for the owner, or the first for a new owner.
    pub(crate) fn enter(&self, deadline: Option<Instant>, blocking: bool) -> Option<Acquired> {
        if self.held_by_me() {
            // Only the owner changes the count while it holds the lock: no read-modify-write
            // (a locked instruction on a line the other process keeps reading) is needed.
            let depth = self.count.load(Ordering::Relaxed);
            self.count.store(depth + 1, Ordering::Relaxed);
            return Some(Acquired::Cleanly);
        }
        let acquired = if blocking {
            self.raw.lock(my_pid(), deadline)
        } else {
            self.raw.try_lock_or_take_over(my_pid())
        };
        if acquired.is_some() {
            self.owner_tid.store(my_tid(), Ordering::Relaxed);
            self.count.store(1, Ordering::Relaxed);
        }
        acquired
    }

    /// One level less; releases the lock at the last.
    pub(crate) fn exit(&self) -> Result<(), ReleaseError> {
        if !self.held_by_me() {
            return Err(if self.raw.owner().is_none() {
                ReleaseError::NotHeld
            } else {
                ReleaseError::NotOwner
            });
        }
        let depth = self.count.load(Ordering::Relaxed);
        if depth <= 1 {
            self.count.store(0, Ordering::Relaxed);
            self.owner_tid.store(0, Ordering::Relaxed);
            self.raw.unlock();
        } else {
            self.count.store(depth - 1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Releases every level at once (a condition wait), returning how many there were.
    pub(crate) fn exit_fully(&self) -> u32 {
        let count = self.count.swap(0, Ordering::Relaxed);
        self.owner_tid.store(0, Ordering::Relaxed);
        self.raw.unlock();
        count
    }

    /// Re-takes the lock after a condition wait, restoring the levels.
    pub(crate) fn reenter(&self, count: u32) -> Acquired {
        let acquired = self.raw.lock(my_pid(), None).expect("no deadline");
        self.owner_tid.store(my_tid(), Ordering::Relaxed);
        self.count.store(count.max(1), Ordering::Relaxed);
        acquired
    }

    pub(crate) fn level(&self) -> u32 {
        self.count.load(Ordering::Relaxed)
    }
}

/// A re-entrant lock shared between processes: Python's `multiprocessing.RLock`.
///
/// The thread that holds it may acquire it again; it is released when every acquisition has
/// been released. Only the holding thread may release it ([`ReleaseError::NotOwner`]
/// otherwise), so its guard cannot move to another thread. A holder that dies is handled as for
/// [`Lock`].
///
/// ```
/// use procvisor_sync::RLock;
///
/// let lock = RLock::new()?;
/// let outer = lock.acquire()?;
/// let inner = lock.acquire()?;
/// assert_eq!(lock.level(), 2);
/// drop(inner);
/// drop(outer);
/// assert!(!lock.locked());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RLock {
    shared: Shared<RLockState>,
}

shared_serde!(RLock, Kind::RLock, shared);

/// Holds one level of an [`RLock`]; releases it on drop. Stays on the thread that acquired it.
#[must_use = "if unused the RLock will immediately unlock"]
pub struct RLockGuard<'a> {
    lock: &'a RLock,
    owner_died: bool,
    _not_send: PhantomData<*const ()>,
}

impl RLock {
    /// A new, unlocked re-entrant lock.
    ///
    /// # Errors
    ///
    /// When the shared memory for it cannot be created.
    pub fn new() -> std::io::Result<RLock> {
        Ok(RLock {
            shared: Shared::create(Kind::RLock, 0, 0)?,
        })
    }

    pub(crate) fn from_shared(shared: Shared<RLockState>) -> RLock {
        RLock { shared }
    }

    pub(crate) fn state(&self) -> &RLockState {
        self.shared.state()
    }

    fn guard(&self, owner_died: bool) -> RLockGuard<'_> {
        RLockGuard {
            lock: self,
            owner_died,
            _not_send: PhantomData,
        }
    }

    /// Waits as long as it takes.
    ///
    /// # Errors
    ///
    /// None in practice (it waits as long as it takes); a holder that died is handled, see
    /// [`RLockGuard::previous_owner_died`].
    pub fn acquire(&self) -> Result<RLockGuard<'_>, AcquireError> {
        outcome(
            self.state().enter(None, true),
            |died| self.guard(died),
            true,
        )
    }

    /// Waits at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`AcquireError::Timeout`].
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<RLockGuard<'_>, AcquireError> {
        outcome(
            self.state().enter(futex::deadline(Some(timeout)), true),
            |died| self.guard(died),
            true,
        )
    }

    /// Does not wait. A lock whose holder died is taken over at once, as for
    /// [`Lock::try_acquire`].
    ///
    /// # Errors
    ///
    /// [`AcquireError::WouldBlock`] when another thread or a live process holds it.
    pub fn try_acquire(&self) -> Result<RLockGuard<'_>, AcquireError> {
        outcome(
            self.state().enter(None, false),
            |died| self.guard(died),
            false,
        )
    }

    /// Whether some thread of some process holds it.
    pub fn locked(&self) -> bool {
        self.state().raw.owner().is_some()
    }

    /// How many times the holder has acquired it (0 when free).
    pub fn level(&self) -> u32 {
        if self.locked() {
            self.state().level()
        } else {
            0
        }
    }

    /// The pid of the process holding it.
    pub fn owner(&self) -> Option<u32> {
        self.state().raw.owner()
    }

    /// Releases one level: Python's manual `release()`, for levels acquired through
    /// [`RLockGuard::leak`].
    ///
    /// # Errors
    ///
    /// [`ReleaseError::NotOwner`] when this thread does not hold it, [`ReleaseError::NotHeld`]
    /// when nobody does.
    pub fn release(&self) -> Result<(), ReleaseError> {
        self.state().exit()
    }
}

impl RLock {
    /// Whether `other` is the same lock (in this or another process).
    ///
    /// ```
    /// let lock = procvisor_sync::RLock::new()?;
    /// assert!(lock.same_as(&lock.clone()));
    /// assert!(!lock.same_as(&procvisor_sync::RLock::new()?));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn same_as(&self, other: &RLock) -> bool {
        self.shared.same_as(&other.shared)
    }
}

impl RLockGuard<'_> {
    /// Whether the process that held the lock before died holding it.
    pub fn previous_owner_died(&self) -> bool {
        self.owner_died
    }

    /// Keeps this level held without the guard (release it with [`RLock::release`]).
    pub fn leak(self) {
        std::mem::forget(self);
    }
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.lock.state().exit();
    }
}

impl fmt::Debug for RLock {
    /// Python's repr: `<RLock(None, 0)>` when free, else the owner and the level.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.owner() {
            None => f.write_str("<RLock(None, 0)>"),
            Some(pid) => write!(f, "<RLock(pid {pid}, {})>", self.state().level()),
        }
    }
}

impl fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLockGuard").finish_non_exhaustive()
    }
}

#[cfg(all(test, not(procvisor_loom)))]
mod tests {
    use super::*;
    use crate::raw_lock::DEAD_PID;

    #[test]
    fn try_acquire_takes_over_a_lock_whose_holder_died() {
        let lock = Lock::new().unwrap();
        let held = lock.acquire().unwrap();
        assert_eq!(
            lock.try_acquire().unwrap_err(),
            AcquireError::WouldBlock,
            "held by a live process"
        );
        held.leak();
        lock.raw().force_owner(DEAD_PID);
        let guard = lock.try_acquire().expect("taken over at once");
        assert!(guard.previous_owner_died());
        assert_eq!(lock.owner(), Some(my_pid()));
        drop(guard);
        assert!(!lock.try_acquire().unwrap().previous_owner_died());
    }

    #[test]
    fn rlock_try_acquire_takes_over_a_lock_whose_holder_died() {
        let lock = RLock::new().unwrap();
        lock.acquire().unwrap().leak();
        lock.state().raw.force_owner(DEAD_PID);
        let guard = lock.try_acquire().expect("taken over at once");
        assert!(guard.previous_owner_died());
        assert_eq!(lock.level(), 1, "one level, whatever the dead holder had");
        drop(guard);
        assert!(!lock.locked());
    }
}
