//! [`Shared<S>`]: one synchronisation object's state in its own shared-memory segment, and how
//! it travels to other processes.

use crate::segment::Segment;
use procvisor_wire::SharedFd;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// What kind of object a segment holds, checked when a handle arrives in another process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[repr(u32)]
pub(crate) enum Kind {
    Lock = 1,
    RLock = 2,
    Semaphore = 3,
    Event = 4,
    Condition = 5,
    Barrier = 6,
    Value = 7,
    Array = 8,
    Queue = 9,
}

const MAGIC: u32 = 0x5056_5359; // "PVSY"

/// The first bytes of every object segment.
#[repr(C)]
struct Header {
    magic: u32,
    kind: u32,
    /// Bytes of state after the header (for `Value`/`Array`, of the payload too).
    size: u64,
    /// A fingerprint of the element type, for `Value<T>` and `Array<T>`.
    type_tag: u64,
}

/// Where the state starts: past the header, on its own cache line.
pub(crate) const STATE_OFFSET: usize = 64;

/// A handle on an object of state type `S` in shared memory. Clones share the segment.
pub(crate) struct Shared<S> {
    segment: Arc<Segment>,
    _state: PhantomData<fn() -> S>,
}

impl<S> Clone for Shared<S> {
    fn clone(&self) -> Self {
        Self {
            segment: self.segment.clone(),
            _state: PhantomData,
        }
    }
}

impl<S> fmt::Debug for Shared<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("segment", &self.segment)
            .finish()
    }
}

/// A fingerprint of a type's name and size (identical in every process of one binary).
pub(crate) fn type_tag<T>() -> u64 {
    let name = std::any::type_name::<T>();
    // FNV-1a: stable across processes, unlike the std hasher.
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for byte in name.bytes().chain(std::mem::size_of::<T>().to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

impl<S> Shared<S> {
    /// A new zeroed object: `S` must be valid when all-zero (atomics are), and `extra` bytes
    /// follow it.
    pub(crate) fn create(kind: Kind, extra: usize, type_tag: u64) -> std::io::Result<Shared<S>> {
        let size = std::mem::size_of::<S>() + extra;
        let segment = Segment::anonymous(STATE_OFFSET + size, &format!("{kind:?}"))?;
        // SAFETY: offset 0 is aligned and the segment is at least a page; `Header` is plain
        // integers; no other process has this segment yet, so plain writes cannot race.
        unsafe {
            let header = segment.at(0).cast::<Header>();
            header.write(Header {
                magic: MAGIC,
                kind: kind as u32,
                size: size as u64,
                type_tag,
            });
        }
        Ok(Shared {
            segment: Arc::new(segment),
            _state: PhantomData,
        })
    }

    /// The object's state.
    pub(crate) fn state(&self) -> &S {
        // SAFETY: the segment was created (or checked on arrival) with room for an `S` at
        // STATE_OFFSET, which is aligned for any state type (they hold atomics of at most 8
        // bytes); state types are made of atomics, valid for any bytes.
        unsafe { self.segment.typed::<S>(STATE_OFFSET) }
    }

    /// The segment, for the bytes that follow the state.
    pub(crate) fn segment(&self) -> &Segment {
        &self.segment
    }

    /// Whether two handles are the same object.
    pub(crate) fn same_as(&self, other: &Shared<S>) -> bool {
        Arc::ptr_eq(&self.segment, &other.segment)
            || same_file(self.segment.fd(), other.segment.fd())
    }

    /// Serializes the handle as its segment's descriptor.
    pub(crate) fn serialize_as<Ser: Serializer>(
        &self,
        serializer: Ser,
    ) -> Result<Ser::Ok, Ser::Error> {
        self.segment.fd().serialize(serializer)
    }

    /// Rebuilds a handle from a received descriptor, checking it holds a `kind` object whose
    /// element type matches `type_tag`.
    pub(crate) fn deserialize_as<'de, D: Deserializer<'de>>(
        deserializer: D,
        kind: Kind,
        type_tag: u64,
    ) -> Result<Shared<S>, D::Error> {
        let fd = SharedFd::deserialize(deserializer)?;
        Shared::from_fd(fd, kind, type_tag).map_err(serde::de::Error::custom)
    }

    /// The received descriptor's segment, checked to hold a `kind` object whose element type
    /// matches `type_tag`.
    pub(crate) fn from_fd(fd: SharedFd, kind: Kind, type_tag: u64) -> Result<Shared<S>, String> {
        let len = Segment::file_len(&fd).map_err(|e| e.to_string())?;
        if len < STATE_OFFSET + std::mem::size_of::<S>() {
            return Err(format!("the received segment is too small for a {kind:?}"));
        }
        let segment = Segment::map(fd, len).map_err(|e| e.to_string())?;
        let mut head = [0_u8; 24];
        segment.read_bytes(0, &mut head);
        let magic = u32::from_ne_bytes(head[0..4].try_into().expect("4"));
        let got_kind = u32::from_ne_bytes(head[4..8].try_into().expect("4"));
        let size = u64::from_ne_bytes(head[8..16].try_into().expect("8")) as usize;
        let tag = u64::from_ne_bytes(head[16..24].try_into().expect("8"));
        if magic != MAGIC || got_kind != kind as u32 {
            return Err(format!("the received object is not a {kind:?}"));
        }
        if tag != type_tag {
            return Err(format!(
                "the received {kind:?} holds a different element type"
            ));
        }
        if STATE_OFFSET + size > len || size < std::mem::size_of::<S>() {
            return Err(format!("the received {kind:?} is inconsistent"));
        }
        Ok(Shared {
            segment: Arc::new(segment),
            _state: PhantomData,
        })
    }
}

/// How a `Value` or `Array` travels: its segment, and the lock it shares with other objects
/// (none when the lock lives in the segment).
#[derive(Serialize, Deserialize)]
pub(crate) struct Synchronized<F, L> {
    pub(crate) data: F,
    pub(crate) lock: Option<L>,
}

impl Synchronized<SharedFd, crate::shared_lock::SharedLock> {
    /// Rebuilds a received `Value` or `Array`: with `own` when its lock lives in its segment of
    /// kind `kind` and element tag `tag`, with `apart` when it came with a lock of its own (its
    /// segment is then a raw object's, tagged `tag ^ 1`).
    pub(crate) fn receive<Own, Apart, R>(
        self,
        kind: Kind,
        tag: u64,
        own: impl FnOnce(Shared<Own>) -> R,
        apart: impl FnOnce(Shared<Apart>, crate::shared_lock::SharedLock) -> R,
    ) -> Result<R, String> {
        Ok(match self.lock {
            None => own(Shared::from_fd(self.data, kind, tag)?),
            Some(lock) => apart(Shared::from_fd(self.data, kind, tag ^ 1)?, lock),
        })
    }
}

fn same_file(a: &SharedFd, b: &SharedFd) -> bool {
    use std::os::fd::AsFd;
    match (
        nix::sys::stat::fstat(a.as_fd()),
        nix::sys::stat::fstat(b.as_fd()),
    ) {
        (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
        _ => false,
    }
}

/// Implements `Serialize`/`Deserialize` for a handle type wrapping `Shared<S>` in field `$field`.
macro_rules! shared_serde {
    ($ty:ident, $kind:expr, $field:ident) => {
        impl serde::Serialize for $ty {
            fn serialize<Ser: serde::Serializer>(
                &self,
                serializer: Ser,
            ) -> Result<Ser::Ok, Ser::Error> {
                self.$field.serialize_as(serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let $field = $crate::shared::Shared::deserialize_as(deserializer, $kind, 0)?;
                Ok(Self::from_shared($field))
            }
        }
    };
}

pub(crate) use shared_serde;

impl<S> Shared<S> {
    /// The same segment, viewed with state type `U`.
    ///
    /// `U` must be a prefix of `S` in layout (for example the lock state at the start of an
    /// array's state): the caller guarantees it, which `Shared::state` relies on.
    pub(crate) fn retype<U>(&self) -> Shared<U> {
        debug_assert!(std::mem::size_of::<U>() <= std::mem::size_of::<S>());
        Shared {
            segment: self.segment.clone(),
            _state: PhantomData,
        }
    }
}
