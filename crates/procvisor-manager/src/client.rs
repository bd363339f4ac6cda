//! The client side of a call: a connection to the manager (kept for the next call, one per
//! concurrent caller), a request, its response.

use crate::error::ManagerError;
use crate::offload::Cancel;
use crate::per_process::PerProcess;
use crate::protocol::{Bytes, Request, Response};
use procvisor_wire::{
    Address, AuthenticationError, Client, Connection, ConnectionError, ListenerError,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Where a manager is, the key it wants, and how long its silence is borne.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Endpoint {
    pub(crate) address: Address,
    pub(crate) authkey: Vec<u8>,
    /// How long a call waits without a word from the manager before it fails: connecting,
    /// sending, or waiting for the response (a call that waits in the manager hears from it
    /// every [`HEARTBEAT`](crate::protocol::HEARTBEAT)).
    pub(crate) liveness: Duration,
}

/// The default of [`Endpoint::liveness`].
pub(crate) const DEFAULT_LIVENESS: Duration = Duration::from_secs(30);

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        write!(f, "{}", self.address)
    }
}

/// Idle connections of this process, by manager address (a forked child starts afresh: the
/// connections it inherited are its parent's conversations).
///
/// They never outgrow what the program uses: at most [`MAX_IDLE`] per manager, none kept for
/// a manager this process shut down, and those whose manager hung up are dropped whenever a
/// new connection is made (a program that starts a manager per batch of work holds no
/// connection to the managers of earlier batches).
static IDLE: PerProcess<HashMap<Address, Vec<Connection>>> = PerProcess::new();

/// The most idle connections kept per manager (one per thread that calls at once).
const MAX_IDLE: usize = 16;

fn hung_up(conn: &Connection) -> bool {
    crate::server::hung_up(std::os::fd::AsRawFd::as_raw_fd(conn))
}

/// The connection this thread used last, kept out of [`IDLE`]: a thread that calls one manager
/// again and again (the common case) takes it back without a lock, a map or a look at the
/// socket.
struct Recent {
    generation: u64,
    address: Address,
    conn: Connection,
    used: Instant,
}

thread_local! {
    static RECENT: std::cell::RefCell<Option<Recent>> = const { std::cell::RefCell::new(None) };
}

/// A connection used this recently needs no look for a hang-up before it is reused: a manager
/// that ended since cannot have been restarted at its address yet (a start takes longer), so a
/// fresh connection would fail as well.
const FRESH: Duration = Duration::from_millis(1);

fn take_recent(address: &Address) -> Option<Connection> {
    let recent = RECENT.with(|r| r.borrow_mut().take())?;
    if recent.generation != crate::per_process::generation() {
        // Inherited through a fork: the parent's conversation, left alone.
        std::mem::forget(recent);
        return None;
    }
    if recent.address != *address {
        put_idle(&recent.address, recent.conn);
        return None;
    }
    if recent.used.elapsed() > FRESH && hung_up(&recent.conn) {
        return None;
    }
    Some(recent.conn)
}

fn put_recent(address: &Address, conn: Connection) {
    let recent = Recent {
        generation: crate::per_process::generation(),
        address: address.clone(),
        conn,
        used: Instant::now(),
    };
    let displaced = RECENT.with(|r| r.borrow_mut().replace(recent));
    if let Some(old) = displaced {
        if old.generation == crate::per_process::generation() {
            put_idle(&old.address, old.conn);
        } else {
            std::mem::forget(old);
        }
    }
}

fn take_idle(address: &Address) -> Option<Connection> {
    if let Some(conn) = take_recent(address) {
        return Some(conn);
    }
    let mut idle = IDLE.lock();
    let pool = idle.get_mut(address)?;
    // One whose manager hung up (it died, or was restarted) would fail its call.
    while let Some(conn) = pool.pop() {
        if !hung_up(&conn) {
            return Some(conn);
        }
    }
    None
}

fn put_idle(address: &Address, conn: Connection) {
    let mut idle = IDLE.lock();
    let pool = idle.entry(address.clone()).or_default();
    if pool.len() < MAX_IDLE {
        pool.push(conn);
    }
}

/// Drops the idle connections and lifelines whose manager hung up, everywhere.
fn sweep_idle() {
    IDLE.lock().retain(|_, pool| {
        pool.retain(|conn| !hung_up(conn));
        !pool.is_empty()
    });
    LIFELINES.lock().retain(|_, conn| !hung_up(conn));
}

/// Drops every idle connection to the manager at `address` (it is shutting down), and this
/// process's lifeline to it.
pub(crate) fn forget_idle(address: &Address) {
    if let Some(conn) = take_recent(address) {
        drop(conn);
    }
    IDLE.lock().remove(address);
    LIFELINES.lock().remove(address);
}

/// This process's lifeline to each manager it may hold something of (see
/// [`Request::Session`]): opened before its first acquire there, held open until the process
/// ends (or the manager does), never used for calls.
static LIFELINES: PerProcess<HashMap<Address, Connection>> = PerProcess::new();

impl Endpoint {
    pub(crate) fn unreachable(&self, reason: impl std::fmt::Display) -> ManagerError {
        ManagerError::Unreachable {
            address: self.address.to_string(),
            reason: reason.to_string(),
        }
    }

    /// A new authenticated connection.
    pub(crate) fn connect(&self) -> Result<Connection, ManagerError> {
        sweep_idle();
        Client::new(self.address.clone())
            .authkey(&self.authkey)
            .timeout(Some(self.liveness.min(Duration::from_secs(10))))
            .connect()
            .map_err(|e| match e {
                // The manager went while the handshake ran (it was dying, say): that is not a
                // refused key.
                ListenerError::Authentication(
                    e @ (AuthenticationError::Connection(_) | AuthenticationError::Timeout(_)),
                ) => self.unreachable(e),
                ListenerError::Authentication(e) => ManagerError::Authentication {
                    address: self.address.to_string(),
                    reason: e.to_string(),
                },
                other => self.unreachable(other),
            })
    }

    /// The error for a connection that failed or fell silent (it is dropped: a late answer
    /// would be taken for the next call's).
    fn silent_or_gone(&self, e: procvisor_wire::ConnectionError) -> ManagerError {
        if e.is_timeout() {
            self.unreachable(format!(
                "no word from it within {:?} (it is stopped, overloaded or cut off)",
                self.liveness
            ))
        } else {
            self.unreachable(format!("no response: {e}"))
        }
    }

    /// Makes sure this process has a lifeline to the manager, so that what it is about to
    /// acquire there is released if it dies holding it.
    pub(crate) fn ensure_lifeline(&self) -> Result<(), ManagerError> {
        {
            let mut lifelines = LIFELINES.lock();
            match lifelines.get(&self.address) {
                Some(conn) if !hung_up(conn) => return Ok(()),
                Some(_) => {
                    lifelines.remove(&self.address);
                }
                None => {}
            }
        }
        let mut conn = self.connect()?;
        conn.send_timeout(&Request::Session(crate::protocol::session()), self.liveness)
            .map_err(|e| self.silent_or_gone(e))?;
        match conn.recv_timeout::<Response>(self.liveness) {
            Ok(Response::Done) => {}
            Ok(other) => return Err(unexpected(&other)),
            Err(e) => return Err(self.silent_or_gone(e)),
        }
        LIFELINES.lock().insert(self.address.clone(), conn);
        Ok(())
    }

    /// Sends `request` and waits for its response. Errors raised in the manager come back
    /// as [`ManagerError::Remote`]; a manager that has gone is an error at once.
    pub(crate) fn call(&self, request: &Request) -> Result<Response, ManagerError> {
        self.call_unless_cancelled(request, None)
    }

    /// [`call`](Self::call), which `cancel` can stop while it waits in the manager.
    pub(crate) fn call_unless_cancelled(
        &self,
        request: &Request,
        cancel: Option<&Cancel>,
    ) -> Result<Response, ManagerError> {
        let mut conn = match take_idle(&self.address) {
            Some(conn) => conn,
            None => self.connect()?,
        };
        if let Some(cancel) = cancel
            && !cancel.watch(std::os::fd::AsRawFd::as_raw_fd(&conn))
        {
            cancel.unwatch();
            put_idle(&self.address, conn);
            return Err(cancelled());
        }
        let response = self.exchange(&mut conn, request);
        let cancelled = cancel.is_some_and(Cancel::unwatch);
        // A cancelled call's connection can send no more; any other that answered, or sent
        // nothing (a value it could not encode), is reused.
        let reusable = matches!(response, Ok(_) | Err(ManagerError::Codec(_)));
        if reusable && !cancelled {
            put_recent(&self.address, conn);
        }
        match response? {
            Response::Error(message) => Err(ManagerError::Remote(message)),
            Response::Timeout => Err(ManagerError::Timeout),
            other => Ok(other),
        }
    }

    /// One request and its response on `conn`.
    fn exchange(&self, conn: &mut Connection, request: &Request) -> Result<Response, ManagerError> {
        match conn.send_timeout(request, self.liveness) {
            Ok(()) => {}
            // Nothing was sent: the connection is as good as before.
            Err(e @ (ConnectionError::FrameTooLarge { .. } | ConnectionError::Codec(_))) => {
                return Err(ManagerError::Codec(format!("cannot send the call: {e}")));
            }
            Err(e) => return Err(self.silent_or_gone(e)),
        }
        loop {
            match conn.recv_timeout::<Response>(self.liveness) {
                Ok(Response::StillWaiting) => continue,
                Ok(response) => return Ok(response),
                Err(e) => return Err(self.silent_or_gone(e)),
            }
        }
    }
}

impl Endpoint {
    /// [`call`](Self::call) as a future (see [`crate::offload`]).
    pub(crate) fn call_async(&self, request: Request) -> crate::offload::Offloaded<Response> {
        let endpoint = self.clone();
        crate::offload::offload(
            move |cancel| endpoint.call_unless_cancelled(&request, Some(cancel)),
            None,
        )
    }
}

/// What a call cancelled before it started returns (nobody reads it).
fn cancelled() -> ManagerError {
    ManagerError::Timeout
}

/// Encodes a value for the manager; one too large for a message is refused here, with its size.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, ManagerError> {
    let bytes =
        procvisor_wire::codec::encode(value).map_err(|e| ManagerError::Codec(e.to_string()))?;
    if bytes.len() > procvisor_wire::MAX_VALUE_SIZE {
        let e = procvisor_wire::codec::CodecError::too_large(bytes.len());
        return Err(ManagerError::Codec(e.to_string()));
    }
    Ok(bytes)
}

pub(crate) fn encode_all<T: Serialize>(
    values: impl IntoIterator<Item = T>,
) -> Result<Vec<Bytes>, ManagerError> {
    values.into_iter().map(|v| encode(&v)).collect()
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ManagerError> {
    procvisor_wire::codec::decode(bytes).map_err(|e| ManagerError::Codec(e.to_string()))
}

/// The response was not of the expected shape: a proxy of the wrong kind for its object.
pub(crate) fn unexpected(response: &Response) -> ManagerError {
    ManagerError::Codec(format!("unexpected response {response:?}"))
}
