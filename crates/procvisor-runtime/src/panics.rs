//! Turning a panic in a target into a [`Failure`] with its message and location.
//!
//! A panic hook records where the panic happened (the payload alone does not say); the code
//! that caught the unwind reads it back on the same thread. Children install the hook at
//! bootstrap. Whether the hook also prints the panic (as Rust's default hook does) is chosen per
//! thread: a process target's panic is printed, like the traceback Python prints for a failed
//! `Process`; a pool task's panic is only returned, like Python's pool re-raising the exception
//! in the parent.

use crate::outcome::{Failure, FailureKind};
use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, PanicHookInfo};
use std::sync::atomic::{AtomicBool, Ordering};

thread_local! {
    static LAST_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

// Not a `Once`: a forked child could inherit it mid-initialisation and block forever.
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Panics are returned, never printed, on every thread (actor hosts: a crash is reported to
/// the caller and the supervisor).
static QUIET_EVERYWHERE: AtomicBool = AtomicBool::new(false);

/// Installs the recording hook (once per process), keeping the previous hook for printing.
pub(crate) fn install_hook() {
    // Read first: in a forked child, writing the flag would copy its page for nothing.
    if INSTALLED.load(Ordering::Acquire) || INSTALLED.swap(true, Ordering::AcqRel) {
        return;
    }

    {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            let location = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
            LAST_LOCATION.with(|last| *last.borrow_mut() = location);
            if !QUIET.with(Cell::get) && !QUIET_EVERYWHERE.load(Ordering::Relaxed) {
                previous(info);
            }
        }));
    }
}

/// Whether panics on this thread are printed as well as returned.
pub(crate) fn set_quiet(quiet: bool) {
    QUIET.with(|q| q.set(quiet));
}

/// Makes panics quiet on every thread of this process.
pub(crate) fn set_quiet_everywhere() {
    QUIET_EVERYWHERE.store(true, Ordering::Relaxed);
}

fn message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

/// Runs `f`, turning a panic into a [`Failure`] of kind [`FailureKind::Panic`].
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, Failure> {
    install_hook();
    LAST_LOCATION.with(|last| *last.borrow_mut() = None);
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let location = LAST_LOCATION.with(|last| last.borrow_mut().take());
        Failure::new(FailureKind::Panic, message(payload.as_ref()), location)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_failure_with_message_and_location() {
        set_quiet(true);
        let failure = catch(|| -> i32 { panic!("boom {}", 7) }).unwrap_err();
        set_quiet(false);
        assert!(failure.is_panic());
        assert_eq!(failure.message(), "boom 7");
        let location = failure.location().expect("location recorded");
        assert!(
            location.starts_with("crates/procvisor-runtime/src/panics.rs:"),
            "{location}"
        );
    }

    #[test]
    fn no_panic_is_ok() {
        assert_eq!(catch(|| 5).unwrap(), 5);
    }
}
