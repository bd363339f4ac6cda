//! How a call waits in the manager: on a condition variable, until its condition holds, its
//! deadline passes, or its client is gone (a client that died must not leave a thread waiting
//! for ever, nor be handed a lock it can no longer release). Checking on the client is also
//! when the waiting call tells it the manager is still there (see `Response::StillWaiting`), so
//! the check runs on time however often the wait is woken.

use std::sync::{Condvar, MutexGuard};
use std::time::{Duration, Instant};

/// How often a waiting call looks whether its client is still there.
const CHECK_CLIENT: Duration = Duration::from_millis(100);

/// A call's patience: its deadline, and how to tell its client has gone.
pub(crate) struct Patience<'a> {
    pub(crate) deadline: Option<Instant>,
    pub(crate) client_gone: &'a dyn Fn() -> bool,
}

impl Patience<'_> {
    pub(crate) fn new(timeout: Option<Duration>, client_gone: &dyn Fn() -> bool) -> Patience<'_> {
        Patience {
            deadline: timeout.and_then(|t| Instant::now().checked_add(t)),
            client_gone,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waited {
    Ready,
    TimedOut,
    ClientGone,
}

/// Waits on `cv` until `ready(state)` holds (checked first), as `patience` allows.
pub(crate) fn wait_for<'m, S>(
    cv: &Condvar,
    mut guard: MutexGuard<'m, S>,
    patience: &Patience<'_>,
    mut ready: impl FnMut(&mut S) -> bool,
) -> (MutexGuard<'m, S>, Waited) {
    let mut waited = false;
    let mut checked = Instant::now();
    loop {
        if ready(&mut guard) {
            // A client that went while it waited is not handed the lock, permit or item.
            if waited && (patience.client_gone)() {
                return (guard, Waited::ClientGone);
            }
            return (guard, Waited::Ready);
        }
        waited = true;
        let slice = match patience.deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return (guard, Waited::TimedOut);
                }
                left.min(CHECK_CLIENT)
            }
            None => CHECK_CLIENT,
        };
        let (next, _) = cv
            .wait_timeout(guard, slice)
            .unwrap_or_else(|p| p.into_inner());
        guard = next;
        if checked.elapsed() >= CHECK_CLIENT {
            checked = Instant::now();
            if (patience.client_gone)() {
                return (guard, Waited::ClientGone);
            }
        }
    }
}
