//! A caller about to sleep for a result first looks for it a little while, yielding the CPU
//! between looks.
//!
//! Results of short tasks come back microseconds apart. A caller that sleeps on a condition
//! variable at each one must be woken with a system call by the router's thread, and on a busy
//! machine waits for a CPU after that: on a 2-CPU machine that doubled what an `imap` of tiny
//! tasks cost. Looking for up to [`POLL_FOR`] first catches the result that is already on its
//! way; a result that takes longer costs that much CPU once, then the caller sleeps as before.
//! An actor call's caller does the same, for the same reason.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a caller looks before it sleeps.
const POLL_FOR: Duration = Duration::from_micros(50);

/// Locks `mutex`; until `ready` holds of what it guards or [`POLL_FOR`] has passed (or
/// `deadline`, if sooner), unlocks it and yields the CPU between looks. Returns the guard of the
/// last look, whether or not `ready` holds.
pub(crate) fn poll_briefly<'m, T>(
    mutex: &'m Mutex<T>,
    deadline: Option<Instant>,
    ready: impl Fn(&T) -> bool,
) -> MutexGuard<'m, T> {
    let lock = || mutex.lock().unwrap_or_else(|p| p.into_inner());
    let mut guard = lock();
    if ready(&guard) {
        return guard;
    }
    let mut until = Instant::now() + POLL_FOR;
    if let Some(deadline) = deadline {
        until = until.min(deadline);
    }
    while !ready(&guard) && Instant::now() < until {
        drop(guard);
        std::thread::yield_now();
        guard = lock();
    }
    guard
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn it_returns_as_soon_as_another_thread_makes_it_ready() {
        let flag = Arc::new(Mutex::new(false));
        let setter = {
            let flag = flag.clone();
            std::thread::spawn(move || *flag.lock().unwrap() = true)
        };
        setter.join().unwrap();
        assert!(*poll_briefly(&flag, None, |set| *set));
    }

    #[test]
    fn it_gives_up_after_a_while_and_never_past_the_deadline() {
        let flag = Mutex::new(false);
        let start = Instant::now();
        assert!(!*poll_briefly(&flag, None, |set| *set));
        assert!(start.elapsed() >= POLL_FOR);
        let deadline = Instant::now();
        assert!(!*poll_briefly(&flag, Some(deadline), |set| *set));
    }
}
