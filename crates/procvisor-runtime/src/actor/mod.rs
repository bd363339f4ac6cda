//! Actors across processes: user-defined actors that live in any process of the program and
//! are reached from any other through a [`RemoteRef`].
//!
//! Every node (process) has a part of the actor net: its actors, and links to its parent and
//! to the children that host actors. Envelopes travel hop by hop along the process tree;
//! siblings meet at their common ancestor; names are kept by the main process.

mod address;
mod behaviour;
mod call_slot;
mod envelope;
mod error;
mod hosted;
mod link;
mod link_on_demand;
mod mailbox;
mod net;
mod on_thread;
mod remote_ref;
mod reply_later;
pub(crate) mod served;
mod spawning;

pub use address::ActorId;
pub use behaviour::{Actor, ActorContext, InitError};
pub use envelope::CallFailure;
pub use error::ActorError;
pub use remote_ref::RemoteRef;
pub use reply_later::ReplyLater;
pub use spawning::{ActorHost, Place, spawn_in, spawn_local, spawn_local_named, spawn_named_in};

pub(crate) use address::{Address, Recipient};
pub(crate) use behaviour::lookup;
pub(crate) use hosted::HostedMsg;
pub(crate) use link_on_demand::adopt as adopt_link;
pub(crate) use net::{ActorEnd, ActorNet};
pub use on_thread::{Flow, NetMessage, ThreadActor, refuse};
pub(crate) use spawning::spawn_remote;

/// A reference to actor `id` of the process at `path`.
pub(crate) fn remote_ref_at<A: Actor>(path: Vec<u32>, id: u64) -> RemoteRef<A> {
    RemoteRef::at(Address {
        node: path,
        recipient: Recipient::Id(ActorId(id)),
    })
}

/// Asks the actor at `address` to stop, without waiting for the answer.
pub(crate) fn send_stop(address: Address) {
    crate::node::node().actor_net().route(envelope::Envelope {
        to: address,
        body: envelope::Body::Stop { from: None },
    });
}

#[doc(hidden)]
pub use behaviour::{ACTORS, ActorRegistration, actor_registration};

/// Makes the index of registered actor types now (see `target::index_lookups`).
pub(crate) fn index_lookups() {
    behaviour::index();
}
