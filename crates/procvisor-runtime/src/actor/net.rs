//! A node's part of the actor net: its actors, its links to its parent and children, the calls
//! it waits on, and (in the main process) the registry of names.
//!
//! Every envelope is routed hop by hop along the process tree: down toward a descendant, up
//! otherwise; siblings meet at their common ancestor. Names live in the main process. Nothing
//! waits for ever on a process that is gone: when a link ends, every call waiting on a reply
//! from beyond it fails, whether it was made here or only passed through here.

use super::address::{ActorId, Address, Hop, Recipient, next_hop};
use super::call_slot::CallSlot;
use super::envelope::{Body, CallFailure, Caller, Envelope};
use super::hosted::{HostedMsg, ReplyTo};
use super::link::{Direction, Link};
use dashmap::DashMap;
use procvisor_wire::{Connection, Payload};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A call made here, waiting for its reply.
struct Pending {
    slot: Arc<CallSlot>,
    /// The node the call went to (updated when a name is resolved here).
    target: Vec<u32>,
}

/// What happened to an actor of this node.
#[derive(Debug, Clone)]
pub(crate) enum ActorEnd {
    /// It stopped normally.
    Stopped,
    /// It panicked.
    Crashed(crate::outcome::Failure),
}

/// Hooks for the end of this node's actors (dedicated hosts, supervisors).
pub(crate) type EndHook = Box<dyn FnOnce(&ActorEnd) + Send + Sync>;

pub(crate) struct ActorNet {
    pub(crate) here: Vec<u32>,
    next_actor: AtomicU64,
    next_call: AtomicU64,
    pub(crate) local: DashMap<ActorId, super::mailbox::Mailbox>,
    /// Names to addresses (the main process only).
    names: DashMap<String, Address>,
    pending: DashMap<u64, Pending>,
    /// Calls that passed through here toward a neighbour: (caller node, call) to the link.
    transit: DashMap<(Vec<u32>, u64), Direction>,
    up: Mutex<Option<Arc<Link>>>,
    down: DashMap<u32, Arc<Link>>,
    end_hooks: DashMap<ActorId, Vec<EndHook>>,
    /// How the last actors of this node ended, for a hook registered just after (a crash in
    /// an actor's first moments must not pass for a normal stop).
    recent_ends: Mutex<std::collections::VecDeque<(ActorId, ActorEnd)>>,
    /// Called when the link to the parent ends (an actor host exits then).
    on_up_lost: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    /// What the host process of this node waits on (actor hosts only).
    host_events: Mutex<Option<std::sync::mpsc::Sender<super::spawning::HostEvent>>>,
}

impl std::fmt::Debug for ActorNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorNet")
            .field("here", &self.here)
            .field("actors", &self.local.len())
            .finish_non_exhaustive()
    }
}

impl ActorNet {
    pub(crate) fn new(here: Vec<u32>) -> ActorNet {
        ActorNet {
            here,
            next_actor: AtomicU64::new(1),
            next_call: AtomicU64::new(1),
            local: DashMap::new(),
            names: DashMap::new(),
            pending: DashMap::new(),
            transit: DashMap::new(),
            up: Mutex::new(None),
            down: DashMap::new(),
            end_hooks: DashMap::new(),
            recent_ends: Mutex::new(std::collections::VecDeque::new()),
            on_up_lost: Mutex::new(None),
            host_events: Mutex::new(None),
        }
    }

    fn is_root(&self) -> bool {
        self.here.is_empty()
    }

    pub(crate) fn new_actor_id(&self) -> ActorId {
        ActorId(self.next_actor.fetch_add(1, Ordering::Relaxed))
    }

    pub(crate) fn address_of(&self, id: ActorId) -> Address {
        Address {
            node: self.here.clone(),
            recipient: Recipient::Id(id),
        }
    }

    /// Opens a link to a child node (its number among this node's children). The link is in
    /// the table before anything it carries is read (see [`Unstarted`](super::link::Unstarted)).
    pub(crate) fn attach_child(&self, number: u32, conn: Connection) -> std::io::Result<()> {
        let link = super::link::new(conn, Direction::Down(number))?;
        if let Some(previous) = self.down.insert(number, link.link().clone()) {
            // A child opens a link on demand only when it has none; its old one is broken.
            tracing::debug!(target: "procvisor::actor", number, broken = previous.is_broken(), "a child replaced its actor link");
        }
        link.start();
        Ok(())
    }

    /// Opens the link to the parent node, in place before anything it carries is read.
    pub(crate) fn attach_parent(&self, conn: Connection) -> std::io::Result<()> {
        let link = super::link::new(conn, Direction::Up)?;
        *self.up.lock().unwrap_or_else(|p| p.into_inner()) = Some(link.link().clone());
        link.start();
        Ok(())
    }

    /// Waits (at most `limit`) until what was sent up has been written.
    pub(crate) fn flush_up(&self, limit: std::time::Duration) {
        let up = self.up.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(link) = up {
            link.flush(limit);
        }
    }

    /// Runs `hook` when the link to the parent ends.
    pub(crate) fn on_parent_lost(&self, hook: impl FnOnce() + Send + 'static) {
        *self.on_up_lost.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(hook));
    }

    /// The link to the parent, opening one on demand (a process that was not started as an
    /// actor host asks its parent through the process link).
    fn up_link(&self) -> Option<Arc<Link>> {
        let mut up = self.up.lock().unwrap_or_else(|p| p.into_inner());
        if up.is_none() && !self.is_root() {
            let link = super::link_on_demand::open_to_parent()?;
            *up = Some(link.link().clone());
            link.start();
        }
        up.clone()
    }

    /// Registers a call to `target` made here; returns its number and where its reply lands.
    pub(crate) fn new_call(&self, target: &[u32]) -> (Caller, Arc<CallSlot>) {
        let call = self.next_call.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(CallSlot::toward(self.link_toward(target)));
        self.pending.insert(
            call,
            Pending {
                slot: slot.clone(),
                target: target.to_vec(),
            },
        );
        (
            Caller {
                node: self.here.clone(),
                call,
            },
            slot,
        )
    }

    /// The link a message to `target` leaves by (`None` for this node, or no link).
    pub(crate) fn link_toward(&self, target: &[u32]) -> Option<Arc<Link>> {
        match next_hop(&self.here, target) {
            Hop::Local => None,
            Hop::Down(child) => self.down.get(&child).map(|l| l.clone()),
            Hop::Up => self.up.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }

    /// Forgets a call that timed out (a late reply is dropped).
    pub(crate) fn forget_call(&self, call: u64) {
        self.pending.remove(&call);
    }

    /// Sends `envelope` on its way.
    pub(crate) fn route(&self, envelope: Envelope) {
        let hop = next_hop(&self.here, &envelope.to.node);
        if let Body::Reply { call, .. } = &envelope.body {
            if hop != Hop::Local {
                self.replied_through(&envelope.to, *call);
            }
        }
        match hop {
            Hop::Local => self.deliver(envelope),
            Hop::Down(child) => {
                let link = self.down.get(&child).map(|l| l.clone());
                match link {
                    Some(link) => self.forward(&link, envelope),
                    None => self.bounce(
                        envelope,
                        CallFailure::Unreachable(format!(
                            "process {} is not running (or hosts no actors)",
                            child_path(&self.here, child)
                        )),
                    ),
                }
            }
            Hop::Up => match self.up_link() {
                Some(link) => self.forward(&link, envelope),
                None => self.bounce(
                    envelope,
                    CallFailure::Unreachable("the process is not part of this program".into()),
                ),
            },
        }
    }

    fn forward(&self, link: &Arc<Link>, envelope: Envelope) {
        let waiting = match &envelope.body {
            Body::Call { from, .. } | Body::Spawn { from, .. } | Body::Describe { from } => {
                Some(from.clone())
            }
            Body::Stop { from } => from.clone(),
            _ => None,
        };
        if let Some(from) = waiting.filter(|from| from.node != self.here) {
            self.transit.insert((from.node, from.call), link.direction);
        }
        if let Err(envelope) = link.send(envelope) {
            self.bounce(
                *envelope,
                CallFailure::Unreachable(format!("the link to {:?} is closed", link.direction)),
            );
        }
    }

    /// Returns a call that cannot go on to its caller, with `failure` as its reply. Casts and
    /// replies that cannot be delivered are dropped.
    pub(crate) fn bounce(&self, envelope: Envelope, failure: CallFailure) {
        let caller = match envelope.body {
            Body::Call { from, .. } | Body::Spawn { from, .. } | Body::Describe { from } => from,
            Body::Stop { from: Some(from) } => from,
            Body::Cast(_) => {
                tracing::debug!(target: "procvisor::actor", to = %envelope.to, %failure, "a cast was dropped");
                return;
            }
            _ => return,
        };
        self.reply(caller, Err(failure));
    }

    /// Sends a reply to `caller`.
    pub(crate) fn reply(&self, caller: Caller, result: Result<Payload, CallFailure>) {
        self.route(Envelope {
            to: Address {
                node: caller.node,
                recipient: Recipient::Node,
            },
            body: Body::Reply {
                call: caller.call,
                result,
            },
        });
    }

    fn deliver(&self, envelope: Envelope) {
        let Envelope { to, body } = envelope;
        match (to.recipient, body) {
            (_, Body::Reply { call, result }) => {
                if let Some((_, pending)) = self.pending.remove(&call) {
                    pending.slot.fill(result);
                }
            }
            (Recipient::Name(name), body) => self.resolve(name, body),
            (Recipient::Id(id), body) => self.to_actor(id, body),
            (
                Recipient::Node,
                Body::Spawn {
                    from,
                    actor,
                    args,
                    name,
                    replacing,
                },
            ) => super::spawning::spawn_here(from, actor, args, name, replacing),
            (
                Recipient::Node,
                Body::Register {
                    from,
                    name,
                    address,
                    replacing,
                },
            ) if self.is_root() => {
                let claimed = self.claim_here(name, address, replacing.as_ref());
                self.reply(from, claimed.map(|()| unit()));
            }
            (Recipient::Node, Body::Unregister { name, address }) if self.is_root() => {
                self.names.remove_if(&name, |_, bound| *bound == address);
            }
            (recipient, body) => {
                tracing::debug!(target: "procvisor::actor", ?recipient, ?body, "an envelope for nobody here");
            }
        }
    }

    /// A message for a named actor, here in the main process.
    fn resolve(&self, name: String, body: Body) {
        let bound = self.names.get(&name).map(|a| a.clone());
        let Some(address) = bound else {
            let envelope = Envelope {
                to: Address::named(&name),
                body,
            };
            return self.bounce(envelope, CallFailure::NoSuchName(name));
        };
        if let Body::Call { from, .. } | Body::Spawn { from, .. } = &body {
            if from.node == self.here {
                if let Some(mut pending) = self.pending.get_mut(&from.call) {
                    pending.target = address.node.clone();
                }
            }
        }
        self.route(Envelope { to: address, body });
    }

    fn to_actor(&self, id: ActorId, body: Body) {
        let mailbox = self.local.get(&id).map(|m| m.clone());
        let message = match body {
            Body::Cast(payload) => HostedMsg::Cast(payload),
            Body::Call { from, message } => HostedMsg::Call(message, ReplyTo::new(from)),
            Body::Stop { from } => HostedMsg::Stop(ReplyTo::maybe(from)),
            Body::Describe { from } => HostedMsg::Describe(ReplyTo::new(from)),
            other => {
                tracing::debug!(target: "procvisor::actor", ?other, "not a message for an actor");
                return;
            }
        };
        match mailbox {
            // A stopped mailbox drops the message, and a dropped call answers `Stopped`.
            Some(mailbox) => mailbox.send(message),
            None => match message {
                HostedMsg::Call(_, reply) | HostedMsg::Describe(reply) => {
                    reply.send(Err(CallFailure::NoSuchActor(id)))
                }
                HostedMsg::Stop(reply) => reply.send(Ok(unit())),
                HostedMsg::Cast(_) | HostedMsg::Crash(_) => {
                    tracing::debug!(target: "procvisor::actor", %id, "a cast for an actor that is gone")
                }
            },
        }
    }

    /// Binds `name` to `address` in the main process's registry, if the name is free or bound
    /// to `replacing` (the incarnation `address` takes over from: a restart).
    pub(crate) async fn register_name(
        &self,
        name: &str,
        address: Address,
        replacing: Option<Address>,
    ) -> Result<(), CallFailure> {
        if self.is_root() {
            return self.claim_here(name.to_string(), address, replacing.as_ref());
        }
        let (from, slot) = self.new_call(&[]);
        self.route(Envelope {
            to: Address {
                node: Vec::new(),
                recipient: Recipient::Node,
            },
            body: Body::Register {
                from,
                name: name.to_string(),
                address,
                replacing,
            },
        });
        std::future::poll_fn(|cx| slot.poll(cx.waker()))
            .await
            .map(|_| ())
    }

    /// Whether the actor a name is bound to may still be there (the root's view): in this
    /// process, it is running; elsewhere, the process under this one that leads to it has
    /// not ended (its end releases its names, but that news may come after a restart's).
    fn holder_alive(&self, holder: &Address) -> bool {
        match (holder.node.first(), &holder.recipient) {
            (None, Recipient::Id(id)) => self.local.contains_key(id),
            (None, _) => true,
            (Some(&child), _) => child_process_alive(child),
        }
    }

    /// The root's side of [`register_name`](Self::register_name).
    fn claim_here(
        &self,
        name: String,
        address: Address,
        replacing: Option<&Address>,
    ) -> Result<(), CallFailure> {
        match self.names.entry(name) {
            dashmap::Entry::Vacant(free) => {
                free.insert(address);
                Ok(())
            }
            dashmap::Entry::Occupied(mut bound)
                if replacing == Some(bound.get())
                    || *bound.get() == address
                    || !self.holder_alive(bound.get()) =>
            {
                bound.insert(address);
                Ok(())
            }
            dashmap::Entry::Occupied(bound) => Err(CallFailure::NameTaken {
                name: bound.key().clone(),
                holder: bound.get().to_string(),
            }),
        }
    }

    /// Unbinds `name` if it still means `address`.
    pub(crate) fn unregister_name(&self, name: &str, address: Address) {
        self.route(Envelope {
            to: Address {
                node: Vec::new(),
                recipient: Recipient::Node,
            },
            body: Body::Unregister {
                name: name.to_string(),
                address,
            },
        });
    }

    pub(crate) fn set_host_events(
        &self,
        events: std::sync::mpsc::Sender<super::spawning::HostEvent>,
    ) {
        *self.host_events.lock().unwrap_or_else(|p| p.into_inner()) = Some(events);
    }

    pub(crate) fn host_events(
        &self,
    ) -> Option<std::sync::mpsc::Sender<super::spawning::HostEvent>> {
        self.host_events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Runs `hook` when actor `id` of this node ends (at once if it has ended already).
    pub(crate) fn on_end(&self, id: ActorId, hook: EndHook) {
        self.end_hooks.entry(id).or_default().push(hook);
        if !self.local.contains_key(&id) {
            if let Some((_, hooks)) = self.end_hooks.remove(&id) {
                let end = self
                    .recent_ends
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .find(|(ended, _)| *ended == id)
                    .map(|(_, end)| end.clone())
                    .unwrap_or(ActorEnd::Stopped);
                for hook in hooks {
                    hook(&end);
                }
            }
        }
    }

    /// Actor `id` has ended.
    pub(crate) fn actor_ended(&self, id: ActorId, end: &ActorEnd) {
        {
            let mut recent = self.recent_ends.lock().unwrap_or_else(|p| p.into_inner());
            if recent.len() == RECENT_ENDS {
                recent.pop_front();
            }
            recent.push_back((id, end.clone()));
        }
        self.local.remove(&id);
        if let Some((_, hooks)) = self.end_hooks.remove(&id) {
            for hook in hooks {
                hook(end);
            }
        }
    }

    /// A neighbour is gone: everything waiting on it fails, and its names are forgotten.
    pub(crate) fn link_lost(&self, link: &Link) {
        let leftovers = link.close();
        let direction = link.direction;
        match direction {
            Direction::Down(child) => {
                self.down
                    .remove_if(&child, |_, l| std::ptr::eq(Arc::as_ptr(l), link));
            }
            Direction::Up => {
                let mut up = self.up.lock().unwrap_or_else(|p| p.into_inner());
                if up
                    .as_ref()
                    .is_some_and(|l| std::ptr::eq(Arc::as_ptr(l), link))
                {
                    *up = None;
                }
            }
        }
        let gone = match direction {
            Direction::Down(child) => {
                format!("process {} has ended", child_path(&self.here, child))
            }
            Direction::Up => "the parent process has ended".to_string(),
        };
        for envelope in leftovers {
            self.bounce(envelope, CallFailure::Unreachable(gone.clone()));
        }
        let beyond = |target: &[u32]| match direction {
            Direction::Down(child) => next_hop(&self.here, target) == Hop::Down(child),
            Direction::Up => next_hop(&self.here, target) == Hop::Up,
        };
        let failed: Vec<u64> = self
            .pending
            .iter()
            .filter(|p| beyond(&p.target))
            .map(|p| *p.key())
            .collect();
        for call in failed {
            if let Some((_, pending)) = self.pending.remove(&call) {
                pending
                    .slot
                    .fill(Err(CallFailure::Unreachable(gone.clone())));
            }
        }
        let stranded: Vec<(Vec<u32>, u64)> = self
            .transit
            .iter()
            .filter(|t| *t.value() == direction)
            .map(|t| t.key().clone())
            .collect();
        for (node, call) in stranded {
            self.transit.remove(&(node.clone(), call));
            self.reply(
                Caller { node, call },
                Err(CallFailure::Unreachable(gone.clone())),
            );
        }
        // The end of a link is not the end of the process behind it: while the child lives,
        // its actors keep their names (they are forgotten when its process ends, see
        // `child_ended`), so a link lost by mistake can never pass for a dead child.
        let child_alive = match direction {
            Direction::Down(child) => child_process_alive(child),
            Direction::Up => false,
        };
        if self.is_root() && !child_alive {
            self.names.retain(|_, address| !beyond(&address.node));
        } else if child_alive {
            tracing::debug!(target: "procvisor::actor", ?direction, "an actor link ended before its process; its names stay until the process ends");
        }
        if direction == Direction::Up {
            if let Some(hook) = self
                .on_up_lost
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
            {
                hook();
            }
        }
    }

    /// What the actor at `address` runs (for its supervisor's tree), if it says, within
    /// `timeout`.
    pub(crate) async fn describe(
        &self,
        address: Address,
        timeout: std::time::Duration,
    ) -> Option<crate::supervisor::ServiceNode> {
        let (from, slot) = self.new_call(&address.node);
        let call = from.call;
        self.route(Envelope {
            to: address,
            body: Body::Describe { from },
        });
        let answer =
            tokio::time::timeout(timeout, std::future::poll_fn(|cx| slot.poll(cx.waker()))).await;
        match answer {
            Ok(Ok(payload)) => payload.decode().ok().flatten(),
            Ok(Err(_)) => None,
            Err(_) => {
                self.forget_call(call);
                None
            }
        }
    }

    /// Child `number`'s process has ended: the names of the actors it (or a process below it)
    /// hosted are forgotten.
    pub(crate) fn child_ended(&self, number: u32) {
        if self.is_root() {
            self.names
                .retain(|_, address| next_hop(&self.here, &address.node) != Hop::Down(number));
        }
    }

    /// A reply passed through here on its way to its caller: the call is no longer in transit.
    pub(crate) fn replied_through(&self, to: &Address, call: u64) {
        if !self.transit.is_empty() {
            self.transit.remove(&(to.node.clone(), call));
        }
    }
}

/// How many ends [`ActorNet::on_end`] remembers for hooks that come late.
const RECENT_ENDS: usize = 64;

/// The encoded unit value (the reply to a stop).
pub(crate) fn unit() -> Payload {
    Payload::encode(&()).expect("unit encodes")
}

/// Whether this node's child `number` is a process that has not ended.
fn child_process_alive(number: u32) -> bool {
    crate::node::node()
        .children
        .all()
        .iter()
        .any(|record| record.number == number && record.try_reap().is_none())
}

fn child_path(here: &[u32], child: u32) -> String {
    here.iter()
        .chain(std::iter::once(&child))
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(":")
}
