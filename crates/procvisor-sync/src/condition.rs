//! [`Condition`]: waiting for a state change announced by another process.

use crate::error::AcquireError;
use crate::futex::{self, AtomicU32, Ordering, Wake};
use crate::lock::{RLock, RLockState};
use crate::shared::{Kind, Shared};
use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct ConditionState {
    /// Bumped by every notify; sleepers wait on it.
    sequence: AtomicU32,
    /// Waiters that have not been notified yet.
    waiters: AtomicU32,
    /// Notifications not yet claimed by a waiter.
    signals: AtomicU32,
}

/// A condition variable shared between processes: Python's `multiprocessing.Condition`.
///
/// Its lock is an [`RLock`] (Python's default), created with it or given to
/// [`with_lock`](Self::with_lock). Waiting and notifying need the lock held, which the API
/// enforces by taking the guard.
///
/// ```
/// use procvisor_sync::Condition;
/// use std::time::Duration;
///
/// let cond = Condition::new()?;
/// let mut guard = cond.acquire()?;
/// assert!(!cond.wait_timeout(&mut guard, Duration::from_millis(10)), "nobody notified");
/// cond.notify(&guard, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// `notify(n)` wakes at most `n` of the processes and threads waiting when it is called; a
/// waiter that times out does not use up a notification.
///
/// A process that dies inside [`wait`](Self::wait) stays counted as a waiter (waiters are
/// counted, not named, so nothing tells which one died). A notification later issued for it is
/// left over, and the next waiter to come takes it at once: its `wait` returns `true` without
/// a notify of its own, a spurious wakeup. Code that checks its predicate after waking, as
/// [`wait_for`](Self::wait_for) does, is not affected.
#[derive(Clone)]
pub struct Condition {
    lock: RLock,
    shared: Shared<ConditionState>,
}

/// Holds a [`Condition`]'s lock.
#[must_use = "if unused the Condition's lock will immediately unlock"]
pub struct ConditionGuard<'a> {
    condition: &'a Condition,
    owner_died: bool,
    _not_send: PhantomData<*const ()>,
}

impl ConditionGuard<'_> {
    /// Whether the process that held the lock before died holding it.
    pub fn previous_owner_died(&self) -> bool {
        self.owner_died
    }
}

impl Condition {
    /// A condition with a new re-entrant lock.
    ///
    /// # Errors
    ///
    /// When the shared memory for it cannot be created.
    pub fn new() -> std::io::Result<Condition> {
        Condition::with_lock(RLock::new()?)
    }

    /// A condition over an existing lock (which other conditions may share).
    ///
    /// # Errors
    ///
    /// When the shared memory for it cannot be created.
    pub fn with_lock(lock: RLock) -> std::io::Result<Condition> {
        Ok(Condition {
            lock,
            shared: Shared::create(Kind::Condition, 0, 0)?,
        })
    }

    /// The lock.
    pub fn lock(&self) -> &RLock {
        &self.lock
    }

    fn lock_state(&self) -> &RLockState {
        self.lock.state()
    }

    fn guard(&self, owner_died: bool) -> ConditionGuard<'_> {
        ConditionGuard {
            condition: self,
            owner_died,
            _not_send: PhantomData,
        }
    }

    /// Acquires the lock, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// None in practice; a holder that died is handled, see
    /// [`ConditionGuard::previous_owner_died`].
    pub fn acquire(&self) -> Result<ConditionGuard<'_>, AcquireError> {
        self.acquire_until(None)
    }

    /// Acquires the lock, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`AcquireError::Timeout`].
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<ConditionGuard<'_>, AcquireError> {
        self.acquire_until(futex::deadline(Some(timeout)))
    }

    fn acquire_until(&self, deadline: Option<Instant>) -> Result<ConditionGuard<'_>, AcquireError> {
        crate::lock::outcome(
            self.lock_state().enter(deadline, true),
            |died| self.guard(died),
            true,
        )
    }

    /// Releases the lock, waits until notified, and takes the lock back.
    pub fn wait(&self, guard: &mut ConditionGuard<'_>) {
        self.wait_for_deadline(guard, None);
    }

    /// [`wait`](Self::wait), at most `timeout`; whether it was notified (Python's return
    /// value).
    pub fn wait_timeout(&self, guard: &mut ConditionGuard<'_>, timeout: Duration) -> bool {
        self.wait_for_deadline(guard, Some(timeout))
    }

    fn wait_for_deadline(&self, guard: &mut ConditionGuard<'_>, timeout: Option<Duration>) -> bool {
        debug_assert!(
            std::ptr::eq(guard.condition, self),
            "a guard of another condition"
        );
        let state = self.shared.state();
        state.waiters.fetch_add(1, Ordering::SeqCst);
        let mut sequence = state.sequence.load(Ordering::SeqCst);
        let levels = self.lock_state().exit_fully();
        let deadline = futex::deadline(timeout);
        let notified = loop {
            if claim(&state.signals) {
                break true;
            }
            let left = futex::remaining(deadline);
            if left.is_some_and(|l| l.is_zero()) {
                break leave(state);
            }
            if futex::wait(&state.sequence, sequence, left) == Wake::TimedOut {
                break leave(state);
            }
            sequence = state.sequence.load(Ordering::SeqCst);
        };
        if self.lock_state().reenter(levels) == crate::raw_lock::Acquired::FromDeadOwner {
            // Another process died holding the lock while this one waited.
            crate::lock::note_recovery(Some(crate::raw_lock::Acquired::FromDeadOwner));
            guard.owner_died = true;
        }
        notified
    }

    /// Waits until `predicate` holds (checked with the lock held).
    pub fn wait_for(&self, guard: &mut ConditionGuard<'_>, predicate: impl FnMut() -> bool) {
        self.wait_for_until(guard, predicate, None);
    }

    /// [`wait_for`](Self::wait_for), at most `timeout`; the predicate's last value.
    pub fn wait_for_timeout(
        &self,
        guard: &mut ConditionGuard<'_>,
        predicate: impl FnMut() -> bool,
        timeout: Duration,
    ) -> bool {
        self.wait_for_until(guard, predicate, Some(timeout))
    }

    fn wait_for_until(
        &self,
        guard: &mut ConditionGuard<'_>,
        mut predicate: impl FnMut() -> bool,
        timeout: Option<Duration>,
    ) -> bool {
        let deadline = futex::deadline(timeout);
        loop {
            if predicate() {
                return true;
            }
            let left = futex::remaining(deadline);
            if left.is_some_and(|l| l.is_zero()) {
                return false;
            }
            self.wait_for_deadline(guard, left);
        }
    }

    /// Wakes up to `n` waiters.
    pub fn notify(&self, guard: &ConditionGuard<'_>, n: u32) {
        debug_assert!(
            std::ptr::eq(guard.condition, self),
            "a guard of another condition"
        );
        let state = self.shared.state();
        if state.issue(n) > 0 {
            state.sequence.fetch_add(1, Ordering::SeqCst);
            futex::wake(&state.sequence, u32::MAX);
        }
    }

    /// Wakes every waiter.
    pub fn notify_all(&self, guard: &ConditionGuard<'_>) {
        self.notify(guard, u32::MAX);
    }
}

impl ConditionState {
    /// Moves up to `n` waiters from "waiting" to "owed a notification"; returns how many.
    fn issue(&self, n: u32) -> u32 {
        let mut issued = 0;
        while issued < n {
            let waiting = self.waiters.load(Ordering::SeqCst);
            if waiting == 0 {
                break;
            }
            if self
                .waiters
                .compare_exchange(waiting, waiting - 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                self.signals.fetch_add(1, Ordering::SeqCst);
                issued += 1;
            }
        }
        issued
    }
}

/// A waiter giving up: it retracts itself from the un-notified count, unless a notify already
/// counted it, in which case it takes the notification it was owed (each waiter is always
/// either counted in `waiters` or owed one of `signals`, so one of the two succeeds).
fn leave(state: &ConditionState) -> bool {
    loop {
        if claim(&state.signals) {
            return true;
        }
        let waiting = state.waiters.load(Ordering::SeqCst);
        if waiting > 0
            && state
                .waiters
                .compare_exchange(waiting, waiting - 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            return false;
        }
        futex::spin_hint();
    }
}

/// Takes one pending notification.
fn claim(signals: &AtomicU32) -> bool {
    let mut pending = signals.load(Ordering::SeqCst);
    while pending > 0 {
        match signals.compare_exchange(pending, pending - 1, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return true,
            Err(now) => pending = now,
        }
    }
    false
}

impl Drop for ConditionGuard<'_> {
    fn drop(&mut self) {
        let _ = self.condition.lock_state().exit();
    }
}

impl fmt::Debug for ConditionGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConditionGuard").finish_non_exhaustive()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<Condition({:?}, waiters={})>",
            self.lock,
            self.shared.state().waiters.load(Ordering::Relaxed)
        )
    }
}

impl serde::Serialize for Condition {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        struct State<'a>(&'a Shared<ConditionState>);
        impl serde::Serialize for State<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.0.serialize_as(serializer)
            }
        }
        let mut tuple = serializer.serialize_tuple(2)?;
        tuple.serialize_element(&self.lock)?;
        tuple.serialize_element(&State(&self.shared))?;
        tuple.end()
    }
}

impl<'de> serde::Deserialize<'de> for Condition {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct State(Shared<ConditionState>);
        impl<'de> serde::Deserialize<'de> for State {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Ok(State(Shared::deserialize_as(
                    deserializer,
                    Kind::Condition,
                    0,
                )?))
            }
        }
        let (lock, State(shared)) = <(RLock, State)>::deserialize(deserializer)?;
        Ok(Condition { lock, shared })
    }
}

#[cfg(all(test, procvisor_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// Two waiters time out while a notify for one of them happens: as many end notified as
    /// notifications were issued (none if both gave up first), and nothing is left owed or
    /// counted.
    #[test]
    fn a_notification_is_delivered_exactly_once_even_when_waiters_give_up() {
        loom::model(|| {
            let state = Arc::new(ConditionState::default());
            state.waiters.store(2, Ordering::SeqCst);
            let waiters: Vec<_> = (0..2)
                .map(|_| {
                    let state = state.clone();
                    loom::thread::spawn(move || claim(&state.signals) || leave(&state))
                })
                .collect();
            let issued = state.issue(1);
            let notified: u32 = waiters
                .into_iter()
                .map(|w| u32::from(w.join().unwrap()))
                .sum();
            assert_eq!(notified, issued);

            assert_eq!(state.waiters.load(Ordering::SeqCst), 0);
            assert_eq!(state.signals.load(Ordering::SeqCst), 0);
        });
    }
}
