//! A function run in the manager process before it serves: Python's
//! `BaseManager.start(initializer, initargs)` (`Lib/multiprocessing/managers.py`; CPython's
//! `_TestMyManager` starts managers with and without one). Python's `TypeError` for an
//! initializer that is not callable has no counterpart (the compiler checks); its unregistered
//! counterpart, and an initializer that fails, panics or ends the process, make `start` fail
//! with `ManagerError::Initializer`, never hang.

mod common;

use common::{LIMIT, within};
use procvisor_manager::{Manager, ManagerError};
use procvisor_runtime::{StartMethod, get_context, register};
use std::path::PathBuf;

fn note_pid(path: String) -> std::io::Result<()> {
    std::fs::write(path, std::process::id().to_string())
}

fn refuse(reason: String) -> Result<(), String> {
    Err(reason)
}

fn explode(message: String) {
    panic!("{message}");
}

fn leave(code: i32) {
    std::process::exit(code);
}
register!(note_pid, refuse, explode, leave);

fn not_registered() {}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("pv-init-{}-{name}", std::process::id()))
}

#[test]
fn the_initializer_runs_in_the_manager_process_under_every_start_method() {
    within(LIMIT, "initializer", || {
        for method in [
            StartMethod::Fork,
            StartMethod::Spawn,
            StartMethod::Forkserver,
        ] {
            let path = scratch(&format!("{method:?}"));
            let _ = std::fs::remove_file(&path);
            let manager = Manager::builder()
                .context(get_context(method))
                .initializer(note_pid, (path.to_string_lossy().into_owned(),))
                .start()
                .unwrap();
            let written = std::fs::read_to_string(&path).unwrap();
            let _ = std::fs::remove_file(&path);
            assert_eq!(written, manager.pid().unwrap().to_string(), "{method:?}");
            // And then it serves.
            let l = manager.list_from([1, 2]).unwrap();
            assert_eq!(l.to_vec().unwrap(), vec![1, 2]);
        }
    });
}

#[test]
fn an_initializer_that_returns_an_error_fails_the_start_with_it() {
    within(LIMIT, "failing initializer", || {
        let error = Manager::builder()
            .initializer(refuse, ("no disk".to_string(),))
            .start()
            .unwrap_err();
        match &error {
            ManagerError::Initializer { name, reason } => {
                assert_eq!(name, "refuse");
                assert!(reason.contains("no disk"), "{reason}");
            }
            other => panic!("not an initializer error: {other:?}"),
        }
        assert!(
            error.to_string().contains("initializer refuse failed"),
            "{error}"
        );
    });
}

#[test]
fn an_initializer_that_panics_fails_the_start_with_its_message() {
    within(LIMIT, "panicking initializer", || {
        let error = Manager::builder()
            .initializer(explode, ("the config is corrupt".to_string(),))
            .start()
            .unwrap_err();
        assert!(
            matches!(&error, ManagerError::Initializer { name, reason }
                if name == "explode" && reason.contains("the config is corrupt")),
            "{error:?}"
        );
    });
}

#[test]
fn an_initializer_that_ends_the_process_fails_the_start_with_the_exit_code() {
    within(LIMIT, "exiting initializer", || {
        let error = Manager::builder()
            .initializer(leave, (3,))
            .start()
            .unwrap_err();
        assert!(
            matches!(&error, ManagerError::Initializer { name, reason }
                if name == "leave" && reason.contains("exit code 3")),
            "{error:?}"
        );
    });
}

#[test]
fn an_unregistered_initializer_is_refused_before_any_process_starts() {
    within(LIMIT, "unregistered initializer", || {
        let error = Manager::builder()
            .initializer(not_registered, ())
            .start()
            .unwrap_err();
        assert!(
            matches!(&error, ManagerError::Initializer { name, reason }
                if name == "not_registered" && reason.contains("register!(not_registered)")),
            "{error:?}"
        );
    });
}
