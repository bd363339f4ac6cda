//! What happens to children when a process exits, as in Python: daemonic children are
//! terminated, the others are joined.

use crate::node::node;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long daemonic children get to end after SIGTERM before they are killed.
const DAEMON_GRACE: Duration = Duration::from_secs(1);

// Not a `Once`: a forked child could inherit it mid-initialisation and block forever.
static REGISTERED: AtomicBool = AtomicBool::new(false);

/// Runs [`shutdown_children`] when the process exits normally (returning from `main` or
/// `std::process::exit`).
pub(crate) fn register_exit_handler() {
    if !REGISTERED.swap(true, Ordering::AcqRel) {
        // SAFETY: `at_exit` is a plain extern "C" fn valid for the life of the process.
        unsafe { libc::atexit(at_exit) };
    }
}

extern "C" fn at_exit() {
    // A forked child exits with `_exit`, which skips this; the node is this process's own.
    let _ = std::panic::catch_unwind(shutdown_children);
}

/// Terminates daemonic children (SIGTERM, then SIGKILL after a grace period) and waits for
/// the others.
pub(crate) fn shutdown_children() {
    let node = node();
    let children = node.children.all();

    let daemons: Vec<_> = children.iter().filter(|c| c.terminate_at_exit).collect();
    for child in &daemons {
        if child.try_reap().is_none() {
            let _ = crate::sys::pidfd_send_signal(
                std::os::fd::AsFd::as_fd(&child.pidfd),
                libc::SIGTERM,
            );
        }
    }
    let deadline = Instant::now() + DAEMON_GRACE;
    for child in &daemons {
        if child.wait_exit(Some(deadline)).is_none() {
            let _ = crate::sys::pidfd_send_signal(
                std::os::fd::AsFd::as_fd(&child.pidfd),
                libc::SIGKILL,
            );
            child.wait_exit(Some(Instant::now() + DAEMON_GRACE));
        }
    }
    for child in children.iter().filter(|c| !c.terminate_at_exit) {
        child.wait_exit(None);
    }
}
