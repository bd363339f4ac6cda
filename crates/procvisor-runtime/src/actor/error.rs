//! What can go wrong when reaching an actor.

use super::envelope::CallFailure;
use crate::error::ProcessError;
use crate::outcome::Failure;
use std::sync::Arc;

/// Why a message to an actor, or a spawn, failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ActorError {
    /// No reply came within the timeout; the actor may still handle the message.
    #[error("timed out waiting for the actor's reply")]
    Timeout,
    /// No actor has this number in its process (it stopped, or never existed).
    #[error("{0}")]
    NoSuchActor(CallFailure),
    /// No actor is registered under the name.
    #[error("no actor is registered as \"{0}\"")]
    NoSuchName(String),
    /// The actor's process cannot be reached (it has ended, or is not part of this program).
    #[error("cannot reach the actor: {0}")]
    Unreachable(String),
    /// The actor panicked while handling this message; it has crashed.
    #[error("the actor crashed: {0}")]
    Panicked(Failure),
    /// The actor stopped before it handled the message.
    #[error("the actor stopped before it handled the message")]
    Stopped,
    /// The actor kept the call to answer later
    /// ([`ActorContext::reply_later`](crate::ActorContext::reply_later)), then dropped it
    /// without answering.
    #[error("the actor kept the call to answer later, then dropped it unanswered")]
    Unanswered,
    /// A message or reply could not be encoded or decoded.
    #[error("{0}")]
    Codec(String),
    /// The actor could not start: its `start` failed or panicked, or its name is taken.
    #[error("the actor could not start: {0}")]
    StartFailed(String),
    /// The name is registered to another actor, which is still there: names are unique in the
    /// program.
    #[error("the name \"{name}\" is already registered to {holder}")]
    NameTaken {
        /// The name.
        name: String,
        /// Who holds it.
        holder: String,
    },
    /// The actor type is not registered.
    #[error(
        "the actor type `{actor}` is not registered, so another process cannot start it.\n\
         Fix: add `procvisor::register_actor!({short});` next to the type (at module level)."
    )]
    Unregistered {
        /// The type's full name.
        actor: &'static str,
        /// The name to put in `register_actor!`.
        short: String,
    },
    /// The process to host the actor could not be started.
    #[error("cannot start the actor's process: {0}")]
    Process(Arc<ProcessError>),
}

impl From<CallFailure> for ActorError {
    fn from(failure: CallFailure) -> Self {
        match failure {
            CallFailure::NoSuchActor(_) => ActorError::NoSuchActor(failure),
            CallFailure::NoSuchName(name) => ActorError::NoSuchName(name),
            CallFailure::Unreachable(why) => ActorError::Unreachable(why),
            CallFailure::Panicked(failure) => ActorError::Panicked(failure),
            CallFailure::Stopped => ActorError::Stopped,
            CallFailure::Unanswered => ActorError::Unanswered,
            CallFailure::Codec(message) => ActorError::Codec(message),
            CallFailure::StartFailed(message) => ActorError::StartFailed(message),
            CallFailure::NameTaken { name, holder } => ActorError::NameTaken { name, holder },
        }
    }
}
