//! The manager's side: a listener, a thread per client connection (so that one client waiting
//! on a lock or a queue, or one that connects and says nothing, holds up nobody else), and the
//! objects.

mod collections;
mod handshakes;
mod ordered_map;
mod pool_object;
mod queue_object;
mod segments;
mod set_object;
mod sync_objects;
mod waiting;

use crate::manager::{ServePlan, StartFailure};
use crate::protocol::{Create, ObjectId, Op, Request, Response, Session};
use collections::VersionedList;
use handshakes::{HANDSHAKE_TIMEOUT, Handshakes};
use ordered_map::OrderedMap;
use pool_object::PoolObject;
use procvisor_runtime::__private::pool_support;
use procvisor_runtime::ActorError;
use procvisor_wire::{Address, Connection, Listener, ListenerError};
use queue_object::QueueObject;
pub(crate) use segments::SegmentPlan;
use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use sync_objects::{BarrierObject, ConditionObject, EventObject, LockObject, SemaphoreObject};

enum Object {
    Dict(Mutex<OrderedMap>),
    Set(Mutex<OrderedMap>),
    Namespace(Mutex<OrderedMap>),
    List(Mutex<VersionedList>),
    Array(Mutex<VersionedList>),
    Value(Mutex<Vec<u8>>),
    Lock(LockObject),
    Semaphore(SemaphoreObject),
    Condition(ConditionObject),
    Event(EventObject),
    Barrier(BarrierObject),
    Queue(QueueObject),
    Pool(PoolObject),
}

fn lock<S: ?Sized>(m: &Mutex<S>) -> MutexGuard<'_, S> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Object {
    fn create(create: Create) -> Result<Object, String> {
        Ok(match create {
            Create::Dict(items) => {
                let mut map = OrderedMap::default();
                for (k, v) in items {
                    map.insert(k, v);
                }
                Object::Dict(Mutex::new(map))
            }
            Create::List(items) => Object::List(Mutex::new(VersionedList { items, version: 0 })),
            Create::Array(items) => Object::Array(Mutex::new(VersionedList { items, version: 0 })),
            Create::Namespace => Object::Namespace(Mutex::default()),
            Create::Value(value) => Object::Value(Mutex::new(value)),
            Create::Lock { reentrant } => Object::Lock(LockObject::new(reentrant)),
            Create::Semaphore { value, bound } => {
                Object::Semaphore(SemaphoreObject::new(value, bound))
            }
            Create::Condition => Object::Condition(ConditionObject::new()),
            Create::Event => Object::Event(EventObject::new()),
            Create::Barrier { parties } => Object::Barrier(BarrierObject::new(parties)),
            Create::Queue { maxsize } => Object::Queue(QueueObject::new(maxsize)),
            Create::Pool { processes } => Object::Pool(PoolObject::new(processes)?),
            Create::Set(elements) => {
                let mut set = OrderedMap::default();
                for element in elements {
                    set.insert(element, Vec::new());
                }
                Object::Set(Mutex::new(set))
            }
        })
    }

    fn call(&self, op: Op, client_gone: &dyn Fn() -> bool) -> Response {
        match self {
            Object::Dict(map) => collections::dict(&mut lock(map), op, false),
            Object::Set(set) => set_object::set(&mut lock(set), op),
            Object::Namespace(map) => collections::dict(&mut lock(map), op, true),
            Object::List(list) => collections::list(&mut lock(list), op, false),
            Object::Array(list) => collections::list(&mut lock(list), op, true),
            Object::Value(value) => collections::value(&mut lock(value), op),
            Object::Lock(l) => l.call(op, client_gone),
            Object::Semaphore(s) => s.call(op, client_gone),
            Object::Condition(c) => c.call(op, client_gone),
            Object::Event(e) => e.call(op, client_gone),
            Object::Barrier(b) => b.call(op, client_gone),
            Object::Queue(q) => q.call(op, client_gone),
            Object::Pool(p) => p.call(op, client_gone),
        }
    }

    fn kind(&self) -> crate::ObjectKind {
        use crate::ObjectKind as K;
        match self {
            Object::Dict(_) => K::Dict,
            Object::Set(_) => K::Set,
            Object::Namespace(_) => K::Namespace,
            Object::List(_) => K::List,
            Object::Array(_) => K::Array,
            Object::Value(_) => K::Value,
            Object::Lock(_) => K::Lock,
            Object::Semaphore(_) => K::Semaphore,
            Object::Condition(_) => K::Condition,
            Object::Event(_) => K::Event,
            Object::Barrier(_) => K::Barrier,
            Object::Queue(_) => K::Queue,
            Object::Pool(_) => K::Pool,
        }
    }

    /// Releases what client process `session` held here (it has ended); says what, if anything.
    fn release_held_by(&self, session: Session) -> Option<String> {
        match self {
            Object::Lock(l) => l.release_held_by(session),
            Object::Semaphore(s) => s.release_held_by(session),
            Object::Condition(c) => c.release_held_by(session),
            _ => None,
        }
    }
}

/// How long a served actor may take to stop.
const ACTOR_STOP_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// What a manager holds.
struct Objects {
    objects: Mutex<HashMap<ObjectId, Arc<Object>>>,
    names: Mutex<HashMap<String, Vec<u8>>>,
    next: AtomicU64,
    /// Client processes, by how many lifelines they hold open (see [`Request::Session`]).
    sessions: Mutex<HashMap<Session, usize>>,
    /// Connections being served now.
    connections: AtomicU64,
    /// The actor that stands for each object that was asked for one (see
    /// [`crate::ManagedObject`]): its process path and number.
    actors: Mutex<HashMap<ObjectId, (Vec<u32>, u64)>>,
}

impl Default for Objects {
    fn default() -> Objects {
        // Numbers start at random: a proxy from an earlier manager at the same address must
        // not reach a new object that happens to have its number.
        let mut seed = [0u8; 8];
        let base = match getrandom::fill(&mut seed) {
            Ok(()) => u64::from_le_bytes(seed) >> 2,
            Err(_) => u64::from(std::process::id()) << 32,
        };
        Objects {
            objects: Mutex::default(),
            names: Mutex::default(),
            next: AtomicU64::new(base),
            sessions: Mutex::default(),
            connections: AtomicU64::new(0),
            actors: Mutex::default(),
        }
    }
}

impl Objects {
    /// Answers `request`. `last` is the object this connection called last: a client that
    /// calls one object again and again finds it without the table's lock (objects are never
    /// removed, so it cannot go stale).
    fn handle(
        &self,
        request: Request,
        client_gone: &dyn Fn() -> bool,
        last: &mut Option<(ObjectId, Arc<Object>)>,
    ) -> Response {
        match request {
            Request::Create(create) => match Object::create(create) {
                Ok(object) => {
                    let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
                    lock(&self.objects).insert(id, Arc::new(object));
                    Response::Created(id)
                }
                Err(e) => Response::Error(e),
            },
            Request::Call { id, op } => {
                let object = match last {
                    Some((last_id, object)) if *last_id == id => Some(object.clone()),
                    _ => lock(&self.objects).get(&id).cloned(),
                };
                match object {
                    Some(object) => {
                        let response = object.call(op, client_gone);
                        *last = Some((id, object));
                        response
                    }
                    None => Response::Error(crate::error::remote(
                        "ReferenceError",
                        format!(
                            "the manager holds no object {id} (the proxy belongs to an earlier manager at this address)"
                        ),
                    )),
                }
            }
            Request::Publish { name, proxy } => {
                lock(&self.names).insert(name, proxy);
                Response::Done
            }
            Request::Lookup { name } => Response::MaybeBytes(lock(&self.names).get(&name).cloned()),
            Request::Session(session) => {
                *lock(&self.sessions).entry(session).or_default() += 1;
                Response::Done
            }
            Request::ObjectActor { id, name } => self.object_actor(id, name),
            Request::SpawnActor { actor, args, name } => {
                match pool_support::start_served_actor(&actor, args, name) {
                    Ok((path, id)) => Response::Actor { path, id },
                    Err(e) => Response::Error(pool_support::describe_actor_error(&e)),
                }
            }
            Request::ActorCall {
                id,
                message,
                timeout,
            } => match pool_support::call_served_actor(id, message, timeout, &|| !client_gone()) {
                Ok(reply) => Response::Reply(reply),
                Err(ActorError::Timeout) => Response::Timeout,
                Err(e) => Response::Error(pool_support::describe_actor_error(&e)),
            },
            Request::ActorCast { id, message } => {
                if pool_support::served_actor_alive(id) {
                    pool_support::cast_served_actor(id, message);
                    Response::Done
                } else {
                    Response::Error(crate::error::remote(
                        "ReferenceError",
                        format!(
                            "the manager runs no actor #{id} (it stopped or crashed, or the proxy belongs to an earlier manager at this address)"
                        ),
                    ))
                }
            }
            Request::ActorStop { id } => {
                match pool_support::stop_served_actor(id, ACTOR_STOP_LIMIT) {
                    Ok(()) => Response::Done,
                    Err(ActorError::Timeout) => Response::Timeout,
                    Err(e) => Response::Error(pool_support::describe_actor_error(&e)),
                }
            }
            Request::Stats => Response::Stats {
                objects: lock(&self.objects).len() as u64,
                connections: self.connections.load(Ordering::Relaxed),
            },
            Request::CreateSegment { size } => match segments::create(size) {
                Ok(name) => Response::Segments(vec![name]),
                Err(e) => Response::Error(e),
            },
            Request::CreateShareableList(items) => match segments::create_list(&items) {
                Ok(name) => Response::Segments(vec![name]),
                Err(e) => Response::Error(e),
            },
            Request::Segments => Response::Segments(segments::names()),
            Request::Shutdown => Response::Done,
        }
    }

    /// The actor for object `id`: the one it has, or a new one (always, for a name: each name
    /// is an actor of its own, all standing for the same object).
    fn object_actor(&self, id: ObjectId, name: Option<String>) -> Response {
        if !lock(&self.objects).contains_key(&id) {
            return Response::Error(crate::error::remote(
                "ReferenceError",
                format!("the manager holds no object {id}"),
            ));
        }
        if name.is_none() {
            if let Some((path, actor)) = lock(&self.actors).get(&id) {
                return Response::Actor {
                    path: path.clone(),
                    id: *actor,
                };
            }
        }
        // Two first asks at once may both start one; the second one kept wins, both work.
        match crate::object_actor::start_in_manager(id, name.clone()) {
            Ok((path, actor)) => {
                if name.is_none() {
                    lock(&self.actors).insert(id, (path.clone(), actor));
                }
                Response::Actor { path, id: actor }
            }
            Err(e) => Response::Error(e),
        }
    }

    /// Stops the workers of every pool the manager serves (it is shutting down).
    fn terminate_pools(&self) {
        let objects: Vec<Arc<Object>> = lock(&self.objects).values().cloned().collect();
        for object in objects {
            if let Object::Pool(pool) = &*object {
                pool.terminate();
            }
        }
    }

    /// A lifeline of client process `session` closed; when it was the last, the process is gone
    /// and what it held is released, as procvisor's own shared-memory locks do for a dead
    /// holder (Python's manager keeps such a lock held for ever).
    fn session_closed(&self, session: Session) {
        {
            let mut sessions = lock(&self.sessions);
            match sessions.get_mut(&session) {
                Some(open) if *open > 1 => {
                    *open -= 1;
                    return;
                }
                Some(_) => {
                    sessions.remove(&session);
                }
                None => return,
            }
        }
        let objects: Vec<(ObjectId, Arc<Object>)> = lock(&self.objects)
            .iter()
            .map(|(id, o)| (*id, o.clone()))
            .collect();
        for (id, object) in objects {
            if let Some(released) = object.release_held_by(session) {
                tracing::warn!(target: "procvisor::manager", object = id, %released, "a client process ended holding a manager object; released it");
            }
        }
    }
}

/// The server this process runs, for the actors that stand for its objects.
static SERVED: std::sync::OnceLock<(Arc<Objects>, crate::client::Endpoint)> =
    std::sync::OnceLock::new();

/// What the actor for object `id` of the manager in this process says about it.
pub(crate) fn describe_object(id: ObjectId) -> Option<crate::ObjectInfo> {
    let (objects, endpoint) = SERVED.get()?;
    let kind = lock(&objects.objects).get(&id)?.kind();
    Some(crate::ObjectInfo {
        kind,
        id,
        manager: endpoint.address.clone(),
        handle: crate::proxy::handle::Handle {
            endpoint: endpoint.clone(),
            id,
        },
    })
}

/// A manager server in this process: Python's `manager.get_server()`. Most programs use
/// [`Manager::start`](crate::Manager::start), which runs one in a process of its own; a server
/// of its own is for a program whose whole job is serving objects to other machines.
pub struct ManagerServer {
    listener: Listener,
    objects: Arc<Objects>,
    authkey: Vec<u8>,
}

impl std::fmt::Debug for ManagerServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerServer")
            .field("address", self.listener.address())
            .finish_non_exhaustive()
    }
}

impl ManagerServer {
    /// Listens on `address` (`None`: a fresh private Unix socket) for clients that hold
    /// `authkey`.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Start`](crate::ManagerError::Start) when the address cannot be bound.
    pub fn bind(
        address: Option<Address>,
        authkey: &[u8],
    ) -> Result<ManagerServer, crate::ManagerError> {
        let address = match address {
            Some(address) => address,
            None => Address::arbitrary().map_err(|e| crate::ManagerError::Start(e.to_string()))?,
        };
        let listener = Listener::builder()
            .address(address)
            .authkey(authkey)
            .handshake_timeout(Some(HANDSHAKE_TIMEOUT))
            .bind()
            .map_err(|e| crate::ManagerError::Start(e.to_string()))?;
        Ok(ManagerServer {
            listener,
            objects: Arc::default(),
            authkey: authkey.to_vec(),
        })
    }

    /// The address clients connect to (with TCP port 0, the port chosen).
    pub fn address(&self) -> &Address {
        self.listener.address()
    }

    /// Serves clients until one asks for a shutdown; then this process exits (as Python's
    /// `serve_forever` does), taking its objects with it.
    pub fn serve_forever(self) {
        let ManagerServer {
            listener,
            objects,
            authkey,
        } = self;
        let endpoint = crate::client::Endpoint {
            address: listener.address().clone(),
            authkey,
            liveness: crate::client::DEFAULT_LIVENESS,
        };
        // One server per process serves actors (a second one's objects have none).
        let _ = SERVED.set((objects.clone(), endpoint));
        let listener = Arc::new(listener);
        let handshakes = Arc::new(Handshakes::default());
        loop {
            // Never waits for a client to speak: each handshake runs on its client's thread.
            match listener.accept_incoming() {
                Ok(incoming) => {
                    // Counted here, in accept order, so the bound holds whatever the threads do.
                    let ticket = match incoming.interrupt_handle() {
                        Ok(interrupt) => Some(handshakes.begin(interrupt)),
                        Err(e) => {
                            tracing::warn!(target: "procvisor::manager", %e, "cannot track a client's handshake");
                            None
                        }
                    };
                    let (objects, listener, handshakes) =
                        (objects.clone(), listener.clone(), handshakes.clone());
                    let spawned = std::thread::Builder::new()
                        .name("procvisor-manager-client".into())
                        .spawn(move || {
                            let authenticated = incoming.authenticate();
                            if let Some(ticket) = ticket {
                                handshakes.done(ticket);
                            }
                            match authenticated {
                                Ok(conn) => serve_client(&objects, conn, &listener),
                                Err(e) => {
                                    tracing::warn!(target: "procvisor::manager", %e, "a client was refused");
                                }
                            }
                        });
                    if let Err(e) = spawned {
                        tracing::error!(target: "procvisor::manager", %e, "cannot start a client thread");
                    }
                }
                Err(ListenerError::Closed) => return,
                Err(e) => {
                    tracing::error!(target: "procvisor::manager", %e, "accept failed");
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            }
        }
    }
}

/// Whether the peer of `conn` has hung up (without reading anything).
pub(crate) fn hung_up(fd: i32) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid pollfd, a zero timeout; poll(2) only writes `revents`.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    n > 0 && pfd.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0
}

fn serve_client(objects: &Objects, conn: Connection, listener: &Listener) {
    objects.connections.fetch_add(1, Ordering::Relaxed);
    serve_connection(objects, conn, listener);
    objects.connections.fetch_sub(1, Ordering::Relaxed);
}

fn serve_connection(objects: &Objects, conn: Connection, listener: &Listener) {
    let fd = conn.as_raw_fd();
    let conn = std::cell::RefCell::new(conn);
    // A waiting call checks on its client every 100 ms; each heartbeat it also tells the client
    // it is still there (a silent manager is one that is stopped or cut off). Never blocking:
    // a client that does not read misses a heartbeat, and what was cut short goes out ahead of
    // the response.
    let last_beat = std::cell::Cell::new(std::time::Instant::now());
    let client_gone = || {
        if hung_up(fd) {
            return true;
        }
        if last_beat.get().elapsed() >= crate::protocol::HEARTBEAT {
            last_beat.set(std::time::Instant::now());
            let sent = conn
                .borrow_mut()
                .send_timeout(&Response::StillWaiting, std::time::Duration::ZERO);
            if sent.is_err_and(|e| !e.is_timeout()) {
                return true;
            }
        }
        false
    };
    let mut lifeline = None;
    let mut last = None;
    loop {
        let Ok(request) = conn.borrow_mut().recv::<Request>() else {
            break;
        };
        let shutdown = matches!(request, Request::Shutdown);
        if let Request::Session(session) = request {
            lifeline = Some(session);
        }
        last_beat.set(std::time::Instant::now());
        let response = objects.handle(request, &client_gone, &mut last);
        let sent = match conn.borrow_mut().send(&response) {
            // Nothing was sent: say why instead (a whole list or dict too large to carry).
            Err(e @ procvisor_wire::ConnectionError::FrameTooLarge { .. }) => conn
                .borrow_mut()
                .send(&Response::Error(crate::error::remote(
                    "MemoryError",
                    format!("the answer is too large for one message ({e}); fetch it in parts"),
                ))),
            sent => sent,
        };
        if sent.is_err() {
            break;
        }
        if shutdown {
            tracing::debug!(target: "procvisor::manager", "shutdown requested");
            // Before the listener closes: that ends the process from its main thread.
            segments::unlink_all();
            objects.terminate_pools();
            listener.close();
            // The objects go with the process; clients that still call get a closed socket.
            std::process::exit(0);
        }
    }
    if let Some(session) = lifeline {
        objects.session_closed(session);
    }
}

/// The manager process: runs its initializer, then serves, after telling its parent where.
pub(crate) fn manager_process(plan: ServePlan, mut ready: Connection) -> Result<(), String> {
    let ServePlan {
        address,
        authkey,
        initializer,
        segments,
    } = plan;
    if segments.is_some() {
        if let Err(e) = segments::unlink_when_stopped() {
            let reason = format!("cannot watch for its end: {e}");
            let _ = ready.send(&Err::<Address, _>(StartFailure::Start(reason.clone())));
            return Err(reason);
        }
    }
    if let Some((name, args)) = initializer {
        if let Err(reason) = run_initializer(&name, &args) {
            let failure = StartFailure::Initializer {
                name,
                reason: reason.clone(),
            };
            let _ = ready.send(&Err::<Address, _>(failure));
            return Err(reason);
        }
    }
    let server = match ManagerServer::bind(address, &authkey) {
        Ok(server) => server,
        Err(e) => {
            let _ = ready.send(&Err::<Address, _>(StartFailure::Start(e.to_string())));
            return Err(e.to_string());
        }
    };
    ready
        .send(&Ok::<Address, StartFailure>(server.address().clone()))
        .map_err(|e| e.to_string())?;
    drop(ready);
    server.serve_forever();
    Ok(())
}

/// Runs the registered function `name`: its error or panic, as text.
fn run_initializer(name: &str, args: &procvisor_wire::Payload) -> Result<(), String> {
    let registration = pool_support::registration(name)
        .ok_or_else(|| "it is not registered in the manager's binary".to_string())?;
    pool_support::run_initializer(registration, args).map_err(|failure| failure.to_string())
}
