//! [`pipe`]: a connected pair of [`Connection`]s.

use crate::connection::Connection;
use crate::sys;
use nix::sys::socket::Shutdown;
use std::io;
use std::os::fd::AsFd;

/// Python's `Pipe(duplex)`: two connected ends.
///
/// `pipe(true)` returns two ends that both send and receive. `pipe(false)` returns
/// `(reader, writer)`: the first end only receives and the second only sends; using an end the
/// wrong way fails with [`ConnectionError::ReadOnly`](crate::ConnectionError::ReadOnly) or
/// [`ConnectionError::WriteOnly`](crate::ConnectionError::WriteOnly).
///
/// Both kinds are Unix stream sockets (a one-way pipe has its unused direction shut down), so
/// either kind can carry file descriptors and be sent to another process. The descriptors are
/// close-on-exec: a program started with `exec` does not inherit them.
///
/// ```
/// use procvisor_wire::pipe;
///
/// let (mut reader, mut writer) = pipe(false)?;
/// writer.send_bytes(b"one way")?;
/// assert_eq!(reader.recv_bytes(None)?, b"one way");
/// assert!(reader.send_bytes(b"back").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// When the process is out of file descriptors.
#[doc(alias = "Pipe")]
pub fn pipe(duplex: bool) -> io::Result<(Connection, Connection)> {
    let (a, b) = sys::socketpair()?;
    if duplex {
        return Ok((
            Connection::from_fd(a, true, true),
            Connection::from_fd(b, true, true),
        ));
    }
    sys::shutdown(a.as_fd(), Shutdown::Write)?;
    sys::shutdown(b.as_fd(), Shutdown::Read)?;
    Ok((
        Connection::from_fd(a, true, false),
        Connection::from_fd(b, false, true),
    ))
}
