//! The file-descriptor system calls the transport needs, in one place.
//!
//! Every descriptor created here is close-on-exec. Sockets stay in blocking mode; non-blocking
//! operations pass `MSG_DONTWAIT` per call instead, so a descriptor inherited by a child behaves
//! like any other blocking socket there.

use std::io;
use std::mem::{MaybeUninit, size_of};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// The most descriptors one message may carry (the kernel's `SCM_MAX_FD`).
pub(crate) const MAX_FDS_PER_MESSAGE: usize = 253;

/// How a read or write waits when the socket has nothing to offer.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Blocking {
    /// Block in the system call until it can make progress.
    Forever,
    /// Wait in `ppoll` until the deadline, then fail with `ErrorKind::TimedOut`.
    Until(Instant),
    /// Never wait: fail with `ErrorKind::WouldBlock`.
    Never,
}

impl Blocking {
    pub(crate) fn from_timeout(timeout: Option<Duration>) -> Self {
        match timeout {
            None => Blocking::Forever,
            Some(t) => match Instant::now().checked_add(t) {
                Some(deadline) => Blocking::Until(deadline),
                None => Blocking::Forever,
            },
        }
    }
}

/// A connected pair of Unix stream sockets, both close-on-exec.
pub(crate) fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType};
    let (a, b) = nix::sys::socket::socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((a, b))
}

/// Shuts down one direction of a socket.
pub(crate) fn shutdown(fd: BorrowedFd<'_>, how: nix::sys::socket::Shutdown) -> io::Result<()> {
    nix::sys::socket::shutdown(fd.as_raw_fd(), how)?;
    Ok(())
}

/// Waits until `fd` is ready for `events` or the timeout passes; `None` waits forever.
/// Returns whether it became ready. Hang-up and errors count as ready so the caller's next
/// operation reports them.
pub(crate) fn poll_one(
    fd: BorrowedFd<'_>,
    events: i16,
    timeout: Option<Duration>,
) -> io::Result<bool> {
    Ok(!poll_many(&[fd], events, timeout)?.is_empty())
}

/// Waits until any of `fds` is ready for `events`; returns the indices that are.
pub(crate) fn poll_many(
    fds: &[BorrowedFd<'_>],
    events: i16,
    timeout: Option<Duration>,
) -> io::Result<Vec<usize>> {
    let mut pollfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events,
            revents: 0,
        })
        .collect();
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let ts = remaining.map(|r| libc::timespec {
            tv_sec: r.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: r.subsec_nanos() as libc::c_long,
        });
        let ts_ptr = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `pollfds` is a valid, exclusively borrowed array of `pollfds.len()` entries;
        // `ts_ptr` is null or points at a live timespec; a null signal mask leaves it unchanged.
        let n = unsafe {
            libc::ppoll(
                pollfds.as_mut_ptr(),
                pollfds.len() as libc::nfds_t,
                ts_ptr,
                std::ptr::null(),
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        let ready: Vec<usize> = pollfds
            .iter()
            .enumerate()
            .filter(|(_, p)| p.revents != 0)
            .map(|(i, _)| i)
            .collect();
        if !ready.is_empty() || deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(ready);
        }
    }
}

/// Whether `fd` has something to read (or has hung up) right now. The spin's inner step: one
/// system call, nothing allocated, no clock read.
pub(crate) fn readable_now(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let mut pollfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid, exclusively borrowed pollfd; a zero timeout never blocks.
        let n = unsafe { libc::poll(&mut pollfd, 1, 0) };
        if n >= 0 {
            return Ok(n > 0);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Polls `fd` for readability for up to `budget`, yielding between polls. Returns whether it
/// became readable.
pub(crate) fn spin_until_readable(fd: BorrowedFd<'_>, budget: Duration) -> io::Result<bool> {
    if budget.is_zero() {
        return Ok(false);
    }
    let start = Instant::now();
    loop {
        if readable_now(fd)? {
            return Ok(true);
        }
        if start.elapsed() >= budget {
            return Ok(false);
        }
        std::thread::yield_now();
    }
}

fn wait_for(fd: BorrowedFd<'_>, events: i16, blocking: Blocking) -> io::Result<()> {
    match blocking {
        // `Never` tries the call itself with MSG_DONTWAIT and reports WouldBlock from there.
        Blocking::Forever | Blocking::Never => Ok(()),
        Blocking::Until(deadline) => {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if poll_one(fd, events, Some(remaining))? {
                Ok(())
            } else {
                Err(io::ErrorKind::TimedOut.into())
            }
        }
    }
}

fn flags_for(blocking: Blocking) -> libc::c_int {
    match blocking {
        Blocking::Forever => 0,
        // Never block in the call: with a deadline, the wait is a poll after a WouldBlock.
        Blocking::Until(_) | Blocking::Never => libc::MSG_DONTWAIT,
    }
}

/// Appends up to `max` bytes read from `fd` to `dst`, growing it if needed. Returns the count
/// (0 means end of stream).
pub(crate) fn recv_append(
    fd: BorrowedFd<'_>,
    dst: &mut Vec<u8>,
    max: usize,
    blocking: Blocking,
) -> io::Result<usize> {
    dst.reserve(max);
    loop {
        let spare = dst.spare_capacity_mut();
        let want = max.min(spare.len());
        // SAFETY: `spare` is writable memory of at least `want` bytes owned by `dst`; the kernel
        // writes at most `want` bytes into it and we only expose the bytes it reports written.
        let n = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                spare.as_mut_ptr().cast(),
                want,
                flags_for(blocking),
            )
        };
        if n >= 0 {
            let n = n as usize;
            // SAFETY: the kernel initialised exactly `n <= want` bytes after the current length.
            unsafe { dst.set_len(dst.len() + n) };
            return Ok(n);
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock if matches!(blocking, Blocking::Until(_)) => {
                // Tried first, waited only when there was nothing: no poll on the fast path.
                wait_for(fd, libc::POLLIN, blocking)?;
                continue;
            }
            _ => return Err(err),
        }
    }
}

/// Like [`recv_append`], and also collects the descriptors that arrive with these bytes.
pub(crate) fn recv_append_with_fds(
    fd: BorrowedFd<'_>,
    dst: &mut Vec<u8>,
    max: usize,
    fds: &mut Vec<OwnedFd>,
    blocking: Blocking,
) -> io::Result<usize> {
    // Room for the largest descriptor list the kernel delivers in one message.
    const CMSG_BYTES: usize = 1280;
    let mut control = [MaybeUninit::<u64>::uninit(); CMSG_BYTES / 8];
    dst.reserve(max);
    loop {
        let spare = dst.spare_capacity_mut();
        let want = max.min(spare.len());
        let mut iov = libc::iovec {
            iov_base: spare.as_mut_ptr().cast(),
            iov_len: want,
        };
        // SAFETY: an all-zero msghdr is a valid "no address, no iovecs, no control" header.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = CMSG_BYTES as _;
        let flags = flags_for(blocking) | libc::MSG_CMSG_CLOEXEC;
        // SAFETY: `msg` points at one iovec over `want` writable bytes of `dst`'s spare capacity
        // and at `CMSG_BYTES` writable control bytes; both outlive the call.
        let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, flags) };
        if n < 0 {
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock if matches!(blocking, Blocking::Until(_)) => {
                    // Tried first, waited only when there was nothing: no poll on the fast path.
                    wait_for(fd, libc::POLLIN, blocking)?;
                    continue;
                }
                _ => return Err(err),
            }
        }
        // SAFETY: the kernel initialised `n <= want` bytes after the current length.
        unsafe { dst.set_len(dst.len() + n as usize) };
        // SAFETY: `msg` was filled by a successful recvmsg; the CMSG_* macros walk the control
        // buffer within `msg_controllen`, which the kernel set to the bytes it wrote.
        unsafe { collect_rights(&msg, fds) };
        if msg.msg_flags & libc::MSG_CTRUNC != 0 {
            return Err(io::Error::other(
                "a message carried more file descriptors than fit; the extra ones were closed",
            ));
        }
        return Ok(n as usize);
    }
}

/// Takes ownership of every descriptor in the `SCM_RIGHTS` messages of `msg`.
///
/// # Safety
///
/// `msg` must come from a successful `recvmsg` whose control buffer is still alive.
unsafe fn collect_rights(msg: &libc::msghdr, fds: &mut Vec<OwnedFd>) {
    // SAFETY: guaranteed by the caller: the control buffer is valid for `msg_controllen` bytes.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(msg) };
    while !cmsg.is_null() {
        // SAFETY: `cmsg` is non-null and points inside the control buffer (CMSG_FIRSTHDR/NXTHDR
        // never return a header that runs past `msg_controllen`).
        let header = unsafe { &*cmsg };
        if header.cmsg_level == libc::SOL_SOCKET && header.cmsg_type == libc::SCM_RIGHTS {
            // SAFETY: CMSG_LEN(0) is the header size; the data that follows holds descriptors.
            let data_len = header.cmsg_len as usize - unsafe { libc::CMSG_LEN(0) } as usize;
            let count = data_len / size_of::<RawFd>();
            // SAFETY: CMSG_DATA points at `data_len` bytes of this message's payload.
            let data = unsafe { libc::CMSG_DATA(cmsg) }.cast::<RawFd>();
            for i in 0..count {
                // SAFETY: `i < count` keeps the read within the payload; it may be unaligned.
                let raw = unsafe { data.add(i).read_unaligned() };
                // SAFETY: the kernel just installed `raw` in our table for us; nobody else owns it.
                fds.push(unsafe { OwnedFd::from_raw_fd(raw) });
            }
        }
        // SAFETY: `msg` and `cmsg` are valid as above.
        cmsg = unsafe { libc::CMSG_NXTHDR(msg, cmsg) };
    }
}

/// Writes as much of `parts` as the socket takes in one call, attaching `fds` to the first
/// byte. Returns the number of bytes written (at least 1 unless `parts` is empty).
pub(crate) fn send_parts(
    fd: BorrowedFd<'_>,
    parts: &[&[u8]],
    fds: &[RawFd],
    blocking: Blocking,
) -> io::Result<usize> {
    assert!(fds.len() <= MAX_FDS_PER_MESSAGE, "checked by the caller");
    let mut iovs: Vec<libc::iovec> = parts
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| libc::iovec {
            iov_base: p.as_ptr() as *mut _,
            iov_len: p.len(),
        })
        .collect();
    let mut control = [0_u64; 128];
    loop {
        // SAFETY: an all-zero msghdr is a valid "no address, no iovecs, no control" header.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iovs.as_mut_ptr();
        msg.msg_iovlen = iovs.len() as _;
        if !fds.is_empty() {
            let data_len = std::mem::size_of_val(fds) as u32;
            // SAFETY: CMSG_SPACE only computes a size.
            let space = unsafe { libc::CMSG_SPACE(data_len) } as usize;
            debug_assert!(space <= size_of::<[u64; 128]>());
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = space as _;
            // SAFETY: the control buffer holds `space` bytes, enough for one header and
            // `fds.len()` descriptors; CMSG_FIRSTHDR returns its start.
            unsafe {
                let cmsg = libc::CMSG_FIRSTHDR(&msg);
                (*cmsg).cmsg_level = libc::SOL_SOCKET;
                (*cmsg).cmsg_type = libc::SCM_RIGHTS;
                (*cmsg).cmsg_len = libc::CMSG_LEN(data_len) as _;
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                for (i, raw) in fds.iter().enumerate() {
                    data.add(i).write_unaligned(*raw);
                }
            }
        }
        let flags = flags_for(blocking) | libc::MSG_NOSIGNAL;
        // SAFETY: `msg` points at iovecs over live borrowed slices and at an initialised
        // control buffer; the kernel only reads them.
        let n = unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, flags) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock if matches!(blocking, Blocking::Until(_)) => {
                // Tried first, waited only when there was nothing: no poll on the fast path.
                wait_for(fd, libc::POLLOUT, blocking)?;
                continue;
            }
            _ => return Err(err),
        }
    }
}

/// Writes all of `parts` (descriptors ride on the first byte). On a `WouldBlock` or `TimedOut`
/// error, `written` says how far it got so the caller can resume.
pub(crate) fn send_all(
    fd: BorrowedFd<'_>,
    parts: &[&[u8]],
    mut fds: &[RawFd],
    written: &mut usize,
    blocking: Blocking,
) -> io::Result<()> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    while *written < total || !fds.is_empty() {
        let rest = skip(parts, *written);
        let n = send_parts(fd, &rest, fds, blocking)?;
        if n == 0 && total > 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        *written += n;
        fds = &[];
    }
    Ok(())
}

/// The parts that remain after skipping the first `n` bytes.
fn skip<'a>(parts: &[&'a [u8]], mut n: usize) -> Vec<&'a [u8]> {
    let mut rest = Vec::with_capacity(parts.len());
    for part in parts {
        if n >= part.len() {
            n -= part.len();
        } else {
            rest.push(&part[n..]);
            n = 0;
        }
    }
    rest
}

/// Sets or clears `FD_CLOEXEC`.
pub(crate) fn set_cloexec(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    let flags = FdFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFD)?);
    let flags = if on {
        flags | FdFlag::FD_CLOEXEC
    } else {
        flags - FdFlag::FD_CLOEXEC
    };
    fcntl(fd, FcntlArg::F_SETFD(flags))?;
    Ok(())
}

/// Whether `FD_CLOEXEC` is set.
pub(crate) fn is_cloexec(fd: BorrowedFd<'_>) -> io::Result<bool> {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    let flags = FdFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFD)?);
    Ok(flags.contains(FdFlag::FD_CLOEXEC))
}

/// A close-on-exec duplicate of `fd`.
pub(crate) fn dup_cloexec(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    fd.try_clone_to_owned()
}

/// Registers `inner` with the current tokio runtime's reactor.
///
/// # Safety
///
/// The descriptor `inner.as_raw_fd()` returns must stay open, and refer to the same open file,
/// until the returned `AsyncFd` is dropped.
pub(crate) unsafe fn register_async<T: AsRawFd>(
    inner: T,
    interest: tokio::io::Interest,
) -> io::Result<tokio::io::unix::AsyncFd<T>> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(io::Error::other(
            "async operations need a tokio runtime with I/O enabled",
        ));
    }
    // SAFETY: the caller guarantees the descriptor outlives the registration; a runtime is
    // current, so registration reports errors instead of panicking.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(inner, interest) }
        .map_err(|e| e.into_parts().1)
}
