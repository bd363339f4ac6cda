//! Behaviours of CPython's forkserver preload tests (`Lib/test/_test_multiprocessing.py`,
//! 3.14.5, Python Software Foundation License; test_preload_resources and
//! test_context_check_module_types, case 100 of §2 of `reference/python-multiprocessing.md`),
//! rewritten in Rust: what a preload function does in the fork server is already done in every
//! child it forks; a function that is not registered is refused when the list is made (Python's
//! `TypeError` for a list that is not module names); and, where Python ignores a module that
//! fails to import, a preload that panics or leaves a thread fails the start, naming it.
//!
//! The fork server starts once per process, so each test is its own process (nextest) and sets
//! the list before its first `forkserver` start. Every step that waits has a deadline.

use procvisor_runtime::{
    Preload, Process, ProcessError, StartMethod, get_context, register, set_forkserver_preload,
};
use procvisor_testing::within;
use std::sync::OnceLock;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// The pid of the process that initialised it.
static WARMED_BY: OnceLock<u32> = OnceLock::new();

fn warm_up() {
    WARMED_BY.get_or_init(std::process::id);
}

/// In the child: who warmed it up, and who it is.
fn who_warmed() -> (u32, u32) {
    warm_up();
    (*WARMED_BY.get().expect("warmed"), std::process::id())
}

fn explode() {
    panic!("no cache to warm");
}

fn start_a_thread() {
    std::thread::spawn(std::thread::park);
}

register!(warm_up, who_warmed, explode, start_a_thread);

fn start_forkserver_child(step: &'static str) -> Result<(u32, u32), ProcessError> {
    within(LIMIT, step, || {
        let mut p =
            Process::new(who_warmed, ())?.with_context(get_context(StartMethod::Forkserver));
        p.start()?;
        p.result::<(u32, u32)>()
    })
}

#[test]
fn test_preload_resources_children_start_with_the_preload_done() {
    set_forkserver_preload([Preload::new(warm_up).unwrap()]);
    let (warmed_by, child) = start_forkserver_child("a child of a preloaded server").unwrap();
    assert_ne!(warmed_by, child, "warmed up before the fork, in the server");
    assert_ne!(warmed_by, std::process::id(), "not in this process either");
    let (again, _) = start_forkserver_child("a second child").unwrap();
    assert_eq!(again, warmed_by, "the preload ran once, in the one server");
}

#[test]
fn without_preload_each_child_warms_itself_up() {
    let (warmed_by, child) = start_forkserver_child("a child of a plain server").unwrap();
    assert_eq!(warmed_by, child);
}

#[test]
fn test_context_check_module_types_an_unregistered_function_is_refused() {
    fn not_registered() {}
    let err = Preload::new(not_registered).unwrap_err();
    assert!(matches!(err, ProcessError::Unregistered { .. }), "{err}");
    assert!(err.to_string().contains("not_registered"), "{err}");
}

#[test]
fn a_preload_that_panics_fails_the_start_and_names_itself() {
    set_forkserver_preload([
        Preload::new(warm_up).unwrap(),
        Preload::new(explode).unwrap(),
    ]);
    for attempt in ["the first start", "a later start"] {
        let err = start_forkserver_child(attempt).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, ProcessError::Start { .. }),
            "{attempt}: {message}"
        );
        assert!(
            message.contains("`explode`") && message.contains("no cache to warm"),
            "{attempt}: {message}"
        );
        assert!(
            message.contains("cpython_forkserver_preload.rs:"),
            "the location: {message}"
        );
    }
    set_forkserver_preload([]);
    start_forkserver_child("a start once the list is fixed").unwrap();
}

#[test]
fn a_preload_that_leaves_a_thread_fails_the_start() {
    set_forkserver_preload([Preload::new(start_a_thread).unwrap()]);
    let err = start_forkserver_child("a server whose preload started a thread").unwrap_err();
    assert!(
        err.to_string()
            .contains("`start_a_thread` left a thread running"),
        "{err}"
    );
}
