//! User-defined actors: a state, a message type, a reply type, a handler.

use super::address::ActorId;
use super::remote_ref::RemoteRef;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::future::Future;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// The error an actor's [`start`](Actor::start) may return.
pub type InitError = Box<dyn std::error::Error + Send + Sync>;

/// An actor that can live in any process of the program and be called from any other.
///
/// Write it as you would a ractor actor: a state (the type itself), a message type, a reply
/// type and a handler. Messages, replies and start arguments are serde values, so the actor can
/// be started in another process ([`spawn_in`](crate::spawn_in)) and reached from anywhere
/// through a [`RemoteRef`]. Register the type with [`register_actor!`](crate::register_actor).
///
/// ```
/// use procvisor_runtime::{Actor, ActorContext, InitError, register_actor, spawn_local};
///
/// struct Counter {
///     count: i64,
/// }
///
/// impl Actor for Counter {
///     type Args = i64;
///     type Msg = i64;
///     type Reply = i64;
///
///     async fn start(start: i64, _: &ActorContext<Self>) -> Result<Self, InitError> {
///         Ok(Counter { count: start })
///     }
///
///     async fn handle(&mut self, add: i64, _: &ActorContext<Self>) -> i64 {
///         self.count += add;
///         self.count
///     }
/// }
/// register_actor!(Counter);
///
/// let counter = spawn_local::<Counter>(10)?;
/// counter.cast(5)?;
/// assert_eq!(counter.call(1)?, 16);
/// # Ok::<(), procvisor_runtime::ActorError>(())
/// ```
///
/// A call's reply is what [`handle`](Self::handle) returns; a cast's is dropped. Messages are
/// handled one at a time, in the order each sender sent them. A panic in `handle` crashes the
/// actor: the call it was handling fails with the panic's message and location, and the
/// messages still queued fail with [`ActorError::Stopped`](crate::ActorError::Stopped). What
/// happens next is its supervisor's business ([`Supervisor`](crate::Supervisor)).
pub trait Actor: Sized + Send + 'static {
    /// What the actor is started with.
    type Args: Serialize + DeserializeOwned + Send + 'static;
    /// What it receives.
    type Msg: Serialize + DeserializeOwned + Send + 'static;
    /// What it answers to a call.
    type Reply: Serialize + DeserializeOwned + Send + 'static;

    /// Builds the actor's state, in the process it runs in.
    ///
    /// # Errors
    ///
    /// Any error: the actor does not start, and the spawn reports the error.
    fn start(
        args: Self::Args,
        ctx: &ActorContext<Self>,
    ) -> impl Future<Output = Result<Self, InitError>> + Send;

    /// Handles one message; the result is the reply to a call.
    fn handle(
        &mut self,
        msg: Self::Msg,
        ctx: &ActorContext<Self>,
    ) -> impl Future<Output = Self::Reply> + Send;

    /// Runs when the actor is asked to stop (not after a crash): close files, say goodbye.
    fn stopping(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// What its supervisor's tree shows under its line, for an actor that runs more than
    /// itself: a pool's workers, a manager's process. `None` (the default) shows nothing more.
    fn describe(&self) -> Option<crate::supervisor::ServiceNode> {
        None
    }
}

/// What an actor knows about itself while it runs.
#[derive(Debug)]
pub struct ActorContext<A: Actor> {
    pub(crate) myself: RemoteRef<A>,
    pub(crate) id: ActorId,
    pub(crate) name: Option<String>,
    pub(crate) stop: AtomicBool,
    /// Set to end the actor as crashed, with this failure (a supervisor that gives up).
    pub(crate) failed: std::sync::Mutex<Option<crate::outcome::Failure>>,
    /// The reply to the call being handled, until the handler keeps it
    /// ([`reply_later`](Self::reply_later)) or returns.
    pub(crate) call: std::sync::Mutex<Option<super::hosted::ReplyTo>>,
}

impl<A: Actor> ActorContext<A> {
    /// A reference to this actor, to hand to others.
    pub fn myself(&self) -> RemoteRef<A> {
        self.myself.clone()
    }

    /// This actor's number in its process.
    pub fn id(&self) -> ActorId {
        self.id
    }

    /// The name it was registered under, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Keeps the reply to the call being handled, to answer it later with
    /// [`ReplyLater::send`](super::ReplyLater::send): what the handler returns is then not
    /// sent. An actor answers a call it cannot answer yet this way (a lock that is taken, a
    /// queue that is empty) and goes on with its other messages, as an OTP gen_server does
    /// with `noreply`.
    ///
    /// `None` when there is no call to keep: the message is a cast, a pool's task (its
    /// reply is what the handler returns), or the reply was already kept.
    pub fn reply_later(&self) -> Option<super::ReplyLater<A::Reply>> {
        let kept = self.call.lock().unwrap_or_else(|p| p.into_inner()).take();
        kept.map(super::ReplyLater::new)
    }

    /// Holds `reply` as the call being handled.
    pub(crate) fn begin_call(&self, reply: super::hosted::ReplyTo) {
        *self.call.lock().unwrap_or_else(|p| p.into_inner()) = Some(reply);
    }

    /// The reply to the call just handled, unless the handler kept it for later.
    pub(crate) fn end_call(&self) -> Option<super::hosted::ReplyTo> {
        self.call.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Stops the actor, normally, once the current message is handled.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    pub(crate) fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Ends the actor as crashed, with `error` as the cause, once the current message is
    /// handled: its supervisor sees a crash (and restarts it by its policy), as after a panic,
    /// without one. Erlang's `{stop, Reason, State}`.
    pub fn fail(&self, error: impl std::fmt::Display) {
        self.fail_with(crate::outcome::Failure::new(
            crate::outcome::FailureKind::Failed,
            error.to_string(),
            None,
        ));
    }

    /// Ends the actor as crashed with `failure`, once the current message is handled.
    pub(crate) fn fail_with(&self, failure: crate::outcome::Failure) {
        *self.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(failure);
    }

    pub(crate) fn take_failure(&self) -> Option<crate::outcome::Failure> {
        self.failed.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// An actor type's entry in the table [`register_actor!`](crate::register_actor) fills: how to
/// start one from encoded arguments in this process.
#[doc(hidden)]
#[derive(Debug)]
pub struct ActorRegistration {
    pub(crate) name: fn() -> &'static str,
    pub(crate) start: super::hosted::StartFn,
    pub(crate) on_thread: OnThreadFn,
}

/// Starts an actor on the calling thread (see [`ThreadActor`](super::on_thread::ThreadActor)).
pub(crate) type OnThreadFn = fn(
    &procvisor_wire::Payload,
    std::sync::Arc<dyn Fn(super::on_thread::NetMessage) + Send + Sync>,
) -> Result<super::on_thread::ThreadActor, crate::outcome::Failure>;

#[doc(hidden)]
#[linkme::distributed_slice]
pub static ACTORS: [ActorRegistration];

/// The registration of `A` (what [`register_actor!`](crate::register_actor) expands to).
#[doc(hidden)]
pub const fn actor_registration<A: Actor>() -> ActorRegistration {
    ActorRegistration {
        name: std::any::type_name::<A>,
        start: super::hosted::start_erased::<A>,
        on_thread: super::on_thread::start_erased::<A>,
    }
}

/// The registered actor type named `name`.
pub(crate) fn lookup(name: &str) -> Option<&'static ActorRegistration> {
    index().get(name).copied()
}

/// Registered actor types by name, made on first use (see the registered functions' index in
/// `target`, for why).
pub(super) fn index() -> &'static HashMap<&'static str, &'static ActorRegistration> {
    static INDEX: OnceLock<HashMap<&'static str, &'static ActorRegistration>> = OnceLock::new();
    INDEX.get_or_init(|| crate::target::by_name(&ACTORS, |r| (r.name)()))
}

/// Registers [`Actor`] types so that any process of the program can start them.
///
/// Put it next to the type, at module level. Like [`register!`](crate::register), it is
/// resolved by the linker: no setup in `main`.
#[macro_export]
macro_rules! register_actor {
    ($($actor:ty),+ $(,)?) => {$(
        const _: () = {
            #[$crate::__private::linkme::distributed_slice($crate::__private::ACTORS)]
            #[linkme(crate = $crate::__private::linkme)]
            static __ACTOR: $crate::__private::ActorRegistration =
                $crate::__private::actor_registration::<$actor>();
        };
    )+};
}
