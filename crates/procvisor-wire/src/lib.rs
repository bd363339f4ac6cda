//! The transport under procvisor: Python's `multiprocessing.connection` for Rust.
//!
//! ```
//! use procvisor_wire::pipe;
//!
//! let (mut parent, mut child) = pipe(true)?;
//! child.send(&(42, None::<i32>, "hello"))?;
//! let (answer, nothing, greeting): (i32, Option<i32>, String) = parent.recv()?;
//! assert_eq!((answer, nothing, greeting.as_str()), (42, None, "hello"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is here
//!
//! - [`Connection`]: one end of a message stream. Typed messages ([`Connection::send`],
//!   [`Connection::recv`]) and byte messages ([`Connection::send_bytes`],
//!   [`Connection::recv_bytes`], [`Connection::recv_bytes_into`]), [`Connection::poll`], and an
//!   `_async` twin of each.
//! - [`pipe`]: a connected pair of ends, two-way or one-way.
//! - [`wait`]: which of several connections (or process sentinels) is ready.
//! - [`Listener`] and [`Client`]: connections by Unix or TCP address, with Python 3.12+'s
//!   mutual HMAC-SHA256 `authkey` handshake.
//! - [`codec`]: the one module that knows the wire encoding.
//! - [`fd_passing`]: how values that own file descriptors (a `Connection` among them) travel
//!   inside messages.
//!
//! # Wire compatibility with Python
//!
//! Frames are laid out as Python lays them out (a 4-byte big-endian length, or `-1` and an
//! 8-byte length), and the handshake is Python 3.12's. A procvisor end and a Python end can
//! therefore authenticate each other and exchange `send_bytes` / `recv_bytes` messages. Typed
//! messages are not pickles, so `send` / `recv` only talk to procvisor.
//!
//! # Bad input
//!
//! A frame longer than the connection's limit is refused from its header, before anything is
//! allocated; a truncated frame or garbage is an error; a frame that claims more bytes than it
//! carries never allocates the claimed size; decoding never trusts a length it reads. The frame
//! decoder and the handshake are fuzzed (`fuzz/`), and the fuzz corpora run as tests.
//!
//! # File descriptors
//!
//! Every descriptor this crate creates is close-on-exec: a program started with `exec` does not
//! inherit it. Descriptors reach other processes only on purpose, through [`fd_passing`].

mod address;
mod auth;
pub mod codec;
mod connection;
mod error;
pub mod fd_passing;
mod frame;
mod listener;
mod object;
mod pipe;
mod spin;
mod sys;
mod wait;

#[doc(hidden)]
pub mod fuzzing;

pub use address::{Address, watch_private_dirs};
pub use auth::{
    DEFAULT_HANDSHAKE_TIMEOUT, authenticate_as_client, authenticate_as_listener, hmac_sha256,
    verify_hmac_sha256,
};
pub use connection::Connection;
pub use error::{AuthenticationError, ConnectionError, ListenerError};
pub use fd_passing::{Payload, SharedFd};
pub use frame::DEFAULT_MAX_FRAME_SIZE;

/// The largest encoded value that travels inside one of procvisor's own messages (a task's
/// arguments or result, an actor's message or reply, a process's arguments or result, a value
/// stored in a manager): 255 MiB, which leaves room for the envelope under the 256 MiB frame
/// limit. A larger value is refused where it is sent, with an error that gives its size; data
/// that large is better passed through shared memory.
pub const MAX_VALUE_SIZE: usize = DEFAULT_MAX_FRAME_SIZE - (1 << 20);
pub use listener::{Client, Incoming, Interrupt, KEEPALIVE_NOTICE, Listener, ListenerBuilder};
pub use object::Object;
pub use pipe::pipe;
pub use spin::DEFAULT_SPIN;
pub use wait::{Waitable, wait, wait_async, wait_timeout};

/// Whether `fd` is close-on-exec. Exposed for tests that check descriptor hygiene.
///
/// # Errors
///
/// When `fd` is not an open descriptor.
pub fn is_close_on_exec(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<bool> {
    sys::is_cloexec(fd)
}

/// Sets or clears close-on-exec on `fd`: the runtime clears it on purpose for the one
/// descriptor a child must inherit across `exec`.
///
/// # Errors
///
/// When `fd` is not an open descriptor.
pub fn set_close_on_exec(fd: std::os::fd::BorrowedFd<'_>, on: bool) -> std::io::Result<()> {
    sys::set_cloexec(fd, on)
}
