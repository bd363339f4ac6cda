//! What the manager tests share: a deadline that names the step that hung.

use std::sync::mpsc;
use std::time::Duration;

#[allow(unreachable_pub)]
pub const LIMIT: Duration = Duration::from_secs(60);

/// Runs `f` on a thread and fails the test, naming `step`, if it takes longer than `limit`.
#[allow(unreachable_pub)]
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
            Ok(()) => unreachable!(),
        },
    }
}
