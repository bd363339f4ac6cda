//! Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event and Barrier proxies. Their waits
//! happen in the manager, on the caller's own connection, so they hold up no other caller.

use super::handle::{Handle, reply, twins};
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
    owner: Owner,
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
        if let Err(e) = self.lock.handle.done(Op::Release { owner: self.owner }) {
            tracing::warn!(target: "procvisor::manager", %e, "could not release a manager lock");
        }
    }
}

impl LockProxy {
    pub(crate) fn from_handle(handle: Handle) -> LockProxy {
        LockProxy { handle }
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    fn acquire_within(&self, timeout: Option<Duration>) -> Result<ProxyGuard<'_>, ManagerError> {
        let owner = Owner::current();
        let acquired = self.handle.boolean(Op::Acquire { owner, timeout })?;
        self.guard(acquired, owner)
    }

    async fn acquire_within_async(
        &self,
        timeout: Option<Duration>,
    ) -> Result<ProxyGuard<'_>, ManagerError> {
        let owner = Owner::current();
        let answer = acquire_async(&self.handle, owner, timeout).await?;
        self.guard(reply::boolean(answer)?, owner)
    }

    fn guard(&self, acquired: bool, owner: Owner) -> Result<ProxyGuard<'_>, ManagerError> {
        if acquired {
            Ok(ProxyGuard { lock: self, owner })
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

    /// [`acquire`](Self::acquire), as a future: see [async twins](crate#async-twins). Dropped
    /// after the manager granted the lock, it releases it: a cancelled `acquire_async` leaves
    /// the lock free. Inside a tokio task, the task holds the lock (not the thread it ran on).
    pub async fn acquire_async(&self) -> Result<ProxyGuard<'_>, ManagerError> {
        self.acquire_within_async(None).await
    }

    /// [`acquire_timeout`](Self::acquire_timeout), as a future (see
    /// [`acquire_async`](Self::acquire_async)).
    pub async fn acquire_timeout_async(
        &self,
        timeout: Duration,
    ) -> Result<ProxyGuard<'_>, ManagerError> {
        self.acquire_within_async(Some(timeout)).await
    }

    /// [`try_acquire`](Self::try_acquire), as a future (see
    /// [`acquire_async`](Self::acquire_async)).
    pub async fn try_acquire_async(&self) -> Result<ProxyGuard<'_>, ManagerError> {
        self.acquire_within_async(Some(Duration::ZERO)).await
    }

    twins! {
        /// `release()`, for a guard that was [`leak`](ProxyGuard::leak)ed (a `Lock` may be
        /// released by any process, as in Python).
        ///
        /// # Errors
        ///
        /// The manager's `RuntimeError` when it is not held (an `RLock`: not by this thread).
        pub fn release / release_async(&self) -> () {
            send: Op::Release { owner: Owner::current() },
            read: reply::done,
        }

        /// `locked()`: whether someone holds it now.
        ///
        /// # Errors
        ///
        /// When the manager cannot be reached.
        pub fn locked / locked_async(&self) -> bool {
            send: Op::IsSet,
            read: reply::boolean,
        }
    }
}

/// Asks for a lock or a permit for `owner`; a grant nobody takes is given back.
fn acquire_async(
    handle: &Handle,
    owner: Owner,
    timeout: Option<Duration>,
) -> crate::offload::Offloaded<Response> {
    handle.call_async_or_give_back(Op::Acquire { owner, timeout }, move |handle, answer| {
        if matches!(answer, Response::Bool(true))
            && let Err(e) = handle.done(Op::Release { owner })
        {
            tracing::warn!(target: "procvisor::manager", %e, "could not give back what a cancelled acquire_async obtained");
        }
    })
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
    owner: Owner,
}

impl ProxyPermit<'_> {
    /// Keeps the permit without the guard: give it back with [`SemaphoreProxy::release`].
    pub fn leak(self) {
        std::mem::forget(self);
    }
}

impl Drop for ProxyPermit<'_> {
    fn drop(&mut self) {
        let release = Op::Release { owner: self.owner };
        if let Err(e) = self.semaphore.handle.done(release) {
            tracing::warn!(target: "procvisor::manager", %e, "could not give back a manager semaphore's permit");
        }
    }
}

impl SemaphoreProxy {
    pub(crate) fn from_handle(handle: Handle) -> SemaphoreProxy {
        SemaphoreProxy { handle }
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    fn acquire_within(&self, timeout: Option<Duration>) -> Result<ProxyPermit<'_>, ManagerError> {
        let owner = Owner::current();
        let acquired = self.handle.boolean(Op::Acquire { owner, timeout })?;
        self.permit(acquired, owner)
    }

    async fn acquire_within_async(
        &self,
        timeout: Option<Duration>,
    ) -> Result<ProxyPermit<'_>, ManagerError> {
        let owner = Owner::current();
        let answer = acquire_async(&self.handle, owner, timeout).await?;
        self.permit(reply::boolean(answer)?, owner)
    }

    fn permit(&self, acquired: bool, owner: Owner) -> Result<ProxyPermit<'_>, ManagerError> {
        if acquired {
            Ok(ProxyPermit {
                semaphore: self,
                owner,
            })
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

    /// [`acquire`](Self::acquire), as a future: see [async twins](crate#async-twins). Dropped
    /// after the manager granted a permit, it gives the permit back.
    pub async fn acquire_async(&self) -> Result<ProxyPermit<'_>, ManagerError> {
        self.acquire_within_async(None).await
    }

    /// [`acquire_timeout`](Self::acquire_timeout), as a future (see
    /// [`acquire_async`](Self::acquire_async)).
    pub async fn acquire_timeout_async(
        &self,
        timeout: Duration,
    ) -> Result<ProxyPermit<'_>, ManagerError> {
        self.acquire_within_async(Some(timeout)).await
    }

    /// [`try_acquire`](Self::try_acquire), as a future (see
    /// [`acquire_async`](Self::acquire_async)).
    pub async fn try_acquire_async(&self) -> Result<ProxyPermit<'_>, ManagerError> {
        self.acquire_within_async(Some(Duration::ZERO)).await
    }

    twins! {
        /// `release()`: gives a permit (back). Past a bounded semaphore's start value, the
        /// manager's `ValueError`.
        ///
        /// # Errors
        ///
        /// As said; when the manager cannot be reached.
        pub fn release / release_async(&self) -> () {
            send: Op::Release { owner: Owner::current() },
            read: reply::done,
        }

        /// The free permits now (Python's `get_value()`).
        ///
        /// # Errors
        ///
        /// When the manager cannot be reached.
        pub fn value / value_async(&self) -> u64 {
            send: Op::Load,
            read: |r| reply::int(r).map(|v| v as u64),
        }
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

    pub(crate) fn handle(&self) -> &Handle {
        &self.lock.handle
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

    /// [`acquire`](Self::acquire), as a future (see [`LockProxy::acquire_async`]).
    pub async fn acquire_async(&self) -> Result<ProxyGuard<'_>, ManagerError> {
        self.lock.acquire_async().await
    }

    fn wait_within(&self, timeout: Option<Duration>) -> Result<bool, ManagerError> {
        let owner = Owner::current();
        self.lock.handle.boolean(Op::Wait { owner, timeout })
    }

    async fn wait_within_async(&self, timeout: Option<Duration>) -> Result<bool, ManagerError> {
        let owner = Owner::current();
        // The wait takes the lock again before it answers; if nobody takes the answer, the
        // lock is let go, so a cancelled wait never leaves it held.
        let answer = self.lock.handle.call_async_or_give_back(
            Op::Wait { owner, timeout },
            move |handle, answer| {
                if matches!(answer, Response::Bool(_))
                    && let Err(e) = handle.done(Op::Release { owner })
                {
                    tracing::warn!(target: "procvisor::manager", %e, "could not let go of a condition's lock after a cancelled wait_async");
                }
            },
        );
        answer.await.and_then(reply::boolean)
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

    /// [`wait`](Self::wait), as a future: see [async twins](crate#async-twins). Cancelled
    /// (dropped before it is ready), it leaves the lock released, not held: the guard of the
    /// `acquire` before it then finds nothing to release.
    pub async fn wait_async(&self) -> Result<(), ManagerError> {
        self.wait_within_async(None).await.map(drop)
    }

    /// [`wait_timeout`](Self::wait_timeout), as a future (see [`wait_async`](Self::wait_async)).
    pub async fn wait_timeout_async(&self, timeout: Duration) -> Result<bool, ManagerError> {
        self.wait_within_async(Some(timeout)).await
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

    /// [`wait_for`](Self::wait_for), as a future (see [`wait_async`](Self::wait_async)).
    pub async fn wait_for_async(
        &self,
        predicate: impl FnMut() -> bool,
    ) -> Result<(), ManagerError> {
        self.wait_for_within_async(predicate, None).await.map(drop)
    }

    /// [`wait_for_timeout`](Self::wait_for_timeout), as a future (see
    /// [`wait_async`](Self::wait_async)).
    pub async fn wait_for_timeout_async(
        &self,
        predicate: impl FnMut() -> bool,
        timeout: Duration,
    ) -> Result<bool, ManagerError> {
        self.wait_for_within_async(predicate, Some(timeout)).await
    }

    fn wait_for_within(
        &self,
        mut predicate: impl FnMut() -> bool,
        timeout: Option<Duration>,
    ) -> Result<bool, ManagerError> {
        let deadline = Deadline::new(timeout);
        loop {
            if predicate() {
                return Ok(true);
            }
            match deadline.left() {
                Some(left) if left.is_zero() => return Ok(predicate()),
                left => self.wait_within(left)?,
            };
        }
    }

    async fn wait_for_within_async(
        &self,
        mut predicate: impl FnMut() -> bool,
        timeout: Option<Duration>,
    ) -> Result<bool, ManagerError> {
        let deadline = Deadline::new(timeout);
        loop {
            if predicate() {
                return Ok(true);
            }
            match deadline.left() {
                Some(left) if left.is_zero() => return Ok(predicate()),
                left => self.wait_within_async(left).await?,
            };
        }
    }

    /// `notify(n)`: without the lock held, the manager's `RuntimeError`.
    pub fn notify(&self, n: u64) -> Result<(), ManagerError> {
        self.lock.handle.call(notify(n)).and_then(reply::done)
    }

    /// [`notify`](Self::notify), as a future: see [async twins](crate#async-twins).
    pub async fn notify_async(&self, n: u64) -> Result<(), ManagerError> {
        let answer = self.lock.handle.call_async(notify(n)).await;
        answer.and_then(reply::done)
    }

    /// `notify_all()`.
    pub fn notify_all(&self) -> Result<(), ManagerError> {
        self.notify(u64::MAX)
    }

    /// [`notify_all`](Self::notify_all), as a future: see [async twins](crate#async-twins).
    pub async fn notify_all_async(&self) -> Result<(), ManagerError> {
        self.notify_async(u64::MAX).await
    }
}

fn notify(n: u64) -> Op {
    Op::Notify {
        owner: Owner::current(),
        n,
    }
}

/// When a `wait_for` with a timeout must stop.
struct Deadline(Option<std::time::Instant>);

impl Deadline {
    fn new(timeout: Option<Duration>) -> Deadline {
        Deadline(timeout.and_then(|t| std::time::Instant::now().checked_add(t)))
    }

    /// What is left of it; `None` for no deadline.
    fn left(&self) -> Option<Duration> {
        self.0
            .map(|d| d.saturating_duration_since(std::time::Instant::now()))
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

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    twins! {
        /// `is_set()`.
        pub fn is_set / is_set_async(&self) -> bool {
            send: Op::IsSet,
            read: reply::boolean,
        }

        /// `set()`: wakes every waiter.
        pub fn set / set_async(&self) -> () {
            send: Op::SetFlag,
            read: reply::done,
        }

        /// `clear()`.
        pub fn clear / clear_async(&self) -> () {
            send: Op::ClearFlag,
            read: reply::done,
        }

        /// `wait()`: waits until the flag is set.
        ///
        /// # Errors
        ///
        /// When the manager cannot be reached.
        pub fn wait / wait_async(&self) -> () {
            send: Op::WaitFlag { timeout: None },
            read: |r| reply::boolean(r).map(drop),
        }

        /// `wait(timeout)`: whether the flag is set.
        ///
        /// # Errors
        ///
        /// When the manager cannot be reached.
        pub fn wait_timeout / wait_timeout_async(&self, timeout: Duration) -> bool {
            send: Op::WaitFlag { timeout: Some(timeout) },
            read: reply::boolean,
        }
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

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    twins! {
        /// `wait()`: this caller's arrival index (0 for the first). An abort or a reset is the
        /// manager's `BrokenBarrierError`, as in Python.
        ///
        /// # Errors
        ///
        /// As said; when the manager cannot be reached.
        pub fn wait / wait_async(&self) -> u64 {
            send: Op::BarrierWait { timeout: None },
            read: |r| reply::int(r).map(|i| i as u64),
        }

        /// `wait(timeout)`: a timeout breaks the barrier (`BrokenBarrierError`), as in Python.
        ///
        /// # Errors
        ///
        /// As [`wait`](Self::wait).
        pub fn wait_timeout / wait_timeout_async(&self, timeout: Duration) -> u64 {
            send: Op::BarrierWait { timeout: Some(timeout) },
            read: |r| reply::int(r).map(|i| i as u64),
        }

        /// `abort()`.
        pub fn abort / abort_async(&self) -> () {
            send: Op::Abort,
            read: reply::done,
        }

        /// `reset()`.
        pub fn reset / reset_async(&self) -> () {
            send: Op::Reset,
            read: reply::done,
        }

        /// `parties`.
        pub fn parties / parties_async(&self) -> u64 {
            send: Op::BarrierState,
            read: |r| barrier_state(r).map(|s| s.0),
        }

        /// `n_waiting`.
        pub fn n_waiting / n_waiting_async(&self) -> u64 {
            send: Op::BarrierState,
            read: |r| barrier_state(r).map(|s| s.1),
        }

        /// `broken`.
        pub fn broken / broken_async(&self) -> bool {
            send: Op::BarrierState,
            read: |r| barrier_state(r).map(|s| s.2),
        }
    }
}

/// A barrier's parties, waiting count and whether it is broken.
fn barrier_state(response: Response) -> Result<(u64, u64, bool), ManagerError> {
    match response {
        Response::Barrier {
            parties,
            waiting,
            broken,
        } => Ok((parties, waiting, broken)),
        other => Err(crate::client::unexpected(&other)),
    }
}
