//! An actor that runs on the thread that owns it: a pool's worker actor, run by its worker
//! process's main thread between tasks. Its tasks come in batches from the pool's link and run
//! there directly (no hop to another thread, so a task costs what a registered function's
//! does); what the actor net delivers to it (calls, casts, stops from a
//! [`RemoteRef`](crate::RemoteRef)) is handed to the owner's `deliver` function, which queues it
//! for that same thread.

use super::address::{ActorId, Address};
use super::behaviour::{Actor, ActorContext};
use super::envelope::CallFailure;
use super::hosted::{HostedMsg, ReplyTo, catch_future};
use super::mailbox::Mailbox;
use super::net::ActorEnd;
use super::remote_ref::RemoteRef;
use crate::node::node;
use crate::outcome::{Failure, FailureKind};
use procvisor_wire::Payload;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// A message the actor net delivered to a [`ThreadActor`], for its thread to run.
#[derive(Debug)]
pub struct NetMessage(pub(crate) HostedMsg);

/// What a [`ThreadActor`]'s thread does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    /// Go on.
    Continue,
    /// The actor stopped (it asked to, or was asked to): end normally.
    Stop,
    /// The actor failed ([`ActorContext::fail`], or it was killed): end as crashed.
    Fail(Failure),
}

/// An actor driven by its owner's thread (see the module documentation).
pub struct ThreadActor {
    /// Dropped first when the actor ends (see the `Drop`), as a hosted actor's state is.
    inner: std::mem::ManuallyDrop<Box<dyn ErasedActor>>,
    runtime: tokio::runtime::Runtime,
    id: ActorId,
    end: ActorEnd,
}

impl std::fmt::Debug for ThreadActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadActor")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The typed actor behind a [`ThreadActor`], its types erased.
pub(crate) trait ErasedActor: Send {
    fn run_batch(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        msgs: &Payload,
    ) -> Result<Payload, Failure>;
    fn run_one(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        msg: &Payload,
    ) -> Result<Payload, CallFailure>;
    /// Runs a call; its reply and answer, unless the handler kept the reply for later.
    fn run_call(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        msg: &Payload,
        reply: ReplyTo,
    ) -> Option<(ReplyTo, Result<Payload, CallFailure>)>;
    fn stopping(&mut self, runtime: &tokio::runtime::Runtime);
    fn describe(&self) -> Option<crate::supervisor::ServiceNode>;
    fn flow(&self) -> Flow;
}

struct OnThread<A: Actor> {
    actor: A,
    ctx: ActorContext<A>,
}

impl<A: Actor> ErasedActor for OnThread<A> {
    fn run_batch(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        msgs: &Payload,
    ) -> Result<Payload, Failure> {
        let msgs: Vec<A::Msg> = msgs.decode().map_err(|e| {
            Failure::new(
                FailureKind::Codec,
                format!("the task is not a {}: {e}", std::any::type_name::<A::Msg>()),
                None,
            )
        })?;
        let mut replies = Vec::with_capacity(msgs.len());
        for msg in msgs {
            let reply = runtime.block_on(catch_future(self.actor.handle(msg, &self.ctx)))?;
            replies.push(reply);
        }
        Payload::encode(&replies).map_err(|e| {
            Failure::new(
                FailureKind::Codec,
                format!("cannot encode the reply: {e}"),
                None,
            )
        })
    }

    fn run_one(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        msg: &Payload,
    ) -> Result<Payload, CallFailure> {
        let msg: A::Msg = msg.decode().map_err(|e| {
            CallFailure::Codec(format!(
                "the message is not a {}: {e}",
                std::any::type_name::<A::Msg>()
            ))
        })?;
        let reply = runtime
            .block_on(catch_future(self.actor.handle(msg, &self.ctx)))
            .map_err(CallFailure::Panicked)?;
        Payload::encode(&reply)
            .map_err(|e| CallFailure::Codec(format!("cannot encode the reply: {e}")))
    }

    fn run_call(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        msg: &Payload,
        reply: ReplyTo,
    ) -> Option<(ReplyTo, Result<Payload, CallFailure>)> {
        self.ctx.begin_call(reply);
        let answer = self.run_one(runtime, msg);
        self.ctx.end_call().map(|reply| (reply, answer))
    }

    fn stopping(&mut self, runtime: &tokio::runtime::Runtime) {
        let _ = runtime.block_on(catch_future(self.actor.stopping()));
    }

    fn describe(&self) -> Option<crate::supervisor::ServiceNode> {
        self.actor.describe()
    }

    fn flow(&self) -> Flow {
        if let Some(failure) = self.ctx.take_failure() {
            Flow::Fail(failure)
        } else if self.ctx.stop_requested() {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}

/// Starts an `A` from encoded arguments on this thread (its `start` runs here), registered in
/// the actor net with `deliver` as its mailbox.
pub(crate) fn start_erased<A: Actor>(
    args: &Payload,
    deliver: Arc<dyn Fn(NetMessage) + Send + Sync>,
) -> Result<ThreadActor, Failure> {
    let fail = |message: String| Failure::new(FailureKind::Error, message, None);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(format!("cannot start the actor's runtime: {e}")))?;
    let args: A::Args = args.decode().map_err(|e| {
        Failure::new(
            FailureKind::Codec,
            format!("cannot decode the start arguments: {e}"),
            None,
        )
    })?;
    let net = node().actor_net();
    let id = net.new_actor_id();
    let ctx = ActorContext {
        myself: RemoteRef::at(net.address_of(id)),
        id,
        name: None,
        stop: AtomicBool::new(false),
        failed: std::sync::Mutex::new(None),
        call: std::sync::Mutex::new(None),
    };
    // Reachable while its `start` runs: what it is sent meanwhile waits for this thread.
    net.local.insert(
        id,
        Mailbox::Thread(Arc::new(move |message| deliver(NetMessage(message)))),
    );
    let actor = match runtime.block_on(catch_future(A::start(args, &ctx))) {
        Ok(Ok(actor)) => actor,
        Ok(Err(e)) => {
            net.local.remove(&id);
            return Err(fail(e.to_string()));
        }
        Err(failure) => {
            net.local.remove(&id);
            return Err(failure);
        }
    };
    Ok(ThreadActor {
        inner: std::mem::ManuallyDrop::new(Box::new(OnThread { actor, ctx })),
        runtime,
        id,
        end: ActorEnd::Stopped,
    })
}

impl ThreadActor {
    /// Its address in the actor net: this process's path, and its number.
    pub fn address(&self) -> (Vec<u32>, u64) {
        let Address { node, .. } = node().actor_net().address_of(self.id);
        (node, self.id.0)
    }

    /// Runs a batch of messages (an encoded `Vec<A::Msg>`) in order; their replies, encoded as
    /// a `Vec<A::Reply>`. A panic fails the batch (with its message and location); the actor
    /// goes on.
    ///
    /// # Errors
    ///
    /// The panic, or why the batch could not be decoded or its replies encoded.
    pub fn run_batch(&mut self, msgs: &Payload) -> Result<Payload, Failure> {
        self.inner.run_batch(&self.runtime, msgs)
    }

    /// Runs a message that the actor net delivered.
    pub fn run_message(&mut self, message: NetMessage) -> Flow {
        match message.0 {
            HostedMsg::Call(payload, reply) => {
                if let Some(reply) = self.inner.run_call(&self.runtime, &payload, reply) {
                    reply.0.send(reply.1);
                }
            }
            HostedMsg::Cast(payload) => {
                if let Err(e) = self.inner.run_one(&self.runtime, &payload) {
                    tracing::warn!(target: "procvisor::actor", %e, "a cast to a pool's worker failed");
                }
            }
            HostedMsg::Stop(reply) => {
                self.inner.stopping(&self.runtime);
                self.release();
                reply.send(Ok(super::net::unit()));
                return Flow::Stop;
            }
            HostedMsg::Crash(failure) => return Flow::Fail(failure),
            HostedMsg::Describe(reply) => {
                let described = Payload::encode(&self.inner.describe())
                    .map_err(|e| CallFailure::Codec(e.to_string()));
                reply.send(described);
            }
        }
        self.flow()
    }

    /// What the actor asked for while it ran ([`ActorContext::stop`], [`ActorContext::fail`]).
    pub fn flow(&self) -> Flow {
        self.inner.flow()
    }

    /// Ends the actor as crashed with `failure` (for whoever waits on its end).
    pub fn crashed(&mut self, failure: Failure) {
        self.end = ActorEnd::Crashed(failure);
    }

    fn release(&self) {
        node().actor_net().local.remove(&self.id);
    }
}

impl Drop for ThreadActor {
    fn drop(&mut self) {
        // SAFETY: dropped once, here; nothing touches `inner` after.
        unsafe { std::mem::ManuallyDrop::drop(&mut self.inner) };
        self.release();
        node().actor_net().actor_ended(self.id, &self.end);
    }
}

/// Answers a message that will not be run (its thread is ending): a call fails as the actor's
/// stop.
pub fn refuse(message: NetMessage) {
    match message.0 {
        HostedMsg::Call(_, reply) | HostedMsg::Describe(reply) => {
            reply.send(Err(CallFailure::Stopped))
        }
        HostedMsg::Stop(reply) => reply.send(Ok(super::net::unit())),
        HostedMsg::Cast(_) | HostedMsg::Crash(_) => {}
    }
}
