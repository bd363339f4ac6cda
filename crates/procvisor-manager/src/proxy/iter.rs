//! Iterating over a list, dict or set a manager holds, a chunk at a time: the items are not
//! copied out whole, and what changes meanwhile is seen as far as Python's iterators see it.
//!
//! - A list is read by position, as Python's `ListProxy` iterates (by `__getitem__`): an item
//!   changed before the iterator reaches its chunk is seen changed, and the iteration ends
//!   where the list does when it gets there.
//! - A dict or set iterator takes the keys' shape when it is made, with its first chunk; if a
//!   key comes or goes (or the dict is cleared) before it has finished, its next chunk is
//!   Python's `RuntimeError: dictionary changed size during iteration`, and it ends. Values
//!   changed under existing keys are seen, chunk by chunk.

use super::handle::Handle;
use crate::client::{decode, unexpected};
use crate::error::ManagerError;
use crate::protocol::{Bytes, Op, Part, Response};
use serde::de::DeserializeOwned;
use std::collections::VecDeque;
use std::marker::PhantomData;

/// How many items a chunk carries: one round trip per 256 items.
pub(crate) const CHUNK: usize = 256;

/// An iterator over a [`ListProxy`](crate::ListProxy)'s items, made by
/// [`iter`](crate::ListProxy::iter) or [`iter_chunked`](crate::ListProxy::iter_chunked).
/// It yields each item or the error that ended it (after which it yields nothing).
pub struct ListIter<T> {
    handle: Handle,
    next: i64,
    chunk: usize,
    buffer: VecDeque<Bytes>,
    done: bool,
    _types: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for ListIter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListIter")
            .field("list", &self.handle)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl<T> ListIter<T> {
    pub(crate) fn new(handle: Handle, chunk: usize) -> ListIter<T> {
        ListIter {
            handle,
            next: 0,
            chunk: chunk.max(1),
            buffer: VecDeque::new(),
            done: false,
            _types: PhantomData,
        }
    }

    fn fill(&mut self) -> Result<(), ManagerError> {
        let stop = self.next.saturating_add(self.chunk as i64);
        match self.handle.call(Op::Slice(Some(self.next), Some(stop)))? {
            Response::List(items) => {
                self.next += items.len() as i64;
                self.done = items.is_empty();
                self.buffer.extend(items);
                Ok(())
            }
            other => Err(unexpected(&other)),
        }
    }
}

impl<T: DeserializeOwned> Iterator for ListIter<T> {
    type Item = Result<T, ManagerError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buffer.is_empty() && !self.done {
            if let Err(e) = self.fill() {
                self.done = true;
                return Some(Err(e));
            }
        }
        let item = decode(&self.buffer.pop_front()?);
        if item.is_err() {
            self.done = true;
            self.buffer.clear();
        }
        Some(item)
    }
}

impl<T: DeserializeOwned> std::iter::FusedIterator for ListIter<T> {}

/// The walk over a dict's or set's entries that its iterators share.
struct Cursor {
    handle: Handle,
    part: Part,
    next: u64,
    shape: u64,
    buffer: VecDeque<(Bytes, Bytes)>,
    done: bool,
}

impl Cursor {
    /// Takes the keys' shape now (a round trip that carries no entries): the iteration starts
    /// here, as Python's does at `iter(d)`, and a change before the first `next` is seen.
    fn start(handle: Handle, part: Part) -> Result<Cursor, ManagerError> {
        let mut cursor = Cursor {
            handle,
            part,
            next: 0,
            shape: 0,
            buffer: VecDeque::new(),
            done: false,
        };
        cursor.fill(None, 0)?;
        Ok(cursor)
    }

    fn fill(&mut self, shape: Option<u64>, max: u32) -> Result<(), ManagerError> {
        let op = Op::Entries {
            from: self.next,
            max,
            shape,
            part: self.part,
        };
        match self.handle.call(op)? {
            Response::Chunk { items, next, shape } => {
                self.done = items.is_empty() && max > 0;
                self.next = next;
                self.shape = shape;
                self.buffer.extend(items);
                Ok(())
            }
            other => Err(unexpected(&other)),
        }
    }

    fn next_entry(&mut self) -> Option<Result<(Bytes, Bytes), ManagerError>> {
        if self.buffer.is_empty() && !self.done {
            if let Err(e) = self.fill(Some(self.shape), CHUNK as u32) {
                self.done = true;
                return Some(Err(e));
            }
        }
        self.buffer.pop_front().map(Ok)
    }

    /// The next entry, read by `read`; an error ends the iteration.
    fn next_with<I>(
        &mut self,
        read: impl FnOnce(Bytes, Bytes) -> Result<I, ManagerError>,
    ) -> Option<Result<I, ManagerError>> {
        let item = self.next_entry()?.and_then(|(k, v)| read(k, v));
        if item.is_err() {
            self.done = true;
            self.buffer.clear();
        }
        Some(item)
    }
}

impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} from slot {}", self.handle, self.next)
    }
}

/// An iterator over the entries of a dict or set that a manager holds, yielding `I`s, a chunk
/// of 256 at a time; it fails if a key comes or goes meanwhile. Made by [`DictProxy::iter`](crate::DictProxy::iter) (pairs),
/// [`iter_keys`](crate::DictProxy::iter_keys), [`iter_values`](crate::DictProxy::iter_values)
/// and [`SetProxy::iter`](crate::SetProxy::iter). It yields each item or the error that ended
/// it (after which it yields nothing).
pub struct EntryIter<I> {
    cursor: Cursor,
    read: fn(Bytes, Bytes) -> Result<I, ManagerError>,
}

impl<I> std::fmt::Debug for EntryIter<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntryIter")
            .field("at", &self.cursor)
            .finish_non_exhaustive()
    }
}

impl<I> EntryIter<I> {
    pub(crate) fn start(
        handle: Handle,
        part: Part,
        read: fn(Bytes, Bytes) -> Result<I, ManagerError>,
    ) -> Result<EntryIter<I>, ManagerError> {
        Ok(EntryIter {
            cursor: Cursor::start(handle, part)?,
            read,
        })
    }
}

impl<I> Iterator for EntryIter<I> {
    type Item = Result<I, ManagerError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.cursor.next_with(self.read)
    }
}

impl<I> std::iter::FusedIterator for EntryIter<I> {}

/// Reads a key.
pub(crate) fn key<K: DeserializeOwned>(k: Bytes, _: Bytes) -> Result<K, ManagerError> {
    decode(&k)
}

/// Reads a value.
pub(crate) fn value<V: DeserializeOwned>(_: Bytes, v: Bytes) -> Result<V, ManagerError> {
    decode(&v)
}

/// Reads a pair.
pub(crate) fn pair<K: DeserializeOwned, V: DeserializeOwned>(
    k: Bytes,
    v: Bytes,
) -> Result<(K, V), ManagerError> {
    Ok((decode(&k)?, decode(&v)?))
}
