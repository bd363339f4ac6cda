//! Shared by the pool's integration tests: deadlines that name the step that hung.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Runs `f` on a thread and fails the test, naming `step`, if it takes longer than `limit`.
pub fn within<T: Send + 'static>(
    limit: Duration,
    step: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(value) => value,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("step `{step}` did not finish within {limit:?}")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The body panicked: show its message.
            match handle.join() {
                Err(panic) => std::panic::resume_unwind(panic),
                Ok(()) => unreachable!("the body sent nothing and did not panic"),
            }
        }
    }
}

/// The usual deadline of one test.
pub const LIMIT: Duration = Duration::from_secs(60);

/// Waits until `condition` holds, failing the test with `what` after `limit`.
pub fn wait_until(limit: Duration, what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}
