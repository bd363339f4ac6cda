//! Actors served through another protocol (a manager's, to clients that may be other programs):
//! started by type name, called by number with encoded messages, from a plain thread of the
//! process that hosts them.

use super::address::ActorId;
use super::envelope::{Body, Envelope};
use super::error::ActorError;
use crate::node::node;
use procvisor_wire::Payload;
use std::time::{Duration, Instant};

/// How often a long call asks whether its caller still wants the answer.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// Starts the registered actor type `actor` in this process from encoded `args`, registered
/// under `name` if given: its number here, and this process's path (its address).
///
/// # Errors
///
/// [`ActorError::Unregistered`] when the type is not registered here; the start's failure; a
/// name already taken.
pub fn start(
    actor: &str,
    args: Payload,
    name: Option<String>,
) -> Result<(Vec<u32>, u64), ActorError> {
    let registration = super::lookup(actor).ok_or_else(|| ActorError::Unregistered {
        actor: "an actor type",
        short: crate::process::short_name(actor),
    })?;
    let (tx, rx) = std::sync::mpsc::channel();
    let starting = (registration.start)(args, name, None);
    node().runtime().spawn(async move {
        let _ = tx.send(starting.await);
    });
    let id = rx
        .recv()
        .map_err(|_| ActorError::StartFailed("the start was dropped".into()))?
        .map_err(|e| ActorError::from(e.into_failure()))?;
    let net = node().actor_net();
    reachable_from_the_root();
    Ok((net.address_of(id).node, id.0))
}

/// Whether this process's actors can be reached by id from the rest of the program.
static REACHABLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes this process's actors reachable by id from any process of the program, before their
/// address is handed out (through another protocol, so it may arrive first). A process that
/// was not started as an actor host links to its parent on its first envelope up; a round
/// trip to the main process opens every link on the way and returns once each is in place.
fn reachable_from_the_root() {
    use std::sync::atomic::Ordering;
    let net = node().actor_net();
    if net.here.is_empty() || REACHABLE.load(Ordering::Acquire) {
        return;
    }
    let to = super::Address {
        node: Vec::new(),
        // No actor has this number: the main process answers that at once.
        recipient: super::Recipient::Id(ActorId(u64::MAX)),
    };
    let (caller, slot) = net.new_call(&to.node);
    net.route(Envelope {
        to,
        body: Body::Call {
            from: caller.clone(),
            message: super::net::unit(),
        },
    });
    match slot.wait(Instant::now().checked_add(Duration::from_secs(10))) {
        Some(_) => REACHABLE.store(true, Ordering::Release),
        None => {
            net.forget_call(caller.call);
            tracing::warn!(target: "procvisor::actor", "the main process did not answer: actors here may not be reachable by id yet");
        }
    }
}

/// Calls actor `id` of this process with an encoded message and waits for the encoded reply,
/// at most `timeout`; every tenth of a second it asks `keep_waiting` whether the caller still
/// wants the answer (a client that hung up does not).
///
/// # Errors
///
/// How the call failed, as [`RemoteRef::call`](crate::RemoteRef::call) says it;
/// [`ActorError::Timeout`]; [`ActorError::Unreachable`] when `keep_waiting` said no.
pub fn call(
    id: u64,
    message: Payload,
    timeout: Option<Duration>,
    keep_waiting: &dyn Fn() -> bool,
) -> Result<Payload, ActorError> {
    let net = node().actor_net();
    let to = net.address_of(ActorId(id));
    let (caller, slot) = net.new_call(&to.node);
    net.route(Envelope {
        to,
        body: Body::Call {
            from: caller.clone(),
            message,
        },
    });
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let slice = Instant::now() + CHECK_EVERY;
        let until = deadline.map_or(slice, |d| d.min(slice));
        if let Some(result) = slot.wait(Some(until)) {
            return result.map_err(ActorError::from);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            net.forget_call(caller.call);
            return Err(ActorError::Timeout);
        }
        if !keep_waiting() {
            net.forget_call(caller.call);
            return Err(ActorError::Unreachable("the caller has gone".into()));
        }
    }
}

/// Sends actor `id` of this process an encoded message, without waiting.
pub fn cast(id: u64, message: Payload) {
    let net = node().actor_net();
    net.route(Envelope {
        to: net.address_of(ActorId(id)),
        body: Body::Cast(message),
    });
}

/// Asks actor `id` of this process to stop and waits until it has (at most `timeout`).
///
/// # Errors
///
/// [`ActorError::Timeout`]; an actor already gone is not an error.
pub fn stop(id: u64, timeout: Duration) -> Result<(), ActorError> {
    let net = node().actor_net();
    let to = net.address_of(ActorId(id));
    let (caller, slot) = net.new_call(&to.node);
    net.route(Envelope {
        to,
        body: Body::Stop {
            from: Some(caller.clone()),
        },
    });
    match slot.wait(Instant::now().checked_add(timeout)) {
        Some(Ok(_)) | Some(Err(super::envelope::CallFailure::NoSuchActor(_))) => Ok(()),
        Some(Err(failure)) => Err(failure.into()),
        None => {
            net.forget_call(caller.call);
            Err(ActorError::Timeout)
        }
    }
}

/// Whether actor `id` of this process is running.
pub fn alive(id: u64) -> bool {
    node().actor_net().local.contains_key(&ActorId(id))
}

/// Why a served actor could not be reached, for a message that travels as text.
pub fn describe(error: &ActorError) -> String {
    match error {
        ActorError::NoSuchActor(_) => format!("ReferenceError: {error}"),
        _ => format!("ActorError: {error}"),
    }
}
