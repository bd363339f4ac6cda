//! Sending file descriptors inside ordinary messages.
//!
//! A value that owns a descriptor (a [`Connection`](crate::Connection), a [`SharedFd`], and in
//! the higher crates shared-memory segments and locks) serializes as an index into a side table
//! instead of as bytes. The sender fills the table while encoding ([`collect_fds`]) and passes the
//! descriptors next to the bytes — as `SCM_RIGHTS` ancillary data on a Unix socket, which is how
//! [`Connection::send`](crate::Connection::send) does it, or by inheritance when a child process
//! starts. The receiver installs the descriptors it got ([`with_received_fds`]) while decoding,
//! and each value takes its own back out of the table.
//!
//! Serializing such a value anywhere else (to a file, over a plain TCP stream) fails with a clear
//! error instead of sending a number that means nothing in another process.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cell::RefCell;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Arc;

thread_local! {
    static OUTGOING: RefCell<Option<Vec<RawFd>>> = const { RefCell::new(None) };
    static INCOMING: RefCell<Option<Vec<SharedFd>>> = const { RefCell::new(None) };
}

const OUTSIDE_HAND_OVER: &str = "a file descriptor can only be sent to another process through a \
     procvisor Connection, Queue or Process argument, not serialized on its own";

/// Runs `encode` while collecting the descriptors of the values it serializes.
///
/// Returns what `encode` returned and the collected descriptors, in table order. They are
/// borrowed from the values that were serialized and stay valid only while those values live;
/// send them before dropping the values.
pub fn collect_fds<R>(encode: impl FnOnce() -> R) -> (R, Vec<RawFd>) {
    let previous = OUTGOING.with(|o| o.borrow_mut().replace(Vec::new()));
    let result = encode();
    let fds = OUTGOING
        .with(|o| std::mem::replace(&mut *o.borrow_mut(), previous))
        .unwrap_or_default();
    (result, fds)
}

/// Runs `decode` with `fds` available to the values it deserializes. Descriptors no value took
/// are closed when this returns.
pub fn with_received_fds<R>(fds: Vec<OwnedFd>, decode: impl FnOnce() -> R) -> R {
    let table: Vec<SharedFd> = fds.into_iter().map(SharedFd::new).collect();
    let previous = INCOMING.with(|i| i.borrow_mut().replace(table));
    let result = decode();
    INCOMING.with(|i| *i.borrow_mut() = previous);
    result
}

/// Registers `fd` for the message being encoded and returns its index in the side table.
/// The same descriptor registered twice gets the same index.
pub fn register_outgoing(fd: BorrowedFd<'_>) -> Result<u32, &'static str> {
    OUTGOING.with(|o| {
        let mut o = o.borrow_mut();
        let table = o.as_mut().ok_or(OUTSIDE_HAND_OVER)?;
        let raw = fd.as_raw_fd();
        let index = match table.iter().position(|&r| r == raw) {
            Some(i) => i,
            None => {
                table.push(raw);
                table.len() - 1
            }
        };
        Ok(index as u32)
    })
}

/// Takes the descriptor at `index` of the message being decoded.
pub fn take_incoming(index: u32) -> Result<SharedFd, String> {
    INCOMING.with(|i| {
        let i = i.borrow();
        let table = i.as_ref().ok_or_else(|| OUTSIDE_HAND_OVER.to_string())?;
        table.get(index as usize).cloned().ok_or_else(|| {
            format!(
                "message refers to file descriptor #{index} but only {} arrived with it",
                table.len()
            )
        })
    })
}

/// A file descriptor that can be cloned cheaply (reference-counted) and sent to other processes
/// inside messages.
///
/// ```
/// use procvisor_wire::{SharedFd, pipe};
/// use std::os::fd::AsFd;
///
/// let (mut a, mut b) = pipe(true)?;
/// let (c, d) = pipe(true)?;
/// // Send `c`'s descriptor through the a/b connection; `b` receives a working duplicate.
/// a.send(&SharedFd::duplicate(c.as_fd())?)?;
/// let received: SharedFd = b.recv()?;
/// let mut c2 = procvisor_wire::Connection::from_fd(received.try_clone_owned()?, true, true);
/// let mut d = d;
/// c2.send(&"through a passed descriptor")?;
/// assert_eq!(d.recv::<String>()?, "through a passed descriptor");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct SharedFd(Arc<OwnedFd>);

impl SharedFd {
    /// Wraps an owned descriptor.
    pub fn new(fd: OwnedFd) -> Self {
        Self(Arc::new(fd))
    }

    /// Wraps a close-on-exec duplicate of `fd`.
    ///
    /// # Errors
    ///
    /// When the process is out of descriptors.
    pub fn duplicate(fd: BorrowedFd<'_>) -> std::io::Result<Self> {
        Ok(Self::new(fd.try_clone_to_owned()?))
    }

    /// An owned descriptor for the same file: the inner one if this is the last reference,
    /// otherwise a duplicate.
    ///
    /// # Errors
    ///
    /// When a duplicate is needed and the process is out of descriptors.
    pub fn try_clone_owned(self) -> std::io::Result<OwnedFd> {
        match Arc::try_unwrap(self.0) {
            Ok(fd) => Ok(fd),
            Err(shared) => shared.try_clone(),
        }
    }
}

impl AsFd for SharedFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for SharedFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl fmt::Debug for SharedFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SharedFd")
            .field(&self.0.as_raw_fd())
            .finish()
    }
}

impl Serialize for SharedFd {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let index = register_outgoing(self.as_fd()).map_err(serde::ser::Error::custom)?;
        serializer.serialize_u32(index)
    }
}

impl<'de> Deserialize<'de> for SharedFd {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let index = u32::deserialize(deserializer)?;
        take_incoming(index).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;

    #[test]
    fn serializing_outside_a_hand_over_is_a_clear_error() {
        let fd = SharedFd::duplicate(std::io::stdin().as_fd()).unwrap();
        let err = codec::encode(&fd).unwrap_err();
        assert!(
            err.message()
                .contains("can only be sent to another process"),
            "{err}"
        );
    }

    #[test]
    fn the_same_descriptor_twice_is_sent_once() {
        let fd = SharedFd::duplicate(std::io::stdin().as_fd()).unwrap();
        let (bytes, fds) = collect_fds(|| codec::encode(&(fd.clone(), fd.clone())).unwrap());
        assert_eq!(fds, vec![fd.as_raw_fd()]);
        let copy = fd.as_fd().try_clone_to_owned().unwrap();
        let (a, b): (SharedFd, SharedFd) =
            with_received_fds(vec![copy], || codec::decode(&bytes).unwrap());
        assert_eq!(a.as_raw_fd(), b.as_raw_fd());
    }

    #[test]
    fn a_missing_descriptor_is_a_decode_error() {
        let fd = SharedFd::duplicate(std::io::stdin().as_fd()).unwrap();
        let (bytes, _) = collect_fds(|| codec::encode(&fd).unwrap());
        let err = with_received_fds(Vec::new(), || {
            codec::decode::<SharedFd>(&bytes).unwrap_err()
        });
        assert!(err.message().contains("only 0 arrived"), "{err}");
    }
}

/// An encoded value together with the descriptors it refers to, ready to travel inside another
/// message (which then carries the descriptors too).
///
/// ```
/// use procvisor_wire::{Payload, pipe};
///
/// let (a, mut b) = pipe(true)?;
/// let payload = Payload::encode(&("the peer end", a))?;
/// let (label, mut a): (String, procvisor_wire::Connection) = payload.decode()?;
/// a.send(&5)?;
/// assert_eq!((label.as_str(), b.recv::<i32>()?), ("the peer end", 5));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payload {
    #[serde(with = "byte_string")]
    bytes: Vec<u8>,
    fds: Vec<SharedFd>,
}

/// Encodes a payload's bytes as one byte string (a length and a copy) rather than as a
/// sequence of numbers, one call per byte: payloads carry whole chunks of a pool's work.
mod byte_string {
    use serde::de::{Error, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};
    use std::fmt;

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        deserializer.deserialize_byte_buf(ByteBuf)
    }

    struct ByteBuf;

    impl<'de> Visitor<'de> for ByteBuf {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a byte string")
        }

        fn visit_bytes<E: Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
            Ok(bytes.to_vec())
        }

        fn visit_byte_buf<E: Error>(self, bytes: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(bytes)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            // Bounded by what actually arrives, never by a claimed length.
            let mut bytes = Vec::new();
            while let Some(byte) = seq.next_element()? {
                bytes.push(byte);
            }
            Ok(bytes)
        }
    }
}

impl Payload {
    /// Encodes `value`, keeping duplicates of the descriptors it refers to.
    ///
    /// # Errors
    ///
    /// When the value cannot be encoded, is larger than [`MAX_VALUE_SIZE`](crate::MAX_VALUE_SIZE)
    /// (the error says so, with the size and what to do instead), or a descriptor cannot be
    /// duplicated.
    pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Payload, crate::codec::CodecError> {
        Self::encode_sized(value, 0)
    }

    /// [`encode`](Self::encode) into a buffer made with room for `capacity` bytes, for a caller
    /// that knows about how large the encoding will be (the next of many similar chunks, say):
    /// the buffer then does not grow, copying itself, on the way. A wrong guess costs nothing
    /// more than [`encode`](Self::encode) does; the room asked for is capped at
    /// [`MAX_VALUE_SIZE`](crate::MAX_VALUE_SIZE).
    ///
    /// ```
    /// use procvisor_wire::Payload;
    ///
    /// let items: Vec<i64> = (0..1000).collect();
    /// let payload = Payload::encode_sized(&items, 8 * 1000 + 8)?;
    /// assert_eq!(payload.decode::<Vec<i64>>()?, items);
    /// # Ok::<(), procvisor_wire::codec::CodecError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`encode`](Self::encode).
    pub fn encode_sized<T: Serialize + ?Sized>(
        value: &T,
        capacity: usize,
    ) -> Result<Payload, crate::codec::CodecError> {
        let mut bytes = Vec::with_capacity(capacity.min(crate::MAX_VALUE_SIZE));
        let (encoded, raw) = collect_fds(|| crate::codec::encode_into(value, &mut bytes));
        encoded?;
        if bytes.len() > crate::MAX_VALUE_SIZE {
            return Err(crate::codec::CodecError::too_large(bytes.len()));
        }
        let fds = raw
            .into_iter()
            // SAFETY: each raw descriptor was registered by a part of `value`, which is borrowed
            // for this whole call, so it is open here.
            .map(|raw| SharedFd::duplicate(unsafe { BorrowedFd::borrow_raw(raw) }))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| {
                crate::codec::CodecError::encode(format!("cannot duplicate a descriptor: {e}"))
            })?;
        Ok(Payload { bytes, fds })
    }

    /// Decodes the value, giving it its own duplicates of the descriptors (so a payload can be
    /// decoded more than once).
    ///
    /// # Errors
    ///
    /// When the bytes are not a `T`, or a descriptor cannot be duplicated.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, crate::codec::CodecError> {
        with_received_fds(self.duplicate_fds()?, || crate::codec::decode(&self.bytes))
    }

    /// Decodes a sequence of `T`, appending the values to `out` (see
    /// [`codec::decode_extend`](crate::codec::decode_extend)).
    ///
    /// # Errors
    ///
    /// As [`decode`](Self::decode).
    pub fn decode_extend<T: serde::de::DeserializeOwned>(
        &self,
        out: &mut Vec<T>,
    ) -> Result<(), crate::codec::CodecError> {
        with_received_fds(self.duplicate_fds()?, || {
            crate::codec::decode_extend(&self.bytes, out)
        })
    }

    /// Duplicates of the descriptors, for one decoding.
    fn duplicate_fds(&self) -> Result<Vec<OwnedFd>, crate::codec::CodecError> {
        self.fds
            .iter()
            .map(|fd| fd.as_fd().try_clone_to_owned())
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| {
                crate::codec::CodecError::decode(format!("cannot duplicate a descriptor: {e}"))
            })
    }

    /// A payload of encoded bytes that refer to no descriptor (one that came from another
    /// machine, where descriptors cannot go).
    pub fn from_bytes(bytes: Vec<u8>) -> Payload {
        Payload {
            bytes,
            fds: Vec::new(),
        }
    }

    /// The encoded bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// How many descriptors travel with the value.
    pub fn fd_count(&self) -> usize {
        self.fds.len()
    }
}
