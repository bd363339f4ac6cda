//! [`Listener`] and [`Client`]: connections by address, optionally authenticated.

use crate::address::Address;
use crate::auth::{self, DEFAULT_HANDSHAKE_TIMEOUT};
use crate::connection::Connection;
use crate::error::ListenerError;
use crate::sys;
use nix::sys::socket::{
    self as sock, AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage, UnixAddr,
};
use std::fmt;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Python's `multiprocessing.connection.Listener`: accepts connections on a Unix or TCP
/// address, and, with an authkey, authenticates each one before handing it out.
///
/// ```
/// use procvisor_wire::{Address, Client, Listener};
///
/// let listener = Listener::builder().address(Address::tcp_loopback(0)).authkey(b"secret").bind()?;
/// let address = listener.address().clone();
/// let client = std::thread::spawn(move || -> Result<(), procvisor_wire::ListenerError> {
///     let mut conn = Client::new(address).authkey(b"secret").connect()?;
///     conn.send(&1729).unwrap();
///     Ok(())
/// });
/// let mut conn = listener.accept()?;
/// assert_eq!(conn.recv::<i32>().unwrap(), 1729);
/// client.join().unwrap()?;
/// # Ok::<(), procvisor_wire::ListenerError>(())
/// ```
///
/// # Slow and silent clients
///
/// [`accept`](Self::accept) authenticates on the calling thread, as Python's does: a client that
/// connects and says nothing holds that `accept` for up to the handshake timeout (10 s by
/// default), and the clients behind it wait. A server that must stay available to every client
/// takes connections with [`accept_incoming`](Self::accept_incoming), which never waits for a
/// client to speak, and authenticates each [`Incoming`] on a thread or task of its own (the
/// manager does).
///
/// # Drop
///
/// Dropping the listener (or [`close`](Self::close)) stops listening and removes the socket file
/// of a [`Address::Unix`] address. Connections already accepted stay open.
pub struct Listener {
    registered: std::sync::OnceLock<AsyncFd<OwnedFd>>,
    socket: Mutex<Option<OwnedFd>>,
    address: Address,
    authkey: Option<Vec<u8>>,
    handshake_timeout: Option<Duration>,
    last_accepted: Mutex<Option<Address>>,
    /// The socket file and its identity (device, inode): removed on close only while it is
    /// still ours, never a successor's bound at the same path.
    remove_on_close: Option<(PathBuf, (u64, u64))>,
}

/// Configures and binds a [`Listener`]; from [`Listener::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `bind` is called"]
pub struct ListenerBuilder {
    address: Option<Address>,
    authkey: Option<Vec<u8>>,
    backlog: i32,
    handshake_timeout: Option<Duration>,
}

impl ListenerBuilder {
    /// Where to listen. Default: [`Address::arbitrary`], a fresh private Unix socket path.
    pub fn address(mut self, address: impl Into<Address>) -> Self {
        self.address = Some(address.into());
        self
    }

    /// Require every client to prove it holds `key` (an empty key is still a key, as in Python
    /// 3.12+). Default: no authentication.
    pub fn authkey(mut self, key: impl AsRef<[u8]>) -> Self {
        self.authkey = Some(key.as_ref().to_vec());
        self
    }

    /// How many not-yet-accepted connections the kernel queues. Default 128 (Python: 1).
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog;
        self
    }

    /// The most a client may take to complete the authkey handshake (`None`: no bound).
    /// Default 10 s, so a silent peer cannot hold `accept` forever.
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Binds and starts listening.
    ///
    /// # Errors
    ///
    /// [`ListenerError::Io`] when the address is in use or cannot be bound.
    pub fn bind(self) -> Result<Listener, ListenerError> {
        let address = match self.address {
            Some(address) => address,
            None => Address::arbitrary().map_err(|source| ListenerError::Io {
                op: "create a private socket directory for",
                address: "an arbitrary address".into(),
                source,
            })?,
        };
        let io = |source: std::io::Error| ListenerError::Io {
            op: "bind",
            address: address.to_string(),
            source,
        };
        let (socket, bound) = bind_socket(&address, self.backlog).map_err(io)?;
        let remove_on_close = match &bound {
            Address::Unix(path) => file_identity(path).map(|id| (path.clone(), id)),
            _ => None,
        };
        Ok(Listener {
            registered: std::sync::OnceLock::new(),
            socket: Mutex::new(Some(socket)),
            address: bound,
            authkey: self.authkey,
            handshake_timeout: self.handshake_timeout,
            last_accepted: Mutex::new(None),
            remove_on_close,
        })
    }
}

/// A file's device and inode: what tells it from another file made later at the same path.
fn file_identity(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

fn bind_socket(address: &Address, backlog: i32) -> std::io::Result<(OwnedFd, Address)> {
    let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
    let backlog = Backlog::new(backlog).map_err(std::io::Error::from)?;
    match address {
        Address::Unix(path) => {
            let socket = sock::socket(AddressFamily::Unix, SockType::Stream, flags, None)?;
            sock::bind(socket.as_raw_fd(), &UnixAddr::new(path.as_path())?)?;
            sock::listen(&socket, backlog)?;
            Ok((socket, address.clone()))
        }
        Address::Abstract(name) => {
            let socket = sock::socket(AddressFamily::Unix, SockType::Stream, flags, None)?;
            sock::bind(socket.as_raw_fd(), &UnixAddr::new_abstract(name)?)?;
            sock::listen(&socket, backlog)?;
            Ok((socket, address.clone()))
        }
        Address::Tcp(addr) => {
            let family = if addr.is_ipv4() {
                AddressFamily::Inet
            } else {
                AddressFamily::Inet6
            };
            let socket = sock::socket(family, SockType::Stream, flags, None)?;
            sock::setsockopt(&socket, sock::sockopt::ReuseAddr, &true)?;
            sock::bind(socket.as_raw_fd(), &SockaddrStorage::from(*addr))?;
            sock::listen(&socket, backlog)?;
            let local: SockaddrStorage = sock::getsockname(socket.as_raw_fd())?;
            let bound = local
                .as_sockaddr_in()
                .map(|a| SocketAddr::from(std::net::SocketAddrV4::from(*a)))
                .or_else(|| {
                    local
                        .as_sockaddr_in6()
                        .map(|a| SocketAddr::from(std::net::SocketAddrV6::from(*a)))
                })
                .unwrap_or(*addr);
            Ok((socket, Address::Tcp(bound)))
        }
    }
}

impl Listener {
    /// A builder with the defaults: an arbitrary private address, no authkey, backlog 128, a
    /// 10 s handshake timeout.
    pub fn builder() -> ListenerBuilder {
        ListenerBuilder {
            address: None,
            authkey: None,
            backlog: 128,
            handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
        }
    }

    /// Listens on `address` without authentication.
    ///
    /// # Errors
    ///
    /// As [`ListenerBuilder::bind`].
    pub fn bind(address: impl Into<Address>) -> Result<Listener, ListenerError> {
        Self::builder().address(address).bind()
    }

    /// The address clients connect to (for TCP port 0, the port that was chosen).
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The peer address of the last accepted connection, when the family has one (TCP).
    pub fn last_accepted(&self) -> Option<Address> {
        self.last_accepted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits for a connection and, with an authkey, authenticates it on this thread (see
    /// [Slow and silent clients](Self#slow-and-silent-clients)).
    ///
    /// # Errors
    ///
    /// [`ListenerError::Closed`] after [`close`](Self::close);
    /// [`ListenerError::Authentication`] when the client failed the handshake (its connection is
    /// closed; call `accept` again for the next client); [`ListenerError::Io`] otherwise.
    pub fn accept(&self) -> Result<Connection, ListenerError> {
        self.accept_incoming()?.authenticate()
    }

    /// Waits for a connection and hands it over before any handshake: the caller authenticates
    /// it (on another thread, say), so that a client that never speaks delays nobody else.
    ///
    /// ```
    /// use procvisor_wire::{Address, Client, Listener};
    ///
    /// let listener = Listener::builder().address(Address::tcp_loopback(0)).authkey(b"k").bind()?;
    /// let address = listener.address().clone();
    /// let client = std::thread::spawn(move || Client::new(address).authkey(b"k").connect());
    /// let incoming = listener.accept_incoming()?;
    /// let handshake = std::thread::spawn(move || incoming.authenticate());
    /// let mut conn = handshake.join().unwrap()?;
    /// client.join().unwrap()?.send(&7)?;
    /// assert_eq!(conn.recv::<i32>()?, 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ListenerError::Closed`] after [`close`](Self::close); [`ListenerError::Io`] otherwise.
    pub fn accept_incoming(&self) -> Result<Incoming, ListenerError> {
        let connection = loop {
            // Wait on a duplicate so the lock is not held while blocked (close() must be able
            // to take it, and shuts the socket down to wake us).
            let socket = self
                .socket
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .map(|s| s.try_clone());
            let Some(socket) = socket.transpose().map_err(|e| self.io("accept", e))? else {
                return Err(ListenerError::Closed);
            };
            if !sys::poll_one(socket.as_fd(), libc::POLLIN, None)
                .map_err(|e| self.io("accept", e))?
            {
                continue;
            }
            match self.try_accept(&socket) {
                Ok(Some(connection)) => break connection,
                Ok(None) => continue,
                Err(e) => return Err(e),
            }
        };
        Ok(self.incoming(connection))
    }

    fn incoming(&self, connection: Connection) -> Incoming {
        Incoming {
            connection,
            authkey: self.authkey.clone(),
            timeout: self.handshake_timeout,
        }
    }

    /// Async twin of [`accept`](Self::accept). The handshake runs on tokio's blocking pool.
    ///
    /// # Errors
    ///
    /// As [`accept`](Self::accept).
    pub async fn accept_async(&self) -> Result<Connection, ListenerError> {
        self.accept_incoming_async()
            .await?
            .authenticate_async()
            .await
    }

    /// Async twin of [`accept_incoming`](Self::accept_incoming).
    ///
    /// # Errors
    ///
    /// As [`accept_incoming`](Self::accept_incoming).
    pub async fn accept_incoming_async(&self) -> Result<Incoming, ListenerError> {
        let registered = self.registered()?;
        let connection = loop {
            let mut guard = registered
                .readable()
                .await
                .map_err(|e| self.io("accept", e))?;
            match self.try_accept(registered.get_ref())? {
                Some(connection) => break connection,
                None => guard.clear_ready(),
            }
        };
        Ok(self.incoming(connection))
    }

    /// Stops listening and removes the socket file. Idempotent.
    pub fn close(&self) {
        let socket = self.socket.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(socket) = &socket {
            // Wakes any thread blocked waiting on a duplicate of this socket.
            let _ = sys::shutdown(socket.as_fd(), nix::sys::socket::Shutdown::Both);
            if let Some((path, ours)) = &self.remove_on_close {
                if file_identity(path) == Some(*ours) {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
    }

    /// Whether [`close`](Self::close) has been called.
    pub fn closed(&self) -> bool {
        self.socket
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    fn registered(&self) -> Result<&AsyncFd<OwnedFd>, ListenerError> {
        if let Some(registered) = self.registered.get() {
            return Ok(registered);
        }
        let socket = self.socket.lock().unwrap_or_else(|p| p.into_inner());
        let socket = socket.as_ref().ok_or(ListenerError::Closed)?;
        if self.registered.get().is_none() {
            let dup = socket.try_clone().map_err(|e| self.io("accept", e))?;
            // SAFETY: the AsyncFd owns this duplicate, so it stays open for its whole life.
            let registered = unsafe { sys::register_async(dup, Interest::READABLE) }
                .map_err(|e| self.io("accept", e))?;
            let _ = self.registered.set(registered);
        }
        Ok(self.registered.get().expect("set above"))
    }

    /// One non-blocking accept; `None` when another thread took the pending connection.
    fn try_accept(&self, socket: &OwnedFd) -> Result<Option<Connection>, ListenerError> {
        if self.closed() {
            return Err(ListenerError::Closed);
        }
        // SAFETY: accept4 on a listening socket we own, with null address arguments.
        let raw = unsafe {
            libc::accept4(
                socket.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        };
        if raw < 0 {
            let err = std::io::Error::last_os_error();
            return match err.kind() {
                std::io::ErrorKind::WouldBlock
                | std::io::ErrorKind::Interrupted
                | std::io::ErrorKind::ConnectionAborted => Ok(None),
                _ => Err(self.io("accept", err)),
            };
        }
        // SAFETY: accept4 returned a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let peer = if let Address::Tcp(_) = self.address {
            let stream = TcpStream::from(fd);
            let _ = stream.set_nodelay(true);
            keep_alive(&stream);
            let peer = stream.peer_addr().ok().map(Address::Tcp);
            *self.last_accepted.lock().unwrap_or_else(|p| p.into_inner()) = peer;
            OwnedFd::from(stream)
        } else {
            fd
        };
        Ok(Some(Connection::from_fd(peer, true, true)))
    }

    fn io(&self, op: &'static str, source: std::io::Error) -> ListenerError {
        ListenerError::Io {
            op,
            address: self.address.to_string(),
            source,
        }
    }
}

/// A connection a [`Listener`] accepted, before its handshake: from
/// [`Listener::accept_incoming`]. [`authenticate`](Self::authenticate) it (with the listener's
/// key and handshake timeout) to get the [`Connection`]; dropping it closes the connection.
pub struct Incoming {
    connection: Connection,
    authkey: Option<Vec<u8>>,
    timeout: Option<Duration>,
}

impl Incoming {
    /// Runs the authkey handshake (nothing to do without a key) and hands out the connection.
    ///
    /// # Errors
    ///
    /// [`ListenerError::Authentication`] when the client does not prove it holds the key, or
    /// says nothing within the handshake timeout; the connection is closed.
    pub fn authenticate(mut self) -> Result<Connection, ListenerError> {
        if let Some(key) = &self.authkey {
            auth::authenticate_as_listener(&mut self.connection, key, self.timeout)?;
        }
        Ok(self.connection)
    }

    /// Async twin of [`authenticate`](Self::authenticate), on tokio's blocking pool.
    ///
    /// # Errors
    ///
    /// As [`authenticate`](Self::authenticate).
    pub async fn authenticate_async(self) -> Result<Connection, ListenerError> {
        if self.authkey.is_none() {
            return Ok(self.connection);
        }
        tokio::task::spawn_blocking(move || self.authenticate())
            .await
            .map_err(|e| ListenerError::Io {
                op: "authenticate",
                address: "an incoming connection".into(),
                source: std::io::Error::other(e),
            })?
    }

    /// A handle that can cut this connection's handshake short from another thread (see
    /// [`Interrupt`]), so that a server can bound how many handshakes wait at once.
    ///
    /// # Errors
    ///
    /// When the process is out of descriptors.
    pub fn interrupt_handle(&self) -> std::io::Result<Interrupt> {
        Ok(Interrupt(self.connection.as_fd().try_clone_to_owned()?))
    }
}

impl fmt::Debug for Incoming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("authenticated", &self.authkey.is_some())
            .finish_non_exhaustive()
    }
}

/// Cuts an [`Incoming`] connection's handshake short: the handshake fails at once, as if the
/// client had hung up. From [`Incoming::interrupt_handle`].
#[derive(Debug)]
pub struct Interrupt(OwnedFd);

impl Interrupt {
    /// Shuts the connection down, waking its handshake. Harmless once the handshake is over
    /// only if the connection is no longer wanted: it shuts down the connection itself.
    pub fn interrupt(&self) {
        let _ = sys::shutdown(self.0.as_fd(), nix::sys::socket::Shutdown::Both);
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        drop(self.registered.take());
        self.close();
    }
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("address", &self.address)
            .field("authenticated", &self.authkey.is_some())
            .field("closed", &self.closed())
            .finish_non_exhaustive()
    }
}

/// Turns on TCP keepalive probes on a connection: a peer whose machine died, or a network cut
/// between the two, is noticed (the connection fails) about [`KEEPALIVE_NOTICE`] after the
/// connection fell silent, even if neither side sends anything. The kernel's defaults would
/// take over two hours.
fn keep_alive(stream: &TcpStream) {
    use nix::sys::socket::{setsockopt, sockopt};
    let _ = setsockopt(stream, sockopt::KeepAlive, &true);
    let _ = setsockopt(stream, sockopt::TcpKeepIdle, &KEEPALIVE_IDLE);
    let _ = setsockopt(stream, sockopt::TcpKeepInterval, &KEEPALIVE_INTERVAL);
    let _ = setsockopt(stream, sockopt::TcpKeepCount, &KEEPALIVE_PROBES);
}

/// Seconds of silence before the first keepalive probe.
const KEEPALIVE_IDLE: u32 = 10;
/// Seconds between unanswered probes.
const KEEPALIVE_INTERVAL: u32 = 5;
/// Unanswered probes before the connection fails.
const KEEPALIVE_PROBES: u32 = 3;

/// How long after a TCP connection falls silent a dead peer machine or a cut network is
/// noticed, at most (keepalive probes; see [`Listener`] and [`Client`]).
pub const KEEPALIVE_NOTICE: Duration =
    Duration::from_secs((KEEPALIVE_IDLE + KEEPALIVE_INTERVAL * KEEPALIVE_PROBES) as u64);

/// Python's `multiprocessing.connection.Client`: connects to a [`Listener`] (or a Python
/// listener) and, with an authkey, authenticates.
///
/// ```no_run
/// use procvisor_wire::Client;
///
/// let mut conn = Client::new("127.0.0.1:6000".parse::<procvisor_wire::Address>()?)
///     .authkey(b"secret")
///     .connect()?;
/// conn.send(&"hello")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
#[must_use = "a Client does nothing until `connect` is called"]
pub struct Client {
    address: Address,
    authkey: Option<Vec<u8>>,
    timeout: Option<Duration>,
}

impl Client {
    /// A client for `address`, without authentication and with a 10 s connect-and-handshake
    /// timeout.
    pub fn new(address: impl Into<Address>) -> Self {
        Self {
            address: address.into(),
            authkey: None,
            timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
        }
    }

    /// Authenticate with `key` (and require the listener to prove it holds it too).
    pub fn authkey(mut self, key: impl AsRef<[u8]>) -> Self {
        self.authkey = Some(key.as_ref().to_vec());
        self
    }

    /// Bound on connecting plus the handshake (`None`: no bound).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connects and authenticates.
    ///
    /// # Errors
    ///
    /// [`ListenerError::Io`] when nothing listens there; [`ListenerError::Authentication`] when
    /// the keys differ (the connection is closed and carried nothing).
    pub fn connect(&self) -> Result<Connection, ListenerError> {
        let io = |source| ListenerError::Io {
            op: "connect",
            address: self.address.to_string(),
            source,
        };
        let fd: OwnedFd = match &self.address {
            Address::Unix(path) => UnixStream::connect(path).map_err(io)?.into(),
            Address::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name).map_err(io)?;
                UnixStream::connect_addr(&addr).map_err(io)?.into()
            }
            Address::Tcp(addr) => {
                let stream = match self.timeout {
                    Some(t) => TcpStream::connect_timeout(addr, t),
                    None => TcpStream::connect(addr),
                }
                .map_err(io)?;
                let _ = stream.set_nodelay(true);
                keep_alive(&stream);
                stream.into()
            }
        };
        let mut connection = Connection::from_fd(fd, true, true);
        if let Some(key) = &self.authkey {
            auth::authenticate_as_client(&mut connection, key, self.timeout)?;
        }
        Ok(connection)
    }

    /// Async twin of [`connect`](Self::connect); runs on tokio's blocking pool.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    pub async fn connect_async(&self) -> Result<Connection, ListenerError> {
        let client = self.clone();
        tokio::task::spawn_blocking(move || client.connect())
            .await
            .map_err(|e| ListenerError::Io {
                op: "connect",
                address: self.address.to_string(),
                source: std::io::Error::other(e),
            })?
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("address", &self.address)
            .field("authenticated", &self.authkey.is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests;
