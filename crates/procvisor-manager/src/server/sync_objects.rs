//! Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event and Barrier, held in the manager.

use super::waiting::{Patience, Waited, wait_for};
use crate::error::remote;
use crate::protocol::{Op, Owner, Response, Session};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};

fn lock<S>(m: &Mutex<S>) -> MutexGuard<'_, S> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn gone() -> Response {
    Response::Error("the client went away".into())
}

#[derive(Default)]
struct Holder {
    owner: Option<Owner>,
    count: u64,
}

/// A `Lock` (released by anyone, as Python's) or an `RLock` (re-entered and released by its
/// owner only).
pub(crate) struct LockObject {
    reentrant: bool,
    holder: Mutex<Holder>,
    released: Condvar,
}

impl LockObject {
    pub(crate) fn new(reentrant: bool) -> LockObject {
        LockObject {
            reentrant,
            holder: Mutex::default(),
            released: Condvar::new(),
        }
    }

    fn name(&self) -> &'static str {
        if self.reentrant { "RLock" } else { "Lock" }
    }

    fn acquire(&self, owner: Owner, patience: &Patience<'_>) -> Response {
        let mut holder = lock(&self.holder);
        if self.reentrant && holder.owner == Some(owner) {
            holder.count += 1;
            return Response::Bool(true);
        }
        let (mut holder, waited) =
            wait_for(&self.released, holder, patience, |h| h.owner.is_none());
        match waited {
            Waited::Ready => {
                holder.owner = Some(owner);
                holder.count = 1;
                Response::Bool(true)
            }
            Waited::TimedOut => Response::Bool(false),
            Waited::ClientGone => {
                // It may have been woken for the lock: pass the wakeup on.
                self.released.notify_one();
                gone()
            }
        }
    }

    fn release(&self, owner: Owner) -> Response {
        let mut holder = lock(&self.holder);
        match holder.owner {
            None => Response::Error(remote("RuntimeError", "release unlocked lock")),
            Some(held) if self.reentrant && held != owner => {
                Response::Error(remote("RuntimeError", "cannot release un-acquired lock"))
            }
            Some(_) => {
                holder.count -= 1;
                if holder.count == 0 || !self.reentrant {
                    holder.owner = None;
                    holder.count = 0;
                    self.released.notify_one();
                }
                Response::Done
            }
        }
    }

    /// Gives the lock up entirely, for a condition's wait; returns its depth.
    fn release_all(&self, owner: Owner) -> Option<u64> {
        let mut holder = lock(&self.holder);
        if holder.owner != Some(owner) {
            return None;
        }
        let depth = holder.count;
        holder.owner = None;
        holder.count = 0;
        self.released.notify_one();
        Some(depth)
    }

    fn reacquire(&self, owner: Owner, depth: u64, patience: &Patience<'_>) -> bool {
        let holder = lock(&self.holder);
        let (mut holder, waited) =
            wait_for(&self.released, holder, patience, |h| h.owner.is_none());
        if waited != Waited::Ready {
            return false;
        }
        holder.owner = Some(owner);
        holder.count = depth;
        true
    }

    /// Releases the lock (at any depth) if client process `session` holds it.
    pub(crate) fn release_held_by(&self, session: Session) -> Option<String> {
        let mut holder = lock(&self.holder);
        if holder.owner.is_none_or(|o| o.session != session) {
            return None;
        }
        let depth = holder.count;
        holder.owner = None;
        holder.count = 0;
        self.released.notify_one();
        Some(if self.reentrant {
            format!("an RLock held {depth} deep")
        } else {
            "a Lock".to_string()
        })
    }

    pub(crate) fn call(&self, op: Op, client_gone: &dyn Fn() -> bool) -> Response {
        match op {
            Op::Acquire { owner, timeout } => {
                self.acquire(owner, &Patience::new(timeout, client_gone))
            }
            Op::Release { owner } => self.release(owner),
            Op::IsSet => Response::Bool(lock(&self.holder).owner.is_some()),
            other => super::collections::unsupported(self.name(), &other),
        }
    }
}

/// A semaphore's count, and the permits each client process holds (taken and not given back
/// by that process), so that those of a process that ended can be given back.
#[derive(Default)]
struct Permits {
    value: u64,
    held: HashMap<Session, u64>,
}

pub(crate) struct SemaphoreObject {
    permits: Mutex<Permits>,
    bound: Option<u64>,
    released: Condvar,
}

impl SemaphoreObject {
    pub(crate) fn new(value: u64, bound: Option<u64>) -> SemaphoreObject {
        SemaphoreObject {
            permits: Mutex::new(Permits {
                value,
                held: HashMap::new(),
            }),
            bound,
            released: Condvar::new(),
        }
    }

    /// Gives back the permits client process `session` held.
    pub(crate) fn release_held_by(&self, session: Session) -> Option<String> {
        let mut permits = lock(&self.permits);
        let held = permits.held.remove(&session).filter(|&n| n > 0)?;
        // A permit it took may have been given back by another process already (anyone may
        // release): a bounded semaphore never goes past its bound.
        permits.value = (permits.value + held).min(self.bound.unwrap_or(u64::MAX));
        self.released.notify_all();
        Some(format!("{held} Semaphore permit(s)"))
    }

    pub(crate) fn call(&self, op: Op, client_gone: &dyn Fn() -> bool) -> Response {
        match op {
            Op::Acquire { timeout, owner } => {
                let patience = Patience::new(timeout, client_gone);
                let (mut permits, waited) =
                    wait_for(&self.released, lock(&self.permits), &patience, |p| {
                        p.value > 0
                    });
                match waited {
                    Waited::Ready => {
                        permits.value -= 1;
                        *permits.held.entry(owner.session).or_default() += 1;
                        Response::Bool(true)
                    }
                    Waited::TimedOut => Response::Bool(false),
                    Waited::ClientGone => gone(),
                }
            }
            Op::Release { owner } => {
                let mut permits = lock(&self.permits);
                if self.bound.is_some_and(|b| permits.value >= b) {
                    return Response::Error(remote(
                        "ValueError",
                        "Semaphore released too many times",
                    ));
                }
                permits.value += 1;
                // Anyone may release (as in Python); it counts against the releaser's own
                // permits when it holds some.
                if let Some(held) = permits.held.get_mut(&owner.session) {
                    *held = held.saturating_sub(1);
                }
                self.released.notify_one();
                Response::Done
            }
            Op::Load => Response::Int(lock(&self.permits).value as i64),
            other => super::collections::unsupported("Semaphore", &other),
        }
    }
}

#[derive(Default)]
struct Waiters {
    next: u64,
    waiting: VecDeque<u64>,
    woken: HashSet<u64>,
}

/// A condition over its own `RLock`.
pub(crate) struct ConditionObject {
    lock: LockObject,
    waiters: Mutex<Waiters>,
    notified: Condvar,
}

impl ConditionObject {
    pub(crate) fn new() -> ConditionObject {
        ConditionObject {
            lock: LockObject::new(true),
            waiters: Mutex::default(),
            notified: Condvar::new(),
        }
    }

    fn wait(&self, owner: Owner, patience: &Patience<'_>) -> Response {
        let ticket = {
            let mut waiters = lock(&self.waiters);
            waiters.next += 1;
            let ticket = waiters.next;
            waiters.waiting.push_back(ticket);
            ticket
        };
        // The ticket is taken before the lock is let go: a notify made right after cannot be
        // missed.
        let Some(depth) = self.lock.release_all(owner) else {
            lock(&self.waiters).waiting.retain(|&t| t != ticket);
            return Response::Error(remote("RuntimeError", "cannot wait on un-acquired lock"));
        };
        let (mut waiters, waited) = wait_for(&self.notified, lock(&self.waiters), patience, |w| {
            w.woken.contains(&ticket)
        });
        let notified = waiters.woken.remove(&ticket);
        waiters.waiting.retain(|&t| t != ticket);
        drop(waiters);
        // A client that went is not given the lock back: nobody would release it.
        if waited == Waited::ClientGone || (patience.client_gone)() {
            return gone();
        }
        let forever = Patience::new(None, patience.client_gone);
        if !self.lock.reacquire(owner, depth, &forever) {
            return gone();
        }
        Response::Bool(notified)
    }

    /// Releases the condition's lock if client process `session` holds it.
    pub(crate) fn release_held_by(&self, session: Session) -> Option<String> {
        self.lock
            .release_held_by(session)
            .map(|what| format!("a Condition's lock ({what})"))
    }

    fn notify(&self, n: u64) -> Response {
        let mut waiters = lock(&self.waiters);
        for _ in 0..n {
            match waiters.waiting.pop_front() {
                Some(ticket) => {
                    waiters.woken.insert(ticket);
                }
                None => break,
            }
        }
        self.notified.notify_all();
        Response::Done
    }

    pub(crate) fn call(&self, op: Op, client_gone: &dyn Fn() -> bool) -> Response {
        match op {
            Op::Wait { owner, timeout } => self.wait(owner, &Patience::new(timeout, client_gone)),
            Op::Notify { owner, n } => {
                if lock(&self.lock.holder).owner != Some(owner) {
                    return Response::Error(remote(
                        "RuntimeError",
                        "cannot notify on un-acquired lock",
                    ));
                }
                self.notify(n)
            }
            op @ (Op::Acquire { .. } | Op::Release { .. }) => self.lock.call(op, client_gone),
            other => super::collections::unsupported("Condition", &other),
        }
    }
}

pub(crate) struct EventObject {
    flag: Mutex<bool>,
    changed: Condvar,
}

impl EventObject {
    pub(crate) fn new() -> EventObject {
        EventObject {
            flag: Mutex::new(false),
            changed: Condvar::new(),
        }
    }

    pub(crate) fn call(&self, op: Op, client_gone: &dyn Fn() -> bool) -> Response {
        match op {
            Op::IsSet => Response::Bool(*lock(&self.flag)),
            Op::SetFlag => {
                *lock(&self.flag) = true;
                self.changed.notify_all();
                Response::Done
            }
            Op::ClearFlag => {
                *lock(&self.flag) = false;
                Response::Done
            }
            Op::WaitFlag { timeout } => {
                let patience = Patience::new(timeout, client_gone);
                let (flag, waited) = wait_for(&self.changed, lock(&self.flag), &patience, |f| *f);
                match waited {
                    Waited::ClientGone => gone(),
                    _ => Response::Bool(*flag),
                }
            }
            other => super::collections::unsupported("Event", &other),
        }
    }
}

struct BarrierState {
    parties: u64,
    count: u64,
    /// Moves on each time the barrier lets a full group through.
    generation: u64,
    /// Moves on each reset: whoever waited before it fails.
    resets: u64,
    broken: bool,
}

pub(crate) struct BarrierObject {
    state: Mutex<BarrierState>,
    changed: Condvar,
}

fn broken_barrier() -> Response {
    Response::Error(remote("BrokenBarrierError", "the barrier is broken"))
}

impl BarrierObject {
    pub(crate) fn new(parties: u64) -> BarrierObject {
        BarrierObject {
            state: Mutex::new(BarrierState {
                parties,
                count: 0,
                generation: 0,
                resets: 0,
                broken: false,
            }),
            changed: Condvar::new(),
        }
    }

    fn wait(&self, patience: &Patience<'_>) -> Response {
        let mut state = lock(&self.state);
        if state.broken {
            return broken_barrier();
        }
        let index = state.count;
        state.count += 1;
        if state.count == state.parties {
            state.count = 0;
            state.generation += 1;
            self.changed.notify_all();
            return Response::Int(index as i64);
        }
        let (generation, resets) = (state.generation, state.resets);
        let (mut state, waited) = wait_for(&self.changed, state, patience, |s| {
            s.generation != generation || s.broken || s.resets != resets
        });
        if state.generation != generation {
            return Response::Int(index as i64);
        }
        if waited != Waited::Ready {
            // As Python's: a timeout breaks the barrier for everyone.
            state.broken = true;
            self.changed.notify_all();
        }
        broken_barrier()
    }

    pub(crate) fn call(&self, op: Op, client_gone: &dyn Fn() -> bool) -> Response {
        match op {
            Op::BarrierWait { timeout } => self.wait(&Patience::new(timeout, client_gone)),
            Op::Abort => {
                lock(&self.state).broken = true;
                self.changed.notify_all();
                Response::Done
            }
            Op::Reset => {
                let mut state = lock(&self.state);
                state.resets += 1;
                state.count = 0;
                state.broken = false;
                self.changed.notify_all();
                Response::Done
            }
            Op::BarrierState => {
                let state = lock(&self.state);
                Response::Barrier {
                    parties: state.parties,
                    waiting: state.count,
                    broken: state.broken,
                }
            }
            other => super::collections::unsupported("Barrier", &other),
        }
    }
}
