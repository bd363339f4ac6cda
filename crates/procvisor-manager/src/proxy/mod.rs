//! The proxies: typed handles on objects a manager holds.

mod actor;
mod dict;
pub(crate) mod handle;
mod iter;
mod list;
mod namespace;
mod pool;
mod queue;
mod set;
mod sync;

pub use actor::ActorProxy;
pub use dict::DictProxy;
pub use iter::{EntryIter, ListIter};
pub use list::{ArrayProxy, ListProxy};
pub use namespace::{NamespaceProxy, ValueProxy};
pub use pool::PoolProxy;
pub use queue::QueueProxy;
pub use set::SetProxy;
pub use sync::{
    BarrierProxy, ConditionProxy, EventProxy, LockProxy, ProxyGuard, ProxyPermit, SemaphoreProxy,
};
