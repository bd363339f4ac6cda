//! The process-level system calls: pidfds, reaping, parent-death signals.

use crate::outcome::ExitReason;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// A descriptor that refers to process `pid` and becomes readable when it exits (Linux 5.3+).
/// Signals sent through it can never reach a different process that reused the pid.
pub(crate) fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, libc::PIDFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this new descriptor to us (pidfds are always
    // close-on-exec); nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Sends `signal` to the process behind `pidfd`. A process that already exited is not an error.
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> io::Result<()> {
    // SAFETY: pidfd_send_signal with a valid pidfd, a signal number, no siginfo and no flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc < 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::ESRCH) {
            return Ok(());
        }
        return Err(err);
    }
    Ok(())
}

/// Reaps our child behind `pidfd` if it has exited (`None` while it runs).
pub(crate) fn try_reap(pidfd: BorrowedFd<'_>) -> io::Result<Option<ExitReason>> {
    // SAFETY: an all-zero siginfo_t is a valid output buffer.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waitid(P_PIDFD) on a pidfd of our own child, writing into `info`.
        let rc = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG,
            )
        };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        break;
    }
    // SAFETY: after a successful waitid the pid field says whether a child was reaped.
    if unsafe { info.si_pid() } == 0 {
        return Ok(None);
    }
    // SAFETY: a reaped child's siginfo carries si_code and si_status.
    let status = unsafe { info.si_status() };
    Ok(Some(match info.si_code {
        libc::CLD_EXITED => ExitReason::Code(status),
        _ => ExitReason::Signal(status),
    }))
}

/// Asks the kernel to send `signal` to this process when the thread that created it exits.
/// Must be called in the child; it then re-checks that the parent is still the one expected,
/// closing the race with a parent that died before the request.
pub(crate) fn die_with_parent(expected_parent: i32) -> io::Result<()> {
    // SAFETY: prctl(PR_SET_PDEATHSIG, SIGKILL) only changes this process's own setting.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: getppid has no preconditions.
    if unsafe { libc::getppid() } != expected_parent {
        // SAFETY: _exit ends this process immediately; nothing to clean up in a fresh child.
        unsafe { libc::_exit(1) };
    }
    Ok(())
}

/// Ends this process at once with `code`, without running exit handlers or destructors.
pub(crate) fn exit_now(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: _exit has no preconditions; buffered Rust output was flushed above.
    unsafe { libc::_exit(code) }
}

/// The number of CPUs this process may run on (its affinity mask), like Python 3.13's
/// `process_cpu_count`; at least 1.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Raises the soft limit on open descriptors to the hard limit: every shared object and link
/// holds one, and the default soft limit (often 1024) is far below what the kernel allows.
pub(crate) fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

/// Whether `fd` becomes readable within `timeout` (`None`: wait forever).
pub(crate) fn poll_readable(fd: BorrowedFd<'_>, timeout: Option<std::time::Duration>) -> bool {
    let mut pollfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let deadline = timeout.and_then(|t| std::time::Instant::now().checked_add(t));
    loop {
        let remaining = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
        let ts = remaining.map(|r| libc::timespec {
            tv_sec: r.as_secs() as libc::time_t,
            tv_nsec: r.subsec_nanos() as libc::c_long,
        });
        let ts_ptr = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: one valid pollfd; `ts_ptr` is null or points at a live timespec.
        let n = unsafe { libc::ppoll(&mut pollfd, 1, ts_ptr, std::ptr::null()) };
        if n > 0 {
            return true;
        }
        if n == 0 && deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return false;
        }
        if n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return false;
        }
    }
}
