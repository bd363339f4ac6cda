//! Where the actor net delivers an actor's messages: the mailbox of a ractor actor (an actor
//! that runs on the node's runtime), or a function that hands them to a thread that owns the
//! actor (a pool's worker, which runs its actor on its own main thread).

use super::hosted::HostedMsg;
use std::sync::Arc;

/// An actor's mailbox, as the net sees it.
#[derive(Clone)]
pub(crate) enum Mailbox {
    /// A ractor actor.
    Ractor(ractor::ActorRef<HostedMsg>),
    /// A thread that runs the actor: `deliver` queues a message for it.
    Thread(Arc<dyn Fn(HostedMsg) + Send + Sync>),
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mailbox::Ractor(actor) => f.debug_tuple("Ractor").field(&actor.get_id()).finish(),
            Mailbox::Thread(_) => f.write_str("Thread"),
        }
    }
}

impl Mailbox {
    /// Delivers `message`; a mailbox that is gone drops it (a dropped call answers `Stopped`).
    pub(crate) fn send(&self, message: HostedMsg) {
        match self {
            Mailbox::Ractor(actor) => drop(actor.send_message(message)),
            Mailbox::Thread(deliver) => deliver(message),
        }
    }

    /// Ends the actor at once, without its `stopping` (a shutdown's last resort). A thread's
    /// actor is asked to crash instead: its thread ends it.
    pub(crate) fn kill(&self) {
        match self {
            Mailbox::Ractor(actor) => actor.kill(),
            Mailbox::Thread(deliver) => deliver(HostedMsg::Crash(crate::outcome::Failure::new(
                crate::outcome::FailureKind::Error,
                "killed",
                None,
            ))),
        }
    }
}
