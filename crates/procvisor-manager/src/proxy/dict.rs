//! `DictProxy`: Python's `manager.dict()`.

use super::handle::{Handle, proxy_serde, reply, twins};
use super::iter::{self, EntryIter};
use crate::client::encode;
use crate::error::ManagerError;
use crate::protocol::{Op, Part};
use procvisor_wire::Object;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

/// A dict held by a manager, keys `K`, values `V`. Keys are equal when their encodings are:
/// true of integers, strings, tuples and structs of them. (So for [`Object`] keys, `1` and
/// `1.0` are two keys, where Python has one.) All the proxies of one dict must agree on its
/// types.
///
/// ```
/// # fn main() -> Result<(), procvisor_manager::ManagerError> {
/// let manager = procvisor_manager::Manager::start()?;
/// let ages = manager.dict::<String, u32>()?;
/// ages.set("ada".to_string(), 36)?;
/// assert_eq!(ages.get(&"ada".to_string())?, Some(36));
/// assert!(ages.item(&"bob".to_string()).unwrap_err().is_remote("KeyError"));
/// # Ok(())
/// # }
/// ```
pub struct DictProxy<K, V> {
    handle: Handle,
    _types: PhantomData<fn() -> (K, V)>,
}
proxy_serde!(DictProxy<K, V>);

impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> DictProxy<K, V> {
    twins! {
        /// `d.get(key)`.
        pub fn get / get_async(&self, key: &K) -> Option<V> {
            send: Op::Get(encode(key)?),
            read: reply::maybe,
        }

        /// `d[key]`: a missing key is the manager's `KeyError`.
        pub fn item / item_async(&self, key: &K) -> V {
            send: Op::GetItem(encode(key)?),
            read: reply::value,
        }

        /// `d[key] = value`.
        pub fn set / set_async(&self, key: K, value: V) -> () {
            send: Op::Set(encode(&key)?, encode(&value)?),
            read: reply::done,
        }

        /// `del d[key]`: a missing key is the manager's `KeyError`.
        pub fn del / del_async(&self, key: &K) -> () {
            send: Op::Del(encode(key)?),
            read: reply::done,
        }

        /// `key in d`.
        pub fn contains / contains_async(&self, key: &K) -> bool {
            send: Op::Contains(encode(key)?),
            read: reply::boolean,
        }

        /// `len(d)`.
        pub fn len / len_async(&self) -> usize {
            send: Op::Len,
            read: reply::count,
        }

        /// `len(d) == 0`.
        pub fn is_empty / is_empty_async(&self) -> bool {
            send: Op::Len,
            read: |r| reply::count(r).map(|n| n == 0),
        }

        /// `list(d.keys())`, in insertion order.
        pub fn keys / keys_async(&self) -> Vec<K> {
            send: Op::Keys,
            read: reply::values,
        }

        /// `list(d.values())`, in insertion order.
        pub fn values / values_async(&self) -> Vec<V> {
            send: Op::Values,
            read: reply::values,
        }

        /// `list(d.items())`, in insertion order.
        pub fn items / items_async(&self) -> Vec<(K, V)> {
            send: Op::Items,
            read: reply::pairs,
        }

        /// `d.copy()`: the pairs, taken in one step.
        pub fn copy / copy_async(&self) -> Vec<(K, V)> {
            send: Op::Items,
            read: reply::pairs,
        }

        /// `d.update(pairs)`, in one step.
        pub fn update / update_async(&self, pairs: impl IntoIterator<Item = (K, V)>) -> () {
            send: Op::Update(
                pairs
                    .into_iter()
                    .map(|(k, v)| Ok((encode(&k)?, encode(&v)?)))
                    .collect::<Result<_, ManagerError>>()?,
            ),
            read: reply::done,
        }

        /// `d.pop(key)`: a missing key is the manager's `KeyError`.
        pub fn pop / pop_async(&self, key: &K) -> V {
            send: Op::Pop(encode(key)?, None),
            read: reply::value,
        }

        /// `d.pop(key, default)`.
        pub fn pop_or / pop_or_async(&self, key: &K, default: V) -> V {
            send: Op::Pop(encode(key)?, Some(encode(&default)?)),
            read: reply::value,
        }

        /// `d.setdefault(key, default)`: the value now under `key`.
        pub fn setdefault / setdefault_async(&self, key: K, default: V) -> V {
            send: Op::SetDefault(encode(&key)?, encode(&default)?),
            read: reply::value,
        }

        /// `d.popitem()`: the last pair; an empty dict is the manager's `KeyError`.
        pub fn popitem / popitem_async(&self) -> (K, V) {
            send: Op::PopItem,
            read: |r| {
                let mut pairs = reply::pairs(r)?;
                match (pairs.pop(), pairs.is_empty()) {
                    (Some(pair), true) => Ok(pair),
                    _ => Err(ManagerError::Codec("popitem: not one pair".into())),
                }
            },
        }

        /// `d.clear()`.
        pub fn clear / clear_async(&self) -> () {
            send: Op::Clear,
            read: reply::done,
        }
    }
}

impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> DictProxy<K, V> {
    /// `iter(d.items())`: the pairs in insertion order, fetched 256 at a time as the
    /// iteration reaches them, rather than copied out whole ([`items`](Self::items)).
    ///
    /// As Python's dict iterators, it fails if the dict changes size before it has finished:
    /// a key added or removed, or a `clear`, after the iterator was made makes its next chunk
    /// the manager's `RuntimeError: dictionary changed size during iteration` (and it ends).
    /// A value changed under an existing key is seen if the iterator has not read its chunk
    /// yet. Making the iterator takes a round trip (to learn the keys' shape), and so does each chunk.
    ///
    /// ```
    /// # fn main() -> Result<(), procvisor_manager::ManagerError> {
    /// let manager = procvisor_manager::Manager::start()?;
    /// let d = manager.dict_from((0..1000).map(|i| (i, i * i)))?;
    /// let mut squares = 0;
    /// for pair in d.iter()? {
    ///     let (_, square) = pair?;
    ///     squares += square;
    /// }
    /// assert_eq!(squares, (0..1000).map(|i| i * i).sum::<i64>());
    ///
    /// let mut keys = d.iter_keys()?;
    /// d.clear()?;
    /// assert!(keys.next().unwrap().unwrap_err().is_remote("RuntimeError"));
    /// assert!(keys.next().is_none());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ManagerError::Unreachable`](crate::ManagerError::Unreachable) (and the like) when
    /// the manager cannot be asked; later errors come from the iterator.
    pub fn iter(&self) -> Result<EntryIter<(K, V)>, ManagerError> {
        EntryIter::start(self.handle.clone(), Part::Items, iter::pair::<K, V>)
    }

    /// `iter(d)` / `iter(d.keys())`: the keys, as [`iter`](Self::iter) yields the pairs.
    ///
    /// # Errors
    ///
    /// As [`iter`](Self::iter).
    pub fn iter_keys(&self) -> Result<EntryIter<K>, ManagerError> {
        EntryIter::start(self.handle.clone(), Part::Keys, iter::key::<K>)
    }

    /// `iter(d.values())`: the values, as [`iter`](Self::iter) yields the pairs.
    ///
    /// # Errors
    ///
    /// As [`iter`](Self::iter).
    pub fn iter_values(&self) -> Result<EntryIter<V>, ManagerError> {
        EntryIter::start(self.handle.clone(), Part::Values, iter::value::<V>)
    }
}

impl DictProxy<Object, Object> {
    /// The dict as one [`Object`], which prints as Python's `repr`.
    pub fn to_object(&self) -> Result<Object, ManagerError> {
        Ok(Object::Dict(self.items()?))
    }
}
