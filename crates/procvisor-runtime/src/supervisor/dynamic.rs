//! [`DynamicSupervisor`]: children of one kind started on demand (Elixir's `DynamicSupervisor`,
//! OTP's `simple_one_for_one`), for one actor per job, request or connection.

use super::events::SupervisorEvents;
use super::handle::{Supervisor, SupervisorError, SupervisorRef};
use super::spec::{ChildSpec, Placement, Restart, Shutdown, SupervisorSpec};
use super::tree::SupervisionTree;
use super::{ChildCounts, ChildInfo};
use crate::actor::{Actor, ActorError, RemoteRef};
use crate::supervision_policy::{Backoff, RestartIntensity};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A supervisor whose children are all actors of type `A`, started on demand with arguments
/// of their own, one-for-one, with one restart intensity for all of them and an optional
/// maximum (Elixir's `DynamicSupervisor`, OTP's `simple_one_for_one`).
///
/// ```
/// use procvisor_runtime::{
///     Actor, ActorContext, DynamicSupervisor, InitError, Placement, Restart, register_actor,
/// };
///
/// /// One job: squares its number.
/// struct Job(u64);
///
/// impl Actor for Job {
///     type Args = u64;
///     type Msg = ();
///     type Reply = u64;
///     async fn start(n: u64, _: &ActorContext<Self>) -> Result<Self, InitError> {
///         Ok(Job(n))
///     }
///     async fn handle(&mut self, (): (), _: &ActorContext<Self>) -> u64 {
///         self.0 * self.0
///     }
/// }
/// register_actor!(Job);
///
/// let jobs = DynamicSupervisor::<Job>::builder("jobs-doc")
///     .placed(Placement::Local)
///     .restart(Restart::Transient)
///     .max_children(100)
///     .start()?;
/// let job = jobs.start_child(7)?;
/// assert_eq!(job.call(())?, 49);
/// assert_eq!(jobs.count_children()?.active, 1);
/// jobs.terminate_child(&job)?;
/// assert_eq!(jobs.count_children()?.active, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Each child gets an id of its own (`jobs-doc/1`, `jobs-doc/2`, ...) and is registered under
/// it, so the [`RemoteRef`] that [`start_child`](Self::start_child) returns follows the child
/// across its restarts. A temporary child is forgotten when it ends; a transient one when it
/// ends normally or is terminated.
pub struct DynamicSupervisor<A: Actor> {
    supervisor: Supervisor,
    template: ChildSpec,
    next: AtomicU64,
    actor: PhantomData<fn() -> A>,
}

impl<A: Actor> std::fmt::Debug for DynamicSupervisor<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamicSupervisor")
            .field("name", &self.supervisor.name())
            .field("actor", &std::any::type_name::<A>())
            .finish_non_exhaustive()
    }
}

/// Options of a [`DynamicSupervisor`], from [`DynamicSupervisor::builder`].
#[must_use = "a builder does nothing until `start` is called"]
pub struct DynamicSpec<A: Actor> {
    spec: SupervisorSpec,
    template: ChildSpec,
    actor: PhantomData<fn() -> A>,
}

impl<A: Actor> std::fmt::Debug for DynamicSpec<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamicSpec")
            .field("name", &self.spec.name)
            .finish_non_exhaustive()
    }
}

impl<A: Actor> DynamicSpec<A> {
    /// At most `n` children at once (default: no limit).
    pub fn max_children(mut self, n: usize) -> Self {
        self.spec = self.spec.max_children(n);
        self
    }

    /// More than this many restarts (of any of the children) in its period, and the
    /// supervisor gives up (default: more than 3 in 5 seconds).
    pub fn intensity(mut self, intensity: RestartIntensity) -> Self {
        self.spec = self.spec.intensity(intensity);
        self
    }

    /// Waits before each restart (see [`SupervisorSpec::backoff`]).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.spec = self.spec.backoff(backoff);
        self
    }

    /// When the children restart (default [`Restart::Permanent`], as OTP's).
    pub fn restart(mut self, restart: Restart) -> Self {
        self.template = self.template.restart(restart);
        self
    }

    /// How the children stop (default: ask, then kill after five seconds).
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.template = self.template.shutdown(shutdown);
        self
    }

    /// Where the children run (default: each in a process of its own).
    pub fn placed(mut self, placement: Placement) -> Self {
        self.template = self.template.placed(placement);
        self
    }

    /// Starts the supervisor, with no children yet.
    ///
    /// # Errors
    ///
    /// As [`Supervisor::start`].
    pub fn start(self) -> Result<DynamicSupervisor<A>, SupervisorError> {
        Ok(DynamicSupervisor {
            supervisor: self.spec.start()?,
            template: self.template,
            next: AtomicU64::new(1),
            actor: PhantomData,
        })
    }
}

impl<A: Actor> DynamicSupervisor<A> {
    /// Options for a dynamic supervisor named `name`.
    pub fn builder(name: &str) -> DynamicSpec<A> {
        DynamicSpec {
            spec: SupervisorSpec {
                forget_ended: true,
                ..SupervisorSpec::new(name)
            },
            template: ChildSpec::actor_template::<A>(name),
            actor: PhantomData,
        }
    }

    /// The supervisor's name.
    pub fn name(&self) -> &str {
        self.supervisor.name()
    }

    fn next_spec(&self, args: &A::Args) -> ChildSpec {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}/{n}", self.supervisor.name());
        let child = self.template.renamed(&id);
        match procvisor_wire::Payload::encode(args) {
            Ok(args) => child.with_args(args),
            Err(e) => child.invalid(format!("cannot encode the arguments: {e}")),
        }
    }

    /// Starts a new child with `args` and returns a reference to it, which follows it across
    /// restarts.
    ///
    /// # Errors
    ///
    /// [`SupervisorError::MaxChildren`]; [`SupervisorError::ChildStartFailed`] when its
    /// `start` fails; [`SupervisorError::Ended`].
    pub fn start_child(&self, args: A::Args) -> Result<RemoteRef<A>, SupervisorError> {
        let info = self.supervisor.start_child(self.next_spec(&args))?;
        Ok(RemoteRef::named(&info.id))
    }

    /// Async twin of [`start_child`](Self::start_child).
    ///
    /// # Errors
    ///
    /// As [`start_child`](Self::start_child).
    pub async fn start_child_async(&self, args: A::Args) -> Result<RemoteRef<A>, SupervisorError> {
        let info = self
            .supervisor
            .start_child_async(self.next_spec(&args))
            .await?;
        Ok(RemoteRef::named(&info.id))
    }

    /// Stops `child` (by its shutdown policy) and forgets it.
    ///
    /// # Errors
    ///
    /// [`SupervisorError::NotFound`] when it is not a child of this supervisor.
    pub fn terminate_child(&self, child: &RemoteRef<A>) -> Result<(), SupervisorError> {
        let id = child
            .name()
            .ok_or_else(|| SupervisorError::NotFound(child.to_string()))?;
        self.supervisor.terminate_child(id)?;
        match self.supervisor.delete_child(id) {
            Ok(()) | Err(SupervisorError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The children (see [`SupervisorRef::which_children`]).
    ///
    /// # Errors
    ///
    /// When the supervisor cannot be reached.
    pub fn which_children(&self) -> Result<Vec<ChildInfo>, SupervisorError> {
        self.supervisor.which_children()
    }

    /// How many children it has (see [`SupervisorRef::count_children`]).
    ///
    /// # Errors
    ///
    /// When the supervisor cannot be reached.
    pub fn count_children(&self) -> Result<ChildCounts, SupervisorError> {
        self.supervisor.count_children()
    }

    /// Its events (see [`SupervisorRef::events`]).
    ///
    /// # Errors
    ///
    /// When the supervisor cannot be reached.
    pub fn events(&self) -> Result<SupervisorEvents, SupervisorError> {
        self.supervisor.events()
    }

    /// Its live tree.
    ///
    /// # Errors
    ///
    /// When the supervisor has ended.
    pub fn tree(&self) -> Result<SupervisionTree, ActorError> {
        self.supervisor.tree()
    }

    /// A reference to the supervisor underneath, for any process.
    pub fn to_ref(&self) -> SupervisorRef {
        self.supervisor.to_ref()
    }

    /// Stops every child, then the supervisor.
    ///
    /// # Errors
    ///
    /// When the supervisor cannot be reached.
    pub fn shutdown(&self) -> Result<(), ActorError> {
        self.supervisor.shutdown()
    }

    /// Waits until the supervisor ends (see [`Supervisor::wait`]).
    ///
    /// # Errors
    ///
    /// [`SupervisorError::GaveUp`].
    pub fn wait(&self) -> Result<(), SupervisorError> {
        self.supervisor.wait()
    }

    /// [`wait`](Self::wait), at most `timeout`.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<Result<(), SupervisorError>> {
        self.supervisor.wait_timeout(timeout)
    }
}
