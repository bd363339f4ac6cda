//! Support for procvisor's integration tests: running examples and helper binaries as child
//! processes under a hard deadline.
//!
//! A child announces its progress with lines `STEP <name>` on stderr; when it misses its
//! deadline it is killed and the test fails naming the last step it reached, so a hang is
//! reported as the step that hung, never as a stuck test run.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// What a finished child printed and how it ended.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

impl Finished {
    /// Panics, showing the output, unless the child exited with code 0.
    pub fn assert_success(&self, what: &str) -> &Self {
        assert!(
            self.status.success(),
            "{what} failed with {}\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Announces a step on stderr (for [`run`] to report if the process hangs after it).
pub fn step(name: &str) {
    eprintln!("STEP {name}");
}

fn last_step(stderr: &str) -> &str {
    stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("STEP "))
        .unwrap_or("(before the first step)")
}

/// Runs `command` to completion. Past `deadline` it is killed and the test fails, naming
/// `what` and the last step the child announced.
pub fn run(mut command: Command, deadline: Duration, what: &str) -> Finished {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let pid = child.id();
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    match rx.recv_timeout(deadline) {
        Ok(status) => Finished {
            status: status.expect("wait for the child"),
            stdout: out.join().expect("stdout reader"),
            stderr: err.join().expect("stderr reader"),
        },
        Err(_) => {
            // Kill the whole group the child may have started, then report.
            // SAFETY: kill with a pid we started; a stale pid at worst hits nothing.
            unsafe { libc_kill(pid as i32, 9) };
            let stderr = err.join().unwrap_or_default();
            panic!(
                "{what} did not finish within {deadline:?}; last step: {}\nstderr:\n{stderr}",
                last_step(&stderr)
            );
        }
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, signal: i32) -> i32;
}

/// The directory cargo puts this test run's binaries in (`target/<profile>`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test binary>
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// A command running the compiled example `name` (cargo builds examples for `cargo test`).
pub fn example(name: &str) -> Command {
    let path = target_dir().join("examples").join(name);
    assert!(
        path.exists(),
        "example binary {} is missing; build it with `cargo build --examples`",
        path.display()
    );
    Command::new(path)
}

/// Runs `scenarios NAME METHOD` (the helper binary of this package) under a deadline and
/// checks that it passed.
///
/// # Panics
///
/// When the scenario fails, hangs, or does not print `PASS` last.
pub fn scenario(binary: &str, name: &str, method: &str, deadline: Duration) -> Finished {
    let mut command = Command::new(binary);
    command.args([name, method]);
    let what = format!("scenario {name} ({method})");
    let finished = run(command, deadline, &what);
    finished.assert_success(&what);
    assert!(
        finished.stdout.ends_with("PASS\n"),
        "{what}: {}",
        finished.stdout
    );
    finished
}

/// Declares one test per start method for each named scenario of the `scenarios` binary (or
/// of the helper binary given first).
#[macro_export]
macro_rules! scenario_matrix {
    ($deadline:expr; $($name:ident),* $(,)?) => {
        $crate::scenario_matrix!(env!("CARGO_BIN_EXE_scenarios"), $deadline; $($name),*);
    };
    ($binary:expr, $deadline:expr; $($name:ident),* $(,)?) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn run(method: &str) {
                $crate::scenario($binary, stringify!($name), method, $deadline);
            }
            #[test]
            fn fork() {
                run("fork");
            }
            #[test]
            fn spawn() {
                run("spawn");
            }
            #[test]
            fn forkserver() {
                run("forkserver");
            }
        }
    )*};
}
