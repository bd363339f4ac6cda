//! Starting actors: here, in a new process of their own, or in an existing actor host.

use super::address::{ActorId, Address, Recipient};
use super::behaviour::{self, Actor};
use super::call_slot::{CallSlot, wait_blocking};
use super::envelope::{Body, CallFailure, Caller, Envelope};
use super::error::ActorError;
use super::net::ActorEnd;
use super::remote_ref::RemoteRef;
use crate::context::{Context, StartMethod, get_context};
use crate::node::node;
use crate::process::Process;
use procvisor_wire::{Connection, Payload};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::mpsc::channel;
use std::time::Duration;

/// Starts an `A` in this process and returns a reference to it.
///
/// # Errors
///
/// [`ActorError::StartFailed`] when its `start` fails or panics.
pub fn spawn_local<A: Actor>(args: A::Args) -> Result<RemoteRef<A>, ActorError> {
    start_here::<A>(args, None)
}

/// [`spawn_local`], registering the actor under `name` (see [`RemoteRef::named`]).
///
/// # Errors
///
/// As [`spawn_local`].
pub fn spawn_local_named<A: Actor>(name: &str, args: A::Args) -> Result<RemoteRef<A>, ActorError> {
    start_here::<A>(args, Some(name.to_string()))
}

fn start_here<A: Actor>(args: A::Args, name: Option<String>) -> Result<RemoteRef<A>, ActorError> {
    let slot = Arc::new(CallSlot::default());
    let filled = slot.clone();
    node().runtime().spawn(async move {
        filled.fill(
            match super::hosted::start_local::<A>(args, name, None).await {
                Ok(id) => Payload::encode(&id).map_err(|e| CallFailure::Codec(e.to_string())),
                Err(e) => Err(e.into_failure()),
            },
        );
    });
    let id = match wait_blocking(&slot, None)? {
        Some(Ok(payload)) => payload
            .decode::<ActorId>()
            .map_err(|e| ActorError::Codec(e.to_string()))?,
        Some(Err(failure)) => return Err(failure.into()),
        None => return Err(ActorError::Timeout),
    };
    Ok(RemoteRef::at(node().actor_net().address_of(id)))
}

/// Where [`spawn_in`] starts an actor.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Place<'a> {
    /// In this process.
    Here,
    /// In a new process of its own, started with this context's method. The process ends when
    /// the actor stops (with exit code 0) or crashes (1).
    NewProcess(Context),
    /// In a running [`ActorHost`].
    Host(&'a ActorHost),
}

impl From<Context> for Place<'_> {
    fn from(context: Context) -> Self {
        Place::NewProcess(context)
    }
}

impl From<StartMethod> for Place<'_> {
    fn from(method: StartMethod) -> Self {
        Place::NewProcess(get_context(method))
    }
}

impl<'a> From<&'a ActorHost> for Place<'a> {
    fn from(host: &'a ActorHost) -> Self {
        Place::Host(host)
    }
}

/// Starts an `A` with `args` in `place` (this process, a new process, or an actor host) and
/// returns a reference to it once its `start` has run.
///
/// # Errors
///
/// [`ActorError::Unregistered`] when `A` is not registered (for another process);
/// [`ActorError::StartFailed`]; [`ActorError::Process`] when a new process cannot start;
/// [`ActorError::Unreachable`] when the host has gone.
pub fn spawn_in<'a, A: Actor>(
    place: impl Into<Place<'a>>,
    args: A::Args,
) -> Result<RemoteRef<A>, ActorError> {
    spawn_named_opt::<A>(place.into(), None, args)
}

/// [`spawn_in`], registering the actor under `name`.
///
/// # Errors
///
/// As [`spawn_in`].
pub fn spawn_named_in<'a, A: Actor>(
    place: impl Into<Place<'a>>,
    name: &str,
    args: A::Args,
) -> Result<RemoteRef<A>, ActorError> {
    spawn_named_opt::<A>(place.into(), Some(name.to_string()), args)
}

fn spawn_named_opt<A: Actor>(
    place: Place<'_>,
    name: Option<String>,
    args: A::Args,
) -> Result<RemoteRef<A>, ActorError> {
    match place {
        Place::Here => start_here::<A>(args, name),
        Place::NewProcess(context) => {
            let host = ActorHost::start_with(context, true, name.as_deref())?;
            let actor = host.spawn_opt::<A>(name, args)?;
            // The process lives as long as its actor; dropping this handle leaves it running.
            host.detach();
            Ok(actor)
        }
        Place::Host(host) => host.spawn_opt::<A>(name, args),
    }
}

/// A child process that hosts actors: start actors in it with [`spawn`](Self::spawn) (or
/// [`spawn_in`] with the host as the place).
///
/// Dropping the handle stops the process (its actors with it), after asking it to end and
/// waiting up to a second. A crashed actor does not end a host; a host that crashes takes its
/// actors with it, and calls to them fail with [`ActorError::Unreachable`].
#[derive(Debug)]
pub struct ActorHost {
    process: Option<Process>,
    path: Vec<u32>,
}

/// How a host process runs.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct HostMode {
    /// Ends with its first actor (a process of its own for one actor).
    dedicated: bool,
}

impl ActorHost {
    /// Starts a host process with the default start method.
    ///
    /// # Errors
    ///
    /// [`ActorError::Process`] when the process cannot start.
    pub fn start() -> Result<ActorHost, ActorError> {
        ActorHost::start_with(crate::context::default_context(), false, None)
    }

    /// Starts a host process with `context`'s start method.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    pub fn start_in(context: Context) -> Result<ActorHost, ActorError> {
        ActorHost::start_with(context, false, None)
    }

    pub(crate) fn start_with(
        context: Context,
        dedicated: bool,
        name: Option<&str>,
    ) -> Result<ActorHost, ActorError> {
        let failed = |e: crate::error::ProcessError| ActorError::Process(Arc::new(e));
        let (here_end, host_end) = procvisor_wire::pipe(true).map_err(|e| {
            failed(crate::error::ProcessError::Start {
                name: "an actor host".into(),
                source: e,
            })
        })?;
        let mut process = Process::new(actor_host, (host_end, HostMode { dedicated }))
            .map_err(failed)?
            .with_context(context);
        // Logs and errors then name the process after what it hosts.
        if let Some(name) = name {
            process = process.with_name(name);
        }
        let mut process = crate::__private::pool_support::terminate_at_exit(process);
        let number = process.number;
        let net = node().actor_net();
        // The link is in place before the host can say anything on it.
        net.attach_child(number, here_end).map_err(|e| {
            failed(crate::error::ProcessError::Start {
                name: "an actor host".into(),
                source: e,
            })
        })?;
        process.start().map_err(failed)?;
        let mut path = net.here.clone();
        path.push(number);
        Ok(ActorHost {
            process: Some(process),
            path,
        })
    }

    /// Starts an `A` in this host.
    ///
    /// # Errors
    ///
    /// As [`spawn_in`].
    pub fn spawn<A: Actor>(&self, args: A::Args) -> Result<RemoteRef<A>, ActorError> {
        self.spawn_opt::<A>(None, args)
    }

    /// Starts an `A` in this host, registered under `name`.
    ///
    /// # Errors
    ///
    /// As [`spawn_in`].
    pub fn spawn_named<A: Actor>(
        &self,
        name: &str,
        args: A::Args,
    ) -> Result<RemoteRef<A>, ActorError> {
        self.spawn_opt::<A>(Some(name.to_string()), args)
    }

    pub(crate) fn spawn_opt<A: Actor>(
        &self,
        name: Option<String>,
        args: A::Args,
    ) -> Result<RemoteRef<A>, ActorError> {
        let actor = std::any::type_name::<A>();
        if behaviour::lookup(actor).is_none() {
            return Err(ActorError::Unregistered {
                actor,
                short: crate::process::short_name(actor),
            });
        }
        let args = Payload::encode(&args)
            .map_err(|e| ActorError::Codec(format!("cannot encode the start arguments: {e}")))?;
        let id = spawn_remote(&self.path, actor, args, name, None)?;
        Ok(RemoteRef::at(Address {
            node: self.path.clone(),
            recipient: Recipient::Id(id),
        }))
    }

    /// The host's pid.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(Process::pid)
    }

    /// The host's process, for its pid, exit code and signals.
    pub fn process(&self) -> Option<&Process> {
        self.process.as_ref()
    }

    /// Takes the host's process out of the handle: it is no longer stopped on drop.
    pub(crate) fn into_process(mut self) -> Option<Process> {
        self.process.take()
    }

    /// The identity path of the host process.
    pub(crate) fn path(&self) -> &[u32] {
        &self.path
    }

    /// Lets the process run on without this handle.
    fn detach(mut self) {
        self.process = None;
    }

    /// Stops the host: asks it to end (`SIGTERM`), waits up to `grace`, then kills it. Its
    /// actors' `stopping` does not run; [`RemoteRef::stop`] them first where it matters.
    pub fn shutdown(mut self, grace: Duration) {
        self.stop(grace);
    }

    fn stop(&mut self, grace: Duration) {
        if let Some(mut process) = self.process.take() {
            let _ = process.terminate();
            if process.join_timeout(grace).is_err() {
                let _ = process.kill();
                let _ = process.join_timeout(Duration::from_secs(5));
            }
        }
    }
}

impl Drop for ActorHost {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(1));
    }
}

/// Asks the node at `path` to start a registered actor (named `name`, taking the name over
/// from `replacing`); waits for its id.
pub(crate) fn spawn_remote(
    path: &[u32],
    actor: &str,
    args: Payload,
    name: Option<String>,
    replacing: Option<Address>,
) -> Result<ActorId, ActorError> {
    let net = node().actor_net();
    let (caller, slot) = net.new_call(path);
    net.route(Envelope {
        to: Address {
            node: path.to_vec(),
            recipient: Recipient::Node,
        },
        body: Body::Spawn {
            from: caller,
            actor: actor.to_string(),
            args,
            name,
            replacing,
        },
    });
    match wait_blocking(&slot, None)? {
        Some(Ok(payload)) => payload
            .decode::<ActorId>()
            .map_err(|e| ActorError::Codec(e.to_string())),
        Some(Err(failure)) => Err(failure.into()),
        None => Err(ActorError::Timeout),
    }
}

/// Handles a spawn request that arrived here.
pub(crate) fn spawn_here(
    from: Caller,
    actor: String,
    args: Payload,
    name: Option<String>,
    replacing: Option<Address>,
) {
    let Some(registration) = behaviour::lookup(&actor) else {
        node().actor_net().reply(
            from,
            Err(CallFailure::StartFailed(format!(
                "the actor type `{actor}` is not registered in this process's binary"
            ))),
        );
        return;
    };
    node().runtime().spawn(async move {
        let started = (registration.start)(args, name, replacing).await;
        let net = node().actor_net();
        let event = match &started {
            Ok(id) => HostEvent::Started(*id),
            Err(e) => HostEvent::StartFailed(e.to_string()),
        };
        // The reply is queued before the host hears of the outcome: a host that ends on a
        // failed start flushes what is queued, and this reply must be in it.
        match started {
            Ok(id) => net.reply(
                from,
                Payload::encode(&id).map_err(|e| CallFailure::Codec(e.to_string())),
            ),
            Err(e) => net.reply(from, Err(e.into_failure())),
        }
        if let Some(events) = net.host_events() {
            let _ = events.send(event);
        }
    });
}

/// What a host process waits for.
pub(crate) enum HostEvent {
    Started(ActorId),
    StartFailed(String),
    Ended(ActorEnd),
    ParentGone,
}

/// The body of an actor host process: serve the link to the parent; a dedicated host ends with
/// its one actor, reporting its crash (or its failed start) as the process's own failure.
pub(crate) fn actor_host(link: Connection, mode: HostMode) -> crate::ExitCode {
    crate::panics::set_quiet_everywhere();
    let (tx, rx) = channel();
    let net = node().actor_net();
    net.set_host_events(tx.clone());
    {
        let tx = tx.clone();
        net.on_parent_lost(move || {
            let _ = tx.send(HostEvent::ParentGone);
        });
    }
    if net.attach_parent(link).is_err() {
        return crate::ExitCode(1);
    }
    let failure = loop {
        let Ok(event) = rx.recv() else {
            break None;
        };
        match event {
            HostEvent::Started(id) if mode.dedicated => {
                let tx = tx.clone();
                net.on_end(
                    id,
                    Box::new(move |end| {
                        let _ = tx.send(HostEvent::Ended(end.clone()));
                    }),
                );
            }
            HostEvent::Started(_) => {}
            HostEvent::StartFailed(_) if !mode.dedicated => {}
            HostEvent::StartFailed(error) => {
                break Some(crate::__private::pool_support::failure(
                    crate::outcome::FailureKind::Error,
                    format!("the actor could not start: {error}"),
                ));
            }
            HostEvent::Ended(ActorEnd::Stopped) | HostEvent::ParentGone => break None,
            HostEvent::Ended(ActorEnd::Crashed(failure)) => break Some(failure),
        }
    };
    // What is on its way up (the last replies) leaves before the process does.
    net.flush_up(Duration::from_secs(2));
    match failure {
        None => crate::ExitCode(0),
        Some(failure) => {
            crate::bootstrap::finish_quietly(crate::outcome::ChildOutcome::failed(failure))
        }
    }
}

crate::register!(actor_host);
