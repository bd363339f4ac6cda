//! Every object a manager holds is an actor of the program: [`ManagedObject`], in the manager
//! process, reached by a [`RemoteRef`] or by a name from any process of the program. A proxy
//! is a view over that reference ([`Proxy`]): turn one into the other, or find an object by
//! name without being handed anything.

use crate::client::unexpected;
use crate::error::ManagerError;
use crate::protocol::{Request, Response};
use crate::proxy::handle::Handle;
use procvisor_runtime::__private::pool_support;
use procvisor_runtime::{Actor, ActorContext, ActorError, InitError, RemoteRef, register_actor};
use procvisor_wire::Address;
use serde::{Deserialize, Serialize};

/// What kind of object a manager holds (what [`ObjectInfo::kind`] says).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ObjectKind {
    /// `manager.dict()`: [`DictProxy`](crate::DictProxy).
    Dict,
    /// `manager.set()`: [`SetProxy`](crate::SetProxy).
    Set,
    /// `manager.namespace()`: [`NamespaceProxy`](crate::NamespaceProxy).
    Namespace,
    /// `manager.list()`: [`ListProxy`](crate::ListProxy).
    List,
    /// `manager.array()`: [`ArrayProxy`](crate::ArrayProxy).
    Array,
    /// `manager.value()`: [`ValueProxy`](crate::ValueProxy).
    Value,
    /// `manager.lock()` or `manager.rlock()`: [`LockProxy`](crate::LockProxy).
    Lock,
    /// `manager.semaphore()` or `manager.bounded_semaphore()`:
    /// [`SemaphoreProxy`](crate::SemaphoreProxy).
    Semaphore,
    /// `manager.condition()`: [`ConditionProxy`](crate::ConditionProxy).
    Condition,
    /// `manager.event()`: [`EventProxy`](crate::EventProxy).
    Event,
    /// `manager.barrier()`: [`BarrierProxy`](crate::BarrierProxy).
    Barrier,
    /// `manager.queue()` or `manager.joinable_queue()`: [`QueueProxy`](crate::QueueProxy).
    Queue,
    /// `manager.pool()`: [`PoolProxy`](crate::PoolProxy).
    Pool,
}

/// What a [`ManagedObject`] says about itself.
#[derive(Clone, Serialize, Deserialize)]
pub struct ObjectInfo {
    /// What kind of object it is.
    pub kind: ObjectKind,
    /// Its number in its manager.
    pub id: u64,
    /// Where its manager listens.
    pub manager: Address,
    /// How to reach it (the key is the program's own: it never leaves the program).
    pub(crate) handle: Handle,
}

impl std::fmt::Debug for ObjectInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectInfo")
            .field("kind", &self.kind)
            .field("id", &self.id)
            .field("manager", &self.manager)
            .finish()
    }
}

/// What a [`ManagedObject`] is asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ObjectMsg {
    /// Its kind, number and manager ([`ObjectInfo`]).
    Describe,
}

/// The actor that is an object a manager holds: started in the manager process when the
/// object is first asked for its reference ([`Proxy::remote_ref`]) or given a name
/// ([`Proxy::register`]), and gone with the manager.
///
/// Its proxy does the object's work over the manager's connections (the fast path: no hop
/// between threads in the manager, and a process that dies holding a lock gives it back); the
/// actor is how the program finds the object and how it hands it around as a reference.
///
/// ```
/// use procvisor_manager::{DictProxy, Manager, ObjectKind, ObjectMsg, Proxy};
///
/// let manager = Manager::start()?;
/// let scores = manager.dict::<String, u32>()?;
/// scores.set("ada".into(), 36)?;
/// scores.register("scores")?;
///
/// // Anywhere in the program, with nothing handed over:
/// let found = DictProxy::<String, u32>::named("scores")?;
/// assert_eq!(found.get(&"ada".into())?, Some(36));
///
/// let reference = found.remote_ref()?;
/// let info = reference.call(ObjectMsg::Describe).unwrap();
/// assert_eq!(info.kind, ObjectKind::Dict);
/// # Ok::<(), procvisor_manager::ManagerError>(())
/// ```
#[derive(Debug)]
pub struct ManagedObject {
    info: ObjectInfo,
}

impl Actor for ManagedObject {
    /// The object's number in the manager that runs the actor.
    type Args = u64;
    type Msg = ObjectMsg;
    type Reply = ObjectInfo;

    async fn start(id: u64, _: &ActorContext<Self>) -> Result<Self, InitError> {
        let info = crate::server::describe_object(id)
            .ok_or_else(|| format!("the manager in this process holds no object {id}"))?;
        Ok(ManagedObject { info })
    }

    async fn handle(&mut self, msg: ObjectMsg, _: &ActorContext<Self>) -> ObjectInfo {
        match msg {
            ObjectMsg::Describe => self.info.clone(),
        }
    }
}
register_actor!(ManagedObject);

/// Starts a [`ManagedObject`] for object `id` of the manager in this process.
pub(crate) fn start_in_manager(id: u64, name: Option<String>) -> Result<(Vec<u32>, u64), String> {
    pool_support::start_served_actor(
        std::any::type_name::<ManagedObject>(),
        procvisor_wire::Payload::encode(&id).map_err(|e| e.to_string())?,
        name,
    )
    .map_err(|e| pool_support::describe_actor_error(&e))
}

mod sealed {
    /// What only this crate's proxies are: views over a handle.
    pub trait Sealed {
        fn raw(&self) -> Raw;
        fn from_raw(raw: Raw) -> Self;
    }

    /// A proxy's handle, out of sight.
    #[derive(Debug)]
    pub struct Raw(pub(crate) crate::proxy::handle::Handle);
}

/// What every typed proxy is: a view over a [`ManagedObject`], the actor that is the object.
/// Get the reference from a proxy, a proxy from the reference, or find a proxy by name from
/// any process of the program.
///
/// A reference and a name reach the actor through the program's actor net, so they serve the
/// program that started the manager (a program that connected over TCP uses
/// [`Manager::publish`](crate::Manager::publish) and [`Manager::lookup`](crate::Manager::lookup)
/// instead).
///
/// ```
/// use procvisor_manager::{Manager, Proxy, QueueProxy};
///
/// let manager = Manager::start()?;
/// let jobs = manager.queue::<u32>(0)?;
/// jobs.put(7)?;
///
/// // A reference is a value: send it to any process of the program.
/// let reference = jobs.remote_ref()?;
/// let same = QueueProxy::<u32>::from_remote_ref(&reference)?;
/// assert_eq!(same.get()?, 7);
///
/// // Or give the object a name, and find it by that name.
/// jobs.register("jobs")?;
/// QueueProxy::<u32>::named("jobs")?.put(8)?;
/// assert_eq!(jobs.get()?, 8);
/// # Ok::<(), procvisor_manager::ManagerError>(())
/// ```
pub trait Proxy: sealed::Sealed + Sized {
    /// The kind of object the proxy views.
    const KIND: ObjectKind;

    /// The actor that is this object (started in the manager on first use).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Unreachable`] when the manager has gone.
    fn remote_ref(&self) -> Result<RemoteRef<ManagedObject>, ManagerError> {
        object_actor(&self.raw().0, None)
    }

    /// Registers the object in the program under `name`, for [`named`](Proxy::named) and
    /// [`RemoteRef::named`]. Names are unique in the program.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Lookup`] when the name is taken; [`ManagerError::Unreachable`].
    fn register(&self, name: &str) -> Result<RemoteRef<ManagedObject>, ManagerError> {
        object_actor(&self.raw().0, Some(name))
    }

    /// The proxy for the object `reference` is.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Lookup`] when the actor cannot be reached or the object is of another
    /// kind.
    fn from_remote_ref(reference: &RemoteRef<ManagedObject>) -> Result<Self, ManagerError> {
        let info = reference
            .call(ObjectMsg::Describe)
            .map_err(|e| lookup_failed(reference, &e))?;
        proxy_from(info, reference)
    }

    /// [`from_remote_ref`](Proxy::from_remote_ref), as a future.
    fn from_remote_ref_async(
        reference: &RemoteRef<ManagedObject>,
    ) -> impl std::future::Future<Output = Result<Self, ManagerError>> + Send {
        async move {
            let info = reference
                .call_async(ObjectMsg::Describe)
                .await
                .map_err(|e| lookup_failed(reference, &e))?;
            proxy_from(info, reference)
        }
    }

    /// The proxy for the object registered as `name` ([`register`](Proxy::register)).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Lookup`] when no object is registered as `name`, or it is of another
    /// kind.
    fn named(name: &str) -> Result<Self, ManagerError> {
        Self::from_remote_ref(&RemoteRef::named(name))
    }

    /// [`named`](Proxy::named), as a future.
    fn named_async(
        name: &str,
    ) -> impl std::future::Future<Output = Result<Self, ManagerError>> + Send {
        let reference = RemoteRef::named(name);
        async move { Self::from_remote_ref_async(&reference).await }
    }
}

/// The proxy of kind `P` for the object `info` describes, found through `reference`.
fn proxy_from<P: Proxy>(
    info: ObjectInfo,
    reference: &RemoteRef<ManagedObject>,
) -> Result<P, ManagerError> {
    if info.kind != P::KIND {
        return Err(ManagerError::Lookup(format!(
            "{} is a {:?}, not a {:?}",
            describe_ref(reference),
            info.kind,
            P::KIND
        )));
    }
    Ok(P::from_raw(sealed::Raw(info.handle)))
}

fn describe_ref(reference: &RemoteRef<ManagedObject>) -> String {
    match reference.name() {
        Some(name) => format!("the object registered as \"{name}\""),
        None => "the referenced object".to_string(),
    }
}

fn lookup_failed(reference: &RemoteRef<ManagedObject>, error: &ActorError) -> ManagerError {
    ManagerError::Lookup(format!("cannot reach {}: {error}", describe_ref(reference)))
}

fn object_actor(
    handle: &Handle,
    name: Option<&str>,
) -> Result<RemoteRef<ManagedObject>, ManagerError> {
    let request = Request::ObjectActor {
        id: handle.id,
        name: name.map(str::to_string),
    };
    match handle.endpoint.call(&request) {
        Ok(Response::Actor { path, id }) => Ok(match name {
            Some(name) => RemoteRef::named(name),
            None => pool_support::actor_at(path, id),
        }),
        // The name is taken.
        Err(ManagerError::Remote(message)) if name.is_some() => Err(ManagerError::Lookup(
            message
                .strip_prefix("ActorError: ")
                .unwrap_or(&message)
                .to_string(),
        )),
        Ok(other) => Err(unexpected(&other)),
        Err(e) => Err(e),
    }
}

/// A proxy type's place among the views.
macro_rules! proxy_kind {
    ($kind:ident: $proxy:ident $(< $($t:ident),* >)?) => {
        impl$(<$($t),*>)? sealed::Sealed for crate::$proxy$(<$($t),*>)? {
            fn raw(&self) -> sealed::Raw {
                sealed::Raw(self.handle().clone())
            }

            fn from_raw(raw: sealed::Raw) -> Self {
                Self::from_handle(raw.0)
            }
        }

        impl$(<$($t),*>)? Proxy for crate::$proxy$(<$($t),*>)? {
            const KIND: ObjectKind = ObjectKind::$kind;
        }
    };
}

proxy_kind!(Dict: DictProxy<K, V>);
proxy_kind!(Set: SetProxy<T>);
proxy_kind!(Namespace: NamespaceProxy);
proxy_kind!(List: ListProxy<T>);
proxy_kind!(Array: ArrayProxy<T>);
proxy_kind!(Value: ValueProxy<T>);
proxy_kind!(Lock: LockProxy);
proxy_kind!(Semaphore: SemaphoreProxy);
proxy_kind!(Condition: ConditionProxy);
proxy_kind!(Event: EventProxy);
proxy_kind!(Barrier: BarrierProxy);
proxy_kind!(Queue: QueueProxy<T>);
