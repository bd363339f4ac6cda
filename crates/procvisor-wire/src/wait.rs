//! [`wait`]: which of several objects is ready.

use crate::connection::Connection;
use crate::error::ConnectionError;
use crate::sys;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::task::Poll;
use std::time::Duration;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Something [`wait`] can wait on: it is ready when its descriptor is readable (or at end of
/// file).
pub trait Waitable {
    /// The descriptor that becomes readable when this object is ready.
    ///
    /// # Errors
    ///
    /// When the object is closed.
    fn wait_fd(&self) -> io::Result<BorrowedFd<'_>>;

    /// Whether it is ready without looking at its descriptor (a connection with messages read
    /// ahead into memory).
    fn ready_in_memory(&self) -> bool {
        false
    }
}

impl Waitable for Connection {
    fn wait_fd(&self) -> io::Result<BorrowedFd<'_>> {
        if !self.readable() {
            return Err(io::Error::other(ConnectionError::WriteOnly));
        }
        self.fileno().map_err(io::Error::other)?;
        Ok(self.as_fd())
    }

    fn ready_in_memory(&self) -> bool {
        self.buffered() > 0
    }
}

impl Waitable for OwnedFd {
    fn wait_fd(&self) -> io::Result<BorrowedFd<'_>> {
        Ok(self.as_fd())
    }
}

impl Waitable for BorrowedFd<'_> {
    fn wait_fd(&self) -> io::Result<BorrowedFd<'_>> {
        Ok(self.as_fd())
    }
}

impl<T: Waitable + ?Sized> Waitable for &T {
    fn wait_fd(&self) -> io::Result<BorrowedFd<'_>> {
        (**self).wait_fd()
    }

    fn ready_in_memory(&self) -> bool {
        (**self).ready_in_memory()
    }
}

impl<T: Waitable + ?Sized> Waitable for &mut T {
    fn wait_fd(&self) -> io::Result<BorrowedFd<'_>> {
        (**self).wait_fd()
    }

    fn ready_in_memory(&self) -> bool {
        (**self).ready_in_memory()
    }
}

/// Python's `multiprocessing.connection.wait`: waits until at least one object is ready, and
/// returns the indices of the ready objects in order. [`wait_timeout`] gives up after a time.
///
/// A connection is ready when a message can be received or the peer has closed; a process
/// sentinel (from the runtime) when the process has ended.
///
/// ```
/// use procvisor_wire::{pipe, wait, wait_timeout};
/// use std::time::Duration;
///
/// let (a, mut a_peer) = pipe(true)?;
/// let (b, _b_peer) = pipe(true)?;
/// assert!(wait_timeout(&[&a, &b], Duration::ZERO)?.is_empty());
/// a_peer.send(&1)?;
/// assert_eq!(wait(&[&a, &b])?, vec![0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// When an object is closed or not readable, or `ppoll` fails.
pub fn wait<W: Waitable>(objects: &[W]) -> io::Result<Vec<usize>> {
    wait_for(objects, None)
}

/// [`wait`], at most `timeout`: an empty list when nothing became ready in time (Python's
/// `wait(object_list, timeout)`).
///
/// # Errors
///
/// As [`wait`].
pub fn wait_timeout<W: Waitable>(objects: &[W], timeout: Duration) -> io::Result<Vec<usize>> {
    wait_for(objects, Some(timeout))
}

fn wait_for<W: Waitable>(objects: &[W], timeout: Option<Duration>) -> io::Result<Vec<usize>> {
    if let Some(ready) = ready_in_memory(objects)? {
        return Ok(ready);
    }
    let fds = objects
        .iter()
        .map(|o| o.wait_fd())
        .collect::<io::Result<Vec<_>>>()?;
    sys::poll_many(&fds, libc::POLLIN, timeout)
}

/// The objects ready without a look at their descriptors, if any (checking the others too,
/// so that a closed one is still an error).
fn ready_in_memory<W: Waitable>(objects: &[W]) -> io::Result<Option<Vec<usize>>> {
    let ready: Vec<usize> = (0..objects.len())
        .filter(|&i| objects[i].ready_in_memory())
        .collect();
    if ready.is_empty() {
        return Ok(None);
    }
    for object in objects {
        object.wait_fd()?;
    }
    Ok(Some(ready))
}

/// Async twin of [`wait`]. Bound it with `tokio::time::timeout`.
///
/// # Cancel safety
///
/// Cancel safe: it consumes nothing.
///
/// # Errors
///
/// As [`wait`], plus an error when called outside a tokio runtime.
pub async fn wait_async<W: Waitable>(objects: &[W]) -> io::Result<Vec<usize>> {
    if let Some(ready) = ready_in_memory(objects)? {
        return Ok(ready);
    }
    // Duplicates get their own reactor registrations, independent of the objects' own.
    let registered = objects
        .iter()
        .map(|o| {
            let fd = o.wait_fd()?.try_clone_to_owned()?;
            // SAFETY: the AsyncFd owns this duplicate, so it stays open for its whole life.
            unsafe { sys::register_async(fd, Interest::READABLE) }
        })
        .collect::<io::Result<Vec<AsyncFd<OwnedFd>>>>()?;
    let ready = std::future::poll_fn(|cx| {
        let mut ready = Vec::new();
        for (i, fd) in registered.iter().enumerate() {
            // Until the reactor says "not ready" (which registers the waker) or the kernel
            // confirms readiness: the reactor's cached readiness can be stale.
            loop {
                match fd.poll_read_ready(cx) {
                    Poll::Pending => break,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(mut guard)) => {
                        if sys::poll_one(fd.get_ref().as_fd(), libc::POLLIN, Some(Duration::ZERO))?
                        {
                            ready.push(i);
                            break;
                        }
                        guard.clear_ready();
                    }
                }
            }
        }
        if ready.is_empty() {
            Poll::Pending
        } else {
            Poll::Ready(Ok(ready))
        }
    });
    ready.await
}
