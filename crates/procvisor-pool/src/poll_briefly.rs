//! A caller about to sleep for a result first looks for it a little while, yielding the CPU
//! between looks.
//!
//! Results of short tasks come back microseconds apart. A caller that sleeps on a condition
//! variable at each one must be woken with a system call by the router's thread, and on a busy
//! machine waits for a CPU after that: on a 2-CPU machine that doubled what an `imap` of tiny
//! tasks cost. Looking for up to [`POLL_FOR`] first catches the result that is already on its
//! way; a result that takes longer costs that much CPU once, then the caller sleeps as before.
//! An actor call's caller does the same, for the same reason.

use std::time::{Duration, Instant};

/// How long a caller looks before it sleeps.
const POLL_FOR: Duration = Duration::from_micros(50);

/// Looks at `ready` until it holds or [`POLL_FOR`] has passed (or `deadline`, if sooner),
/// yielding the CPU between looks; returns whether it held. `ready` should read an atomic, not
/// take the lock the thread that makes it true needs.
pub(crate) fn poll_briefly(deadline: Option<Instant>, ready: impl Fn() -> bool) -> bool {
    if ready() {
        return true;
    }
    let mut until = Instant::now() + POLL_FOR;
    if let Some(deadline) = deadline {
        until = until.min(deadline);
    }
    while Instant::now() < until {
        std::thread::yield_now();
        if ready() {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn it_returns_as_soon_as_another_thread_makes_it_ready() {
        let flag = Arc::new(AtomicBool::new(false));
        let setter = {
            let flag = flag.clone();
            std::thread::spawn(move || flag.store(true, Ordering::Release))
        };
        setter.join().unwrap();
        assert!(poll_briefly(None, || flag.load(Ordering::Acquire)));
    }

    #[test]
    fn it_gives_up_after_a_while_and_never_past_the_deadline() {
        let start = Instant::now();
        assert!(!poll_briefly(None, || false));
        assert!(start.elapsed() >= POLL_FOR);
        let deadline = Instant::now();
        assert!(!poll_briefly(Some(deadline), || false));
        assert!(deadline.elapsed() < POLL_FOR, "it looked past its deadline");
    }
}
