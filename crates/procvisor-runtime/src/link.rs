//! The link between a parent node and a child node: a socketpair carrying envelopes.
//!
//! Parent to child, the first envelope of a spawned or fork-served child is its
//! [`Bootstrap`]: who it is and what to run. Child to parent: log records while it runs, then
//! its [`ChildOutcome`]. End of file on the link, together with the exit status from the
//! child's pidfd, is how the parent learns that a child has gone.

use crate::context::StartMethod;
use crate::identity::Identity;
use crate::logging::LogRecord;
use crate::outcome::ChildOutcome;
use procvisor_wire::Payload;
use serde::{Deserialize, Serialize};

/// Everything a spawned or fork-served child needs to become its own node.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Bootstrap {
    pub(crate) identity: Identity,
    pub(crate) method: StartMethod,
    /// The registered name of the target and its encoded arguments.
    pub(crate) target: String,
    pub(crate) args: Payload,
    /// The most verbose log level the parent shows; the child forwards nothing finer.
    pub(crate) log_level: u8,
    /// The program's resource tracker, so that segments the child creates are cleaned up with
    /// the whole program's.
    pub(crate) tracker: Option<procvisor_wire::SharedFd>,
}

/// Envelopes from a parent to a child.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToChild {
    Bootstrap(Box<Bootstrap>),
}

/// Envelopes from a child to its parent.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToParent {
    Log(LogRecord),
    Outcome(ChildOutcome),
    /// The parent's end of a new actor link (see `actor::link_on_demand`).
    ActorLink(Box<procvisor_wire::Connection>),
}
