//! The futex system calls on words in shared memory, and the atomics they work on.
//!
//! Under `cfg(procvisor_loom)` the atomics are loom's, and a futex wait is a yield (a spurious wakeup,
//! which every caller must already handle): the model checker then explores the lock-free
//! protocols with waiters that retry. Timeouts and cross-process wakeups are tested with real
//! processes instead.

#[cfg(not(procvisor_loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

#[cfg(procvisor_loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use std::time::{Duration, Instant};

/// Why a [`wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Woken, spuriously or not, or the word no longer held the expected value.
    Retry,
    /// The timeout passed.
    TimedOut,
}

/// Sleeps while `word` holds `expected`, for at most `timeout` (`None`: no limit).
#[cfg(not(procvisor_loom))]
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> Wake {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: FUTEX_WAIT (shared: the word may live in memory other processes map) on a valid,
    // aligned u32, with a relative timeout or none.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
            0,
            0,
        )
    };
    if rc < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ETIMEDOUT) {
        Wake::TimedOut
    } else {
        Wake::Retry
    }
}

/// Wakes up to `n` sleepers on `word`.
#[cfg(not(procvisor_loom))]
pub(crate) fn wake(word: &AtomicU32, n: u32) {
    let n = n.min(i32::MAX as u32) as i32;
    // SAFETY: FUTEX_WAKE on a valid, aligned u32.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, n, 0, 0, 0) };
}

#[cfg(procvisor_loom)]
pub(crate) fn wait(_: &AtomicU32, _: u32, timeout: Option<Duration>) -> Wake {
    loom::thread::yield_now();
    if timeout.is_some_and(|t| t.is_zero()) {
        Wake::TimedOut
    } else {
        Wake::Retry
    }
}

#[cfg(procvisor_loom)]
pub(crate) fn wake(_: &AtomicU32, _: u32) {}

/// The time left until `deadline` (`None`: forever); `Some(ZERO)` once it has passed.
pub(crate) fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}

/// A deadline `timeout` from now (`None`: never).
pub(crate) fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

/// Gives the CPU to another thread that is ready to run, if there is one.
pub(crate) fn yield_cpu() {
    #[cfg(not(procvisor_loom))]
    std::thread::yield_now();
    #[cfg(procvisor_loom)]
    loom::thread::yield_now();
}

/// A pause inside a spin-wait (under loom, a yield so the model can run the other side).
pub(crate) fn spin_hint() {
    #[cfg(not(procvisor_loom))]
    std::hint::spin_loop();
    #[cfg(procvisor_loom)]
    loom::thread::yield_now();
}
