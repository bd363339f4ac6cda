//! The leak suite: hundreds of start/stop cycles of each way to start something, and nothing
//! this process holds (descriptors, threads, children, zombies, `/dev/shm` and TMPDIR entries)
//! grows beyond a small constant. The `leak_scenarios` helper binary runs the cycles (the test
//! process itself never forks), in a TMPDIR of its own.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(150);
const CYCLES: &str = "300";

/// A fresh directory for the scenario's TMPDIR, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(kind: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("procvisor-leaks-{}-{kind}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        TempDir(dir)
    }

    fn entries(&self) -> Vec<String> {
        std::fs::read_dir(&self.0)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cycles_leak_nothing(kind: &str) {
    let tmp = TempDir::new(kind);
    let mut command = Command::new(env!("CARGO_BIN_EXE_leak_scenarios"));
    command.args([kind, CYCLES]).env("TMPDIR", &tmp.0);
    let what = format!("{CYCLES} cycles of {kind}");
    let finished = procvisor_suite::run(command, DEADLINE, &what);
    finished.assert_success(&what);
    assert!(
        finished.stdout.ends_with("PASS\n"),
        "{what}: {}",
        finished.stdout
    );
}

#[test]
fn processes_started_by_fork_leak_nothing() {
    cycles_leak_nothing("process_fork");
}

#[test]
fn processes_started_by_spawn_leak_nothing() {
    cycles_leak_nothing("process_spawn");
}

#[test]
fn processes_started_by_the_fork_server_leak_nothing() {
    cycles_leak_nothing("process_forkserver");
}

#[test]
fn pools_leak_nothing() {
    cycles_leak_nothing("pool");
}

#[test]
fn managers_leak_nothing() {
    cycles_leak_nothing("manager");
}

#[test]
fn actor_hosts_leak_nothing() {
    cycles_leak_nothing("actor_host");
}

#[test]
fn supervisors_with_children_in_their_own_processes_leak_nothing() {
    cycles_leak_nothing("supervisor");
}

#[test]
fn a_program_killed_outright_leaves_no_private_directory() {
    let tmp = TempDir::new("killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_leak_scenarios"))
        .arg("killed_with_a_manager")
        .env("TMPDIR", &tmp.0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    let reader = std::thread::spawn({
        let stdout = child.stdout.take().unwrap();
        move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            line
        }
    });
    let deadline = Instant::now() + DEADLINE;
    while !reader.is_finished() {
        assert!(Instant::now() < deadline, "the program never said READY");
        std::thread::sleep(Duration::from_millis(10));
    }
    ready.push_str(&reader.join().unwrap());
    assert!(ready.starts_with("READY"), "{ready}");
    assert!(
        !tmp.entries().is_empty(),
        "the manager's socket directory exists while it runs"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // The resource tracker outlives the program and removes what it left behind.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !tmp.entries().is_empty() {
        assert!(
            Instant::now() < deadline,
            "left behind after the program was killed: {:?}",
            tmp.entries()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
