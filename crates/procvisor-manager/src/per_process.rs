//! State of this process alone, that a forked child must not inherit.
//!
//! A child started with `fork` gets a copy of its parent's memory, including a mutex that
//! another of the parent's threads held at that instant, locked for ever in the child (that
//! thread does not exist there). So such state is reached through the process's pid: a child
//! finds the pid changed and starts from a fresh value with a fresh lock, without touching the
//! inherited one (which it leaks: its connections are the parent's conversations).

use std::sync::Mutex;
use std::sync::atomic::{AtomicPtr, Ordering};

/// A `T` per process, starting from `T::default()` in each.
#[derive(Debug)]
pub(crate) struct PerProcess<T> {
    current: AtomicPtr<(u32, Mutex<T>)>,
}

impl<T: Default> PerProcess<T> {
    pub(crate) const fn new() -> PerProcess<T> {
        PerProcess {
            current: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// This process's value, locked.
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, T> {
        let pid = std::process::id();
        let mut current = self.current.load(Ordering::Acquire);
        // SAFETY: a non-null pointer here came from Box::into_raw below and is never freed.
        while current.is_null() || unsafe { (*current).0 } != pid {
            let fresh = Box::into_raw(Box::new((pid, Mutex::new(T::default()))));
            match self
                .current
                .compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => current = fresh,
                Err(other) => {
                    // SAFETY: `fresh` was never shared.
                    drop(unsafe { Box::from_raw(fresh) });
                    current = other;
                }
            }
        }
        // SAFETY: as above: never freed, so valid for `'_` (indeed for ever).
        let state = unsafe { &*current };
        state.1.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// How many forks made this process from the one the program started as, as far as this
/// process's own line goes: it changes in a forked child (counted by a handler that runs in
/// the child of every fork made through the C library, which procvisor's are), so comparing
/// it costs no system call, where comparing pids does.
pub(crate) fn generation() -> u64 {
    static HANDLER: std::sync::Once = std::sync::Once::new();
    HANDLER.call_once(|| {
        extern "C" fn forked() {
            GENERATION.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: registers a handler that only bumps an atomic, which is async-signal-safe as
        // a child handler must be.
        let registered = unsafe { libc::pthread_atfork(None, None, Some(forked)) };
        if registered != 0 {
            // Without the handler a fork would go unseen: never report the same generation.
            NO_HANDLER.store(true, Ordering::Relaxed);
        }
    });
    if NO_HANDLER.load(Ordering::Relaxed) {
        return u64::from(std::process::id()) | 1 << 63;
    }
    GENERATION.load(Ordering::Relaxed)
}

static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static NO_HANDLER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
