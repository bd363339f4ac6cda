//! What travels between nodes on actor links.

use super::address::{ActorId, Address};
use crate::outcome::Failure;
use procvisor_wire::Payload;
use serde::{Deserialize, Serialize};

/// One message on the actor net.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Envelope {
    pub(crate) to: Address,
    pub(crate) body: Body,
}

/// Where a call's reply goes: the caller's node and its call number there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Caller {
    pub(crate) node: Vec<u32>,
    pub(crate) call: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Body {
    /// A message without a reply.
    Cast(Payload),
    /// A message whose reply goes to `from`.
    Call { from: Caller, message: Payload },
    /// The answer to a call.
    Reply {
        call: u64,
        result: Result<Payload, CallFailure>,
    },
    /// Start an actor of the registered type `actor` in the recipient node (a call).
    Spawn {
        from: Caller,
        actor: String,
        args: Payload,
        name: Option<String>,
        /// The incarnation whose name the new actor takes over (a supervisor's restart).
        replacing: Option<Address>,
    },
    /// Bind `name` to `address` (at the root node), if it is free or bound to `replacing` (an
    /// earlier incarnation); the answer goes to `from`.
    Register {
        from: Caller,
        name: String,
        address: Address,
        replacing: Option<Address>,
    },
    /// Unbind `name` if it is still bound to `address` (at the root node).
    Unregister { name: String, address: Address },
    /// Stop the actor (normally); reply to `from` once it has stopped.
    Stop { from: Option<Caller> },
    /// Ask the actor what it runs (for its supervisor's tree); the answer goes to `from`.
    Describe { from: Caller },
}

impl Body {
    /// Roughly how many bytes it takes on the wire (its payload's; names and addresses are
    /// small).
    pub(crate) fn payload_len(&self) -> usize {
        match self {
            Body::Cast(p) | Body::Call { message: p, .. } | Body::Spawn { args: p, .. } => {
                p.bytes().len()
            }
            Body::Reply { result: Ok(p), .. } => p.bytes().len(),
            _ => 0,
        }
    }
}

/// Why a call got no reply from its actor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum CallFailure {
    /// No actor has this number in its node (it stopped, or never existed).
    #[error("there is no actor {0} in that process (it stopped, or never existed)")]
    NoSuchActor(ActorId),
    /// No actor is registered under this name.
    #[error("no actor is registered as \"{0}\"")]
    NoSuchName(String),
    /// The message could not reach the actor's process.
    #[error("cannot reach the actor's process: {0}")]
    Unreachable(String),
    /// The actor panicked while handling this message (message and location).
    #[error("the actor crashed: {0}")]
    Panicked(Failure),
    /// The actor stopped before it handled this message.
    #[error("the actor stopped before it handled the message")]
    Stopped,
    /// The actor kept the call to answer later ([`ActorContext::reply_later`]), then dropped
    /// it without answering.
    ///
    /// [`ActorContext::reply_later`]: crate::ActorContext::reply_later
    #[error("the actor kept the call to answer later, then dropped it unanswered")]
    Unanswered,
    /// The message or the reply could not be encoded or decoded.
    #[error("{0}")]
    Codec(String),
    /// The actor could not be started (spawn only).
    #[error("the actor could not start: {0}")]
    StartFailed(String),
    /// The name is registered to another actor, which is still there.
    #[error("the name \"{name}\" is already registered to {holder}")]
    NameTaken {
        /// The name.
        name: String,
        /// Who holds it.
        holder: String,
    },
}
