//! `ListProxy` and `ArrayProxy`: Python's `manager.list()` and `manager.Array()`.

use super::handle::{Handle, proxy_serde};
use crate::client::{encode, encode_all, unexpected};
use crate::error::ManagerError;
use crate::protocol::{Op, Response};
use procvisor_wire::Object;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

/// A list held by a manager. Indexes are Python's: negative ones count from the end.
/// `remove`, `index` and `count` compare encodings (see [`DictProxy`](crate::DictProxy)).
///
/// ```
/// # fn main() -> Result<(), procvisor_manager::ManagerError> {
/// let manager = procvisor_manager::Manager::start()?;
/// let l = manager.list_from(0..5)?;
/// l.append(5)?;
/// l.reverse()?;
/// assert_eq!(l.slice(None, Some(3))?, vec![5, 4, 3]);
/// assert_eq!(l.at(-1)?, 0);
/// l.sort()?;
/// assert_eq!(l.to_vec()?, vec![0, 1, 2, 3, 4, 5]);
/// # Ok(())
/// # }
/// ```
pub struct ListProxy<T> {
    handle: Handle,
    _types: PhantomData<fn() -> T>,
}
proxy_serde!(ListProxy<T>);

impl<T: Serialize + DeserializeOwned> ListProxy<T> {
    /// `len(l)`.
    pub fn len(&self) -> Result<usize, ManagerError> {
        self.handle.usize(Op::Len)
    }

    /// `len(l) == 0`.
    pub fn is_empty(&self) -> Result<bool, ManagerError> {
        Ok(self.len()? == 0)
    }

    /// `l[index]`: out of range is the manager's `IndexError`.
    pub fn at(&self, index: i64) -> Result<T, ManagerError> {
        self.handle.value(Op::At(index))
    }

    /// `l[index] = value`.
    pub fn set(&self, index: i64, value: T) -> Result<(), ManagerError> {
        self.handle.done(Op::SetAt(index, encode(&value)?))
    }

    /// `del l[index]`.
    pub fn del(&self, index: i64) -> Result<(), ManagerError> {
        self.handle.done(Op::DelAt(index))
    }

    /// `l.append(value)`.
    pub fn append(&self, value: T) -> Result<(), ManagerError> {
        self.handle.done(Op::Append(encode(&value)?))
    }

    /// `l.extend(values)`, in one step.
    pub fn extend(&self, values: impl IntoIterator<Item = T>) -> Result<(), ManagerError> {
        let values = encode_all(values)?;
        self.handle.done(Op::Extend(values))
    }

    /// `l.insert(index, value)`.
    pub fn insert(&self, index: i64, value: T) -> Result<(), ManagerError> {
        self.handle.done(Op::Insert(index, encode(&value)?))
    }

    /// `l.pop()`: the last item; an empty list is the manager's `IndexError`.
    pub fn pop(&self) -> Result<T, ManagerError> {
        self.handle.value(Op::PopAt(None))
    }

    /// `l.pop(index)`.
    pub fn pop_at(&self, index: i64) -> Result<T, ManagerError> {
        self.handle.value(Op::PopAt(Some(index)))
    }

    /// `l.remove(value)`: the first equal item; none is the manager's `ValueError`.
    pub fn remove(&self, value: &T) -> Result<(), ManagerError> {
        self.handle.done(Op::Remove(encode(value)?))
    }

    /// `l.index(value)`: none is the manager's `ValueError`.
    pub fn index(&self, value: &T) -> Result<usize, ManagerError> {
        self.handle.usize(Op::Index(encode(value)?))
    }

    /// `l.count(value)`.
    pub fn count(&self, value: &T) -> Result<usize, ManagerError> {
        self.handle.usize(Op::Count(encode(value)?))
    }

    /// `l.reverse()`.
    pub fn reverse(&self) -> Result<(), ManagerError> {
        self.handle.done(Op::Reverse)
    }

    /// `l[start:stop]`.
    pub fn slice(&self, start: Option<i64>, stop: Option<i64>) -> Result<Vec<T>, ManagerError> {
        self.handle.values(Op::Slice(start, stop))
    }

    /// `l[start:stop] = values`.
    pub fn set_slice(
        &self,
        start: Option<i64>,
        stop: Option<i64>,
        values: impl IntoIterator<Item = T>,
    ) -> Result<(), ManagerError> {
        let values = encode_all(values)?;
        self.handle.done(Op::SetSlice(start, stop, values))
    }

    /// `l.clear()`.
    pub fn clear(&self) -> Result<(), ManagerError> {
        self.handle.done(Op::Clear)
    }

    /// `list(l)`: the items, taken in one step.
    pub fn to_vec(&self) -> Result<Vec<T>, ManagerError> {
        self.handle.values(Op::Snapshot)
    }

    /// `l.sort(key=...)`, stable, as one change: the manager cannot compare values it only
    /// holds encoded, so the proxy sorts a copy and puts it back only if nobody changed the
    /// list meanwhile (else it tries again).
    pub fn sort_by_key<O: Ord>(&self, mut key: impl FnMut(&T) -> O) -> Result<(), ManagerError> {
        loop {
            let (version, items) = match self.handle.call(Op::Snapshot)? {
                Response::Versioned { version, items } => (version, items),
                other => return Err(unexpected(&other)),
            };
            let mut decoded = items
                .into_iter()
                .map(|b| Ok((crate::client::decode::<T>(&b)?, b)))
                .collect::<Result<Vec<_>, ManagerError>>()?;
            decoded.sort_by_key(|(value, _)| key(value));
            let items = decoded.into_iter().map(|(_, b)| b).collect();
            if self.handle.boolean(Op::ReplaceIf { version, items })? {
                return Ok(());
            }
        }
    }
}

impl<T: Serialize + DeserializeOwned + Ord + Clone> ListProxy<T> {
    /// `l.sort()` (see [`sort_by_key`](Self::sort_by_key)).
    pub fn sort(&self) -> Result<(), ManagerError> {
        self.sort_by_key(T::clone)
    }
}

impl<T: Serialize + DeserializeOwned + Into<Object>> ListProxy<T> {
    /// The list as one [`Object`], which prints as Python's `repr`.
    pub fn to_object(&self) -> Result<Object, ManagerError> {
        Ok(Object::List(
            self.to_vec()?.into_iter().map(Into::into).collect(),
        ))
    }
}

/// A fixed-length array held by a manager: Python's `manager.Array(typecode, sequence)`.
/// Items are read and written; the length never changes.
pub struct ArrayProxy<T> {
    handle: Handle,
    _types: PhantomData<fn() -> T>,
}
proxy_serde!(ArrayProxy<T>);

impl<T: Serialize + DeserializeOwned> ArrayProxy<T> {
    /// `len(a)`.
    pub fn len(&self) -> Result<usize, ManagerError> {
        self.handle.usize(Op::Len)
    }

    /// `len(a) == 0`.
    pub fn is_empty(&self) -> Result<bool, ManagerError> {
        Ok(self.len()? == 0)
    }

    /// `a[index]`.
    pub fn get(&self, index: i64) -> Result<T, ManagerError> {
        self.handle.value(Op::At(index))
    }

    /// `a[index] = value`.
    pub fn set(&self, index: i64, value: T) -> Result<(), ManagerError> {
        self.handle.done(Op::SetAt(index, encode(&value)?))
    }

    /// `a[start:stop]`.
    pub fn slice(&self, start: Option<i64>, stop: Option<i64>) -> Result<Vec<T>, ManagerError> {
        self.handle.values(Op::Slice(start, stop))
    }

    /// `a[start:stop] = values`, of the same length (else the manager's `ValueError`).
    pub fn set_slice(
        &self,
        start: Option<i64>,
        stop: Option<i64>,
        values: impl IntoIterator<Item = T>,
    ) -> Result<(), ManagerError> {
        let values = encode_all(values)?;
        self.handle.done(Op::SetSlice(start, stop, values))
    }

    /// `list(a)`.
    pub fn to_vec(&self) -> Result<Vec<T>, ManagerError> {
        self.handle.values(Op::Snapshot)
    }
}
