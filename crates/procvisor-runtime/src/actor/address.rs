//! Where an actor lives: the path of its node in the process tree, and its id or name there.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An actor's number within its node (never reused in that node).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ActorId(pub(crate) u64);

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Whom an envelope is for, within its node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum Recipient {
    /// An actor, by number.
    Id(ActorId),
    /// An actor by its registered name (resolved by the root node, which keeps the names).
    Name(String),
    /// The node itself: spawn requests, name registrations.
    Node,
}

/// A place in the actor net: a node (by its identity path: the child numbers from the main
/// process down, as in Python's `_identity`) and a recipient there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Address {
    pub(crate) node: Vec<u32>,
    pub(crate) recipient: Recipient,
}

impl Address {
    pub(crate) fn named(name: &str) -> Address {
        Address {
            node: Vec::new(),
            recipient: Recipient::Name(name.to_string()),
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let node = if self.node.is_empty() {
            "main".to_string()
        } else {
            self.node
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(":")
        };
        match &self.recipient {
            Recipient::Id(id) => write!(f, "actor {id} in process {node}"),
            Recipient::Name(name) => write!(f, "actor \"{name}\""),
            Recipient::Node => write!(f, "process {node}"),
        }
    }
}

/// Which way an envelope for `target` leaves the node at `here`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hop {
    Local,
    Down(u32),
    Up,
}

pub(crate) fn next_hop(here: &[u32], target: &[u32]) -> Hop {
    if target == here {
        Hop::Local
    } else if target.len() > here.len() && target.starts_with(here) {
        Hop::Down(target[here.len()])
    } else {
        Hop::Up
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_go_down_to_descendants_and_up_otherwise() {
        assert_eq!(next_hop(&[], &[]), Hop::Local);
        assert_eq!(next_hop(&[], &[3, 1]), Hop::Down(3));
        assert_eq!(next_hop(&[3], &[3, 1]), Hop::Down(1));
        assert_eq!(next_hop(&[3, 1], &[3, 1]), Hop::Local);
        assert_eq!(next_hop(&[3, 1], &[3]), Hop::Up);
        assert_eq!(
            next_hop(&[3], &[4]),
            Hop::Up,
            "a sibling is reached through the parent"
        );
        assert_eq!(next_hop(&[3], &[]), Hop::Up);
    }

    #[test]
    fn addresses_read_naturally() {
        let a = Address {
            node: vec![2, 1],
            recipient: Recipient::Id(ActorId(7)),
        };
        assert_eq!(a.to_string(), "actor #7 in process 2:1");
        assert_eq!(Address::named("counter").to_string(), "actor \"counter\"");
    }
}
