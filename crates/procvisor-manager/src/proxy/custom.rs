//! `Proxy<M>`: an object of a registered [`Managed`] type.

use super::handle::{Handle, proxy_serde};
use crate::client::encode;
use crate::error::ManagerError;
use crate::managed::Managed;
use crate::protocol::Op;
use std::marker::PhantomData;

/// An object of the registered type `M`, living in the manager; its methods run there.
pub struct Proxy<M> {
    handle: Handle,
    _types: PhantomData<fn() -> M>,
}
proxy_serde!(Proxy<M>);

impl<M: Managed> Proxy<M> {
    /// Runs `request` on the object, in the manager, and returns its response. An error it
    /// returns (or a panic) is [`ManagerError::Remote`]; the object stays usable.
    pub fn call(&self, request: M::Request) -> Result<M::Response, ManagerError> {
        self.handle.value(Op::Custom(encode(&request)?))
    }
}
