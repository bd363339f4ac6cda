//! `NamespaceProxy` and `ValueProxy`: Python's `manager.Namespace()` and `manager.Value()`.

use super::handle::{Handle, proxy_serde};
use crate::client::encode;
use crate::error::ManagerError;
use crate::protocol::Op;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

/// A namespace held by a manager: named attributes, each of its own type.
///
/// ```
/// # fn main() -> Result<(), procvisor_manager::ManagerError> {
/// let manager = procvisor_manager::Manager::start()?;
/// let ns = manager.namespace()?;
/// ns.set("x", 10)?;
/// ns.set("name", "ada")?;
/// assert_eq!(ns.get::<i32>("x")?, 10);
/// assert!(ns.get::<i32>("y").unwrap_err().is_remote("AttributeError"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct NamespaceProxy {
    handle: Handle,
}

impl NamespaceProxy {
    pub(crate) fn from_handle(handle: Handle) -> NamespaceProxy {
        NamespaceProxy { handle }
    }

    /// `ns.name`: a missing attribute is the manager's `AttributeError`.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T, ManagerError> {
        self.handle.value(Op::GetItem(name.as_bytes().to_vec()))
    }

    /// `ns.name = value`.
    pub fn set<T: Serialize>(&self, name: &str, value: T) -> Result<(), ManagerError> {
        self.handle
            .done(Op::Set(name.as_bytes().to_vec(), encode(&value)?))
    }

    /// `del ns.name`.
    pub fn del(&self, name: &str) -> Result<(), ManagerError> {
        self.handle.done(Op::Del(name.as_bytes().to_vec()))
    }

    /// `hasattr(ns, name)`.
    pub fn has(&self, name: &str) -> Result<bool, ManagerError> {
        self.handle.boolean(Op::Contains(name.as_bytes().to_vec()))
    }

    /// The attributes' names, in the order they were first set.
    pub fn names(&self) -> Result<Vec<String>, ManagerError> {
        match self.handle.call(Op::Keys)? {
            crate::protocol::Response::List(names) => Ok(names
                .into_iter()
                .map(|n| String::from_utf8_lossy(&n).into_owned())
                .collect()),
            other => Err(crate::client::unexpected(&other)),
        }
    }
}

/// One value held by a manager: Python's `manager.Value(typecode, value)`.
pub struct ValueProxy<T> {
    handle: Handle,
    _types: PhantomData<fn() -> T>,
}
proxy_serde!(ValueProxy<T>);

impl<T: Serialize + DeserializeOwned> ValueProxy<T> {
    /// `v.value`.
    pub fn get(&self) -> Result<T, ManagerError> {
        self.handle.value(Op::Load)
    }

    /// `v.value = value`.
    pub fn set(&self, value: T) -> Result<(), ManagerError> {
        self.handle.done(Op::Store(encode(&value)?))
    }
}
