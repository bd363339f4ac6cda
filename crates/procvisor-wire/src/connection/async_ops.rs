//! The async twins of [`Connection`]'s blocking operations.

use super::{
    Buffered, Connection, PendingWrite, RawFdRef, SocketSource, checked_range, copy_into,
    decode_frame, frame_error, read_through,
};
use crate::codec;
use crate::error::ConnectionError;
use crate::fd_passing;
use crate::frame::{self, Frame};
use crate::sys::{self, Blocking};
use serde::{Serialize, de::DeserializeOwned};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::time::Duration;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

impl Connection {
    /// Async twin of [`send`](Self::send).
    ///
    /// # Cancel safety
    ///
    /// A message whose future is dropped is either not sent at all or sent whole: once queued,
    /// it is written before the next message sent on this end (by either API). The peer never
    /// sees a torn or duplicated message.
    pub async fn send_async<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<(), ConnectionError> {
        self.check_writable()?;
        self.flush_pending_async().await?;
        let mut frame = vec![0; 12];
        let (encoded, fds) = fd_passing::collect_fds(|| codec::encode_into(value, &mut frame));
        encoded?;
        self.queue_frame(frame, &fds)?;
        self.flush_pending_async().await
    }

    /// Async twin of [`send_bytes`](Self::send_bytes). Cancel safety as
    /// [`send_async`](Self::send_async).
    pub async fn send_bytes_async(&mut self, bytes: &[u8]) -> Result<(), ConnectionError> {
        self.check_writable()?;
        self.flush_pending_async().await?;
        let mut frame = Vec::with_capacity(12 + bytes.len());
        frame.extend_from_slice(&[0; 12]);
        frame.extend_from_slice(bytes);
        self.queue_frame(frame, &[])?;
        self.flush_pending_async().await
    }

    /// Async twin of [`send_bytes_range`](Self::send_bytes_range).
    pub async fn send_bytes_range_async(
        &mut self,
        bytes: &[u8],
        offset: usize,
        size: Option<usize>,
    ) -> Result<(), ConnectionError> {
        let range = checked_range(bytes.len(), offset, size)?;
        self.send_bytes_async(&bytes[range]).await
    }

    /// Async twin of [`recv`](Self::recv).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a message partly received when the future is dropped is kept and completed
    /// by the next receive.
    pub async fn recv_async<T: DeserializeOwned>(&mut self) -> Result<T, ConnectionError> {
        decode_frame(self.read_frame_async(None).await?)
    }

    /// Async twin of [`recv_bytes`](Self::recv_bytes). Cancel safe as
    /// [`recv_async`](Self::recv_async).
    pub async fn recv_bytes_async(
        &mut self,
        maxlength: Option<usize>,
    ) -> Result<Vec<u8>, ConnectionError> {
        Ok(self.read_frame_async(maxlength).await?.payload)
    }

    /// Async twin of [`recv_bytes_into`](Self::recv_bytes_into). Cancel safe as
    /// [`recv_async`](Self::recv_async).
    pub async fn recv_bytes_into_async(
        &mut self,
        buf: &mut [u8],
        offset: usize,
    ) -> Result<usize, ConnectionError> {
        if offset > buf.len() {
            return Err(ConnectionError::InvalidArgument("offset too large"));
        }
        let payload = self.read_frame_async(None).await?.payload;
        copy_into(payload, buf, offset)
    }

    /// Waits until a message (or end of file) is ready to be received; never consumes
    /// anything. Bound it with `tokio::time::timeout` (it is cancel safe).
    ///
    /// # Errors
    ///
    /// As [`poll`](Self::poll).
    pub async fn poll_async(&self) -> Result<(), ConnectionError> {
        self.poll_async_for(None).await.map(drop)
    }

    async fn poll_async_for(&self, timeout: Option<Duration>) -> Result<bool, ConnectionError> {
        self.check_readable()?;
        if self.buffered() > 0 {
            return Ok(true);
        }
        let ready = async {
            let async_fd = registered(&self.async_fd, &self.async_init, self.fd.as_ref())?;
            loop {
                let mut guard = async_fd.readable().await.map_err(ConnectionError::Io)?;
                // The reactor's readiness may be stale after a blocking receive; ask the kernel.
                if sys::poll_one(self.open_fd()?, libc::POLLIN, Some(Duration::ZERO))
                    .map_err(ConnectionError::Io)?
                {
                    return Ok(true);
                }
                guard.clear_ready();
            }
        };
        match timeout {
            None => ready.await,
            Some(t) => tokio::time::timeout(t, ready).await.unwrap_or(Ok(false)),
        }
    }

    /// Stores a complete frame (header space first) as the pending write.
    fn queue_frame(&mut self, mut frame: Vec<u8>, fds: &[RawFd]) -> Result<(), ConnectionError> {
        let payload_len = frame.len() - 12;
        self.check_frame_size(payload_len, fds)?;
        let mut header = [0; 12];
        let header = frame::encode_header(payload_len, &mut header).to_vec();
        // Put the header right before the payload and drop the unused header space.
        let start = 12 - header.len();
        frame[start..12].copy_from_slice(&header);
        frame.drain(..start);
        // Own the descriptors: the values they belong to may be gone before a resumed flush.
        let fds: Vec<OwnedFd> = fds
            .iter()
            // SAFETY: each raw descriptor was registered by a value borrowed for this call.
            .map(|&raw| unsafe { std::os::fd::BorrowedFd::borrow_raw(raw) }.try_clone_to_owned())
            .collect::<io::Result<_>>()
            .map_err(ConnectionError::Io)?;
        debug_assert!(self.pending.is_empty(), "flushed by the caller");
        self.pending = PendingWrite {
            frame,
            fds,
            written: 0,
        };
        Ok(())
    }

    /// Writes what a timed-out send left owed ([`owes`](Self::owes)), waiting for room without
    /// blocking the thread; at once when nothing is owed.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use procvisor_wire::pipe;
    /// use std::time::Duration;
    ///
    /// let (mut a, mut b) = pipe(true)?;
    /// a.send_timeout(&7_u32, Duration::ZERO)?;
    /// a.flush_async().await?;
    /// assert_eq!(b.recv::<u32>()?, 7);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`BrokenPipe`](ConnectionError::BrokenPipe) when the peer has closed (the owed bytes are
    /// dropped), [`Closed`](ConnectionError::Closed).
    pub async fn flush_async(&mut self) -> Result<(), ConnectionError> {
        self.flush_pending_async().await
    }

    async fn flush_pending_async(&mut self) -> Result<(), ConnectionError> {
        while !self.pending.is_empty() {
            let async_fd = registered(&self.async_fd, &self.async_init, self.fd.as_ref())?;
            let mut guard = async_fd.writable().await.map_err(ConnectionError::Io)?;
            let fd = self.fd.as_ref().ok_or(ConnectionError::Closed)?.as_fd();
            let raw: Vec<RawFd> = if self.pending.written == 0 {
                self.pending.fds.iter().map(|f| f.as_raw_fd()).collect()
            } else {
                Vec::new()
            };
            match sys::send_all(
                fd,
                &[&self.pending.frame],
                &raw,
                &mut self.pending.written,
                Blocking::Never,
            ) {
                Ok(()) => self.pending = PendingWrite::default(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => guard.clear_ready(),
                Err(e) => {
                    self.pending = PendingWrite::default();
                    return Err(ConnectionError::from_send_io(e));
                }
            }
        }
        Ok(())
    }

    async fn read_frame_async(
        &mut self,
        maxlength: Option<usize>,
    ) -> Result<Frame, ConnectionError> {
        self.check_readable()?;
        if self.buffered() > 0 {
            // Whole messages may be in memory already: no need to wait for the socket.
            let fd = self.fd.as_ref().ok_or(ConnectionError::Closed)?.as_fd();
            let source = SocketSource {
                fd,
                blocking: Blocking::Never,
                spin: None,
            };
            let ahead = self.ahead.as_mut().expect("buffered");
            let mut source = Buffered {
                ahead,
                inner: source,
                refill: false,
            };
            match self.reader.read(&mut source, self.max_frame, maxlength) {
                Err(frame::FrameError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return self.with_fds(other.map_err(frame_error)?),
            }
        }
        loop {
            let async_fd = registered(&self.async_fd, &self.async_init, self.fd.as_ref())?;
            let mut guard = async_fd.readable().await.map_err(ConnectionError::Io)?;
            let fd = self.fd.as_ref().ok_or(ConnectionError::Closed)?.as_fd();
            let source = SocketSource {
                fd,
                blocking: Blocking::Never,
                spin: None,
            };
            let read = read_through(
                &mut self.reader,
                self.ahead.as_mut(),
                source,
                self.max_frame,
                maxlength,
            );
            match read {
                Err(frame::FrameError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    guard.clear_ready()
                }
                other => return self.with_fds(other.map_err(frame_error)?),
            }
        }
    }
}

/// The reactor registration of a connection's descriptor, made on first async use. A free
/// function over the fields so callers can keep borrowing the connection's other fields.
fn registered<'a>(
    async_fd: &'a std::sync::OnceLock<AsyncFd<RawFdRef>>,
    init: &std::sync::Mutex<()>,
    fd: Option<&OwnedFd>,
) -> Result<&'a AsyncFd<RawFdRef>, ConnectionError> {
    if let Some(registered) = async_fd.get() {
        return Ok(registered);
    }
    // Only `poll_async` registers through `&self`, so two tasks may race here; the kernel
    // refuses a second registration of one descriptor, so serialise them.
    let _init = init.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(registered) = async_fd.get() {
        return Ok(registered);
    }
    let raw = fd.ok_or(ConnectionError::Closed)?.as_raw_fd();
    // SAFETY: the registration lives in the connection's `async_fd`, which is declared before
    // (so dropped before) the `fd` it refers to, and `close` drops it before closing `fd`.
    let registration =
        unsafe { sys::register_async(RawFdRef(raw), Interest::READABLE | Interest::WRITABLE) }
            .map_err(ConnectionError::Io)?;
    let _ = async_fd.set(registration);
    Ok(async_fd.get().expect("just set"))
}
