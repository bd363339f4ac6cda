//! [`Semaphore`] and [`BoundedSemaphore`]: counted permits shared between processes.

use crate::error::{AcquireError, ReleaseError};
use crate::futex::{self, AtomicU32, Ordering, Wake};
use crate::shared::{Kind, Shared};
use std::fmt;
use std::time::{Duration, Instant};

/// No bound: a plain semaphore.
const UNBOUNDED: u32 = u32::MAX;

#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct SemaphoreState {
    value: AtomicU32,
    sleepers: AtomicU32,
    bound: AtomicU32,
}

impl SemaphoreState {
    fn try_take(&self) -> bool {
        let mut value = self.value.load(Ordering::Relaxed);
        while value > 0 {
            match self.value.compare_exchange_weak(
                value,
                value - 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => value = now,
            }
        }
        false
    }

    fn take(&self, deadline: Option<Instant>) -> bool {
        loop {
            if self.try_take() {
                return true;
            }
            let left = futex::remaining(deadline);
            if left.is_some_and(|l| l.is_zero()) {
                return false;
            }
            // Announce the sleep before checking the value in the kernel; `give` increments
            // the value before it looks for sleepers (both sequentially consistent), so one of
            // the two always sees the other.
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            let woke = futex::wait(&self.value, 0, left);
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
            if woke == Wake::TimedOut {
                return self.try_take();
            }
        }
    }

    fn give(&self) -> Result<(), ReleaseError> {
        let bound = self.bound.load(Ordering::Relaxed);
        let mut value = self.value.load(Ordering::Relaxed);
        loop {
            if value >= bound {
                return Err(ReleaseError::AboveBound);
            }
            match self.value.compare_exchange_weak(
                value,
                value + 1,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => value = now,
            }
        }
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            futex::wake(&self.value, 1);
        }
        Ok(())
    }
}

/// Holds one permit of a semaphore; gives it back on drop.
#[must_use = "if unused the permit is released at once"]
pub struct Permit<'a> {
    state: &'a SemaphoreState,
}

impl Permit<'_> {
    /// Keeps the permit taken without the guard (give it back with `release`).
    pub fn leak(self) {
        std::mem::forget(self);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let _ = self.state.give();
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

macro_rules! semaphore_api {
    () => {
        /// Takes a permit, waiting as long as it takes.
        pub fn acquire(&self) -> Permit<'_> {
            let state = self.shared.state();
            state.take(None);
            Permit { state }
        }

        /// Takes a permit, waiting at most `timeout`.
        ///
        /// # Errors
        ///
        /// [`AcquireError::Timeout`].
        pub fn acquire_timeout(&self, timeout: Duration) -> Result<Permit<'_>, AcquireError> {
            let state = self.shared.state();
            if state.take(futex::deadline(Some(timeout))) {
                Ok(Permit { state })
            } else {
                Err(AcquireError::Timeout)
            }
        }

        /// Takes a permit if one is free.
        ///
        /// # Errors
        ///
        /// [`AcquireError::WouldBlock`].
        pub fn try_acquire(&self) -> Result<Permit<'_>, AcquireError> {
            let state = self.shared.state();
            if state.try_take() {
                Ok(Permit { state })
            } else {
                Err(AcquireError::WouldBlock)
            }
        }

        /// Async twin of [`acquire`](Self::acquire). It works on any executor: the waiting
        /// happens on tokio's blocking pool inside a tokio runtime, and on a helper thread
        /// elsewhere.
        ///
        /// # Cancel safety
        ///
        /// Cancel safe: a permit taken for a dropped future is given back.
        pub async fn acquire_async(&self) -> Permit<'_> {
            match self.acquire_async_for(None).await {
                Ok(permit) => permit,
                Err(_) => unreachable!("a wait without a deadline ends with a permit"),
            }
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
        ) -> Result<Permit<'_>, AcquireError> {
            self.acquire_async_for(Some(timeout)).await
        }

        async fn acquire_async_for(
            &self,
            timeout: Option<Duration>,
        ) -> Result<Permit<'_>, AcquireError> {
            let state = self.shared.state();
            if state.try_take() {
                return Ok(Permit { state });
            }
            let (attempt, release) = (self.shared.clone(), self.shared.clone());
            let taken = crate::blocking::wait_on_pool(
                move |slice| {
                    attempt
                        .state()
                        .take(Some(Instant::now() + slice))
                        .then_some(())
                },
                move |()| {
                    let _ = release.state().give();
                },
                futex::deadline(timeout),
            )
            .await;
            match taken {
                Some(()) => Ok(Permit { state }),
                None => Err(AcquireError::Timeout),
            }
        }

        /// Python's `get_value()`: the free permits now.
        pub fn value(&self) -> u32 {
            self.shared.state().value.load(Ordering::Relaxed)
        }
    };
}

/// Counted permits shared between processes: Python's `multiprocessing.Semaphore`.
///
/// ```
/// use procvisor_sync::Semaphore;
///
/// let sem = Semaphore::new(2)?;
/// let a = sem.acquire();
/// let b = sem.acquire();
/// assert!(sem.try_acquire().is_err());
/// drop((a, b));
/// assert_eq!(sem.value(), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Like Python's, a release may raise the value above its initial value. Permits are not
/// robust: a process that dies holding one does not give it back (a semaphore does not know
/// which process took what).
#[derive(Clone)]
pub struct Semaphore {
    shared: Shared<SemaphoreState>,
}

impl Semaphore {
    /// A semaphore with `value` free permits.
    ///
    /// # Errors
    ///
    /// When the shared memory for it cannot be created.
    pub fn new(value: u32) -> std::io::Result<Semaphore> {
        let shared: Shared<SemaphoreState> = Shared::create(Kind::Semaphore, 0, 0)?;
        shared.state().value.store(value, Ordering::Relaxed);
        shared.state().bound.store(UNBOUNDED, Ordering::Relaxed);
        Ok(Semaphore { shared })
    }

    fn from_shared(shared: Shared<SemaphoreState>) -> Semaphore {
        Semaphore { shared }
    }

    semaphore_api!();

    /// Gives a permit back without a guard (Python's `release()`).
    pub fn release(&self) {
        let _ = self.shared.state().give();
    }
}

/// A semaphore whose value may not exceed its initial value: Python's
/// `multiprocessing.BoundedSemaphore`.
///
/// ```
/// use procvisor_sync::BoundedSemaphore;
///
/// let sem = BoundedSemaphore::new(1)?;
/// assert!(sem.release().is_err(), "releasing above the bound is an error");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct BoundedSemaphore {
    shared: Shared<SemaphoreState>,
}

impl BoundedSemaphore {
    /// A bounded semaphore with `value` free permits, and `value` as its bound.
    ///
    /// # Errors
    ///
    /// When the shared memory for it cannot be created.
    pub fn new(value: u32) -> std::io::Result<BoundedSemaphore> {
        let shared: Shared<SemaphoreState> = Shared::create(Kind::Semaphore, 0, 1)?;
        shared.state().value.store(value, Ordering::Relaxed);
        shared.state().bound.store(value, Ordering::Relaxed);
        Ok(BoundedSemaphore { shared })
    }

    fn from_shared(shared: Shared<SemaphoreState>) -> BoundedSemaphore {
        BoundedSemaphore { shared }
    }

    semaphore_api!();

    /// Gives a permit back without a guard (Python's `release()`).
    ///
    /// # Errors
    ///
    /// [`ReleaseError::AboveBound`] when that would exceed the initial value.
    pub fn release(&self) -> Result<(), ReleaseError> {
        self.shared.state().give()
    }

    /// The bound (the initial value).
    pub fn bound(&self) -> u32 {
        self.shared.state().bound.load(Ordering::Relaxed)
    }
}

macro_rules! semaphore_serde {
    ($ty:ident, $tag:expr) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.shared.serialize_as(serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Ok(Self::from_shared(Shared::deserialize_as(
                    deserializer,
                    Kind::Semaphore,
                    $tag,
                )?))
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "<{}(value={})>", stringify!($ty), self.value())
            }
        }
    };
}

semaphore_serde!(Semaphore, 0);
semaphore_serde!(BoundedSemaphore, 1);

#[cfg(all(test, procvisor_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// Permits are neither lost nor duplicated, and the bound holds, whatever the interleaving.
    #[test]
    fn permits_are_conserved_and_bounded() {
        loom::model(|| {
            let state = Arc::new(SemaphoreState::default());
            state.value.store(1, Ordering::SeqCst);
            state.bound.store(1, Ordering::SeqCst);
            let takers: Vec<_> = (0..2)
                .map(|_| {
                    let state = state.clone();
                    loom::thread::spawn(move || {
                        if state.try_take() {
                            state
                                .give()
                                .expect("giving back a taken permit stays within the bound");
                            1
                        } else {
                            0
                        }
                    })
                })
                .collect();
            let taken: u32 = takers.into_iter().map(|t| t.join().unwrap()).sum();
            assert!(taken >= 1, "the free permit was taken by someone");
            assert_eq!(state.value.load(Ordering::SeqCst), 1);
            assert_eq!(state.give(), Err(ReleaseError::AboveBound));
        });
    }
}
