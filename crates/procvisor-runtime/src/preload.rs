//! Python's `set_forkserver_preload`: registered functions the fork server runs once, before it
//! forks any child, so that every child it forks starts with their work done.

use crate::error::ProcessError;
use crate::target::{self, Target};
use procvisor_wire::Payload;
use std::sync::Mutex;

static PRELOAD: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

/// One function for the fork server to run before it forks: see [`set_forkserver_preload`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preload {
    name: &'static str,
}

impl Preload {
    /// The registered function `f`, which takes no arguments (what it returns is dropped).
    ///
    /// ```
    /// use procvisor_runtime::{Preload, register};
    ///
    /// fn warm_up() {}
    /// register!(warm_up);
    ///
    /// assert!(Preload::new(warm_up).is_ok());
    /// fn not_registered() {}
    /// assert!(Preload::new(not_registered).is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`ProcessError::Unregistered`] when `f` was not registered with
    /// [`register!`](crate::register): the fork server finds it by name.
    pub fn new<F: Target<()>>(f: F) -> Result<Preload, ProcessError> {
        drop(f);
        let name = target::name_of::<F>();
        match target::lookup(name) {
            Some(_) => Ok(Preload { name }),
            None => Err(ProcessError::Unregistered {
                target: name,
                short: crate::process::short_name(name),
            }),
        }
    }
}

/// Python's `set_forkserver_preload(module_names)`: functions the fork server runs once, in
/// order, when it starts, before it forks any child. Every child it forks then starts with
/// what they did already done: a static initialised, a file read, a table built.
///
/// ```
/// use procvisor_runtime::{Preload, Process, StartMethod, get_context, register, set_forkserver_preload};
/// use std::sync::OnceLock;
///
/// static TABLE: OnceLock<Vec<u64>> = OnceLock::new();
/// fn table() -> &'static [u64] {
///     TABLE.get_or_init(|| (0..1000).map(|n| n * n).collect())
/// }
/// fn warm_up() {
///     table();
/// }
/// fn lookup(n: usize) -> u64 {
///     table()[n]
/// }
/// register!(warm_up, lookup);
///
/// set_forkserver_preload([Preload::new(warm_up)?]);
/// let mut p = Process::new(lookup, (12,))?.with_context(get_context(StartMethod::Forkserver));
/// p.start()?;
/// assert_eq!(p.result::<u64>()?, 144);
/// # Ok::<(), procvisor_runtime::ProcessError>(())
/// ```
///
/// - It replaces the previous list, and takes effect when a fork server starts: set it before
///   the first `forkserver` child, as in Python. Children started with `spawn` or `fork` are
///   not concerned.
/// - The functions run in the fork server, which must stay single-threaded to fork safely: a
///   function that leaves a thread running (a tokio runtime, a pool) fails the preload.
/// - A function that panics or returns an error fails the preload, where Python ignores a
///   module that cannot be imported: the `start` that launched the fork server fails with
///   [`ProcessError::Start`], naming the function and the panic message with its location, and
///   so does every later `forkserver` start until the list is fixed.
pub fn set_forkserver_preload(functions: impl IntoIterator<Item = Preload>) {
    *PRELOAD.lock().unwrap_or_else(|p| p.into_inner()) =
        functions.into_iter().map(|p| p.name).collect();
}

/// The names to send to a new fork server.
pub(crate) fn names() -> Vec<String> {
    PRELOAD
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|name| (*name).to_string())
        .collect()
}

/// In the fork server: runs the functions named, in order; the first failure stops it.
pub(crate) fn run(names: &[String]) -> Result<(), String> {
    let unit = Payload::encode(&()).map_err(|e| e.to_string())?;
    crate::panics::set_quiet(true);
    for name in names {
        let short = crate::process::short_name(name);
        let registration = target::lookup(name)
            .ok_or_else(|| format!("the preload function `{short}` is not registered"))?;
        let outcome = (registration.run_process)(&unit);
        if let Some(failure) = outcome.failure {
            return Err(format!("the preload function `{short}` failed: {failure}"));
        }
        if threads() > 1 {
            return Err(format!(
                "the preload function `{short}` left a thread running; the fork server must stay single-threaded"
            ));
        }
    }
    Ok(())
}

/// How many threads this process has.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(1, Iterator::count)
}
