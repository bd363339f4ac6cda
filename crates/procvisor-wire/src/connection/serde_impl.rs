//! Sending a [`Connection`] to another process inside a message.

use super::Connection;
use crate::fd_passing;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::os::fd::AsFd;

#[derive(Serialize, Deserialize)]
struct WireConnection {
    fd: u32,
    readable: bool,
    writable: bool,
    max_frame: u64,
}

/// A connection serializes as its descriptor (passed next to the message, see
/// [`fd_passing`](crate::fd_passing)) and its access flags. The receiving process gets a
/// working end of the same connection; the sender keeps its own until it closes it.
impl Serialize for Connection {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let fd = self
            .fd
            .as_ref()
            .ok_or_else(|| S::Error::custom("cannot send a closed Connection"))?;
        if self.buffered() > 0 {
            return Err(S::Error::custom(
                "cannot send a Connection with received messages buffered (read-ahead)",
            ));
        }
        if self.reader.in_frame() || !self.pending.is_empty() {
            return Err(S::Error::custom(
                "cannot send a Connection in the middle of a message (a receive or send was interrupted)",
            ));
        }
        let index = fd_passing::register_outgoing(fd.as_fd()).map_err(S::Error::custom)?;
        WireConnection {
            fd: index,
            readable: self.readable,
            writable: self.writable,
            max_frame: self.max_frame as u64,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Connection {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let wire = WireConnection::deserialize(deserializer)?;
        let shared = fd_passing::take_incoming(wire.fd).map_err(D::Error::custom)?;
        let fd = shared.try_clone_owned().map_err(D::Error::custom)?;
        let mut connection = Connection::from_fd(fd, wire.readable, wire.writable);
        connection.max_frame = usize::try_from(wire.max_frame).unwrap_or(usize::MAX);
        Ok(connection)
    }
}
