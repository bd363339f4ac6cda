//! Behaviours of CPython's test_set_executable (`Lib/test/_test_multiprocessing.py`, 3.14.5,
//! Python Software Foundation License; §1.9 and case 100 of `reference/python-multiprocessing.md`),
//! rewritten in Rust: a child started after `set_executable(path)` runs from `path` (a `str`,
//! a `Path` or an `OsString`, as Python accepts str, bytes or PathLike), and a path that cannot
//! be executed is a clear error at `start`, never a hang.
//!
//! One test function: the executable is process-wide, so the steps run in order. Every step
//! that waits on a child has a deadline that names it.

use procvisor_runtime::{
    Process, ProcessError, StartMethod, get_context, get_executable, register, set_executable,
};
use procvisor_testing::within;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// The binary the child was executed from.
fn my_executable() -> PathBuf {
    std::fs::read_link("/proc/self/exe").expect("readlink /proc/self/exe")
}

register!(my_executable);

fn start_in(method: StartMethod, step: &'static str) -> Result<PathBuf, ProcessError> {
    within(LIMIT, step, move || {
        let mut p = Process::new(my_executable, ())?.with_context(get_context(method));
        p.start()?;
        p.result::<PathBuf>()
    })
}

#[test]
fn test_set_executable_runs_children_from_the_path_and_refuses_a_bad_one() {
    // A copy of this test binary in another place: a build of the same program.
    let copy = std::env::temp_dir().join(format!("pv_set_executable_{}", std::process::id()));
    std::fs::copy(std::env::current_exe().unwrap(), &copy).unwrap();

    set_executable(OsString::from(&copy));
    assert_eq!(get_executable(), copy);
    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        let ran_from = start_in(method, "a child executed from the copy").unwrap();
        assert_eq!(ran_from, copy, "{method}");
    }

    let missing = Path::new("/nonexistent/procvisor-child");
    set_executable(missing);
    let err = start_in(StartMethod::Spawn, "spawn from a missing binary").unwrap_err();
    assert!(
        matches!(&err, ProcessError::Start { .. })
            && err.to_string().contains("/nonexistent/procvisor-child"),
        "{err}"
    );

    set_executable("/proc/self/exe");
    let ran_from = start_in(
        StartMethod::Spawn,
        "a child executed from this binary again",
    )
    .unwrap();
    assert_eq!(ran_from, std::env::current_exe().unwrap());
    let _ = std::fs::remove_file(&copy);
}

#[test]
fn a_new_fork_server_from_a_missing_binary_is_a_clear_error() {
    // Its own test (and so its own process under nextest): this process never started a fork
    // server, so the next forkserver start launches one from the path set here.
    set_executable("/nonexistent/procvisor-forkserver");
    let err = start_in(
        StartMethod::Forkserver,
        "a fork server from a missing binary",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("/nonexistent/procvisor-forkserver"),
        "{err}"
    );
}
