//! [`Supervisor`], the handle on a supervision tree this process started, and
//! [`SupervisorRef`], a reference to any supervisor of the program.

use super::actor::{
    ChildCounts, ChildInfo, Fault, SupervisorActor, SupervisorMsg, SupervisorReply,
};
use super::events::{EventQueue, EventSink, SupervisorEvents};
use super::spec::{ChildSpec, SupervisorSpec};
use super::tree::SupervisionTree;
use crate::actor::{Actor, ActorEnd, ActorError, RemoteRef};
use crate::node::node;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Why a supervisor did not start or ended, or why it refused a request about a child (OTP's
/// errors: `not_found`, `already_present`, `{already_started, Pid}`, `running`, `restarting`).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisorError {
    /// A child could not start, so the supervisor did not (the children already started were
    /// stopped); or its spec is not acceptable (two children with one id, say).
    #[error("the supervisor could not start: {0}")]
    StartFailed(String),
    /// Its children crashed more often than its intensity allows: it stopped them and ended.
    #[error("{0}")]
    GaveUp(String),
    /// It has no child with this id.
    #[error("the supervisor has no child \"{0}\"")]
    NotFound(String),
    /// A child with this id is already running (`start_child` with an id in use).
    #[error("child \"{id}\" is already started{}", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    AlreadyStarted {
        /// The id.
        id: String,
        /// Its process.
        pid: Option<u32>,
    },
    /// A child with this id is known but stopped (`start_child` with an id in use: restart or
    /// delete it instead).
    #[error("child \"{0}\" is already present (stopped): restart_child or delete_child it")]
    AlreadyPresent(String),
    /// The child is running (it cannot be restarted or deleted as it is).
    #[error("child \"{0}\" is running")]
    Running(String),
    /// The child is waiting to be restarted (a backoff delay).
    #[error("child \"{0}\" is being restarted")]
    Restarting(String),
    /// The child is not running (it cannot be killed).
    #[error("child \"{0}\" is not running")]
    NotRunning(String),
    /// The supervisor already has as many children as it may.
    #[error("the supervisor already has its maximum of {0} children")]
    MaxChildren(usize),
    /// The child could not start (its spec is wrong, its `start` failed, its name is taken).
    #[error("child \"{id}\" could not start: {reason}")]
    ChildStartFailed {
        /// The child's id.
        id: String,
        /// Why.
        reason: String,
    },
    /// The supervisor has ended (shut down or gave up).
    #[error("the supervisor has ended")]
    Ended,
    /// The supervisor could not be reached.
    #[error(transparent)]
    Actor(#[from] ActorError),
}

impl From<Fault> for SupervisorError {
    fn from(fault: Fault) -> Self {
        match fault {
            Fault::NotFound(id) => SupervisorError::NotFound(id),
            Fault::AlreadyStarted { id, pid } => SupervisorError::AlreadyStarted { id, pid },
            Fault::AlreadyPresent(id) => SupervisorError::AlreadyPresent(id),
            Fault::Running(id) => SupervisorError::Running(id),
            Fault::Restarting(id) => SupervisorError::Restarting(id),
            Fault::NotRunning(id) => SupervisorError::NotRunning(id),
            Fault::MaxChildren(n) => SupervisorError::MaxChildren(n),
            Fault::StartFailed { id, reason } => SupervisorError::ChildStartFailed { id, reason },
            Fault::Ended => SupervisorError::Ended,
        }
    }
}

/// How long a request to a supervisor may take before it counts as lost (starting a child in a
/// process of its own, stopping one by its shutdown policy).
const REQUEST: Duration = Duration::from_secs(120);

/// A reference to a supervisor anywhere in the program: the tree of one that runs in another
/// process, children added to it at run time, its events. A serde value: pass it to any
/// process. From [`Supervisor`] (which derefs to one) or
/// [`SupervisorRef::supervisor`] for a nested supervisor.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisorRef {
    actor: RemoteRef<SupervisorActor>,
    name: String,
}

impl std::fmt::Debug for SupervisorRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupervisorRef")
            .field("name", &self.name)
            .field("at", &self.actor)
            .finish()
    }
}

impl SupervisorRef {
    /// The supervisor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A reference to child actor `id` (by name: it follows the child across restarts).
    pub fn child<A: Actor>(&self, id: &str) -> RemoteRef<A> {
        RemoteRef::named(id)
    }

    /// The nested supervisor that is child `id` (wherever it runs).
    pub fn supervisor(&self, id: &str) -> SupervisorRef {
        SupervisorRef {
            actor: RemoteRef::named(id),
            name: id.to_string(),
        }
    }

    fn ask(&self, msg: SupervisorMsg) -> Result<SupervisorReply, SupervisorError> {
        self.actor
            .call_timeout(msg, REQUEST)
            .map_err(SupervisorError::from)
    }

    async fn ask_async(&self, msg: SupervisorMsg) -> Result<SupervisorReply, SupervisorError> {
        self.actor
            .call_timeout_async(msg, REQUEST)
            .await
            .map_err(SupervisorError::from)
    }

    /// The live tree: every child's state, pid, restart count and last exit, nested
    /// supervisors included (wherever they run).
    ///
    /// # Errors
    ///
    /// When the supervisor has ended.
    pub fn tree(&self) -> Result<SupervisionTree, ActorError> {
        match self
            .actor
            .call_timeout(SupervisorMsg::Tree, Duration::from_secs(30))?
        {
            SupervisorReply::Tree(tree) => Ok(tree),
            other => Err(unexpected(other)),
        }
    }

    /// Async twin of [`tree`](Self::tree).
    ///
    /// # Errors
    ///
    /// As [`tree`](Self::tree).
    pub async fn tree_async(&self) -> Result<SupervisionTree, ActorError> {
        match self
            .actor
            .call_timeout_async(SupervisorMsg::Tree, Duration::from_secs(30))
            .await?
        {
            SupervisorReply::Tree(tree) => Ok(tree),
            other => Err(unexpected(other)),
        }
    }

    /// Adds `spec` as a new child, last, and starts it (OTP's `start_child`). A child added
    /// this way is supervised like the others: restarted by its restart type and the
    /// strategy, stopped in reverse order with the rest.
    ///
    /// # Errors
    ///
    /// [`SupervisorError::AlreadyStarted`] or [`AlreadyPresent`](SupervisorError::AlreadyPresent)
    /// when the id is in use; [`ChildStartFailed`](SupervisorError::ChildStartFailed) when it
    /// could not start (it is not added); [`MaxChildren`](SupervisorError::MaxChildren);
    /// [`Ended`](SupervisorError::Ended).
    pub fn start_child(&self, spec: ChildSpec) -> Result<ChildInfo, SupervisorError> {
        child_reply(self.ask(SupervisorMsg::StartChild(spec))?)
    }

    /// Async twin of [`start_child`](Self::start_child).
    ///
    /// # Errors
    ///
    /// As [`start_child`](Self::start_child).
    pub async fn start_child_async(&self, spec: ChildSpec) -> Result<ChildInfo, SupervisorError> {
        child_reply(self.ask_async(SupervisorMsg::StartChild(spec)).await?)
    }

    /// Stops child `id` by its shutdown policy and keeps its spec, to restart or delete later
    /// (a temporary child's spec goes). Stopping a stopped child is not an error.
    ///
    /// # Errors
    ///
    /// [`SupervisorError::NotFound`].
    pub fn terminate_child(&self, id: &str) -> Result<(), SupervisorError> {
        unit_reply(self.ask(SupervisorMsg::TerminateChild(id.into()))?)
    }

    /// Async twin of [`terminate_child`](Self::terminate_child).
    ///
    /// # Errors
    ///
    /// As [`terminate_child`](Self::terminate_child).
    pub async fn terminate_child_async(&self, id: &str) -> Result<(), SupervisorError> {
        unit_reply(
            self.ask_async(SupervisorMsg::TerminateChild(id.into()))
                .await?,
        )
    }

    /// Starts stopped child `id` again (OTP's `restart_child`).
    ///
    /// # Errors
    ///
    /// [`SupervisorError::NotFound`], [`Running`](SupervisorError::Running),
    /// [`Restarting`](SupervisorError::Restarting),
    /// [`ChildStartFailed`](SupervisorError::ChildStartFailed).
    pub fn restart_child(&self, id: &str) -> Result<ChildInfo, SupervisorError> {
        child_reply(self.ask(SupervisorMsg::RestartChild(id.into()))?)
    }

    /// Async twin of [`restart_child`](Self::restart_child).
    ///
    /// # Errors
    ///
    /// As [`restart_child`](Self::restart_child).
    pub async fn restart_child_async(&self, id: &str) -> Result<ChildInfo, SupervisorError> {
        child_reply(
            self.ask_async(SupervisorMsg::RestartChild(id.into()))
                .await?,
        )
    }

    /// Forgets stopped child `id` (OTP's `delete_child`).
    ///
    /// # Errors
    ///
    /// [`SupervisorError::NotFound`], [`Running`](SupervisorError::Running),
    /// [`Restarting`](SupervisorError::Restarting).
    pub fn delete_child(&self, id: &str) -> Result<(), SupervisorError> {
        unit_reply(self.ask(SupervisorMsg::DeleteChild(id.into()))?)
    }

    /// Async twin of [`delete_child`](Self::delete_child).
    ///
    /// # Errors
    ///
    /// As [`delete_child`](Self::delete_child).
    pub async fn delete_child_async(&self, id: &str) -> Result<(), SupervisorError> {
        unit_reply(
            self.ask_async(SupervisorMsg::DeleteChild(id.into()))
                .await?,
        )
    }

    /// Kills child `id` at once, as a crash, to see its supervisor restart it: its process
    /// gets `SIGKILL`, an actor in the supervisor's own process crashes at its next message.
    /// The safe way to test restarts (no `unsafe` `kill` of a pid).
    ///
    /// # Errors
    ///
    /// [`SupervisorError::NotFound`], [`NotRunning`](SupervisorError::NotRunning).
    pub fn kill_child(&self, id: &str) -> Result<(), SupervisorError> {
        unit_reply(self.ask(SupervisorMsg::KillChild(id.into()))?)
    }

    /// Async twin of [`kill_child`](Self::kill_child).
    ///
    /// # Errors
    ///
    /// As [`kill_child`](Self::kill_child).
    pub async fn kill_child_async(&self, id: &str) -> Result<(), SupervisorError> {
        unit_reply(self.ask_async(SupervisorMsg::KillChild(id.into())).await?)
    }

    /// The children, in start order (OTP's `which_children`).
    ///
    /// # Errors
    ///
    /// When the supervisor cannot be reached.
    pub fn which_children(&self) -> Result<Vec<ChildInfo>, SupervisorError> {
        match self.ask(SupervisorMsg::WhichChildren)? {
            SupervisorReply::Children(children) => Ok(children),
            other => Err(unexpected(other).into()),
        }
    }

    /// Async twin of [`which_children`](Self::which_children).
    ///
    /// # Errors
    ///
    /// As [`which_children`](Self::which_children).
    pub async fn which_children_async(&self) -> Result<Vec<ChildInfo>, SupervisorError> {
        match self.ask_async(SupervisorMsg::WhichChildren).await? {
            SupervisorReply::Children(children) => Ok(children),
            other => Err(unexpected(other).into()),
        }
    }

    /// How many children it has, running, supervisors and workers (OTP's `count_children`).
    ///
    /// # Errors
    ///
    /// When the supervisor cannot be reached.
    pub fn count_children(&self) -> Result<ChildCounts, SupervisorError> {
        match self.ask(SupervisorMsg::CountChildren)? {
            SupervisorReply::Counts(counts) => Ok(counts),
            other => Err(unexpected(other).into()),
        }
    }

    /// Async twin of [`count_children`](Self::count_children).
    ///
    /// # Errors
    ///
    /// As [`count_children`](Self::count_children).
    pub async fn count_children_async(&self) -> Result<ChildCounts, SupervisorError> {
        match self.ask_async(SupervisorMsg::CountChildren).await? {
            SupervisorReply::Counts(counts) => Ok(counts),
            other => Err(unexpected(other).into()),
        }
    }

    /// Everything that happens from now on under this supervisor and the supervisors below it
    /// (in order per child): an iterator, and a [`Stream`](futures_core::Stream) for async code.
    ///
    /// ```
    /// use procvisor_runtime::{
    ///     Actor, ActorContext, ChildSpec, EventKind, InitError, Placement, Supervisor,
    ///     register_actor,
    /// };
    ///
    /// struct Idle;
    /// impl Actor for Idle {
    ///     type Args = ();
    ///     type Msg = ();
    ///     type Reply = ();
    ///     async fn start((): (), _: &ActorContext<Self>) -> Result<Self, InitError> {
    ///         Ok(Idle)
    ///     }
    ///     async fn handle(&mut self, (): (), _: &ActorContext<Self>) {}
    /// }
    /// register_actor!(Idle);
    ///
    /// let supervisor = Supervisor::builder("events-doc")
    ///     .child(ChildSpec::actor::<Idle>("idle-doc", ()).placed(Placement::Local))
    ///     .start()?;
    /// let mut events = supervisor.events()?;
    /// supervisor.kill_child("idle-doc")?;
    /// let restarted = events.find(|e| matches!(e.kind, EventKind::Restarted { .. }));
    /// assert_eq!(restarted.map(|e| e.child), Some("idle-doc".to_string()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// When the supervisor cannot be reached.
    pub fn events(&self) -> Result<SupervisorEvents, SupervisorError> {
        let queue = Arc::new(EventQueue::default());
        let ticket = super::events::park_queue(queue.clone());
        let sink = crate::actor::spawn_local::<EventSink>(ticket)?;
        self.ask(SupervisorMsg::Subscribe(sink.clone()))?;
        Ok(SupervisorEvents::new(queue, sink))
    }

    /// Stops every child (in reverse start order, each by its shutdown policy), then the
    /// supervisor. Stopping one that has ended is not an error.
    ///
    /// # Errors
    ///
    /// When the supervisor cannot be reached.
    pub fn shutdown(&self) -> Result<(), ActorError> {
        match self.actor.call(SupervisorMsg::Shutdown) {
            Ok(_) | Err(ActorError::NoSuchActor(_) | ActorError::NoSuchName(_)) => Ok(()),
            Err(ActorError::Stopped) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn unexpected(reply: SupervisorReply) -> ActorError {
    ActorError::Codec(format!("a supervisor answered {reply:?}"))
}

fn child_reply(reply: SupervisorReply) -> Result<ChildInfo, SupervisorError> {
    match reply {
        SupervisorReply::Child(result) => result.map_err(SupervisorError::from),
        other => Err(unexpected(other).into()),
    }
}

fn unit_reply(reply: SupervisorReply) -> Result<(), SupervisorError> {
    match reply {
        SupervisorReply::Unit(result) => result.map_err(SupervisorError::from),
        other => Err(unexpected(other).into()),
    }
}

/// How the supervisor ended, once it has.
#[derive(Default)]
struct Ended {
    end: Mutex<Option<ActorEnd>>,
    changed: Condvar,
}

/// A running supervision tree: Erlang/OTP's supervisor, over actors and processes anywhere in
/// the program.
///
/// ```
/// use procvisor_runtime::{
///     Actor, ActorContext, ChildSpec, InitError, RemoteRef, Strategy, Supervisor, register_actor,
/// };
///
/// struct Counter(i64);
///
/// impl Actor for Counter {
///     type Args = ();
///     type Msg = i64;
///     type Reply = i64;
///     async fn start((): (), _: &ActorContext<Self>) -> Result<Self, InitError> {
///         Ok(Counter(0))
///     }
///     async fn handle(&mut self, add: i64, _: &ActorContext<Self>) -> i64 {
///         self.0 += add;
///         self.0
///     }
/// }
/// register_actor!(Counter);
///
/// let supervisor = Supervisor::builder("root")
///     .strategy(Strategy::OneForOne)
///     .child(ChildSpec::actor::<Counter>("counter", ()))
///     .start()?;
/// let counter: RemoteRef<Counter> = supervisor.child("counter");
/// assert_eq!(counter.call(2)?, 2);
/// println!("{}", supervisor.tree()?);
/// supervisor.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// The supervisor is an actor of this process; each child is an actor in a process of its own
/// (or in this one), a whole process, or a nested supervisor (here or in a process of its own,
/// so a tree can span processes). Children start in order and stop in reverse. When a child
/// ends, its restart type and the strategy decide what restarts; more restarts than the
/// intensity allows and the supervisor gives up: it stops its children and ends as failed,
/// which its parent supervisor sees as a crash (escalation), and [`wait`](Self::wait) returns
/// [`SupervisorError::GaveUp`]. Every start, end, restart and give-up is an event
/// ([`events`](SupervisorRef::events)) and a `tracing` event (target `procvisor::supervisor`)
/// with its cause. Children can be added and removed while it runs
/// ([`start_child`](SupervisorRef::start_child) and the rest, on the [`SupervisorRef`] it
/// derefs to).
///
/// Dropping the handle shuts the tree down (children stopped in reverse order, each by its
/// shutdown policy).
pub struct Supervisor {
    handle: SupervisorRef,
    ended: Arc<Ended>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("name", &self.handle.name)
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for Supervisor {
    type Target = SupervisorRef;

    fn deref(&self) -> &SupervisorRef {
        &self.handle
    }
}

impl Supervisor {
    /// A spec for a supervisor named `name` (one-for-one, intensity more than 3 restarts in 5
    /// seconds): add children, then [`start`](SupervisorSpec::start) it.
    pub fn builder(name: &str) -> SupervisorSpec {
        SupervisorSpec::new(name)
    }

    /// Starts the supervisor in this process, and its children in order.
    ///
    /// # Errors
    ///
    /// [`SupervisorError::StartFailed`] naming the child that could not start, or what is
    /// wrong with the spec.
    pub fn start(spec: SupervisorSpec) -> Result<Supervisor, SupervisorError> {
        let name = spec.name.clone();
        let actor = crate::actor::spawn_local_named::<SupervisorActor>(&name, spec).map_err(
            |e| match e {
                ActorError::StartFailed(message) => SupervisorError::StartFailed(message),
                ActorError::NameTaken { name, holder } => SupervisorError::StartFailed(format!(
                    "the name \"{name}\" is already registered to {holder}"
                )),
                other => SupervisorError::Actor(other),
            },
        )?;
        let ended = Arc::new(Ended::default());
        if let Some(id) = actor.id() {
            let ended = ended.clone();
            node().actor_net().on_end(
                id,
                Box::new(move |end| {
                    *ended.end.lock().unwrap_or_else(|p| p.into_inner()) = Some(end.clone());
                    ended.changed.notify_all();
                }),
            );
        }
        Ok(Supervisor {
            handle: SupervisorRef { actor, name },
            ended,
        })
    }

    /// A reference to this supervisor, to hand to other processes.
    pub fn to_ref(&self) -> SupervisorRef {
        self.handle.clone()
    }

    /// Stops every child (in reverse start order, each by its shutdown policy), then the
    /// supervisor. Stopping one that has ended is not an error.
    ///
    /// # Errors
    ///
    /// When the supervisor cannot be reached.
    pub fn shutdown(&self) -> Result<(), ActorError> {
        if self.end().is_none() {
            self.handle.shutdown()?;
        }
        // Returns once the supervisor has ended, its name free for another.
        let _ = self.wait_until(Instant::now().checked_add(REQUEST));
        Ok(())
    }

    fn end(&self) -> Option<ActorEnd> {
        self.ended
            .end
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits until the supervisor ends: `Ok(())` after a shutdown (asked for, or by
    /// `auto_shutdown`), [`SupervisorError::GaveUp`] after it gave up.
    ///
    /// # Errors
    ///
    /// [`SupervisorError::GaveUp`].
    pub fn wait(&self) -> Result<(), SupervisorError> {
        self.wait_until(None)
            .expect("a wait without a deadline returns only when the supervisor has ended")
    }

    /// [`wait`](Self::wait), at most `timeout`: `None` if it still runs.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<Result<(), SupervisorError>> {
        self.wait_until(Instant::now().checked_add(timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Option<Result<(), SupervisorError>> {
        let mut end = self.ended.end.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            match &*end {
                Some(ActorEnd::Stopped) => return Some(Ok(())),
                Some(ActorEnd::Crashed(failure)) => {
                    return Some(Err(SupervisorError::GaveUp(failure.message().to_string())));
                }
                None => {}
            }
            end = match deadline {
                None => self
                    .ended
                    .changed
                    .wait(end)
                    .unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return None;
                    }
                    self.ended
                        .changed
                        .wait_timeout(end, deadline - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

impl SupervisorSpec {
    /// Starts a supervisor with this spec in this process (see [`Supervisor::start`]).
    ///
    /// # Errors
    ///
    /// As [`Supervisor::start`].
    pub fn start(self) -> Result<Supervisor, SupervisorError> {
        Supervisor::start(self)
    }
}
