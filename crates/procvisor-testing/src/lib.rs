//! Test support shared by procvisor's crates (a dev-dependency only): every multi-process test
//! runs under a deadline, and a test that hangs fails naming the step that hung.
//!
//! ```
//! use std::time::Duration;
//!
//! let answer = procvisor_testing::within(Duration::from_secs(5), "adding", || 40 + 2);
//! assert_eq!(answer, 42);
//! ```

use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Runs `f` on a thread and fails the test, naming `step`, if it takes longer than `limit`. A
/// panic in `f` is the test's panic, with its own message.
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
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the body sent nothing and did not panic"),
        },
    }
}

/// Waits until `condition` holds, failing the test with `what` after `limit`.
pub fn wait_until(limit: Duration, what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}
pub mod netns;
