//! What every proxy is underneath: a manager's endpoint and an object's number there.

use crate::client::Endpoint;
use crate::error::ManagerError;
use crate::offload::{Cancel, Offloaded, offload};
use crate::protocol::{ObjectId, Op, Request, Response};
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
        self.call_unless_cancelled(op, None)
    }

    pub(crate) fn call_unless_cancelled(
        &self,
        op: Op,
        cancel: Option<&Cancel>,
    ) -> Result<Response, ManagerError> {
        if matches!(op, Op::Acquire { .. } | Op::Wait { .. }) {
            // What this process takes, the manager gives back if the process dies.
            self.endpoint.ensure_lifeline()?;
        }
        let request = Request::Call { id: self.id, op };
        self.endpoint.call_unless_cancelled(&request, cancel)
    }

    /// [`call`](Self::call) as a future (see [`crate::offload`]).
    pub(crate) fn call_async(&self, op: Op) -> Offloaded<Response> {
        let handle = self.clone();
        offload(
            move |cancel| handle.call_unless_cancelled(op, Some(cancel)),
            None,
        )
    }

    /// [`call_async`](Self::call_async) for a call that obtains something (an item, a lock, a
    /// permit): `give_back` returns it when the future is dropped before taking the answer.
    pub(crate) fn call_async_or_give_back(
        &self,
        op: Op,
        give_back: impl FnOnce(&Handle, Response) + Send + 'static,
    ) -> Offloaded<Response> {
        let (handle, giver) = (self.clone(), self.clone());
        offload(
            move |cancel| handle.call_unless_cancelled(op, Some(cancel)),
            Some(Box::new(move |answer| {
                if let Ok(response) = answer {
                    give_back(&giver, response);
                }
            })),
        )
    }

    pub(crate) fn done(&self, op: Op) -> Result<(), ManagerError> {
        self.call(op).and_then(reply::done)
    }

    pub(crate) fn boolean(&self, op: Op) -> Result<bool, ManagerError> {
        self.call(op).and_then(reply::boolean)
    }
}

/// Reading a response as what a proxy method returns.
pub(crate) mod reply {
    use crate::client::{decode, unexpected};
    use crate::error::ManagerError;
    use crate::protocol::{Bytes, Response};
    use serde::de::DeserializeOwned;

    pub(crate) fn done(response: Response) -> Result<(), ManagerError> {
        match response {
            Response::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    pub(crate) fn boolean(response: Response) -> Result<bool, ManagerError> {
        match response {
            Response::Bool(b) => Ok(b),
            other => Err(unexpected(&other)),
        }
    }

    pub(crate) fn int(response: Response) -> Result<i64, ManagerError> {
        match response {
            Response::Int(n) => Ok(n),
            other => Err(unexpected(&other)),
        }
    }

    pub(crate) fn count(response: Response) -> Result<usize, ManagerError> {
        int(response).map(|n| n as usize)
    }

    pub(crate) fn bytes(response: Response) -> Result<Bytes, ManagerError> {
        match response {
            Response::Bytes(b) => Ok(b),
            other => Err(unexpected(&other)),
        }
    }

    pub(crate) fn value<T: DeserializeOwned>(response: Response) -> Result<T, ManagerError> {
        decode(&bytes(response)?)
    }

    pub(crate) fn maybe<T: DeserializeOwned>(
        response: Response,
    ) -> Result<Option<T>, ManagerError> {
        match response {
            Response::MaybeBytes(b) => b.map(|b| decode(&b)).transpose(),
            other => Err(unexpected(&other)),
        }
    }

    pub(crate) fn values<T: DeserializeOwned>(response: Response) -> Result<Vec<T>, ManagerError> {
        match response {
            Response::List(items) => items.iter().map(|b| decode(b)).collect(),
            Response::Versioned { items, .. } => items.iter().map(|b| decode(b)).collect(),
            other => Err(unexpected(&other)),
        }
    }

    pub(crate) fn pairs<K: DeserializeOwned, V: DeserializeOwned>(
        response: Response,
    ) -> Result<Vec<(K, V)>, ManagerError> {
        match response {
            Response::Items(items) => items
                .iter()
                .map(|(k, v)| Ok((decode(k)?, decode(v)?)))
                .collect(),
            other => Err(unexpected(&other)),
        }
    }
}

/// A proxy method and its async twin, written once: what to send (an expression that may use
/// `?`), and how to read the answer (a function of the [`Response`]). The twin is named as the
/// crate's convention has it, `<method>_async`.
macro_rules! twins {
    ($(
        $(#[$doc:meta])*
        pub fn $name:ident / $twin:ident (&$this:ident $(, $arg:ident : $ty:ty)* $(,)?) -> $ret:ty {
            send: $op:expr,
            read: $read:expr $(,)?
        }
    )*) => {$(
        $(#[$doc])*
        pub fn $name(&$this $(, $arg: $ty)*) -> Result<$ret, $crate::ManagerError> {
            let op = $op;
            $this.handle.call(op).and_then($read)
        }

        #[doc = concat!("[`", stringify!($name), "`](Self::", stringify!($name), "), as a future: see [async twins](crate#async-twins).")]
        pub async fn $twin(&$this $(, $arg: $ty)*) -> Result<$ret, $crate::ManagerError> {
            let op = $op;
            $this.handle.call_async(op).await.and_then($read)
        }
    )*};
}
pub(crate) use twins;

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

            pub(crate) fn handle(&self) -> &$crate::proxy::handle::Handle {
                &self.handle
            }
        }
    };
}
pub(crate) use proxy_serde;
