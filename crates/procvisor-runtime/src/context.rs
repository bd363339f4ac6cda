//! Start methods and contexts: `get_context`, `set_start_method`, `get_start_method`.

use crate::error::ContextError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

/// How a child process is started.
///
/// | method | what happens | targets | cost |
/// |---|---|---|---|
/// | [`Forkserver`](Self::Forkserver) (default) | a single-threaded server process, started on first use, forks each child | registered functions | one fork plus a request |
/// | [`Spawn`](Self::Spawn) | the program's binary is executed again and diverted to the target before `main` | registered functions | one `exec` |
/// | [`Fork`](Self::Fork) | the calling process is forked | registered functions and closures | one fork |
///
/// `Fork` copies a multi-threaded process with only the calling thread; see the book's
/// "Start methods" chapter for what that means. `Forkserver` is the default for the reason
/// Python 3.14 made it the default: it is as cheap as a fork and never forks a process with
/// threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StartMethod {
    /// Fork the calling process.
    Fork,
    /// Execute the program again.
    Spawn,
    /// Ask a fork server to fork a clean copy.
    Forkserver,
}

impl StartMethod {
    /// Python's name for the method: `"fork"`, `"spawn"` or `"forkserver"`.
    pub fn as_str(self) -> &'static str {
        match self {
            StartMethod::Fork => "fork",
            StartMethod::Spawn => "spawn",
            StartMethod::Forkserver => "forkserver",
        }
    }
}

impl fmt::Display for StartMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StartMethod {
    type Err = ContextError;

    fn from_str(s: &str) -> Result<Self, ContextError> {
        match s {
            "fork" => Ok(StartMethod::Fork),
            "spawn" => Ok(StartMethod::Spawn),
            "forkserver" => Ok(StartMethod::Forkserver),
            other => Err(ContextError::UnknownMethod(other.to_string())),
        }
    }
}

/// The default start method before anything chooses one.
pub const DEFAULT_START_METHOD: StartMethod = StartMethod::Forkserver;

/// The process-wide choice: `None` until fixed by `set_start_method`, `get_start_method` or the
/// first use of the default context.
static CHOSEN: Mutex<Option<StartMethod>> = Mutex::new(None);

/// A start method to create processes with, independent of the process-wide default (Python's
/// context objects).
///
/// ```
/// use procvisor_runtime::{StartMethod, get_context};
///
/// let ctx = get_context(StartMethod::Spawn);
/// assert_eq!(ctx.start_method(), StartMethod::Spawn);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Context {
    method: StartMethod,
}

impl Context {
    /// This context's start method.
    pub fn start_method(&self) -> StartMethod {
        self.method
    }
}

/// A context for `method`. It does not change the process-wide default.
pub fn get_context(method: StartMethod) -> Context {
    Context { method }
}

/// The process-wide default context; using it fixes the default start method, as in Python.
pub fn default_context() -> Context {
    Context {
        method: get_start_method(),
    }
}

/// Chooses the process-wide start method. Like Python, this may happen once: again, or after
/// the default was already used, it fails unless [`set_start_method_forced`] is used.
///
/// # Errors
///
/// [`ContextError::AlreadySet`] when the start method was already chosen or used.
pub fn set_start_method(method: StartMethod) -> Result<(), ContextError> {
    let mut chosen = CHOSEN.lock().unwrap_or_else(|p| p.into_inner());
    match *chosen {
        Some(current) => Err(ContextError::AlreadySet { current }),
        None => {
            *chosen = Some(method);
            Ok(())
        }
    }
}

/// Python's `set_start_method(method, force=True)`: replaces the choice; `None` resets it.
pub fn set_start_method_forced(method: Option<StartMethod>) {
    *CHOSEN.lock().unwrap_or_else(|p| p.into_inner()) = method;
}

/// The process-wide start method, fixing the default if nothing was chosen yet.
pub fn get_start_method() -> StartMethod {
    *CHOSEN
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert(DEFAULT_START_METHOD)
}

/// Python's `get_start_method(allow_none=True)`: the choice, without fixing it.
pub fn get_start_method_if_set() -> Option<StartMethod> {
    *CHOSEN.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every start method this platform supports, the default first (Python 3.14's order).
pub fn get_all_start_methods() -> Vec<StartMethod> {
    vec![
        StartMethod::Forkserver,
        StartMethod::Spawn,
        StartMethod::Fork,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print_like_python() {
        for method in get_all_start_methods() {
            assert_eq!(method.as_str().parse::<StartMethod>().unwrap(), method);
        }
        let err = "bogus".parse::<StartMethod>().unwrap_err();
        assert_eq!(err.to_string(), "cannot find context for 'bogus'");
        assert_eq!(get_all_start_methods()[0], DEFAULT_START_METHOD);
    }

    #[test]
    fn the_start_method_is_set_once_unless_forced() {
        // The only test that touches the process-wide choice.
        set_start_method_forced(None);
        assert_eq!(get_start_method_if_set(), None);
        set_start_method(StartMethod::Spawn).unwrap();
        assert!(matches!(
            set_start_method(StartMethod::Fork),
            Err(ContextError::AlreadySet {
                current: StartMethod::Spawn
            })
        ));
        assert_eq!(get_start_method(), StartMethod::Spawn);
        set_start_method_forced(Some(StartMethod::Fork));
        assert_eq!(get_start_method(), StartMethod::Fork);
        set_start_method_forced(None);
        assert_eq!(
            get_start_method(),
            DEFAULT_START_METHOD,
            "using the default fixes it"
        );
        assert!(set_start_method(StartMethod::Spawn).is_err());
        assert_eq!(
            get_context(StartMethod::Spawn).start_method(),
            StartMethod::Spawn
        );
        set_start_method_forced(None);
    }
}
