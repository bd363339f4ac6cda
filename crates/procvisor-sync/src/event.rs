//! [`Event`]: a flag processes can wait for.

use crate::futex::{self, AtomicU32, Ordering, Wake};
use crate::shared::{Kind, Shared, shared_serde};
use std::fmt;
use std::time::{Duration, Instant};

#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct EventState {
    flag: AtomicU32,
}

/// A flag shared between processes: Python's `multiprocessing.Event`.
///
/// ```
/// use procvisor_sync::Event;
/// use std::time::Duration;
///
/// let event = Event::new()?;
/// assert!(!event.wait_timeout(Duration::ZERO));
/// event.set();
/// event.wait(); // returns at once: the flag is set
/// assert!(event.is_set());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Event {
    shared: Shared<EventState>,
}

shared_serde!(Event, Kind::Event, shared);

impl Event {
    /// A new, clear event.
    ///
    /// # Errors
    ///
    /// When the shared memory for it cannot be created.
    pub fn new() -> std::io::Result<Event> {
        Ok(Event {
            shared: Shared::create(Kind::Event, 0, 0)?,
        })
    }

    fn from_shared(shared: Shared<EventState>) -> Event {
        Event { shared }
    }

    fn flag(&self) -> &AtomicU32 {
        &self.shared.state().flag
    }

    /// Whether it is set.
    pub fn is_set(&self) -> bool {
        self.flag().load(Ordering::Acquire) == 1
    }

    /// Sets it and wakes every waiter.
    pub fn set(&self) {
        if self.flag().swap(1, Ordering::Release) == 0 {
            futex::wake(self.flag(), u32::MAX);
        }
    }

    /// Clears it.
    pub fn clear(&self) {
        self.flag().store(0, Ordering::Release);
    }

    /// Waits until it is set.
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Waits until it is set or `timeout` passes; returns the flag, as Python's `wait(timeout)`
    /// does.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(futex::deadline(Some(timeout)))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        while !self.is_set() {
            let left = futex::remaining(deadline);
            if left.is_some_and(|l| l.is_zero())
                || futex::wait(self.flag(), 0, left) == Wake::TimedOut
            {
                return self.is_set();
            }
        }
        true
    }

    /// Async twin of [`wait`](Self::wait). Cancel safe. It works on any executor: the waiting
    /// happens on tokio's blocking pool inside a tokio runtime, and on a helper thread
    /// elsewhere.
    pub async fn wait_async(&self) {
        self.wait_async_for(None).await;
    }

    /// Async twin of [`wait_timeout`](Self::wait_timeout). Cancel safe.
    pub async fn wait_timeout_async(&self, timeout: Duration) -> bool {
        self.wait_async_for(Some(timeout)).await
    }

    async fn wait_async_for(&self, timeout: Option<Duration>) -> bool {
        if self.is_set() {
            return true;
        }
        let event = self.clone();
        let waited = crate::blocking::wait_on_pool(
            move |slice| event.wait_until(Some(Instant::now() + slice)).then_some(()),
            |()| {},
            futex::deadline(timeout),
        )
        .await;
        waited.is_some() || self.is_set()
    }
}

impl fmt::Debug for Event {
    /// Python's repr: `<Event set>` / `<Event unset>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Event {}>", if self.is_set() { "set" } else { "unset" })
    }
}
