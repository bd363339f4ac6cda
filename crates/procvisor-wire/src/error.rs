//! Errors of connections, listeners and the authentication handshake.

use crate::codec::CodecError;
use std::io;

/// Why an operation on a [`Connection`](crate::Connection) failed.
///
/// Python's exceptions map onto the variants: `EOFError` is [`Eof`](Self::Eof),
/// `BrokenPipeError` is [`BrokenPipe`](Self::BrokenPipe), `OSError('handle is closed')` is
/// [`Closed`](Self::Closed), `BufferTooShort` is [`BufferTooShort`](Self::BufferTooShort),
/// `OSError('bad message length')` is [`MessageTooLong`](Self::MessageTooLong), and the
/// argument `ValueError`s of `send_bytes` and `recv_bytes_into` are
/// [`InvalidArgument`](Self::InvalidArgument).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The connection was closed by this process.
    #[error("connection is closed")]
    Closed,
    /// `send` on the read end of a one-way pipe.
    #[error("connection is read-only")]
    ReadOnly,
    /// `recv` or `poll` on the write end of a one-way pipe.
    #[error("connection is write-only")]
    WriteOnly,
    /// The peer closed its end and every message it sent has been received.
    #[error("the peer closed the connection (end of file)")]
    Eof,
    /// The peer closed its end; the message was not sent.
    #[error("the peer closed the connection; the message was not sent (broken pipe)")]
    BrokenPipe,
    /// The peer closed its end in the middle of a message.
    #[error("the connection ended inside a message: {received} of {expected} bytes arrived")]
    Truncated {
        /// Bytes the message announced.
        expected: u64,
        /// Bytes that arrived before the end.
        received: u64,
    },
    /// A message was larger than the connection's frame limit. Sending: nothing was sent.
    /// Receiving: the stream cannot be resynchronised and the connection is unusable.
    #[error(
        "a message of {length} bytes exceeds the frame limit of {limit} bytes ({}; \
         Connection::set_max_frame_size raises it, shared memory avoids copying)",
        crate::codec::mebibytes(*length as usize)
    )]
    FrameTooLarge {
        /// The message length.
        length: u64,
        /// The connection's limit ([`Connection::set_max_frame_size`](crate::Connection::set_max_frame_size)).
        limit: usize,
    },
    /// `recv_bytes(Some(maxlength))` found a longer message. The message was discarded without
    /// being buffered; the connection stays usable.
    #[error("bad message length: {length} bytes exceeds the maximum of {maxlength}")]
    MessageTooLong {
        /// The message length.
        length: u64,
        /// The maximum the caller asked for.
        maxlength: usize,
    },
    /// The buffer passed to `recv_bytes_into` is too small. The whole message is returned
    /// here, so nothing is lost.
    #[error("buffer too short: the message needs {} bytes", .message.len())]
    BufferTooShort {
        /// The complete message that did not fit.
        message: Vec<u8>,
    },
    /// The stream carried bytes that are not a frame (a protocol error); the connection is
    /// unusable.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// An argument was out of range (offset or size of `send_bytes`, offset of
    /// `recv_bytes_into`).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// The operation did not complete within its timeout. A partly received message is kept
    /// and completed by the next receive.
    #[error("timed out")]
    Timeout,
    /// A value could not be encoded (nothing was sent) or a message could not be decoded into
    /// the requested type (the message was consumed).
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// Another I/O error.
    #[error("i/o error on the connection: {0}")]
    Io(#[source] io::Error),
}

impl From<io::Error> for ConnectionError {
    /// An I/O error outside a connection's own operations (creating a pipe, say).
    fn from(e: io::Error) -> Self {
        ConnectionError::Io(e)
    }
}

impl ConnectionError {
    /// Whether the peer has gone away ([`Eof`](Self::Eof), [`BrokenPipe`](Self::BrokenPipe) or
    /// [`Truncated`](Self::Truncated)).
    pub fn is_disconnected(&self) -> bool {
        matches!(self, Self::Eof | Self::BrokenPipe | Self::Truncated { .. })
    }

    /// Whether this is a [`Timeout`](Self::Timeout).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout)
    }

    pub(crate) fn from_send_io(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::NotConnected => Self::BrokenPipe,
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Self::Timeout,
            _ => Self::Io(e),
        }
    }

    pub(crate) fn from_recv_io(e: io::Error) -> Self {
        match e.kind() {
            // A reset means the peer is gone; what it sent before is what we got.
            io::ErrorKind::ConnectionReset | io::ErrorKind::NotConnected => Self::Eof,
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Self::Timeout,
            _ => Self::Io(e),
        }
    }
}

/// Why the `authkey` handshake failed. [`Listener`](crate::Listener) and
/// [`Client`](crate::Client) close the connection when it fails; after
/// [`authenticate_as_listener`](crate::authenticate_as_listener) or
/// [`authenticate_as_client`](crate::authenticate_as_client), close it yourself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthenticationError {
    /// This side checked the peer's answer to its challenge and it was wrong: the peer does not
    /// hold the same key (Python: `digest received was wrong`).
    #[error("digest received was wrong: the peer does not hold the same authkey")]
    DigestReceivedWasWrong,
    /// The peer rejected this side's answer (Python: `digest sent was rejected`).
    #[error("digest sent was rejected: the peer does not hold the same authkey")]
    DigestSentWasRejected,
    /// The peer speaks the legacy HMAC-MD5 handshake of Python 3.11 and older, which procvisor
    /// does not accept.
    #[error(
        "the peer uses the legacy HMAC-MD5 handshake (Python <= 3.11), which is not accepted; use Python >= 3.12 or procvisor on both sides"
    )]
    LegacyPeer,
    /// The peer asked for a digest other than SHA-256.
    #[error("unsupported digest {0:?}: only sha256 is accepted")]
    UnsupportedDigest(String),
    /// The peer sent something that is not part of the handshake.
    #[error("authentication protocol error: {0}")]
    Protocol(String),
    /// The peer did not complete the handshake in time.
    #[error("the peer did not complete the authentication handshake within {0:?}")]
    Timeout(std::time::Duration),
    /// The connection failed during the handshake.
    #[error("connection failed during authentication: {0}")]
    Connection(#[source] ConnectionError),
}

/// Why [`Listener`](crate::Listener) or [`Client`](crate::Client) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListenerError {
    /// The listener was closed.
    #[error("listener is closed")]
    Closed,
    /// The address could not be parsed or is of the wrong family.
    #[error("invalid address {address:?}: {reason}")]
    InvalidAddress {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Binding, connecting or accepting failed.
    #[error("{op} {address}: {source}")]
    Io {
        /// What was being done: `bind`, `connect` or `accept`.
        op: &'static str,
        /// The address involved.
        address: String,
        /// The system error.
        #[source]
        source: io::Error,
    },
    /// The authkey handshake failed.
    #[error(transparent)]
    Authentication(#[from] AuthenticationError),
}
