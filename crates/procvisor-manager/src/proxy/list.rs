//! `ListProxy` and `ArrayProxy`: Python's `manager.list()` and `manager.Array()`.

use super::handle::{Handle, proxy_serde, reply, twins};
use super::iter::{CHUNK, ListIter};
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
    twins! {
        /// `len(l)`.
        pub fn len / len_async(&self) -> usize {
            send: Op::Len,
            read: reply::count,
        }

        /// `len(l) == 0`.
        pub fn is_empty / is_empty_async(&self) -> bool {
            send: Op::Len,
            read: |r| reply::count(r).map(|n| n == 0),
        }

        /// `l[index]`: out of range is the manager's `IndexError`.
        pub fn at / at_async(&self, index: i64) -> T {
            send: Op::At(index),
            read: reply::value,
        }

        /// `l[index] = value`.
        pub fn set / set_async(&self, index: i64, value: T) -> () {
            send: Op::SetAt(index, encode(&value)?),
            read: reply::done,
        }

        /// `del l[index]`.
        pub fn del / del_async(&self, index: i64) -> () {
            send: Op::DelAt(index),
            read: reply::done,
        }

        /// `l.append(value)`.
        pub fn append / append_async(&self, value: T) -> () {
            send: Op::Append(encode(&value)?),
            read: reply::done,
        }

        /// `l.extend(values)`, in one step.
        pub fn extend / extend_async(&self, values: impl IntoIterator<Item = T>) -> () {
            send: Op::Extend(encode_all(values)?),
            read: reply::done,
        }

        /// `l.insert(index, value)`.
        pub fn insert / insert_async(&self, index: i64, value: T) -> () {
            send: Op::Insert(index, encode(&value)?),
            read: reply::done,
        }

        /// `l.pop()`: the last item; an empty list is the manager's `IndexError`.
        pub fn pop / pop_async(&self) -> T {
            send: Op::PopAt(None),
            read: reply::value,
        }

        /// `l.pop(index)`.
        pub fn pop_at / pop_at_async(&self, index: i64) -> T {
            send: Op::PopAt(Some(index)),
            read: reply::value,
        }

        /// `l.remove(value)`: the first equal item; none is the manager's `ValueError`.
        pub fn remove / remove_async(&self, value: &T) -> () {
            send: Op::Remove(encode(value)?),
            read: reply::done,
        }

        /// `l.index(value)`: none is the manager's `ValueError`.
        pub fn index / index_async(&self, value: &T) -> usize {
            send: Op::Index(encode(value)?),
            read: reply::count,
        }

        /// `l.count(value)`.
        pub fn count / count_async(&self, value: &T) -> usize {
            send: Op::Count(encode(value)?),
            read: reply::count,
        }

        /// `l.reverse()`.
        pub fn reverse / reverse_async(&self) -> () {
            send: Op::Reverse,
            read: reply::done,
        }

        /// `l[start:stop]`.
        pub fn slice / slice_async(&self, start: Option<i64>, stop: Option<i64>) -> Vec<T> {
            send: Op::Slice(start, stop),
            read: reply::values,
        }

        /// `l[start:stop] = values`.
        pub fn set_slice / set_slice_async(
            &self,
            start: Option<i64>,
            stop: Option<i64>,
            values: impl IntoIterator<Item = T>,
        ) -> () {
            send: Op::SetSlice(start, stop, encode_all(values)?),
            read: reply::done,
        }

        /// `l.clear()`.
        pub fn clear / clear_async(&self) -> () {
            send: Op::Clear,
            read: reply::done,
        }

        /// `list(l)`: the items, taken in one step.
        pub fn to_vec / to_vec_async(&self) -> Vec<T> {
            send: Op::Snapshot,
            read: reply::values,
        }
    }

    /// `iter(l)`: the items, fetched 256 at a time as the iteration reaches them, rather than
    /// copied out whole ([`to_vec`](Self::to_vec)). As in Python, the list is read by
    /// position: an item changed before the iterator reaches its chunk is seen changed, and
    /// the iteration ends where the list ends when it gets there. Making the iterator costs
    /// nothing; each chunk is one round trip.
    ///
    /// ```
    /// # fn main() -> Result<(), procvisor_manager::ManagerError> {
    /// let manager = procvisor_manager::Manager::start()?;
    /// let l = manager.list_from(0..1000)?;
    /// let mut it = l.iter();
    /// l.set(0, 100)?; // before the iterator reads its first chunk
    /// assert_eq!(it.next().transpose()?, Some(100));
    /// let sum: i64 = it.sum::<Result<i64, _>>()?;
    /// assert_eq!(sum, (1..1000).sum::<i64>());
    /// # Ok(())
    /// # }
    /// ```
    pub fn iter(&self) -> ListIter<T> {
        ListIter::new(self.handle.clone(), CHUNK)
    }

    /// [`iter`](Self::iter), `chunk` items per round trip (at least 1). `iter_chunked(1)`
    /// reads each item when it is reached, as Python does, at a round trip per item.
    pub fn iter_chunked(&self, chunk: usize) -> ListIter<T> {
        ListIter::new(self.handle.clone(), chunk)
    }

    /// `l.sort(key=...)`, stable, as one change: the manager cannot compare values it only
    /// holds encoded, so the proxy sorts a copy and puts it back only if nobody changed the
    /// list meanwhile (else it tries again).
    pub fn sort_by_key<O: Ord>(&self, mut key: impl FnMut(&T) -> O) -> Result<(), ManagerError> {
        loop {
            let snapshot = self.handle.call(Op::Snapshot)?;
            let replace = sorted(snapshot, &mut key)?;
            if self.handle.call(replace).and_then(reply::boolean)? {
                return Ok(());
            }
        }
    }

    /// [`sort_by_key`](Self::sort_by_key), as a future: see [async twins](crate#async-twins).
    pub async fn sort_by_key_async<O: Ord>(
        &self,
        mut key: impl FnMut(&T) -> O,
    ) -> Result<(), ManagerError> {
        loop {
            let snapshot = self.handle.call_async(Op::Snapshot).await?;
            let replace = sorted(snapshot, &mut key)?;
            if self
                .handle
                .call_async(replace)
                .await
                .and_then(reply::boolean)?
            {
                return Ok(());
            }
        }
    }
}

/// The change that puts a list's `snapshot` back sorted by `key`, if nobody changed it since.
fn sorted<T: DeserializeOwned, O: Ord>(
    snapshot: Response,
    key: &mut impl FnMut(&T) -> O,
) -> Result<Op, ManagerError> {
    let (version, items) = match snapshot {
        Response::Versioned { version, items } => (version, items),
        other => return Err(unexpected(&other)),
    };
    let mut decoded = items
        .into_iter()
        .map(|b| Ok((crate::client::decode::<T>(&b)?, b)))
        .collect::<Result<Vec<_>, ManagerError>>()?;
    decoded.sort_by_key(|(value, _)| key(value));
    let items = decoded.into_iter().map(|(_, b)| b).collect();
    Ok(Op::ReplaceIf { version, items })
}

impl<T: Serialize + DeserializeOwned + Ord + Clone> ListProxy<T> {
    /// `l.sort()` (see [`sort_by_key`](Self::sort_by_key)).
    pub fn sort(&self) -> Result<(), ManagerError> {
        self.sort_by_key(T::clone)
    }

    /// [`sort`](Self::sort), as a future: see [async twins](crate#async-twins).
    pub async fn sort_async(&self) -> Result<(), ManagerError> {
        self.sort_by_key_async(T::clone).await
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
    twins! {
        /// `len(a)`.
        pub fn len / len_async(&self) -> usize {
            send: Op::Len,
            read: reply::count,
        }

        /// `len(a) == 0`.
        pub fn is_empty / is_empty_async(&self) -> bool {
            send: Op::Len,
            read: |r| reply::count(r).map(|n| n == 0),
        }

        /// `a[index]`.
        pub fn get / get_async(&self, index: i64) -> T {
            send: Op::At(index),
            read: reply::value,
        }

        /// `a[index] = value`.
        pub fn set / set_async(&self, index: i64, value: T) -> () {
            send: Op::SetAt(index, encode(&value)?),
            read: reply::done,
        }

        /// `a[start:stop]`.
        pub fn slice / slice_async(&self, start: Option<i64>, stop: Option<i64>) -> Vec<T> {
            send: Op::Slice(start, stop),
            read: reply::values,
        }

        /// `a[start:stop] = values`, of the same length (else the manager's `ValueError`).
        pub fn set_slice / set_slice_async(
            &self,
            start: Option<i64>,
            stop: Option<i64>,
            values: impl IntoIterator<Item = T>,
        ) -> () {
            send: Op::SetSlice(start, stop, encode_all(values)?),
            read: reply::done,
        }

        /// `list(a)`.
        pub fn to_vec / to_vec_async(&self) -> Vec<T> {
            send: Op::Snapshot,
            read: reply::values,
        }
    }
}
