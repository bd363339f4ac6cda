//! The client side of a call: a connection to the manager (kept for the next call, one per
//! concurrent caller), a request, its response.

use crate::error::ManagerError;
use crate::protocol::{Bytes, Request, Response};
use procvisor_wire::{Address, AuthenticationError, Client, Connection, ListenerError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Where a manager is, and the key it wants.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Endpoint {
    pub(crate) address: Address,
    pub(crate) authkey: Vec<u8>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        write!(f, "{}", self.address)
    }
}

/// Idle connections of this process, by manager address. A forked child starts afresh: the
/// connections it inherited are its parent's conversations.
///
/// They never outgrow what the program uses: at most [`MAX_IDLE`] per manager, none kept for
/// a manager this process shut down, and those whose manager hung up are dropped whenever a
/// new connection is made (a program that starts a manager per batch of work holds no
/// connection to the managers of earlier batches).
static IDLE: Mutex<Option<(u32, IdleConnections)>> = Mutex::new(None);

/// The most idle connections kept per manager (one per thread that calls at once).
const MAX_IDLE: usize = 16;

type IdleConnections = HashMap<Address, Vec<Connection>>;

/// This process's idle connections (a forked child's inherited ones are left alone).
fn idle_connections() -> std::sync::MutexGuard<'static, Option<(u32, IdleConnections)>> {
    let mut idle = IDLE.lock().unwrap_or_else(|p| p.into_inner());
    let pid = std::process::id();
    if idle.as_ref().is_some_and(|(owner, _)| *owner != pid) {
        if let Some((_, inherited)) = idle.take() {
            // Not closed either: closing is harmless, but the parent's sockets are not ours
            // to touch.
            std::mem::forget(inherited);
        }
    }
    idle.get_or_insert_with(|| (pid, HashMap::new()));
    idle
}

fn hung_up(conn: &Connection) -> bool {
    crate::server::hung_up(std::os::fd::AsRawFd::as_raw_fd(conn))
}

fn take_idle(address: &Address) -> Option<Connection> {
    let mut idle = idle_connections();
    let pool = idle.as_mut()?.1.get_mut(address)?;
    // One whose manager hung up (it died, or was restarted) would fail its call.
    while let Some(conn) = pool.pop() {
        if !hung_up(&conn) {
            return Some(conn);
        }
    }
    None
}

fn put_idle(address: &Address, conn: Connection) {
    let mut idle = idle_connections();
    if let Some((_, map)) = idle.as_mut() {
        let pool = map.entry(address.clone()).or_default();
        if pool.len() < MAX_IDLE {
            pool.push(conn);
        }
    }
}

/// Drops the idle connections whose manager hung up, everywhere.
fn sweep_idle() {
    let mut idle = idle_connections();
    if let Some((_, map)) = idle.as_mut() {
        map.retain(|_, pool| {
            pool.retain(|conn| !hung_up(conn));
            !pool.is_empty()
        });
    }
}

/// Drops every idle connection to the manager at `address` (it is shutting down).
pub(crate) fn forget_idle(address: &Address) {
    if let Some((_, map)) = idle_connections().as_mut() {
        map.remove(address);
    }
}

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
            .timeout(Some(Duration::from_secs(10)))
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

    /// Sends `request` and waits for its response. Errors raised in the manager come back
    /// as [`ManagerError::Remote`]; a manager that has gone is an error at once.
    pub(crate) fn call(&self, request: &Request) -> Result<Response, ManagerError> {
        let mut conn = match take_idle(&self.address) {
            Some(conn) => conn,
            None => self.connect()?,
        };
        conn.send(request).map_err(|e| self.unreachable(e))?;
        let response = conn
            .recv::<Response>()
            .map_err(|e| self.unreachable(format!("no response: {e}")))?;
        put_idle(&self.address, conn);
        match response {
            Response::Error(message) => Err(ManagerError::Remote(message)),
            Response::Timeout => Err(ManagerError::Timeout),
            other => Ok(other),
        }
    }
}

pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, ManagerError> {
    procvisor_wire::codec::encode(value).map_err(|e| ManagerError::Codec(e.to_string()))
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
