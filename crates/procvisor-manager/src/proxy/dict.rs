//! `DictProxy`: Python's `manager.dict()`.

use super::handle::{Handle, proxy_serde};
use crate::client::{decode, encode, unexpected};
use crate::error::ManagerError;
use crate::protocol::{Op, Response};
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
    /// `d.get(key)`.
    pub fn get(&self, key: &K) -> Result<Option<V>, ManagerError> {
        self.handle.maybe(Op::Get(encode(key)?))
    }

    /// `d[key]`: a missing key is the manager's `KeyError`.
    pub fn item(&self, key: &K) -> Result<V, ManagerError> {
        self.handle.value(Op::GetItem(encode(key)?))
    }

    /// `d[key] = value`.
    pub fn set(&self, key: K, value: V) -> Result<(), ManagerError> {
        self.handle.done(Op::Set(encode(&key)?, encode(&value)?))
    }

    /// `del d[key]`: a missing key is the manager's `KeyError`.
    pub fn del(&self, key: &K) -> Result<(), ManagerError> {
        self.handle.done(Op::Del(encode(key)?))
    }

    /// `key in d`.
    pub fn contains(&self, key: &K) -> Result<bool, ManagerError> {
        self.handle.boolean(Op::Contains(encode(key)?))
    }

    /// `len(d)`.
    pub fn len(&self) -> Result<usize, ManagerError> {
        self.handle.usize(Op::Len)
    }

    /// `len(d) == 0`.
    pub fn is_empty(&self) -> Result<bool, ManagerError> {
        Ok(self.len()? == 0)
    }

    /// `list(d.keys())`, in insertion order.
    pub fn keys(&self) -> Result<Vec<K>, ManagerError> {
        self.handle.values(Op::Keys)
    }

    /// `list(d.values())`, in insertion order.
    pub fn values(&self) -> Result<Vec<V>, ManagerError> {
        self.handle.values(Op::Values)
    }

    /// `list(d.items())`, in insertion order.
    pub fn items(&self) -> Result<Vec<(K, V)>, ManagerError> {
        self.handle.pairs(Op::Items)
    }

    /// `d.copy()`: the pairs, taken in one step.
    pub fn copy(&self) -> Result<Vec<(K, V)>, ManagerError> {
        self.items()
    }

    /// `d.update(pairs)`, in one step.
    pub fn update(&self, pairs: impl IntoIterator<Item = (K, V)>) -> Result<(), ManagerError> {
        let pairs = pairs
            .into_iter()
            .map(|(k, v)| Ok((encode(&k)?, encode(&v)?)))
            .collect::<Result<_, ManagerError>>()?;
        self.handle.done(Op::Update(pairs))
    }

    /// `d.pop(key)`: a missing key is the manager's `KeyError`.
    pub fn pop(&self, key: &K) -> Result<V, ManagerError> {
        self.handle.value(Op::Pop(encode(key)?, None))
    }

    /// `d.pop(key, default)`.
    pub fn pop_or(&self, key: &K, default: V) -> Result<V, ManagerError> {
        self.handle
            .value(Op::Pop(encode(key)?, Some(encode(&default)?)))
    }

    /// `d.setdefault(key, default)`: the value now under `key`.
    pub fn setdefault(&self, key: K, default: V) -> Result<V, ManagerError> {
        self.handle
            .value(Op::SetDefault(encode(&key)?, encode(&default)?))
    }

    /// `d.popitem()`: the last pair; an empty dict is the manager's `KeyError`.
    pub fn popitem(&self) -> Result<(K, V), ManagerError> {
        match self.handle.call(Op::PopItem)? {
            Response::Items(mut items) if items.len() == 1 => {
                let (k, v) = items.pop().expect("one item");
                Ok((decode(&k)?, decode(&v)?))
            }
            other => Err(unexpected(&other)),
        }
    }

    /// `d.clear()`.
    pub fn clear(&self) -> Result<(), ManagerError> {
        self.handle.done(Op::Clear)
    }
}

impl DictProxy<Object, Object> {
    /// The dict as one [`Object`], which prints as Python's `repr`.
    pub fn to_object(&self) -> Result<Object, ManagerError> {
        Ok(Object::Dict(self.items()?))
    }
}
