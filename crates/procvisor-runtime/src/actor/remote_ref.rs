//! [`RemoteRef`]: a reference to an actor anywhere in the program's process tree.

use super::address::{ActorId, Address, Recipient};
use super::behaviour::Actor;
use super::call_slot::{CallResult, CallSlot, wait_blocking};
use super::envelope::{Body, Caller, Envelope};
use super::error::ActorError;
use crate::node::node;
use procvisor_wire::Payload;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A reference to an actor of type `A`, in this process or any other of the program: by its
/// address (the process that hosts it and its number there), or by a registered name.
///
/// [`cast`](Self::cast) sends without waiting; [`call`](Self::call) waits for the reply (with a
/// timeout, or as long as it takes). Neither ever waits on a process that is gone: a call to an
/// actor whose process has ended, that stopped, or that crashes while handling it fails at once
/// with the reason.
///
/// A reference is a serde value: pass it to another process inside a message or as an
/// argument, and it works there. A reference [by name](Self::named) finds the actor registered
/// under that name at each message, so it keeps working after a supervisor restarts the actor.
pub struct RemoteRef<A: Actor> {
    address: Address,
    actor: PhantomData<fn() -> A>,
}

impl<A: Actor> Clone for RemoteRef<A> {
    fn clone(&self) -> Self {
        RemoteRef::at(self.address.clone())
    }
}

impl<A: Actor> PartialEq for RemoteRef<A> {
    fn eq(&self, other: &Self) -> bool {
        self.address == other.address
    }
}

impl<A: Actor> Eq for RemoteRef<A> {}

impl<A: Actor> fmt::Debug for RemoteRef<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RemoteRef<{}>({})", short_type::<A>(), self.address)
    }
}

impl<A: Actor> fmt::Display for RemoteRef<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.address.fmt(f)
    }
}

fn short_type<A>() -> &'static str {
    let full = std::any::type_name::<A>();
    full.rsplit("::").next().unwrap_or(full)
}

impl<A: Actor> RemoteRef<A> {
    pub(crate) fn at(address: Address) -> RemoteRef<A> {
        RemoteRef {
            address,
            actor: PhantomData,
        }
    }

    /// The actor registered as `name` (by a supervisor, or a named spawn), looked up at each
    /// message.
    pub fn named(name: &str) -> RemoteRef<A> {
        RemoteRef::at(Address::named(name))
    }

    /// The name it is a reference by (`None` for a reference by address).
    pub fn name(&self) -> Option<&str> {
        match &self.address.recipient {
            Recipient::Name(name) => Some(name),
            _ => None,
        }
    }

    /// The actor's number in its process (`None` for a reference by name).
    pub fn id(&self) -> Option<ActorId> {
        match self.address.recipient {
            Recipient::Id(id) => Some(id),
            _ => None,
        }
    }

    /// The identity path of the actor's process (child numbers from the main process; empty
    /// for the main process, and for a reference by name).
    pub fn process_path(&self) -> &[u32] {
        &self.address.node
    }

    /// Sends `msg` without waiting for anything.
    ///
    /// Delivery is not confirmed: a message to an actor that has gone is dropped (as in Erlang).
    ///
    /// # Errors
    ///
    /// [`ActorError::Codec`] when the message cannot be encoded.
    pub fn cast(&self, msg: A::Msg) -> Result<(), ActorError> {
        let payload = encode(&msg)?;
        node().actor_net().route(Envelope {
            to: self.address.clone(),
            body: Body::Cast(payload),
        });
        Ok(())
    }

    /// Sends `msg` and waits for the reply, as long as the actor is alive and reachable (a call
    /// to an actor that is gone, or goes while it waits, fails at once).
    ///
    /// From async code prefer [`call_async`](Self::call_async): a blocking call on a runtime
    /// thread holds up that thread (on a multi-threaded runtime its wait moves off the
    /// runtime; on a single-threaded one the runtime's other tasks wait with it).
    ///
    /// # Errors
    ///
    /// [`ActorError::Panicked`] when the actor crashed handling it; [`ActorError::Stopped`],
    /// [`ActorError::NoSuchActor`], [`ActorError::NoSuchName`], [`ActorError::Unreachable`]
    /// when it could not be handled; [`ActorError::Codec`].
    pub fn call(&self, msg: A::Msg) -> Result<A::Reply, ActorError> {
        self.call_within(msg, None)
    }

    /// [`call`](Self::call), waiting at most `timeout` for the reply (the actor may still handle
    /// the message after).
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call), and [`ActorError::Timeout`].
    pub fn call_timeout(&self, msg: A::Msg, timeout: Duration) -> Result<A::Reply, ActorError> {
        self.call_within(msg, Some(timeout))
    }

    fn call_within(&self, msg: A::Msg, timeout: Option<Duration>) -> Result<A::Reply, ActorError> {
        let (caller, slot) = self.send_call(&msg)?;
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let result = wait_blocking(&slot, deadline).inspect_err(|_| {
            node().actor_net().forget_call(caller.call);
        })?;
        finish(caller, result)
    }

    /// Async twin of [`call`](Self::call), on any executor.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub async fn call_async(&self, msg: A::Msg) -> Result<A::Reply, ActorError> {
        self.call_async_within(msg, None).await
    }

    /// Async twin of [`call_timeout`](Self::call_timeout) (needs a tokio runtime).
    ///
    /// # Errors
    ///
    /// As [`call_timeout`](Self::call_timeout).
    pub async fn call_timeout_async(
        &self,
        msg: A::Msg,
        timeout: Duration,
    ) -> Result<A::Reply, ActorError> {
        self.call_async_within(msg, Some(timeout)).await
    }

    pub(crate) async fn call_async_within(
        &self,
        msg: A::Msg,
        timeout: Option<Duration>,
    ) -> Result<A::Reply, ActorError> {
        let (caller, slot) = self.send_call(&msg)?;
        let waiting = std::future::poll_fn(|cx| slot.poll(cx.waker()));
        let result = match timeout {
            None => Some(waiting.await),
            Some(timeout) => tokio::time::timeout(timeout, waiting).await.ok(),
        };
        finish(caller, result)
    }

    /// Asks the actor to stop (normally: its [`stopping`](Actor::stopping) runs) and waits until
    /// it has. Stopping an actor that is already gone is not an error.
    ///
    /// # Errors
    ///
    /// [`ActorError::Unreachable`].
    pub fn stop(&self) -> Result<(), ActorError> {
        self.stop_within(None)
    }

    /// [`stop`](Self::stop), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`stop`](Self::stop), and [`ActorError::Timeout`].
    pub fn stop_timeout(&self, timeout: Duration) -> Result<(), ActorError> {
        self.stop_within(Some(timeout))
    }

    fn stop_within(&self, timeout: Option<Duration>) -> Result<(), ActorError> {
        let net = node().actor_net();
        let (caller, slot) = net.new_call(&self.address.node);
        net.route(Envelope {
            to: self.address.clone(),
            body: Body::Stop {
                from: Some(caller.clone()),
            },
        });
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let result = wait_blocking(&slot, deadline).inspect_err(|_| {
            net.forget_call(caller.call);
        })?;
        match result {
            Some(Ok(_)) => Ok(()),
            Some(Err(super::envelope::CallFailure::NoSuchActor(_))) => Ok(()),
            Some(Err(failure)) => Err(failure.into()),
            None => {
                net.forget_call(caller.call);
                Err(ActorError::Timeout)
            }
        }
    }

    fn send_call(&self, msg: &A::Msg) -> Result<(Caller, Arc<CallSlot>), ActorError> {
        let payload = encode(msg)?;
        let net = node().actor_net();
        let (caller, slot) = net.new_call(&self.address.node);
        net.route(Envelope {
            to: self.address.clone(),
            body: Body::Call {
                from: caller.clone(),
                message: payload,
            },
        });
        Ok((caller, slot))
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Payload, ActorError> {
    Payload::encode(value).map_err(|e| ActorError::Codec(format!("cannot encode the message: {e}")))
}

/// Turns a call's outcome into the reply.
fn finish<R: serde::de::DeserializeOwned>(
    caller: Caller,
    result: Option<CallResult>,
) -> Result<R, ActorError> {
    match result {
        None => {
            node().actor_net().forget_call(caller.call);
            Err(ActorError::Timeout)
        }
        Some(Ok(payload)) => payload
            .decode()
            .map_err(|e| ActorError::Codec(format!("cannot decode the reply: {e}"))),
        Some(Err(failure)) => Err(failure.into()),
    }
}

impl<A: Actor> Serialize for RemoteRef<A> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.address.serialize(serializer)
    }
}

impl<'de, A: Actor> Deserialize<'de> for RemoteRef<A> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Address::deserialize(deserializer).map(RemoteRef::at)
    }
}
