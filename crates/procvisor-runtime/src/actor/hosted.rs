//! A user's [`Actor`] inside its node: a ractor actor whose messages are the envelopes
//! addressed to it, with panics turned into crashes and every call answered.

use super::address::{ActorId, Recipient};
use super::behaviour::{Actor, ActorContext};
use super::envelope::{CallFailure, Caller};
use super::net::{ActorEnd, unit};
use super::remote_ref::RemoteRef;
use crate::node::node;
use crate::outcome::Failure;
use procvisor_wire::Payload;
use ractor::{ActorProcessingErr, ActorRef};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;

/// The obligation to answer a call. Dropped unanswered (its actor stopped or crashed with the
/// call still queued), it answers [`CallFailure::Stopped`]: no caller waits for ever.
#[derive(Debug)]
pub(crate) struct ReplyTo(Option<Caller>);

impl ReplyTo {
    pub(crate) fn new(caller: Caller) -> ReplyTo {
        ReplyTo(Some(caller))
    }

    pub(crate) fn maybe(caller: Option<Caller>) -> ReplyTo {
        ReplyTo(caller)
    }

    pub(crate) fn send(mut self, result: Result<Payload, CallFailure>) {
        if let Some(caller) = self.0.take() {
            node().actor_net().reply(caller, result);
        }
    }
}

impl Drop for ReplyTo {
    fn drop(&mut self) {
        if let Some(caller) = self.0.take() {
            node().actor_net().reply(caller, Err(CallFailure::Stopped));
        }
    }
}

/// What a hosted actor receives.
#[derive(Debug)]
pub(crate) enum HostedMsg {
    Cast(Payload),
    Call(Payload, ReplyTo),
    Stop(ReplyTo),
    /// End as crashed with this failure, at once (a supervisor's `kill_child` of a local child).
    Crash(Failure),
    /// Say what it runs ([`Actor::describe`]).
    Describe(ReplyTo),
}

/// The ractor actor that hosts an `A`.
struct Hosted<A>(PhantomData<fn() -> A>);

struct HostedState<A: Actor> {
    /// Dropped first when the actor ends (see the `Drop`): replies it kept for later fail their
    /// callers before its end is announced, which may end its process.
    actor: std::mem::ManuallyDrop<A>,
    ctx: ActorContext<A>,
    end: Option<ActorEnd>,
}

impl<A: Actor> Drop for HostedState<A> {
    /// The actor is gone, however it went (ractor skips `post_stop` in some exits).
    fn drop(&mut self) {
        // SAFETY: the state is dropped once, here, and the actor is not touched after.
        unsafe { std::mem::ManuallyDrop::drop(&mut self.actor) };
        let end = self.end.take().unwrap_or(ActorEnd::Stopped);
        self.release_name();
        node().actor_net().actor_ended(self.ctx.id, &end);
        match &end {
            ActorEnd::Stopped => {
                tracing::debug!(target: "procvisor::actor", actor = std::any::type_name::<A>(), id = %self.ctx.id, "actor stopped")
            }
            ActorEnd::Crashed(failure) => {
                tracing::warn!(target: "procvisor::actor", actor = std::any::type_name::<A>(), id = %self.ctx.id, %failure, "actor crashed")
            }
        }
    }
}

impl<A: Actor> ractor::Actor for Hosted<A> {
    type Msg = HostedMsg;
    type State = HostedState<A>;
    type Arguments = (A::Args, ActorContext<A>, StartSlot);

    /// Runs [`Actor::start`] with the actor already reachable: what it is sent meanwhile (by
    /// itself, too) waits in its mailbox, as in Erlang, instead of being dropped.
    async fn pre_start(
        &self,
        myself: ActorRef<HostedMsg>,
        (args, ctx, failed): (A::Args, ActorContext<A>, StartSlot),
    ) -> Result<HostedState<A>, ActorProcessingErr> {
        let net = node().actor_net();
        net.local
            .insert(ctx.id, super::mailbox::Mailbox::Ractor(myself));
        let error = match catch_future(A::start(args, &ctx)).await {
            Ok(Ok(actor)) => {
                return Ok(HostedState {
                    actor: std::mem::ManuallyDrop::new(actor),
                    ctx,
                    end: None,
                });
            }
            Ok(Err(e)) => e.to_string(),
            Err(failure) => failure.to_string(),
        };
        net.local.remove(&ctx.id);
        *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.clone());
        Err(error.into())
    }

    async fn handle(
        &self,
        myself: ActorRef<HostedMsg>,
        message: HostedMsg,
        state: &mut HostedState<A>,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            HostedMsg::Cast(payload) => match payload.decode::<A::Msg>() {
                Ok(msg) => {
                    if let Err(failure) = state.run(msg).await {
                        state.crash(&myself, failure);
                        return Ok(());
                    }
                }
                Err(e) => {
                    tracing::warn!(target: "procvisor::actor", actor = std::any::type_name::<A>(), %e, "a cast that is not this actor's message was dropped");
                }
            },
            HostedMsg::Call(payload, reply) => {
                match payload.decode::<A::Msg>() {
                    Ok(msg) => {
                        state.ctx.begin_call(reply);
                        let ran = state.run(msg).await;
                        // Kept by the handler (`reply_later`): it answers later.
                        let reply = state.ctx.end_call();
                        match ran {
                            Ok(answer) => {
                                if let Some(reply) = reply {
                                    reply.send(Payload::encode(&answer).map_err(|e| {
                                        CallFailure::Codec(format!("cannot encode the reply: {e}"))
                                    }));
                                }
                            }
                            Err(failure) => {
                                if let Some(reply) = reply {
                                    reply.send(Err(CallFailure::Panicked(failure.clone())));
                                }
                                state.crash(&myself, failure);
                                return Ok(());
                            }
                        }
                    }
                    Err(e) => reply.send(Err(CallFailure::Codec(format!(
                        "the message is not a {}: {e}",
                        std::any::type_name::<A::Msg>()
                    )))),
                }
            }
            HostedMsg::Stop(reply) => {
                let _ = catch_future(state.actor.stopping()).await;
                state.end = Some(ActorEnd::Stopped);
                // Its name is free by the time the stop is confirmed: a new actor may take it.
                state.release_name();
                myself.stop(None);
                reply.send(Ok(unit()));
                return Ok(());
            }
            HostedMsg::Crash(failure) => {
                state.crash(&myself, failure);
                return Ok(());
            }
            HostedMsg::Describe(reply) => {
                reply.send(
                    Payload::encode(&state.actor.describe())
                        .map_err(|e| CallFailure::Codec(e.to_string())),
                );
                return Ok(());
            }
        }
        if let Some(failure) = state.ctx.take_failure() {
            state.crash(&myself, failure);
        } else if state.ctx.stop_requested() {
            let _ = catch_future(state.actor.stopping()).await;
            state.end = Some(ActorEnd::Stopped);
            myself.stop(None);
        }
        Ok(())
    }
}

impl<A: Actor> HostedState<A> {
    fn release_name(&mut self) {
        if let Some(name) = self.ctx.name.take() {
            let net = node().actor_net();
            net.unregister_name(&name, net.address_of(self.ctx.id));
        }
    }

    async fn run(&mut self, msg: A::Msg) -> Result<A::Reply, Failure> {
        catch_future(self.actor.handle(msg, &self.ctx)).await
    }

    fn crash(&mut self, myself: &ActorRef<HostedMsg>, failure: Failure) {
        self.end = Some(ActorEnd::Crashed(failure));
        myself.stop(Some("crashed".into()));
    }
}

/// Polls `future`, turning a panic in any poll into a failure with its message and location.
pub(crate) async fn catch_future<F: Future>(future: F) -> Result<F::Output, Failure> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(
        move |cx| match crate::panics::catch(|| future.as_mut().poll(cx)) {
            Ok(std::task::Poll::Ready(value)) => std::task::Poll::Ready(Ok(value)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(failure) => std::task::Poll::Ready(Err(failure)),
        },
    )
    .await
}

/// Starts an actor from encoded arguments in this node; the id, or why it did not start.
pub(crate) type StartFn = fn(
    Payload,
    Option<String>,
    Option<super::Address>,
) -> Pin<Box<dyn Future<Output = Result<ActorId, StartError>> + Send>>;

/// [`StartFn`] for `A`.
pub(crate) fn start_erased<A: Actor>(
    args: Payload,
    name: Option<String>,
    replacing: Option<super::Address>,
) -> Pin<Box<dyn Future<Output = Result<ActorId, StartError>> + Send>> {
    Box::pin(async move {
        let args: A::Args = args
            .decode()
            .map_err(|e| StartError::Failed(format!("cannot decode the start arguments: {e}")))?;
        start_local::<A>(args, name, replacing).await
    })
}

/// Starts an `A` in this node (on the node's runtime), registering `name` if given.
pub(crate) async fn start_local<A: Actor>(
    args: A::Args,
    name: Option<String>,
    replacing: Option<super::Address>,
) -> Result<ActorId, StartError> {
    let net = node().actor_net();
    let id = net.new_actor_id();
    let address = net.address_of(id);
    // The name first, as OTP does: a second actor under a name that is taken never starts.
    if let Some(name) = &name {
        net.register_name(name, address.clone(), replacing)
            .await
            .map_err(StartError::Name)?;
    }
    let started = start_named::<A>(args, id, name.clone()).await;
    if started.is_err() {
        if let Some(name) = &name {
            net.unregister_name(name, address);
        }
    }
    started.map_err(StartError::Failed)
}

/// Why an actor did not start.
#[derive(Debug, Clone)]
pub(crate) enum StartError {
    /// Its name is taken (or could not be registered).
    Name(CallFailure),
    /// Its `start` failed or panicked, or its arguments are not its own.
    Failed(String),
}

impl StartError {
    pub(crate) fn into_failure(self) -> CallFailure {
        match self {
            StartError::Name(failure) => failure,
            StartError::Failed(message) => CallFailure::StartFailed(message),
        }
    }
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Name(failure) => failure.fmt(f),
            StartError::Failed(message) => f.write_str(message),
        }
    }
}

/// Why an actor's `start` failed, as it said it (ractor's error wraps it).
type StartSlot = std::sync::Arc<std::sync::Mutex<Option<String>>>;

/// Runs `A::start` and puts the actor in its mailbox, as actor `id` of this node.
async fn start_named<A: Actor>(
    args: A::Args,
    id: ActorId,
    name: Option<String>,
) -> Result<ActorId, String> {
    let net = node().actor_net();
    let address = net.address_of(id);
    let ctx = ActorContext {
        myself: RemoteRef::at(address.clone()),
        id,
        name: name.clone(),
        stop: AtomicBool::new(false),
        failed: std::sync::Mutex::new(None),
        call: std::sync::Mutex::new(None),
    };
    let failed = StartSlot::default();
    if let Err(e) =
        ractor::Actor::spawn(None, Hosted::<A>(PhantomData), (args, ctx, failed.clone())).await
    {
        let reported = failed.lock().unwrap_or_else(|p| p.into_inner()).take();
        return Err(reported.unwrap_or_else(|| format!("cannot start the actor: {e}")));
    }
    debug_assert!(matches!(net.address_of(id).recipient, Recipient::Id(_)));
    Ok(id)
}
