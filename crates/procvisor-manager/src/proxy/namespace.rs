//! `NamespaceProxy` and `ValueProxy`: Python's `manager.Namespace()` and `manager.Value()`.

use super::handle::{Handle, proxy_serde, reply, twins};
use crate::client::encode;
use crate::error::ManagerError;
use crate::protocol::{Op, Response};
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

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// `ns.name`: a missing attribute is the manager's `AttributeError`.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T, ManagerError> {
        self.handle.call(attribute(name)).and_then(reply::value)
    }

    /// [`get`](Self::get), as a future: see [async twins](crate#async-twins).
    pub async fn get_async<T: DeserializeOwned>(&self, name: &str) -> Result<T, ManagerError> {
        self.handle
            .call_async(attribute(name))
            .await
            .and_then(reply::value)
    }

    /// `ns.name = value`.
    pub fn set<T: Serialize>(&self, name: &str, value: T) -> Result<(), ManagerError> {
        let op = Op::Set(name.as_bytes().to_vec(), encode(&value)?);
        self.handle.call(op).and_then(reply::done)
    }

    /// [`set`](Self::set), as a future: see [async twins](crate#async-twins).
    pub async fn set_async<T: Serialize>(&self, name: &str, value: T) -> Result<(), ManagerError> {
        let op = Op::Set(name.as_bytes().to_vec(), encode(&value)?);
        self.handle.call_async(op).await.and_then(reply::done)
    }

    twins! {
        /// `del ns.name`.
        pub fn del / del_async(&self, name: &str) -> () {
            send: Op::Del(name.as_bytes().to_vec()),
            read: reply::done,
        }

        /// `hasattr(ns, name)`.
        pub fn has / has_async(&self, name: &str) -> bool {
            send: Op::Contains(name.as_bytes().to_vec()),
            read: reply::boolean,
        }

        /// The attributes' names, in the order they were first set.
        pub fn names / names_async(&self) -> Vec<String> {
            send: Op::Keys,
            read: |r| match r {
                Response::List(names) => Ok(names
                    .into_iter()
                    .map(|n| String::from_utf8_lossy(&n).into_owned())
                    .collect()),
                other => Err(crate::client::unexpected(&other)),
            },
        }
    }
}

fn attribute(name: &str) -> Op {
    Op::GetItem(name.as_bytes().to_vec())
}

/// One value held by a manager: Python's `manager.Value(typecode, value)`.
pub struct ValueProxy<T> {
    handle: Handle,
    _types: PhantomData<fn() -> T>,
}
proxy_serde!(ValueProxy<T>);

impl<T: Serialize + DeserializeOwned> ValueProxy<T> {
    twins! {
        /// `v.value`.
        pub fn get / get_async(&self) -> T {
            send: Op::Load,
            read: reply::value,
        }

        /// `v.value = value`.
        pub fn set / set_async(&self, value: T) -> () {
            send: Op::Store(encode(&value)?),
            read: reply::done,
        }
    }
}
