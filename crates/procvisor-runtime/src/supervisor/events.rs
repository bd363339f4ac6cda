//! What happens in a supervision tree, as events to subscribe to: every start, end, restart,
//! termination and give-up of every supervisor below the one subscribed to, in order per child.

use super::child::ChildExit;
use crate::actor::{Actor, ActorContext, InitError, RemoteRef};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// One thing that happened to a child of a supervisor (or to the supervisor itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SupervisorEvent {
    /// The supervisor it happened under (its name).
    pub supervisor: String,
    /// The child's id (empty for an event of the supervisor itself).
    pub child: String,
    /// What happened.
    pub kind: EventKind,
}

/// What happened, in a [`SupervisorEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum EventKind {
    /// The child started (the first time, or by `start_child` or `restart_child`).
    Started {
        /// Its process.
        pid: Option<u32>,
    },
    /// The child ended by itself: how.
    Ended(ChildExit),
    /// It will be restarted, after `delay` (its supervisor's backoff).
    Restarting {
        /// How long until the restart.
        delay: Duration,
    },
    /// It was restarted by its supervisor's policy.
    Restarted {
        /// Its new process.
        pid: Option<u32>,
        /// How many times it has been restarted.
        restarts: u32,
    },
    /// Its supervisor stopped it (`terminate_child`, a group restart, a shutdown): how it ended.
    Terminated(ChildExit),
    /// The supervisor gave up (more restarts than its intensity allows): it stopped its
    /// children and ended, failing; its own supervisor, if any, sees a crash.
    GaveUp {
        /// Why.
        cause: String,
    },
    /// The supervisor shut down: its children were stopped, and it ended normally.
    ShutDown,
}

impl fmt::Display for SupervisorEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = if self.child.is_empty() {
            format!("supervisor \"{}\"", self.supervisor)
        } else {
            format!("\"{}\" (under \"{}\")", self.child, self.supervisor)
        };
        match &self.kind {
            EventKind::Started { pid: Some(pid) } => write!(f, "{who} started in process {pid}"),
            EventKind::Started { pid: None } => write!(f, "{who} started"),
            EventKind::Ended(exit) => write!(f, "{who} ended: {exit}"),
            EventKind::Restarting { delay } if delay.is_zero() => write!(f, "{who} restarting"),
            EventKind::Restarting { delay } => write!(f, "{who} restarting in {delay:?}"),
            EventKind::Restarted {
                pid: Some(pid),
                restarts,
            } => write!(f, "{who} restarted in process {pid} (restart {restarts})"),
            EventKind::Restarted {
                pid: None,
                restarts,
            } => write!(f, "{who} restarted (restart {restarts})"),
            EventKind::Terminated(exit) => write!(f, "{who} terminated: {exit}"),
            EventKind::GaveUp { cause } => write!(f, "{who} gave up: {cause}"),
            EventKind::ShutDown => write!(f, "{who} shut down"),
        }
    }
}

/// The events of a supervision tree, as they happen: from
/// [`SupervisorRef::events`](crate::SupervisorRef::events). An [`Iterator`] (whose `next`
/// waits) and a [`Stream`](futures_core::Stream) of [`SupervisorEvent`]s; it ends when the
/// supervisor does (after its last event).
///
/// Events of a child come in the order they happened; events of different children
/// interleave. Dropping the subscription stops the delivery.
#[derive(Debug)]
pub struct SupervisorEvents {
    queue: Arc<EventQueue>,
    sink: Option<RemoteRef<EventSink>>,
}

impl SupervisorEvents {
    pub(crate) fn new(queue: Arc<EventQueue>, sink: RemoteRef<EventSink>) -> SupervisorEvents {
        SupervisorEvents {
            queue,
            sink: Some(sink),
        }
    }

    /// The next event, waiting at most `timeout`; `None` when none came (or the supervisor has
    /// ended and every event was taken).
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<SupervisorEvent> {
        self.queue.next(Instant::now().checked_add(timeout))
    }

    /// The next event if one is there now.
    pub fn try_next(&mut self) -> Option<SupervisorEvent> {
        self.queue.next(Some(Instant::now()))
    }
}

impl Iterator for SupervisorEvents {
    type Item = SupervisorEvent;

    /// Waits for the next event; `None` once the supervisor has ended and every event was
    /// taken.
    fn next(&mut self) -> Option<SupervisorEvent> {
        self.queue.next(None)
    }
}

impl futures_core::Stream for SupervisorEvents {
    type Item = SupervisorEvent;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<SupervisorEvent>> {
        self.queue.poll(cx.waker())
    }
}

impl Drop for SupervisorEvents {
    fn drop(&mut self) {
        if let Some(sink) = self.sink.take() {
            let _ = sink.cast(SinkMsg::Close);
        }
    }
}

/// Events waiting to be taken, for a blocking reader or an async one.
#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    state: Mutex<QueueState>,
    arrived: Condvar,
}

#[derive(Debug, Default)]
struct QueueState {
    events: VecDeque<SupervisorEvent>,
    closed: bool,
    waker: Option<Waker>,
}

impl EventQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, event: Option<SupervisorEvent>) {
        let mut state = self.lock();
        match event {
            Some(event) => state.events.push_back(event),
            None => state.closed = true,
        }
        let waker = state.waker.take();
        drop(state);
        self.arrived.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn next(&self, deadline: Option<Instant>) -> Option<SupervisorEvent> {
        let mut state = self.lock();
        loop {
            if let Some(event) = state.events.pop_front() {
                return Some(event);
            }
            if state.closed {
                return None;
            }
            state = match deadline {
                None => self.arrived.wait(state).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return None;
                    }
                    self.arrived
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }

    fn poll(&self, waker: &Waker) -> Poll<Option<SupervisorEvent>> {
        let mut state = self.lock();
        if let Some(event) = state.events.pop_front() {
            return Poll::Ready(Some(event));
        }
        if state.closed {
            return Poll::Ready(None);
        }
        state.waker = Some(waker.clone());
        Poll::Pending
    }
}

/// The actor a subscription's events are sent to, in the subscriber's process; it hands them to
/// the [`SupervisorEvents`].
#[doc(hidden)]
#[derive(Debug)]
pub struct EventSink {
    queue: Arc<EventQueue>,
}

/// What an [`EventSink`] receives.
#[doc(hidden)]
#[derive(Debug, Serialize, Deserialize)]
pub enum SinkMsg {
    /// An event.
    Event(SupervisorEvent),
    /// The supervisor ended: no more events.
    Ended,
    /// The subscriber dropped its subscription.
    Close,
}

/// Where a sink's queue is found when the sink starts (its arguments are serde values, so the
/// queue waits here, by a number).
static QUEUES: Mutex<Vec<(u64, Arc<EventQueue>)>> = Mutex::new(Vec::new());

/// Registers `queue` for the sink about to start; returns the number it is known by.
pub(crate) fn park_queue(queue: Arc<EventQueue>) -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let ticket = NEXT.fetch_add(1, Ordering::Relaxed);
    QUEUES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((ticket, queue));
    ticket
}

impl Actor for EventSink {
    type Args = u64;
    type Msg = SinkMsg;
    type Reply = ();

    async fn start(ticket: u64, _: &ActorContext<Self>) -> Result<Self, InitError> {
        let mut queues = QUEUES.lock().unwrap_or_else(|p| p.into_inner());
        let at = queues.iter().position(|(t, _)| *t == ticket).ok_or(
            "no event queue waits for this sink (sinks start in their subscriber's process)",
        )?;
        let (_, queue) = queues.swap_remove(at);
        Ok(EventSink { queue })
    }

    async fn handle(&mut self, msg: SinkMsg, ctx: &ActorContext<Self>) {
        match msg {
            SinkMsg::Event(event) => self.queue.push(Some(event)),
            SinkMsg::Ended | SinkMsg::Close => {
                self.queue.push(None);
                ctx.stop();
            }
        }
    }
}

crate::register_actor!(EventSink);
