//! [`Connection`]: one end of a message stream between two processes.

mod async_ops;
mod read_ahead;
mod serde_impl;

use read_ahead::{Buffered, ReadAhead};

use crate::codec;
use crate::error::ConnectionError;
use crate::fd_passing;
use crate::frame::{self, ByteSource, Frame, FrameError, FrameReader};
use crate::spin::Spin;
use crate::sys::{self, Blocking};
use serde::{Serialize, de::DeserializeOwned};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;

/// One end of a message-oriented connection: Python's `multiprocessing.connection.Connection`.
///
/// Messages are typed values ([`send`](Self::send) / [`recv`](Self::recv), encoded with the
/// crate's [codec](crate::codec)) or raw byte strings ([`send_bytes`](Self::send_bytes) /
/// [`recv_bytes`](Self::recv_bytes)); each message arrives whole and in order. Connections come
/// from [`pipe`](crate::pipe), [`Listener::accept`](crate::Listener::accept) and
/// [`Client::connect`](crate::Client::connect), and can themselves be sent to another process
/// inside a message.
///
/// ```
/// use procvisor_wire::pipe;
///
/// let (mut parent, mut child) = pipe(true)?;
/// child.send(&(42, None::<i32>, "hello"))?;
/// let got: (i32, Option<i32>, String) = parent.recv()?;
/// assert_eq!(got, (42, None, "hello".to_string()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Sharing
///
/// Sending and receiving take `&mut self`: one message at a time per end, enforced by the
/// borrow checker instead of a hidden lock. To receive on one thread while another sends, give
/// each a handle from [`try_clone`](Self::try_clone); two threads must never receive on the same
/// end concurrently (as in Python, they would split messages between them unpredictably).
///
/// # Async
///
/// Every blocking operation has an `_async` twin (for example [`recv_async`](Self::recv_async)).
/// The async twins run on the tokio runtime that first uses them. A receive future that is
/// dropped keeps the part of the message it read; the next receive completes that message. A send
/// future that is dropped after it started writing finishes writing that message before the next
/// one (no torn frames).
///
/// # Drop
///
/// Dropping a `Connection` closes its descriptor; the peer then sees end of file once it has read
/// everything sent before. [`close`](Self::close) does the same explicitly.
pub struct Connection {
    // Declared before `fd`: the reactor registration must go before the descriptor closes.
    async_fd: OnceLock<AsyncFd<RawFdRef>>,
    async_init: Mutex<()>,
    fd: Option<OwnedFd>,
    readable: bool,
    writable: bool,
    max_frame: usize,
    reader: FrameReader,
    /// A frame an interrupted async send still has to finish.
    pending: PendingWrite,
    /// Reused encoding buffer for typed sends.
    scratch: Vec<u8>,
    spin: Spin,
    /// Bytes received beyond the current message (see [`set_read_ahead`](Self::set_read_ahead)).
    ahead: Option<ReadAhead>,
}

#[derive(Debug, Default)]
struct PendingWrite {
    frame: Vec<u8>,
    fds: Vec<OwnedFd>,
    written: usize,
}

impl PendingWrite {
    fn is_empty(&self) -> bool {
        self.frame.is_empty() && self.fds.is_empty()
    }
}

/// A non-owning descriptor for the async reactor; the `Connection` owns the real one.
#[derive(Debug)]
struct RawFdRef(RawFd);

impl AsRawFd for RawFdRef {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

impl Connection {
    /// Wraps a connected stream socket (Unix or TCP) as a connection end.
    ///
    /// `readable` and `writable` say which directions this end may use; the other direction
    /// fails with [`ConnectionError::WriteOnly`] / [`ConnectionError::ReadOnly`].
    pub fn from_fd(fd: OwnedFd, readable: bool, writable: bool) -> Self {
        Self {
            async_fd: OnceLock::new(),
            async_init: Mutex::new(()),
            fd: Some(fd),
            readable,
            writable,
            max_frame: frame::DEFAULT_MAX_FRAME_SIZE,
            reader: FrameReader::default(),
            pending: PendingWrite::default(),
            scratch: Vec::new(),
            spin: Spin::default(),
            ahead: None,
        }
    }

    /// Whether this end may receive.
    pub fn readable(&self) -> bool {
        self.readable
    }

    /// Whether this end may send.
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Whether [`close`](Self::close) has been called.
    pub fn closed(&self) -> bool {
        self.fd.is_none()
    }

    /// The largest message, in bytes, this end sends or accepts. Defaults to
    /// [`DEFAULT_MAX_FRAME_SIZE`](crate::DEFAULT_MAX_FRAME_SIZE) (256 MiB).
    pub fn max_frame_size(&self) -> usize {
        self.max_frame
    }

    /// Sets the largest message this end sends or accepts. A longer incoming message is refused
    /// from its header, before anything is allocated.
    pub fn set_max_frame_size(&mut self, bytes: usize) {
        self.max_frame = bytes;
    }

    /// How long a blocking receive polls for a message before it sleeps.
    pub fn receive_spin(&self) -> Duration {
        self.spin.max()
    }

    /// Sets how long a blocking receive polls for a message before it sleeps (default
    /// [`DEFAULT_SPIN`](crate::DEFAULT_SPIN), 50 µs; zero never polls).
    ///
    /// Waking a sleeping process costs a scheduler round trip, and on virtual machines waking an
    /// idle CPU costs tens of microseconds: a short poll turns a request–reply exchange into a
    /// few microseconds. The poll adapts: on a connection whose messages arrive rarely it shrinks
    /// to nothing after a few waits, and it yields the CPU between polls. Async receives never
    /// poll.
    pub fn set_receive_spin(&mut self, spin: Duration) {
        self.spin = Spin::new(spin);
    }

    /// Lets each receive take in up to `bytes` of what has arrived, so that the messages behind
    /// the first come from memory, without a system call each (`0`: off, the default).
    ///
    /// For a private link that one handle reads: messages read ahead live in this handle, so a
    /// [`try_clone`](Self::try_clone) of it, or the same connection sent to another process
    /// (refused while messages are buffered), would not see them. Descriptors sent with
    /// messages still arrive with their own message.
    ///
    /// # Errors
    ///
    /// [`ConnectionError::InvalidArgument`] when turning it off with messages buffered.
    pub fn set_read_ahead(&mut self, bytes: usize) -> Result<(), ConnectionError> {
        match (&self.ahead, bytes) {
            (Some(ahead), 0) if ahead.buffered() > 0 => Err(ConnectionError::InvalidArgument(
                "cannot turn read-ahead off while messages are buffered",
            )),
            (_, 0) => {
                self.ahead = None;
                Ok(())
            }
            (Some(ahead), _) if ahead.buffered() > 0 => Err(ConnectionError::InvalidArgument(
                "cannot resize read-ahead while messages are buffered",
            )),
            _ => {
                self.ahead = Some(ReadAhead::new(bytes));
                Ok(())
            }
        }
    }

    /// Bytes received and not yet consumed (with read-ahead on).
    pub(crate) fn buffered(&self) -> usize {
        self.ahead.as_ref().map_or(0, ReadAhead::buffered)
    }

    /// Receives a message only if it is already in memory (read-ahead): never waits, never makes
    /// a system call. `None` when no whole message is buffered (a partial one is kept).
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    pub fn try_recv_buffered<T: DeserializeOwned>(&mut self) -> Option<Result<T, ConnectionError>> {
        if self.buffered() == 0 || self.check_readable().is_err() {
            return None;
        }
        let ahead = self.ahead.as_mut()?;
        let mut source = Buffered {
            ahead,
            inner: NoSource,
            refill: false,
        };
        match self.reader.read(&mut source, self.max_frame, None) {
            Err(FrameError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => None,
            Err(e) => Some(Err(frame_error(e))),
            Ok(frame) => Some(self.with_fds(frame).and_then(decode_frame)),
        }
    }

    /// Gives a frame read through the read-ahead buffer its descriptors.
    fn with_fds(&mut self, mut frame: Frame) -> Result<Frame, ConnectionError> {
        if let Some(ahead) = self.ahead.as_mut() {
            let end = ahead.position();
            frame.fds = ahead.take_fds(end - self.reader.last_len(), end);
        }
        Ok(frame)
    }

    /// The underlying descriptor (Python's `fileno()`).
    ///
    /// # Errors
    ///
    /// [`ConnectionError::Closed`] after [`close`](Self::close).
    pub fn fileno(&self) -> Result<RawFd, ConnectionError> {
        Ok(self.open_fd()?.as_raw_fd())
    }

    /// Closes this end. Idempotent. Pending unread messages are discarded; the peer sees end of
    /// file after what was already sent.
    pub fn close(&mut self) {
        drop(self.async_fd.take());
        self.fd = None;
        self.reader = FrameReader::default();
        if let Some(ahead) = self.ahead.as_mut() {
            *ahead = ReadAhead::new(0);
        }
        self.pending = PendingWrite::default();
    }

    /// Another handle on the same connection (a duplicated descriptor), for example to send from
    /// one thread while another receives.
    ///
    /// # Errors
    ///
    /// [`ConnectionError::Closed`], or an I/O error when out of descriptors.
    pub fn try_clone(&self) -> Result<Connection, ConnectionError> {
        let fd = sys::dup_cloexec(self.open_fd()?).map_err(ConnectionError::Io)?;
        let mut clone = Connection::from_fd(fd, self.readable, self.writable);
        clone.max_frame = self.max_frame;
        Ok(clone)
    }

    /// Sends a typed value as one message. Descriptors inside it (connections, shared
    /// descriptors) travel with it.
    ///
    /// # Errors
    ///
    /// [`ReadOnly`](ConnectionError::ReadOnly), [`Closed`](ConnectionError::Closed),
    /// [`Codec`](ConnectionError::Codec) when the value cannot be encoded (nothing is sent),
    /// [`FrameTooLarge`](ConnectionError::FrameTooLarge) (nothing is sent),
    /// [`BrokenPipe`](ConnectionError::BrokenPipe) when the peer has closed.
    pub fn send<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConnectionError> {
        self.send_until(value, Blocking::Forever)
    }

    /// [`send`](Self::send), waiting at most `timeout` for the peer to make room (a peer that is
    /// stopped, or cut off, stops reading).
    ///
    /// On a timeout the message was not sent whole: what was written stays owed, and the next
    /// send on this end finishes it first, so the stream is never torn. A caller that gives up
    /// on the peer closes the connection.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), and [`Timeout`](ConnectionError::Timeout).
    pub fn send_timeout<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
        timeout: Duration,
    ) -> Result<(), ConnectionError> {
        self.send_until(value, Blocking::from_timeout(Some(timeout)))
    }

    /// Whether part of a message is still to be written: a send that timed out after it had
    /// begun leaves the rest owed. The next send writes it first, or
    /// [`flush_async`](Self::flush_async) does.
    ///
    /// ```
    /// use procvisor_wire::pipe;
    /// use std::time::Duration;
    ///
    /// let (mut a, _b) = pipe(true)?;
    /// a.send_timeout(&"small", Duration::ZERO)?; // an empty socket takes it at once
    /// assert!(!a.owes());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn owes(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Encodes `value` as one frame (its header written in place, so the frame goes out in one
    /// piece) and writes it while `blocking` allows.
    fn send_until<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
        blocking: Blocking,
    ) -> Result<(), ConnectionError> {
        self.check_writable()?;
        self.flush_pending(blocking)?;
        let mut frame = std::mem::take(&mut self.scratch);
        frame.clear();
        frame.resize(12, 0);
        let (encoded, fds) = fd_passing::collect_fds(|| codec::encode_into(value, &mut frame));
        let result = encoded
            .map_err(ConnectionError::from)
            .and_then(|()| self.write_frame_until(&mut frame, &fds, blocking));
        self.scratch = frame;
        result
    }

    /// Writes `frame` (12 bytes of header space, then the payload) until `blocking` allows; what
    /// is left when it runs out becomes the pending write.
    fn write_frame_until(
        &mut self,
        frame: &mut [u8],
        fds: &[RawFd],
        blocking: Blocking,
    ) -> Result<(), ConnectionError> {
        let payload_len = frame.len() - 12;
        self.check_frame_size(payload_len, fds)?;
        let mut header = [0; 12];
        let header = frame::encode_header(payload_len, &mut header);
        let start = 12 - header.len();
        frame[start..12].copy_from_slice(header);
        let whole = &frame[start..];
        let fd = self.open_fd()?;
        let mut written = 0;
        match sys::send_all(fd, &[whole], fds, &mut written, blocking) {
            Ok(()) => Ok(()),
            Err(e) => {
                let error = ConnectionError::from_send_io(e);
                if error.is_timeout() && written > 0 {
                    // The descriptors went with the first byte; the rest of the bytes are owed.
                    self.pending = PendingWrite {
                        frame: whole.to_vec(),
                        fds: Vec::new(),
                        written,
                    };
                }
                Err(error)
            }
        }
    }

    /// The bytes a [`send`](Self::send) of `value` writes: one whole message, header included.
    /// For a place that cannot encode when it must send (a signal handler, which may only make a
    /// plain `write` of bytes prepared beforehand). The value must not hold descriptors.
    ///
    /// ```
    /// use procvisor_wire::{Connection, pipe};
    /// use std::io::Write;
    /// use std::os::fd::AsFd;
    ///
    /// let (a, mut b) = pipe(true)?;
    /// let bytes = Connection::message_bytes(&"last words")?;
    /// std::fs::File::from(a.as_fd().try_clone_to_owned()?).write_all(&bytes)?;
    /// assert_eq!(b.recv::<String>()?, "last words");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Codec`](ConnectionError::Codec) when the value cannot be encoded;
    /// [`InvalidArgument`](ConnectionError::InvalidArgument) when it refers to descriptors.
    pub fn message_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, ConnectionError> {
        let mut payload = Vec::new();
        let (encoded, fds) = fd_passing::collect_fds(|| codec::encode_into(value, &mut payload));
        encoded.map_err(ConnectionError::from)?;
        if !fds.is_empty() {
            return Err(ConnectionError::InvalidArgument(
                "a message prepared as bytes cannot carry file descriptors",
            ));
        }
        let mut header = [0; 12];
        let header = frame::encode_header(payload.len(), &mut header);
        let mut bytes = Vec::with_capacity(header.len() + payload.len());
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(&payload);
        Ok(bytes)
    }

    /// Sends `bytes` as one message.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), without the codec error.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<(), ConnectionError> {
        self.check_writable()?;
        self.write_frame(bytes, &[])
    }

    /// Sends `bytes[offset..offset + size]` as one message (`size` `None`: to the end), with
    /// Python's argument checks.
    ///
    /// # Errors
    ///
    /// [`InvalidArgument`](ConnectionError::InvalidArgument) when the range is outside `bytes`;
    /// otherwise as [`send_bytes`](Self::send_bytes).
    pub fn send_bytes_range(
        &mut self,
        bytes: &[u8],
        offset: usize,
        size: Option<usize>,
    ) -> Result<(), ConnectionError> {
        let range = checked_range(bytes.len(), offset, size)?;
        self.send_bytes(&bytes[range])
    }

    /// Receives one typed message, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// [`Eof`](ConnectionError::Eof) when the peer closed and everything it sent has been
    /// received; [`Codec`](ConnectionError::Codec) when the message is not a `T` (the message is
    /// consumed); [`WriteOnly`](ConnectionError::WriteOnly); [`Closed`](ConnectionError::Closed).
    pub fn recv<T: DeserializeOwned>(&mut self) -> Result<T, ConnectionError> {
        let frame = self.read_frame(None, Blocking::Forever)?;
        decode_frame(frame)
    }

    /// Receives one typed message, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Timeout`](ConnectionError::Timeout) when nothing complete arrived in time (a partial
    /// message is kept for the next receive); otherwise as [`recv`](Self::recv).
    pub fn recv_timeout<T: DeserializeOwned>(
        &mut self,
        timeout: Duration,
    ) -> Result<T, ConnectionError> {
        let frame = self.read_frame(None, Blocking::from_timeout(Some(timeout)))?;
        decode_frame(frame)
    }

    /// Receives one typed message if one can be read without waiting: `Ok(None)` when the
    /// socket has nothing (more) yet. A message only partly arrived is kept for the next
    /// receive.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    pub fn try_recv<T: DeserializeOwned>(&mut self) -> Result<Option<T>, ConnectionError> {
        match self.read_frame(None, Blocking::Never) {
            Ok(frame) => decode_frame(frame).map(Some),
            Err(ConnectionError::Timeout) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Receives one message as bytes. With `maxlength`, a longer message is discarded (without
    /// being buffered) and reported as [`MessageTooLong`](ConnectionError::MessageTooLong); the
    /// connection stays usable. Descriptors sent with a bytes message are closed.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv), plus [`MessageTooLong`](ConnectionError::MessageTooLong).
    pub fn recv_bytes(&mut self, maxlength: Option<usize>) -> Result<Vec<u8>, ConnectionError> {
        Ok(self.read_frame(maxlength, Blocking::Forever)?.payload)
    }

    /// Receives one message into `buf` starting at byte `offset`; returns the message length.
    ///
    /// # Errors
    ///
    /// [`BufferTooShort`](ConnectionError::BufferTooShort) carrying the whole message when it
    /// does not fit (nothing is lost); [`InvalidArgument`](ConnectionError::InvalidArgument) when
    /// `offset > buf.len()`; otherwise as [`recv`](Self::recv).
    pub fn recv_bytes_into(
        &mut self,
        buf: &mut [u8],
        offset: usize,
    ) -> Result<usize, ConnectionError> {
        if offset > buf.len() {
            return Err(ConnectionError::InvalidArgument("offset too large"));
        }
        let payload = self.read_frame(None, Blocking::Forever)?.payload;
        copy_into(payload, buf, offset)
    }

    /// Whether a message (or end of file) is ready to be received now, without waiting
    /// (Python's `poll()`). Never consumes anything.
    ///
    /// ```
    /// use procvisor_wire::pipe;
    /// use std::time::Duration;
    ///
    /// let (a, mut b) = pipe(true)?;
    /// assert!(!a.poll()?);
    /// b.send(&1)?;
    /// assert!(a.poll_timeout(Duration::from_secs(5))?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`WriteOnly`](ConnectionError::WriteOnly), [`Closed`](ConnectionError::Closed).
    pub fn poll(&self) -> Result<bool, ConnectionError> {
        self.poll_for(Some(Duration::ZERO))
    }

    /// [`poll`](Self::poll), waiting up to `timeout` for a message (Python's `poll(timeout)`;
    /// `Duration::MAX` waits as long as it takes, Python's `poll(None)`).
    ///
    /// # Errors
    ///
    /// As [`poll`](Self::poll).
    pub fn poll_timeout(&self, timeout: Duration) -> Result<bool, ConnectionError> {
        self.poll_for(Some(timeout))
    }

    fn poll_for(&self, timeout: Option<Duration>) -> Result<bool, ConnectionError> {
        self.check_readable()?;
        if self.buffered() > 0 {
            return Ok(true);
        }
        let fd = self.open_fd()?;
        if timeout == Some(Duration::ZERO) {
            // A look without waiting, often in a loop: one poll(2), nothing allocated.
            return sys::readable_now(fd).map_err(ConnectionError::Io);
        }
        sys::poll_one(fd, libc::POLLIN, timeout).map_err(ConnectionError::Io)
    }

    fn open_fd(&self) -> Result<BorrowedFd<'_>, ConnectionError> {
        self.fd
            .as_ref()
            .map(|fd| fd.as_fd())
            .ok_or(ConnectionError::Closed)
    }

    fn check_writable(&self) -> Result<(), ConnectionError> {
        self.open_fd()?;
        if !self.writable {
            return Err(ConnectionError::ReadOnly);
        }
        Ok(())
    }

    fn check_readable(&self) -> Result<(), ConnectionError> {
        self.open_fd()?;
        if !self.readable {
            return Err(ConnectionError::WriteOnly);
        }
        Ok(())
    }

    fn check_frame_size(&self, len: usize, fds: &[RawFd]) -> Result<(), ConnectionError> {
        if len > self.max_frame {
            return Err(ConnectionError::FrameTooLarge {
                length: len as u64,
                limit: self.max_frame,
            });
        }
        if fds.len() > sys::MAX_FDS_PER_MESSAGE {
            return Err(ConnectionError::InvalidArgument(
                "a message can carry at most 253 file descriptors",
            ));
        }
        Ok(())
    }

    /// Writes one frame, blocking until it is all out.
    fn write_frame(&mut self, payload: &[u8], fds: &[RawFd]) -> Result<(), ConnectionError> {
        self.check_frame_size(payload.len(), fds)?;
        self.flush_pending(Blocking::Forever)?;
        let mut header = [0; 12];
        let header = frame::encode_header(payload.len(), &mut header);
        let fd = self.open_fd()?;
        let mut written = 0;
        sys::send_all(fd, &[header, payload], fds, &mut written, Blocking::Forever)
            .map_err(ConnectionError::from_send_io)
    }

    /// Finishes a frame that an interrupted async send left behind.
    fn flush_pending(&mut self, blocking: Blocking) -> Result<(), ConnectionError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let fd = self.fd.as_ref().ok_or(ConnectionError::Closed)?.as_fd();
        let raw: Vec<RawFd> = if self.pending.written == 0 {
            self.pending.fds.iter().map(|f| f.as_raw_fd()).collect()
        } else {
            Vec::new()
        };
        sys::send_all(
            fd,
            &[&self.pending.frame],
            &raw,
            &mut self.pending.written,
            blocking,
        )
        .map_err(ConnectionError::from_send_io)?;
        self.pending = PendingWrite::default();
        Ok(())
    }

    fn read_frame(
        &mut self,
        maxlength: Option<usize>,
        blocking: Blocking,
    ) -> Result<Frame, ConnectionError> {
        self.check_readable()?;
        let fd = self.fd.as_ref().ok_or(ConnectionError::Closed)?.as_fd();
        let source = SocketSource {
            fd,
            blocking,
            spin: Some(&mut self.spin),
        };
        let frame = read_through(
            &mut self.reader,
            self.ahead.as_mut(),
            source,
            self.max_frame,
            maxlength,
        )
        .map_err(frame_error)?;
        self.with_fds(frame)
    }
}

/// Reads a frame from `source`, through the read-ahead buffer when there is one.
fn read_through(
    reader: &mut FrameReader,
    ahead: Option<&mut ReadAhead>,
    mut source: SocketSource<'_>,
    limit: usize,
    maxlength: Option<usize>,
) -> Result<Frame, FrameError> {
    match ahead {
        None => reader.read(&mut source, limit, maxlength),
        Some(ahead) => {
            let mut source = Buffered {
                ahead,
                inner: source,
                refill: true,
            };
            reader.read(&mut source, limit, maxlength)
        }
    }
}

fn decode_frame<T: DeserializeOwned>(frame: Frame) -> Result<T, ConnectionError> {
    let Frame { payload, fds } = frame;
    fd_passing::with_received_fds(fds, || codec::decode(&payload)).map_err(ConnectionError::from)
}

fn copy_into(payload: Vec<u8>, buf: &mut [u8], offset: usize) -> Result<usize, ConnectionError> {
    let len = payload.len();
    if buf.len() - offset < len {
        return Err(ConnectionError::BufferTooShort { message: payload });
    }
    buf[offset..offset + len].copy_from_slice(&payload);
    Ok(len)
}

/// Python's `send_bytes(buf, offset, size)` argument rules.
fn checked_range(
    len: usize,
    offset: usize,
    size: Option<usize>,
) -> Result<std::ops::Range<usize>, ConnectionError> {
    if offset > len {
        return Err(ConnectionError::InvalidArgument("buffer length < offset"));
    }
    let size = size.unwrap_or(len - offset);
    match offset.checked_add(size) {
        Some(end) if end <= len => Ok(offset..end),
        _ => Err(ConnectionError::InvalidArgument(
            "buffer length < offset + size",
        )),
    }
}

fn frame_error(e: FrameError) -> ConnectionError {
    match e {
        FrameError::Eof => ConnectionError::Eof,
        FrameError::Truncated { expected, received } => {
            ConnectionError::Truncated { expected, received }
        }
        FrameError::TooLarge { length, limit } => ConnectionError::FrameTooLarge { length, limit },
        FrameError::BadHeader(n) => {
            ConnectionError::Protocol(format!("invalid message length {n}"))
        }
        FrameError::LongerThanAsked { length, maxlength } => {
            ConnectionError::MessageTooLong { length, maxlength }
        }
        FrameError::Io(e) => ConnectionError::from_recv_io(e),
    }
}

/// A source with nothing in it (for reads served only from the read-ahead buffer).
struct NoSource;

impl ByteSource for NoSource {
    fn read_append(
        &mut self,
        _: &mut Vec<u8>,
        _: usize,
        _: Option<&mut Vec<OwnedFd>>,
    ) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

struct SocketSource<'a> {
    fd: BorrowedFd<'a>,
    blocking: Blocking,
    /// Spin state for blocking receives; `None` never spins.
    spin: Option<&'a mut Spin>,
}

impl SocketSource<'_> {
    fn recv(
        &self,
        dst: &mut Vec<u8>,
        max: usize,
        fds: Option<&mut Vec<OwnedFd>>,
        blocking: Blocking,
    ) -> io::Result<usize> {
        match fds {
            Some(fds) => sys::recv_append_with_fds(self.fd, dst, max, fds, blocking),
            None => sys::recv_append(self.fd, dst, max, blocking),
        }
    }
}

impl ByteSource for SocketSource<'_> {
    fn read_append(
        &mut self,
        dst: &mut Vec<u8>,
        max: usize,
        mut fds: Option<&mut Vec<OwnedFd>>,
    ) -> io::Result<usize> {
        if matches!(self.blocking, Blocking::Never) || self.spin.is_none() {
            return self.recv(dst, max, fds, self.blocking);
        }
        match self.recv(dst, max, fds.as_deref_mut(), Blocking::Never) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            done => return done,
        }
        let deadline = match self.blocking {
            Blocking::Until(deadline) => Some(deadline),
            _ => None,
        };
        let budget = self
            .spin
            .as_ref()
            .map_or(Duration::ZERO, |s| s.budget(deadline));
        if sys::spin_until_readable(self.fd, budget)? {
            if let Some(spin) = self.spin.as_mut() {
                spin.hit();
            }
            return self.recv(dst, max, fds, self.blocking);
        }
        let blocked_since = Instant::now();
        let result = self.recv(dst, max, fds, self.blocking);
        if let Some(spin) = self.spin.as_mut() {
            spin.missed(blocked_since.elapsed());
        }
        result
    }
}

impl AsFd for Connection {
    /// # Panics
    ///
    /// When the connection is closed; use [`fileno`](Connection::fileno) to get an error instead.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd
            .as_ref()
            .expect("as_fd on a closed Connection")
            .as_fd()
    }
}

impl AsRawFd for Connection {
    /// # Panics
    ///
    /// When the connection is closed; use [`fileno`](Connection::fileno) to get an error instead.
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("fd", &self.fd.as_ref().map(|fd| fd.as_raw_fd()))
            .field("readable", &self.readable)
            .field("writable", &self.writable)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
