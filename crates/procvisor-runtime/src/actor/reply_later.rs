//! Answering a call later. An actor that cannot answer yet (its lock is taken, its queue is
//! empty) keeps the call's reply and goes on with other messages; whoever makes the answer
//! possible sends it. This is OTP's `{noreply, State}` followed by `gen_server:reply`: many
//! callers can wait on one actor without holding up its mailbox.

use super::envelope::CallFailure;
use super::hosted::ReplyTo;
use procvisor_wire::Payload;
use serde::Serialize;
use std::marker::PhantomData;

/// The reply to one call, kept to be sent later: what
/// [`ActorContext::reply_later`](crate::ActorContext::reply_later) returns.
///
/// Send it from anywhere (another message's handler, a task the actor spawned, a plain
/// thread); it is `Send`. Dropped without an answer, the caller gets
/// [`ActorError::Unanswered`](crate::ActorError::Unanswered) instead of waiting for ever; an
/// actor that crashes or stops drops the replies it kept, with the same effect.
///
/// ```
/// use procvisor_runtime::{Actor, ActorContext, InitError, ReplyLater, register_actor, spawn_local};
///
/// /// A gate: callers that `Wait` are answered together when someone `Open`s it.
/// struct Gate {
///     waiting: Vec<ReplyLater<usize>>,
/// }
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// enum GateMsg {
///     Wait,
///     Waiting,
///     Open,
/// }
///
/// impl Actor for Gate {
///     type Args = ();
///     type Msg = GateMsg;
///     /// How many callers the opening let through.
///     type Reply = usize;
///
///     async fn start((): (), _: &ActorContext<Self>) -> Result<Self, InitError> {
///         Ok(Gate { waiting: Vec::new() })
///     }
///
///     async fn handle(&mut self, msg: GateMsg, ctx: &ActorContext<Self>) -> usize {
///         match msg {
///             GateMsg::Wait => {
///                 if let Some(reply) = ctx.reply_later() {
///                     self.waiting.push(reply);
///                 }
///                 0 // not sent to a caller that waits: it is answered later
///             }
///             GateMsg::Waiting => self.waiting.len(),
///             GateMsg::Open => {
///                 let through = self.waiting.len();
///                 for reply in self.waiting.drain(..) {
///                     reply.send(through);
///                 }
///                 through
///             }
///         }
///     }
/// }
/// register_actor!(Gate);
///
/// let gate = spawn_local::<Gate>(())?;
/// let waiters: Vec<_> = (0..3)
///     .map(|_| {
///         let gate = gate.clone();
///         std::thread::spawn(move || gate.call(GateMsg::Wait))
///     })
///     .collect();
/// // The gate goes on answering while callers wait in it.
/// while gate.call(GateMsg::Waiting)? < 3 {
///     std::thread::yield_now();
/// }
/// assert_eq!(gate.call(GateMsg::Open)?, 3);
/// for waiter in waiters {
///     assert_eq!(waiter.join().unwrap()?, 3);
/// }
/// # Ok::<(), procvisor_runtime::ActorError>(())
/// ```
#[must_use = "a reply kept for later must be sent (dropped, the caller gets an error)"]
pub struct ReplyLater<R> {
    to: Option<ReplyTo>,
    reply: PhantomData<fn(R)>,
}

impl<R: Serialize> ReplyLater<R> {
    pub(crate) fn new(to: ReplyTo) -> ReplyLater<R> {
        ReplyLater {
            to: Some(to),
            reply: PhantomData,
        }
    }

    /// Answers the call with `reply`. A caller that has gone meanwhile (its timeout passed,
    /// its process ended) is not an error: the reply is dropped on its way.
    pub fn send(mut self, reply: R) {
        if let Some(to) = self.to.take() {
            to.send(
                Payload::encode(&reply)
                    .map_err(|e| CallFailure::Codec(format!("cannot encode the reply: {e}"))),
            );
        }
    }
}

impl<R> Drop for ReplyLater<R> {
    fn drop(&mut self) {
        if let Some(to) = self.to.take() {
            to.send(Err(CallFailure::Unanswered));
        }
    }
}

impl<R> std::fmt::Debug for ReplyLater<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyLater").finish_non_exhaustive()
    }
}
