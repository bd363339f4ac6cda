//! An actor link to the parent for a process that was not started as an actor host: the first
//! envelope it sends up makes a socketpair and hands one end to the parent over the process
//! link, so any process of the program can reach any actor.

use super::link::{Direction, Unstarted};
use crate::link::ToParent;
use crate::node::node;

/// Opens a link to the parent (to be installed, then started), or `None` when there is no
/// parent to ask.
pub(crate) fn open_to_parent() -> Option<Unstarted> {
    let (mine, theirs) = procvisor_wire::pipe(true).ok()?;
    let link = super::link::new(mine, Direction::Up).ok()?;
    if !node().send_to_parent(&ToParent::ActorLink(Box::new(theirs))) {
        return None;
    }
    Some(link)
}

/// The parent's side: a child handed over its end of a new actor link.
pub(crate) fn adopt(child_number: u32, conn: Box<procvisor_wire::Connection>) {
    if let Err(e) = node().actor_net().attach_child(child_number, *conn) {
        tracing::warn!(target: "procvisor::actor", child_number, %e, "cannot open a child's actor link");
    }
}
