//! What every proxy is underneath: a manager's endpoint and an object's number there.

use crate::client::{Endpoint, decode, unexpected};
use crate::error::ManagerError;
use crate::protocol::{Bytes, ObjectId, Op, Request, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Handle {
    pub(crate) endpoint: Endpoint,
    pub(crate) id: ObjectId,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "object {} at {:?}", self.id, self.endpoint)
    }
}

impl Handle {
    pub(crate) fn call(&self, op: Op) -> Result<Response, ManagerError> {
        if matches!(op, Op::Acquire { .. } | Op::Wait { .. }) {
            // What this process takes, the manager gives back if the process dies.
            self.endpoint.ensure_lifeline()?;
        }
        self.endpoint.call(&Request::Call { id: self.id, op })
    }

    pub(crate) fn done(&self, op: Op) -> Result<(), ManagerError> {
        match self.call(op)? {
            Response::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    pub(crate) fn boolean(&self, op: Op) -> Result<bool, ManagerError> {
        match self.call(op)? {
            Response::Bool(b) => Ok(b),
            other => Err(unexpected(&other)),
        }
    }

    pub(crate) fn int(&self, op: Op) -> Result<i64, ManagerError> {
        match self.call(op)? {
            Response::Int(n) => Ok(n),
            other => Err(unexpected(&other)),
        }
    }

    pub(crate) fn usize(&self, op: Op) -> Result<usize, ManagerError> {
        self.int(op).map(|n| n as usize)
    }

    pub(crate) fn bytes(&self, op: Op) -> Result<Bytes, ManagerError> {
        match self.call(op)? {
            Response::Bytes(b) => Ok(b),
            other => Err(unexpected(&other)),
        }
    }

    pub(crate) fn value<T: DeserializeOwned>(&self, op: Op) -> Result<T, ManagerError> {
        decode(&self.bytes(op)?)
    }

    pub(crate) fn maybe<T: DeserializeOwned>(&self, op: Op) -> Result<Option<T>, ManagerError> {
        match self.call(op)? {
            Response::MaybeBytes(b) => b.map(|b| decode(&b)).transpose(),
            other => Err(unexpected(&other)),
        }
    }

    pub(crate) fn values<T: DeserializeOwned>(&self, op: Op) -> Result<Vec<T>, ManagerError> {
        match self.call(op)? {
            Response::List(items) => items.iter().map(|b| decode(b)).collect(),
            Response::Versioned { items, .. } => items.iter().map(|b| decode(b)).collect(),
            other => Err(unexpected(&other)),
        }
    }

    pub(crate) fn pairs<K: DeserializeOwned, V: DeserializeOwned>(
        &self,
        op: Op,
    ) -> Result<Vec<(K, V)>, ManagerError> {
        match self.call(op)? {
            Response::Items(items) => items
                .iter()
                .map(|(k, v)| Ok((decode(k)?, decode(v)?)))
                .collect(),
            other => Err(unexpected(&other)),
        }
    }
}

/// Serde for a typed proxy: its handle only (the type parameters are the proxy's, not data).
macro_rules! proxy_serde {
    ($proxy:ident < $($t:ident),* >) => {
        impl<$($t),*> serde::Serialize for $proxy<$($t),*> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.handle.serialize(s)
            }
        }

        impl<'de, $($t),*> serde::Deserialize<'de> for $proxy<$($t),*> {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Ok($proxy {
                    handle: $crate::proxy::handle::Handle::deserialize(d)?,
                    _types: std::marker::PhantomData,
                })
            }
        }

        impl<$($t),*> Clone for $proxy<$($t),*> {
            fn clone(&self) -> Self {
                $proxy {
                    handle: self.handle.clone(),
                    _types: std::marker::PhantomData,
                }
            }
        }

        impl<$($t),*> std::fmt::Debug for $proxy<$($t),*> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({:?})", stringify!($proxy), self.handle)
            }
        }

        impl<$($t),*> $proxy<$($t),*> {
            pub(crate) fn from_handle(handle: $crate::proxy::handle::Handle) -> Self {
                $proxy { handle, _types: std::marker::PhantomData }
            }
        }
    };
}
pub(crate) use proxy_serde;
