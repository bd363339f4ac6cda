//! What the [`register!`](crate::register) macro expands to. Not part of the API.

pub use crate::outcome::{ChildOutcome, Failure};

use crate::outcome::{ExitCode, FailureKind};
use crate::panics;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Display;

pub use crate::actor::{ACTORS, ActorRegistration, actor_registration};
pub use crate::roles::{ROLES, Role};
pub use crate::target::{REGISTRY, Registration};
pub use linkme;
pub use procvisor_wire::Payload;

/// The type name of a value's type (the registration key).
pub fn type_name_of<T>(_: &T) -> &'static str {
    std::any::type_name::<T>()
}

/// Calls a target with decoded arguments.
pub fn apply<F: crate::Target<A>, A>(target: &F, args: A) -> F::Output {
    target.call(args)
}

/// Decodes the arguments and runs `body` as a process target, turning a panic into a failure.
pub fn run_process_target<A: DeserializeOwned>(
    payload: &Payload,
    body: impl FnOnce(A) -> ChildOutcome,
) -> ChildOutcome {
    let args = match payload.decode::<A>() {
        Ok(args) => args,
        Err(e) => {
            return ChildOutcome::failed(Failure::new(
                FailureKind::Codec,
                format!("cannot decode the arguments: {e}"),
                None,
            ));
        }
    };
    match panics::catch(|| body(args)) {
        Ok(outcome) => outcome,
        Err(failure) => ChildOutcome::failed(failure),
    }
}

/// Decodes the arguments and runs `body` as a pool task, turning a panic into a failure.
pub fn run_task_target<A: DeserializeOwned>(
    payload: &Payload,
    body: impl FnOnce(A) -> Result<Payload, Failure>,
) -> Result<Payload, Failure> {
    let args = payload.decode::<A>().map_err(|e| {
        Failure::new(
            FailureKind::Codec,
            format!("cannot decode the arguments: {e}"),
            None,
        )
    })?;
    panics::catch(|| body(args))?
}

/// Decodes a chunk of argument tuples and runs `body` over it as a pool task, turning a panic
/// into a failure of the whole chunk.
pub fn run_chunk_target<A: DeserializeOwned>(
    payload: &Payload,
    body: impl FnOnce(Vec<A>) -> Result<Payload, Failure>,
) -> Result<Payload, Failure> {
    let items = payload.decode::<Vec<A>>().map_err(|e| {
        Failure::new(
            FailureKind::Codec,
            format!("cannot decode the arguments: {e}"),
            None,
        )
    })?;
    panics::catch(|| body(items))?
}

pub use std::iter::IntoIterator;

/// The target's return value, wrapped so that method resolution can pick the most specific
/// conversion (autoref specialization: each trait below is implemented for one more `&` than
/// the next, so the first one that applies wins).
#[derive(Debug)]
pub struct Wrap<T>(pub T);

fn encode_value<T: Serialize>(value: &T) -> ChildOutcome {
    match Payload::encode(value) {
        Ok(payload) => ChildOutcome::value(payload),
        Err(e) => ChildOutcome::failed(Failure::new(
            FailureKind::Codec,
            format!("cannot encode the return value: {e}"),
            None,
        )),
    }
}

pub trait ViaExitCode {
    fn into_outcome(self) -> ChildOutcome;
}
impl ViaExitCode for &&&&&Wrap<ExitCode> {
    fn into_outcome(self) -> ChildOutcome {
        ChildOutcome::code(self.0.0)
    }
}

pub trait ViaResult {
    fn into_outcome(self) -> ChildOutcome;
}
impl<T: Serialize, E: Display> ViaResult for &&&&Wrap<Result<T, E>> {
    fn into_outcome(self) -> ChildOutcome {
        match &self.0 {
            Ok(value) => encode_value(value),
            Err(error) => {
                ChildOutcome::failed(Failure::new(FailureKind::Error, error.to_string(), None))
            }
        }
    }
}

pub trait ViaOpaqueResult {
    fn into_outcome(self) -> ChildOutcome;
}
impl<T, E: std::fmt::Debug> ViaOpaqueResult for &&&Wrap<Result<T, E>> {
    /// A `Result` whose `Ok` value cannot be encoded, or whose error has no `Display`: an `Err`
    /// still fails the process (described by `Debug`); an `Ok` succeeds without a value.
    fn into_outcome(self) -> ChildOutcome {
        match &self.0 {
            Ok(_) => ChildOutcome::code(0),
            Err(error) => {
                ChildOutcome::failed(Failure::new(FailureKind::Error, format!("{error:?}"), None))
            }
        }
    }
}

pub trait ViaUnit {
    fn into_outcome(self) -> ChildOutcome;
}
impl ViaUnit for &&&Wrap<()> {
    /// Nothing to encode: the parent reads a missing value as `()`.
    fn into_outcome(self) -> ChildOutcome {
        ChildOutcome::code(0)
    }
}

pub trait ViaValue {
    fn into_outcome(self) -> ChildOutcome;
}
impl<T: Serialize> ViaValue for &&Wrap<T> {
    fn into_outcome(self) -> ChildOutcome {
        encode_value(&self.0)
    }
}

pub trait ViaOther {
    fn into_outcome(self) -> ChildOutcome;
}
impl<T> ViaOther for &Wrap<T> {
    /// A return value that cannot be encoded is dropped: the process still succeeds, as a
    /// Python target's ignored return value does.
    fn into_outcome(self) -> ChildOutcome {
        ChildOutcome::code(0)
    }
}

pub trait TaskViaValue {
    fn task_result(self) -> Result<Payload, Failure>;
}
impl<T: Serialize> TaskViaValue for &&Wrap<T> {
    fn task_result(self) -> Result<Payload, Failure> {
        Payload::encode(&self.0).map_err(|e| {
            Failure::new(
                FailureKind::Codec,
                format!("cannot encode the return value: {e}"),
                None,
            )
        })
    }
}

pub trait TaskViaOther {
    fn task_result(&self) -> Result<Payload, Failure>;
}
impl<T> TaskViaOther for Wrap<T> {
    fn task_result(&self) -> Result<Payload, Failure> {
        Err(Failure::new(
            FailureKind::Codec,
            format!(
                "the return type {} cannot be encoded (it does not implement Serialize)",
                std::any::type_name::<T>()
            ),
            None,
        ))
    }
}

/// What `procvisor-pool` needs from the runtime: not part of the API.
pub mod pool_support {
    use crate::outcome::{Failure, FailureKind};
    pub use crate::parent_only::ParentOnly;
    use crate::target::Registration;
    use crate::{Process, node::node};

    /// The registered function named `name`.
    pub fn registration(name: &str) -> Option<&'static Registration> {
        crate::target::lookup(name)
    }

    /// What this binary can run, as one number: the same on every host that runs the same
    /// build of the program (its registered functions and actors, and procvisor's version).
    /// A cluster's agent refuses a router whose number differs.
    pub fn build_fingerprint() -> u64 {
        let mut names: Vec<&str> = crate::target::REGISTRY.iter().map(|r| (r.name)()).collect();
        names.extend(crate::actor::ACTORS.iter().map(|a| (a.name)()));
        names.sort_unstable();
        // FNV-1a: stable across builds and Rust versions (std's hasher is not promised to be).
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in env!("CARGO_PKG_VERSION")
            .bytes()
            .chain(names.iter().flat_map(|n| n.bytes().chain([0])))
        {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        hash
    }

    /// A function's name without its module path (what goes into `register!`).
    pub fn short_name(full: &str) -> String {
        crate::process::short_name(full)
    }

    /// The registration key of `F`, a function item type.
    pub fn target_name<F>() -> &'static str {
        crate::target::name_of::<F>()
    }

    /// Runs the registered function `name` here, on this thread, with encoded `args` (a
    /// tuple): `Err` with its failure when it returned an error, panicked or exited non-zero.
    pub fn run_here(name: &str, args: &procvisor_wire::Payload) -> Result<(), Failure> {
        let Some(registration) = registration(name) else {
            return Err(Failure::new(
                FailureKind::Error,
                format!(
                    "{} is not registered: add procvisor::register!({}) next to it",
                    name,
                    short_name(name)
                ),
                None,
            ));
        };
        let outcome = (registration.run_process)(args);
        match (outcome.failure, outcome.exit_code) {
            (Some(failure), _) => Err(failure),
            (None, 0) => Ok(()),
            (None, code) => Err(Failure::new(
                FailureKind::Error,
                format!("it returned exit code {code}"),
                None,
            )),
        }
    }

    /// This process's pid, without a system call.
    pub fn current_pid() -> u32 {
        node().pid()
    }

    /// A handle to this process's node runtime (started on first use).
    pub fn runtime() -> tokio::runtime::Handle {
        node().runtime().handle().clone()
    }

    /// The node's root supervisor actor (started on first use).
    pub fn root_supervisor() -> ractor::ActorCell {
        node().root().get_cell()
    }

    pub use crate::actor::{Flow, NetMessage, ThreadActor, refuse as refuse_message};

    /// Starts the registered actor type `actor` from `args` on this thread, its net messages
    /// handed to `deliver` (a pool's worker actor).
    ///
    /// # Errors
    ///
    /// When `actor` is not registered, or its arguments or its `start` fail.
    pub fn start_actor_on_thread(
        actor: &str,
        args: &super::Payload,
        deliver: std::sync::Arc<dyn Fn(NetMessage) + Send + Sync>,
    ) -> Result<ThreadActor, Failure> {
        let registration = crate::actor::lookup(actor).ok_or_else(|| {
            failure(
                FailureKind::Unregistered,
                format!("the actor type `{actor}` is not registered in this binary"),
            )
        })?;
        (registration.on_thread)(args, deliver)
    }

    /// Whether the actor type named `actor` is registered.
    pub fn actor_registered(actor: &str) -> bool {
        crate::actor::lookup(actor).is_some()
    }

    /// The name under which function or actor type `name` is registered here, as a static
    /// string (a name that came from another host, found in this binary's tables).
    pub fn registered_name(name: &str) -> Option<&'static str> {
        crate::target::lookup(name)
            .map(|r| (r.name)())
            .or_else(|| crate::actor::lookup(name).map(|r| (r.name)()))
    }

    /// Actors a manager serves to its clients (see the runtime's `actor::served`).
    pub use crate::actor::served::{
        alive as served_actor_alive, call as call_served_actor, cast as cast_served_actor,
        describe as describe_actor_error, start as start_served_actor, stop as stop_served_actor,
    };

    /// A reference to actor `id` of the process at `path` (a pool's worker actor).
    pub fn actor_at<A: crate::Actor>(path: Vec<u32>, id: u64) -> crate::RemoteRef<A> {
        crate::actor::remote_ref_at(path, id)
    }

    /// Links `process` (not started yet) into the actor net through `conn`, this side's end of
    /// a socketpair whose other end the process adopts with [`adopt_actor_link`]: its actors are
    /// reachable from its first moment (a pool's worker actor, whose pool hands out references).
    ///
    /// # Errors
    ///
    /// When the link cannot be registered with the runtime.
    pub fn attach_actor_link(
        process: &Process,
        conn: procvisor_wire::Connection,
    ) -> std::io::Result<()> {
        node().actor_net().attach_child(process.number, conn)
    }

    /// In the child: takes the parent's link of [`attach_actor_link`] as this process's way up.
    ///
    /// # Errors
    ///
    /// When the link cannot be registered with the runtime.
    pub fn adopt_actor_link(conn: procvisor_wire::Connection) -> std::io::Result<()> {
        node().actor_net().attach_parent(conn)
    }

    /// How `process` ended and what it reported (a failure, a stack overflow), once both its
    /// exit and the end of its link are known: what it sent before it died is not lost.
    pub fn ended(
        process: &Process,
    ) -> impl std::future::Future<Output = Option<(crate::ExitReason, Option<Failure>)>> + Send + 'static
    {
        process.ended()
    }

    /// Makes `process` terminated rather than joined when this process exits, without making it
    /// daemonic (so it may still start children).
    pub fn terminate_at_exit(mut process: Process) -> Process {
        process.terminate_at_exit = true;
        process
    }

    /// Whether panics on this thread are printed as well as returned.
    pub fn quiet_panics(quiet: bool) {
        crate::panics::set_quiet(quiet);
    }

    /// Runs `f`, turning a panic into a failure with its message and location.
    pub fn catch_panic<T>(f: impl FnOnce() -> T) -> Result<T, Failure> {
        crate::panics::catch(f)
    }

    /// Runs a registered function as a pool's initializer: its return value is dropped, and an
    /// `Err`, a panic or a non-zero exit code is a failure.
    pub fn run_initializer(
        registration: &Registration,
        args: &super::Payload,
    ) -> Result<(), Failure> {
        let outcome = (registration.run_process)(args);
        match outcome.failure {
            Some(failure) => Err(failure),
            None if outcome.exit_code != 0 => Err(Failure::new(
                FailureKind::Error,
                format!("the initializer returned exit code {}", outcome.exit_code),
                None,
            )),
            None => Ok(()),
        }
    }

    /// A failure of `kind` with `message`.
    pub fn failure(kind: FailureKind, message: impl Into<String>) -> Failure {
        Failure::new(kind, message, None)
    }
}
