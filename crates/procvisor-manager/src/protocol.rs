//! What clients and the manager say to each other. Values travel encoded: the manager keeps
//! them as bytes and never needs their Rust types, so one manager serves every proxy type.

use procvisor_wire::Payload;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// An encoded value.
pub(crate) type Bytes = Vec<u8>;

/// An object's number in its manager.
pub(crate) type ObjectId = u64;

/// Who holds a lock: a thread of a client process (an `RLock` is re-entered by its owner only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Owner {
    /// The client process (see [`session`]).
    pub(crate) session: Session,
    pub(crate) thread: u64,
}

impl Owner {
    /// This thread of this process, or, inside a tokio task, this task: an async task that
    /// holds an `RLock` across an `.await` may resume on another thread, and is still its
    /// holder.
    pub(crate) fn current() -> Owner {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1);
        thread_local!(static THREAD: u64 = NEXT.fetch_add(1, Ordering::Relaxed));
        let thread = match tokio::task::try_id() {
            // Task ids and thread numbers never meet: the top bit tells them apart.
            Some(task) => {
                use std::hash::{Hash, Hasher};
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                task.hash(&mut hasher);
                hasher.finish() | 1 << 63
            }
            None => THREAD.with(|t| *t) & !(1 << 63),
        };
        Owner {
            session: session(),
            thread,
        }
    }
}

/// A client process, as managers know it: a random number, fresh in every process (a pid means
/// nothing to a manager on another machine, and is reused).
pub(crate) type Session = u64;

/// This process's session.
pub(crate) fn session() -> Session {
    // A forked child is a client of its own.
    static SESSION: crate::per_process::PerProcess<Option<Session>> =
        crate::per_process::PerProcess::new();
    *SESSION.lock().get_or_insert_with(|| {
        let mut bytes = [0u8; 8];
        match getrandom::fill(&mut bytes) {
            Ok(()) => u64::from_le_bytes(bytes),
            Err(_) => u64::from(std::process::id()) << 32,
        }
    })
}

/// What a new object starts as.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Create {
    Dict(Vec<(Bytes, Bytes)>),
    List(Vec<Bytes>),
    Array(Vec<Bytes>),
    Namespace,
    Value(Bytes),
    Lock {
        reentrant: bool,
    },
    Semaphore {
        value: u64,
        bound: Option<u64>,
    },
    Condition,
    Event,
    Barrier {
        parties: u64,
    },
    Queue {
        maxsize: usize,
    },
    Set(Vec<Bytes>),
    /// A pool of `processes` worker processes, children of the manager process.
    Pool {
        processes: usize,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Request {
    Create(Create),
    Call {
        id: ObjectId,
        op: Op,
    },
    /// Keeps an encoded proxy under a name, for other clients to find.
    Publish {
        name: String,
        proxy: Bytes,
    },
    Lookup {
        name: String,
    },
    /// Makes this connection the lifeline of a client process: the client holds it open, and
    /// says nothing more on it, for as long as it lives. When it closes, the process is gone,
    /// and what it held (locks, semaphore permits) is released.
    Session(Session),
    /// How many objects the manager holds and how many connections it serves.
    Stats,
    /// The actor that stands for object `id` in the manager process (started on first use),
    /// or, with a name, a new one registered under it in the program.
    ObjectActor {
        id: ObjectId,
        name: Option<String>,
    },
    /// Starts an actor of the registered type `actor` in the manager process.
    SpawnActor {
        actor: String,
        args: Payload,
        name: Option<String>,
    },
    /// Calls actor `id` of the manager process; `timeout: None` waits as long as it takes.
    ActorCall {
        id: u64,
        message: Payload,
        timeout: Option<std::time::Duration>,
    },
    /// Sends actor `id` a message without waiting.
    ActorCast {
        id: u64,
        message: Payload,
    },
    /// Stops actor `id`.
    ActorStop {
        id: u64,
    },
    /// A shared-memory segment of `size` bytes, made and tracked by the manager.
    CreateSegment {
        size: usize,
    },
    /// A shareable list holding these items, in a segment made and tracked by the manager.
    CreateShareableList(Vec<procvisor_wire::Object>),
    /// The segments the manager made and has not unlinked.
    Segments,
    Shutdown,
}

/// A method call on an object. `timeout: None` waits for as long as it takes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Op {
    Len,
    Clear,
    // dict (and namespace, keyed by the attribute's name)
    Get(Bytes),
    GetItem(Bytes),
    Set(Bytes, Bytes),
    Del(Bytes),
    Contains(Bytes),
    Keys,
    Values,
    Items,
    Update(Vec<(Bytes, Bytes)>),
    Pop(Bytes, Option<Bytes>),
    SetDefault(Bytes, Bytes),
    PopItem,
    /// Up to `max` entries of a dict or set from slot `from` on, if its keys are those of
    /// `shape` (`None`: whatever they are now; the answer says).
    Entries {
        from: u64,
        max: u32,
        shape: Option<u64>,
        part: Part,
    },
    // list
    At(i64),
    SetAt(i64, Bytes),
    DelAt(i64),
    Append(Bytes),
    Extend(Vec<Bytes>),
    Insert(i64, Bytes),
    PopAt(Option<i64>),
    Remove(Bytes),
    Index(Bytes),
    Count(Bytes),
    Reverse,
    Slice(Option<i64>, Option<i64>),
    SetSlice(Option<i64>, Option<i64>, Vec<Bytes>),
    Snapshot,
    ReplaceIf {
        version: u64,
        items: Vec<Bytes>,
    },
    // set (with Len, Clear, Contains, Remove, PopItem, Extend and Keys)
    Add(Bytes),
    Discard(Bytes),
    /// `self op other`, returned, or made the set's new contents (`in_place`).
    SetAlgebra {
        op: SetOp,
        other: Vec<Bytes>,
        in_place: bool,
    },
    SetCompare {
        cmp: SetCmp,
        other: Vec<Bytes>,
    },
    // value
    Load,
    Store(Bytes),
    // locks and semaphores
    Acquire {
        owner: Owner,
        timeout: Option<Duration>,
    },
    Release {
        owner: Owner,
    },
    // condition
    Wait {
        owner: Owner,
        timeout: Option<Duration>,
    },
    Notify {
        owner: Owner,
        n: u64,
    },
    // event
    IsSet,
    SetFlag,
    ClearFlag,
    WaitFlag {
        timeout: Option<Duration>,
    },
    // barrier
    BarrierWait {
        timeout: Option<Duration>,
    },
    Abort,
    Reset,
    BarrierState,
    // queue
    Put {
        item: Bytes,
        timeout: Option<Duration>,
    },
    Take {
        timeout: Option<Duration>,
    },
    /// An item a cancelled async `get` had taken, back to the front.
    GiveBack(Bytes),
    TaskDone,
    Join {
        timeout: Option<Duration>,
    },
    QueueState,
    // pool
    /// Runs the registered function `function` (its full name) on `args`, the encoding of a
    /// sequence of one argument tuple; answers the encoding of a `Vec` of one value.
    PoolApply {
        function: String,
        args: Bytes,
    },
    /// One task per chunk (an encoded sequence of argument tuples, and how many it holds);
    /// answers each chunk's encoded `Vec` of values, in order.
    PoolMap {
        function: String,
        chunks: Vec<(Bytes, u64)>,
    },
    PoolClose,
    PoolTerminate,
    PoolJoin {
        timeout: Option<Duration>,
    },
}

/// Which half of a dict's entries an iterator wants (the other travels empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Part {
    Keys,
    Values,
    Items,
}

/// A set operation that makes a set of two.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) enum SetOp {
    Union,
    Intersection,
    Difference,
    SymmetricDifference,
}

/// A comparison of a set with another.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) enum SetCmp {
    Subset,
    Superset,
    Disjoint,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Response {
    Done,
    Bool(bool),
    Int(i64),
    Bytes(Bytes),
    MaybeBytes(Option<Bytes>),
    List(Vec<Bytes>),
    Items(Vec<(Bytes, Bytes)>),
    /// Entries of a dict or set, the slot to ask for next, and the keys' shape.
    Chunk {
        items: Vec<(Bytes, Bytes)>,
        next: u64,
        shape: u64,
    },
    Created(ObjectId),
    Versioned {
        version: u64,
        items: Vec<Bytes>,
    },
    Barrier {
        parties: u64,
        waiting: u64,
        broken: bool,
    },
    Queue {
        size: u64,
        maxsize: u64,
        unfinished: u64,
    },
    Stats {
        objects: u64,
        connections: u64,
    },
    /// An actor started in the manager process: that process's path, and its number there.
    Actor {
        path: Vec<u32>,
        id: u64,
    },
    /// An actor's reply.
    Reply(Payload),
    /// Shared-memory segments, by name.
    Segments(Vec<String>),
    Error(String),
    Timeout,
    /// Sent every [`HEARTBEAT`] while a call waits in the manager (for a lock, an item, a
    /// notification): the manager is there, keep waiting.
    StillWaiting,
}

/// How often a waiting call hears from its manager.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(1);
