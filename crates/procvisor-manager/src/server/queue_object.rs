//! Queue and JoinableQueue, held in the manager.

use super::waiting::{Patience, Waited, wait_for};
use crate::error::remote;
use crate::protocol::{Bytes, Op, Response};
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};

struct Items {
    items: VecDeque<Bytes>,
    unfinished: u64,
}

pub(crate) struct QueueObject {
    maxsize: usize,
    state: Mutex<Items>,
    changed: Condvar,
}

impl QueueObject {
    /// Python's manager queues are `queue.Queue`s: a plain one has `task_done` and `join`
    /// too, so both kinds are the same here.
    pub(crate) fn new(maxsize: usize) -> QueueObject {
        QueueObject {
            maxsize,
            state: Mutex::new(Items {
                items: VecDeque::new(),
                unfinished: 0,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Items> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn call(&self, op: Op, client_gone: &dyn Fn() -> bool) -> Response {
        let maxsize = self.maxsize;
        let outcome = |waited| match waited {
            Waited::TimedOut => Response::Timeout,
            _ => Response::Error("the client went away".into()),
        };
        match op {
            Op::Put { item, timeout } => {
                let patience = Patience::new(timeout, client_gone);
                let (mut state, waited) = wait_for(&self.changed, self.lock(), &patience, |s| {
                    maxsize == 0 || s.items.len() < maxsize
                });
                if waited != Waited::Ready {
                    return outcome(waited);
                }
                state.items.push_back(item);
                state.unfinished += 1;
                self.changed.notify_all();
                Response::Done
            }
            Op::Take { timeout } => {
                let patience = Patience::new(timeout, client_gone);
                let (mut state, waited) = wait_for(&self.changed, self.lock(), &patience, |s| {
                    !s.items.is_empty()
                });
                // Only a caller that is still there takes the item: one that went (or was
                // cancelled) as the item came leaves it for the next.
                if waited != Waited::Ready {
                    return outcome(waited);
                }
                match state.items.pop_front() {
                    Some(item) => {
                        self.changed.notify_all();
                        Response::Bytes(item)
                    }
                    None => outcome(Waited::TimedOut),
                }
            }
            Op::GiveBack(item) => {
                // It was the first item when it was taken, and is counted as unfinished still.
                self.lock().items.push_front(item);
                self.changed.notify_all();
                Response::Done
            }
            Op::TaskDone => {
                let mut state = self.lock();
                if state.unfinished == 0 {
                    return Response::Error(remote(
                        "ValueError",
                        "task_done() called too many times",
                    ));
                }
                state.unfinished -= 1;
                if state.unfinished == 0 {
                    self.changed.notify_all();
                }
                Response::Done
            }
            Op::Join { timeout } => {
                let patience = Patience::new(timeout, client_gone);
                let (state, waited) =
                    wait_for(&self.changed, self.lock(), &patience, |s| s.unfinished == 0);
                drop(state);
                match waited {
                    Waited::Ready => Response::Done,
                    other => outcome(other),
                }
            }
            Op::QueueState => {
                let state = self.lock();
                Response::Queue {
                    size: state.items.len() as u64,
                    maxsize: maxsize as u64,
                    unfinished: state.unfinished,
                }
            }
            other => super::collections::unsupported("Queue", &other),
        }
    }
}
