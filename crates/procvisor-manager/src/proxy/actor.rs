//! [`ActorProxy`]: an actor that a manager runs, reached through the manager's protocol.

use super::handle::reply;
use crate::client::{Endpoint, unexpected};
use crate::error::ManagerError;
use crate::protocol::{Request, Response};
use procvisor_runtime::__private::pool_support;
use procvisor_runtime::{Actor, RemoteRef};
use procvisor_wire::Payload;
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;
use std::time::Duration;

/// An actor of type `A` running in a manager process, started by
/// [`Manager::spawn`](crate::Manager::spawn): any [`Actor`] served to any client of the
/// manager, including other programs over TCP with the authkey. A serde value, like the other
/// proxies: pass it to other processes, or [`publish`](crate::Manager::publish) it under a
/// name.
///
/// ```
/// use procvisor_manager::Manager;
/// use procvisor_runtime::{Actor, ActorContext, InitError, register_actor};
///
/// struct Tally(u64);
///
/// impl Actor for Tally {
///     type Args = u64;
///     type Msg = u64;
///     type Reply = u64;
///     async fn start(n: u64, _: &ActorContext<Self>) -> Result<Self, InitError> {
///         Ok(Tally(n))
///     }
///     async fn handle(&mut self, add: u64, _: &ActorContext<Self>) -> u64 {
///         self.0 += add;
///         self.0
///     }
/// }
/// register_actor!(Tally);
///
/// let manager = Manager::start()?;
/// let tally = manager.spawn::<Tally>(10)?;
/// tally.cast(5)?;
/// assert_eq!(tally.call(1)?, 16);
/// # Ok::<(), procvisor_manager::ManagerError>(())
/// ```
///
/// Its messages and replies travel through the manager's connection: the actor handles them
/// one at a time, as any actor does, and a call that waits in it holds up nobody else's. An
/// actor that crashed is gone (a manager does not supervise what it serves): calls to it fail
/// with a `ReferenceError`, and a call it crashed on with `ActorError: ...`.
pub struct ActorProxy<A: Actor> {
    endpoint: Endpoint,
    path: Vec<u32>,
    id: u64,
    actor: PhantomData<fn() -> A>,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    endpoint: Endpoint,
    path: Vec<u32>,
    id: u64,
}

impl<A: Actor> ActorProxy<A> {
    pub(crate) fn new(endpoint: Endpoint, path: Vec<u32>, id: u64) -> ActorProxy<A> {
        ActorProxy {
            endpoint,
            path,
            id,
            actor: PhantomData,
        }
    }

    fn call_request(
        &self,
        msg: &A::Msg,
        timeout: Option<Duration>,
    ) -> Result<Request, ManagerError> {
        Ok(Request::ActorCall {
            id: self.id,
            message: encode(msg)?,
            timeout,
        })
    }

    fn read_reply(response: Response) -> Result<A::Reply, ManagerError> {
        match response {
            Response::Reply(reply) => reply
                .decode()
                .map_err(|e| ManagerError::Codec(format!("cannot decode the reply: {e}"))),
            other => Err(unexpected(&other)),
        }
    }

    fn cast_request(&self, msg: &A::Msg) -> Result<Request, ManagerError> {
        Ok(Request::ActorCast {
            id: self.id,
            message: encode(msg)?,
        })
    }

    /// Sends `msg` and waits for the reply, as long as the actor lives.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Remote`] with `ActorError: ...` when the actor crashed on it, or with
    /// `ReferenceError: ...` when it is gone; [`ManagerError::Unreachable`] when the manager
    /// is.
    pub fn call(&self, msg: A::Msg) -> Result<A::Reply, ManagerError> {
        let request = self.call_request(&msg, None)?;
        self.endpoint.call(&request).and_then(Self::read_reply)
    }

    /// [`call`](Self::call), waiting at most `timeout` for the reply (counted in the manager;
    /// the actor may still handle the message after).
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call), and [`ManagerError::Timeout`].
    pub fn call_timeout(&self, msg: A::Msg, timeout: Duration) -> Result<A::Reply, ManagerError> {
        let request = self.call_request(&msg, Some(timeout))?;
        self.endpoint.call(&request).and_then(Self::read_reply)
    }

    /// [`call`](Self::call), as a future: see [async twins](crate#async-twins).
    pub async fn call_async(&self, msg: A::Msg) -> Result<A::Reply, ManagerError> {
        let request = self.call_request(&msg, None)?;
        let answer = self.endpoint.call_async(request).await;
        answer.and_then(Self::read_reply)
    }

    /// [`call_timeout`](Self::call_timeout), as a future: see [async twins](crate#async-twins).
    pub async fn call_timeout_async(
        &self,
        msg: A::Msg,
        timeout: Duration,
    ) -> Result<A::Reply, ManagerError> {
        let request = self.call_request(&msg, Some(timeout))?;
        let answer = self.endpoint.call_async(request).await;
        answer.and_then(Self::read_reply)
    }

    /// Sends `msg` without waiting for the actor to handle it (the manager confirms that it
    /// has the actor).
    ///
    /// # Errors
    ///
    /// `ReferenceError` when the actor is gone; [`ManagerError::Unreachable`].
    pub fn cast(&self, msg: A::Msg) -> Result<(), ManagerError> {
        let request = self.cast_request(&msg)?;
        self.endpoint.call(&request).and_then(reply::done)
    }

    /// [`cast`](Self::cast), as a future: see [async twins](crate#async-twins).
    pub async fn cast_async(&self, msg: A::Msg) -> Result<(), ManagerError> {
        let request = self.cast_request(&msg)?;
        self.endpoint
            .call_async(request)
            .await
            .and_then(reply::done)
    }

    /// Stops the actor (its `stopping` runs) and waits until it has; an actor already gone is
    /// not an error.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Timeout`] when it took more than ten seconds; [`ManagerError::Unreachable`].
    pub fn stop(&self) -> Result<(), ManagerError> {
        let request = Request::ActorStop { id: self.id };
        self.endpoint.call(&request).and_then(reply::done)
    }

    /// [`stop`](Self::stop), as a future: see [async twins](crate#async-twins).
    pub async fn stop_async(&self) -> Result<(), ManagerError> {
        let request = Request::ActorStop { id: self.id };
        self.endpoint
            .call_async(request)
            .await
            .and_then(reply::done)
    }

    /// A [`RemoteRef`] to the same actor, for the processes of the program that started the
    /// manager (it travels the program's actor net, not the manager's connections: no use in
    /// another program).
    pub fn remote_ref(&self) -> RemoteRef<A> {
        pool_support::actor_at(self.path.clone(), self.id)
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Payload, ManagerError> {
    Payload::encode(value)
        .map_err(|e| ManagerError::Codec(format!("cannot encode the message: {e}")))
}

impl<A: Actor> Clone for ActorProxy<A> {
    fn clone(&self) -> Self {
        ActorProxy::new(self.endpoint.clone(), self.path.clone(), self.id)
    }
}

impl<A: Actor> std::fmt::Debug for ActorProxy<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ActorProxy<{}>(#{} at {:?})",
            pool_support::short_name(std::any::type_name::<A>()),
            self.id,
            self.endpoint
        )
    }
}

impl<A: Actor> Serialize for ActorProxy<A> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Wire {
            endpoint: self.endpoint.clone(),
            path: self.path.clone(),
            id: self.id,
        }
        .serialize(serializer)
    }
}

impl<'de, A: Actor> Deserialize<'de> for ActorProxy<A> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = Wire::deserialize(deserializer)?;
        Ok(ActorProxy::new(wire.endpoint, wire.path, wire.id))
    }
}
