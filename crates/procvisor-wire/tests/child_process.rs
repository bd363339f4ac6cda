//! Descriptor hygiene and descriptor passing, checked against real child processes.
//!
//! Children are this test binary re-executed (`--ignored --exact child_entry`) with a role in
//! the environment, so every child goes through `exec` exactly like a spawned process would,
//! and libtest itself never forks.

use procvisor_wire::{Connection, pipe, set_close_on_exec};
use std::collections::HashSet;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

mod common;

const ROLE: &str = "PROCVISOR_WIRE_TEST_ROLE";
const CARRIER_FD: &str = "PROCVISOR_WIRE_TEST_FD";
const DEADLINE: Duration = Duration::from_secs(20);

/// The entry point of every child. In a normal test run it is ignored.
#[test]
#[ignore = "helper: runs only inside a child started by the other tests"]
fn child_entry() {
    let role = std::env::var(ROLE).expect("started without a role");
    match role.as_str() {
        "list-fds" => {
            for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
                if let Ok(target) = std::fs::read_link(entry.path()) {
                    println!("FD {}", target.display());
                }
            }
        }
        "use-passed-connection" => {
            let raw: i32 = std::env::var(CARRIER_FD).unwrap().parse().unwrap();
            // SAFETY: the parent cleared close-on-exec on this one descriptor for us; nothing
            // else in this process owns it.
            let mut carrier = Connection::from_fd(unsafe { OwnedFd::from_raw_fd(raw) }, true, true);
            let mut passed: Connection = carrier.recv().unwrap();
            passed
                .send(&("hello through a passed connection", std::process::id()))
                .unwrap();
            carrier.send(&"done").unwrap();
        }
        other => panic!("unknown role {other}"),
    }
    std::process::exit(0);
}

fn child(role: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--ignored",
            "--exact",
            "child_entry",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env(ROLE, role);
    command
}

fn wait_with_deadline(child: Child, step: &str) -> std::process::Output {
    common::wait_with_deadline(child, DEADLINE, step)
}

/// The kernel object behind each descriptor, as `/proc/self/fd` names it (`socket:[1234]`).
fn targets(fds: &[&dyn AsFd]) -> HashSet<String> {
    fds.iter()
        .map(|fd| {
            let link = format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd());
            std::fs::read_link(link).unwrap().display().to_string()
        })
        .collect()
}

fn child_targets() -> HashSet<String> {
    let child = child("list-fds").stdout(Stdio::piped()).spawn().unwrap();
    let output = wait_with_deadline(child, "list the child's descriptors");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("FD ").map(str::to_string))
        .collect()
}

#[test]
fn an_execed_child_inherits_no_connection_and_a_cleared_one_proves_the_probe() {
    let (a, b) = pipe(true).unwrap();
    let (r, w) = pipe(false).unwrap();
    let listener =
        procvisor_wire::Listener::bind(procvisor_wire::Address::tcp_loopback(0)).unwrap();
    let ours = targets(&[&a, &b, &r, &w]);
    let inherited = child_targets();
    assert!(
        ours.is_disjoint(&inherited),
        "inherited {:?}",
        ours.intersection(&inherited).collect::<Vec<_>>()
    );
    drop(listener);

    // Positive control: without close-on-exec the same probe does see the descriptor.
    let (c, _d) = pipe(true).unwrap();
    set_close_on_exec(c.as_fd(), false).unwrap();
    let leaked = targets(&[&c]);
    assert!(
        leaked.is_subset(&child_targets()),
        "the probe must see a descriptor that is inherited"
    );
}

#[test]
fn a_connection_passed_over_a_socketpair_works_in_the_child() {
    let (mut carrier, carrier_child) = pipe(true).unwrap();
    let child_fd = carrier_child.as_fd().try_clone_to_owned().unwrap();
    set_close_on_exec(child_fd.as_fd(), false).unwrap();
    let process = child("use-passed-connection")
        .env(CARRIER_FD, child_fd.as_raw_fd().to_string())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    drop(child_fd);
    drop(carrier_child);

    let (here, there) = pipe(true).unwrap();
    carrier.send(&there).unwrap();
    drop(there);
    let mut here = here;
    let (greeting, pid): (String, u32) = here
        .recv_timeout(DEADLINE)
        .expect("step `receive through the passed connection`");
    assert_eq!(greeting, "hello through a passed connection");
    assert_eq!(pid, process.id());
    assert_eq!(carrier.recv_timeout::<String>(DEADLINE).unwrap(), "done");
    let output = wait_with_deadline(process, "child exit");
    assert!(output.status.success(), "{output:?}");
}
