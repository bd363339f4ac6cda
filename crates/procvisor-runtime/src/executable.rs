//! Python's `set_executable`: the binary that the `spawn` and `forkserver` start methods execute.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// What runs this program now, whatever became of the file it was started from.
const THIS_PROGRAM: &str = "/proc/self/exe";

static EXECUTABLE: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Python's `set_executable(path)`: the binary that `spawn` children and the fork server are
/// executed from, instead of this program's own.
///
/// Python needs it to pick an interpreter; procvisor needs it when the running binary is not
/// the one children should run, such as a copy installed elsewhere, or a wrapper. The binary
/// must be a build of the same program: a child finds its target by the name it was
/// registered under ([`register!`](crate::register)), and only a binary with the same
/// registrations has it. `set_executable("/proc/self/exe")` goes back to this program's binary.
///
/// It takes effect at the next start: a fork server that is already running keeps the binary it
/// was started from. A path that cannot be executed makes `start` fail with an error that names
/// it.
///
/// ```
/// use procvisor_runtime::{Process, StartMethod, get_context, get_executable, register, set_executable};
///
/// fn nothing() {}
/// register!(nothing);
///
/// set_executable("/nonexistent/program");
/// assert_eq!(get_executable(), std::path::Path::new("/nonexistent/program"));
/// let mut p = Process::new(nothing, ())?.with_context(get_context(StartMethod::Spawn));
/// let err = p.start().unwrap_err();
/// assert!(err.to_string().contains("/nonexistent/program"), "{err}");
/// set_executable("/proc/self/exe");
/// # Ok::<(), procvisor_runtime::ProcessError>(())
/// ```
pub fn set_executable(path: impl AsRef<Path>) {
    *EXECUTABLE.lock().unwrap_or_else(|p| p.into_inner()) = Some(path.as_ref().to_path_buf());
}

/// The binary that `spawn` children and a new fork server are executed from (Python's
/// `multiprocessing.spawn.get_executable()`): the one given to [`set_executable`], or
/// `/proc/self/exe`, this program's own binary.
///
/// ```
/// println!("children run {}", procvisor_runtime::get_executable().display());
/// ```
pub fn get_executable() -> PathBuf {
    EXECUTABLE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .unwrap_or_else(|| PathBuf::from(THIS_PROGRAM))
}

/// A command that executes the chosen binary as this program (same `argv[0]`), and its path for
/// error messages.
pub(crate) fn command() -> (Command, PathBuf) {
    let path = get_executable();
    let mut command = Command::new(&path);
    if let Some(arg0) = std::env::args_os().next() {
        command.arg0(arg0);
    }
    (command, path)
}

/// An error of executing `path`, saying which binary it was and where it was chosen.
pub(crate) fn explain(error: io::Error, path: &Path) -> io::Error {
    let origin = if path == Path::new(THIS_PROGRAM) {
        "this program's binary"
    } else {
        "set with set_executable"
    };
    io::Error::new(
        error.kind(),
        format!("cannot execute {} ({origin}): {error}", path.display()),
    )
}
