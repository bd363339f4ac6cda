//! Helpers shared by this crate's integration tests.

use std::process::{Child, Output};
use std::sync::mpsc;
use std::time::Duration;

/// Waits for `child` to exit and collects its output. Past `deadline` the child is killed and
/// the test fails naming `step`, so a hung child can never hang the suite.
pub(crate) fn wait_with_deadline(child: Child, deadline: Duration, step: &str) -> Output {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(deadline) {
        Ok(output) => output.expect("waiting for the child"),
        Err(_) => {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            panic!("step `{step}`: the child did not exit within {deadline:?}");
        }
    }
}
