//! Behaviours of CPython's `_TestProcess.test_active_children` and the `ident` half of
//! test_current / test_process (`Lib/test/_test_multiprocessing.py`, 3.14.5, Python Software
//! Foundation License; cases 1, 2 and 9 of §2 of `reference/python-multiprocessing.md`),
//! rewritten in Rust, plus what Python's list of `Process` objects allows: joining and
//! terminating the children it hands back.
//!
//! Tweaks: `active_children()` keeps procvisor's `(name, pid)` pairs; the handles are
//! `active_processes()`. Every step that waits on a child has a deadline that names it.

use procvisor_runtime::{Process, active_children, active_processes, register};
use procvisor_testing::within;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

fn wait_for_ever() {
    std::thread::park();
}

register!(wait_for_ever);

#[test]
fn test_active_children_lists_started_children_until_they_end() {
    let mut p = Process::new(wait_for_ever, ())
        .unwrap()
        .with_name("SomeProcess");
    assert!(
        active_children().is_empty(),
        "an unstarted child is not listed"
    );
    assert!(active_processes().is_empty());
    p.start().unwrap();
    let pid = p.pid().unwrap();
    assert_eq!(active_children(), [("SomeProcess".to_string(), pid)]);
    let listed = active_processes();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].name(), listed[0].pid(), listed[0].ident()),
        ("SomeProcess".to_string(), Some(pid), Some(pid))
    );
    assert!(listed[0].is_alive());
    p.kill().unwrap();
    within(LIMIT, "joining the killed child", move || {
        p.join().unwrap();
        p
    });
    assert!(active_children().is_empty(), "a joined child is not listed");
    assert!(active_processes().is_empty());
}

#[test]
fn the_handles_from_active_processes_terminate_and_join_the_children() {
    let mut started = Vec::new();
    for _ in 0..2 {
        let mut p = Process::new(wait_for_ever, ()).unwrap();
        p.start().unwrap();
        started.push(p);
    }
    let handles = active_processes();
    let mut pids: Vec<u32> = handles.iter().filter_map(Process::pid).collect();
    pids.sort_unstable();
    let mut expected: Vec<u32> = started.iter().filter_map(Process::pid).collect();
    expected.sort_unstable();
    assert_eq!(pids, expected);
    within(
        LIMIT,
        "terminating and joining the listed children",
        move || {
            for mut child in handles {
                child.terminate().unwrap();
                child.join().unwrap();
                assert_eq!(child.exitcode(), Some(-libc::SIGTERM));
            }
        },
    );
    for p in &started {
        assert_eq!(
            p.exitcode(),
            Some(-libc::SIGTERM),
            "the original handle sees the same end"
        );
    }
    assert!(active_processes().is_empty());
}

#[test]
fn ident_is_the_pid() {
    let mut p = Process::new(wait_for_ever, ()).unwrap();
    assert_eq!(p.ident(), None, "None before start, like pid");
    p.start().unwrap();
    assert_eq!(p.ident(), p.pid());
    p.kill().unwrap();
    within(LIMIT, "joining the killed child", move || p.join().unwrap());
}
