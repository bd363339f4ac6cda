//! [`Supervisor`]: the handle on a top-level supervision tree.

use super::actor::{SupervisorActor, SupervisorMsg, SupervisorReply};
use super::spec::SupervisorSpec;
use super::tree::SupervisionTree;
use crate::actor::{Actor, ActorEnd, ActorError, RemoteRef};
use crate::node::node;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Why a supervisor did not start, or ended.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisorError {
    /// A child could not start, so the supervisor did not (the children already started were
    /// stopped).
    #[error("the supervisor could not start: {0}")]
    StartFailed(String),
    /// Its children crashed more often than its intensity allows: it stopped them and ended.
    #[error("{0}")]
    GaveUp(String),
    /// The supervisor could not be reached.
    #[error(transparent)]
    Actor(#[from] ActorError),
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
/// assert_eq!(counter.call(2, None)?, 2);
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
/// [`SupervisorError::GaveUp`]. Every crash, restart and give-up is a `tracing` event (target
/// `procvisor::supervisor`) with its cause.
///
/// Dropping the handle shuts the tree down (children stopped in reverse order, each by its
/// shutdown policy).
pub struct Supervisor {
    actor: RemoteRef<SupervisorActor>,
    name: String,
    ended: Arc<Ended>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("name", &self.name)
            .finish_non_exhaustive()
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
    /// [`SupervisorError::StartFailed`] naming the child that could not start.
    pub fn start(spec: SupervisorSpec) -> Result<Supervisor, SupervisorError> {
        let name = spec.name.clone();
        let actor = crate::actor::spawn_local_named::<SupervisorActor>(&name, spec).map_err(
            |e| match e {
                ActorError::StartFailed(message) => SupervisorError::StartFailed(message),
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
        Ok(Supervisor { actor, name, ended })
    }

    /// The supervisor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A reference to child actor `id` (by name: it follows the child across restarts).
    pub fn child<A: Actor>(&self, id: &str) -> RemoteRef<A> {
        RemoteRef::named(id)
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
            .call(SupervisorMsg::Tree, Some(Duration::from_secs(30)))?
        {
            SupervisorReply::Tree(tree) => Ok(tree),
            SupervisorReply::Done => Err(ActorError::Codec("not a tree".into())),
        }
    }

    /// Stops every child (in reverse start order, each by its shutdown policy), then the
    /// supervisor. Stopping one that has ended is not an error.
    ///
    /// # Errors
    ///
    /// When the supervisor cannot be reached.
    pub fn shutdown(&self) -> Result<(), ActorError> {
        if self
            .ended
            .end
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
        {
            return Ok(());
        }
        match self.actor.call(SupervisorMsg::Shutdown, None) {
            Ok(_) | Err(ActorError::NoSuchActor(_) | ActorError::Stopped) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Waits until the supervisor ends, at most `timeout`: `Some(Ok(()))` after a shutdown,
    /// `Some(Err(GaveUp))` after it gave up, `None` if it still runs.
    pub fn wait(&self, timeout: Option<Duration>) -> Option<Result<(), SupervisorError>> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
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
