//! A pool's state as its handles see it: running, closing, terminating or broken, and whether
//! its router has finished (every worker gone), which is what `join` waits for.

use crate::error::PoolError;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// Where a pool is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PoolState {
    Running,
    /// `close`d: no new work; workers exit once the work is done.
    Closing,
    /// `terminate`d: pending work failed; workers being stopped.
    Terminating,
    /// Gave up after too many crashes.
    Broken(String),
}

#[derive(Debug)]
struct Life {
    state: PoolState,
    finished: bool,
}

#[derive(Debug)]
pub(crate) struct Lifecycle {
    life: Mutex<Life>,
    changed: Condvar,
    finished: tokio::sync::Notify,
    /// Wakes [`ended`](Lifecycle::ended) on every move and at the finish.
    moved: tokio::sync::Notify,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            life: Mutex::new(Life {
                state: PoolState::Running,
                finished: false,
            }),
            changed: Condvar::new(),
            finished: tokio::sync::Notify::new(),
            moved: tokio::sync::Notify::new(),
        }
    }
}

impl Lifecycle {
    fn lock(&self) -> MutexGuard<'_, Life> {
        self.life.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn state(&self) -> PoolState {
        self.lock().state.clone()
    }

    /// Whether new work is accepted, as an error when it is not.
    pub(crate) fn check_running(&self) -> Result<(), PoolError> {
        match &self.lock().state {
            PoolState::Running => Ok(()),
            PoolState::Closing | PoolState::Terminating => Err(PoolError::NotRunning),
            PoolState::Broken(cause) => Err(PoolError::Broken {
                cause: cause.clone(),
            }),
        }
    }

    /// Moves to `state` unless the pool is already further along (closing < terminating <
    /// broken); returns whether it moved.
    pub(crate) fn advance(&self, state: PoolState) -> bool {
        let moved = self.advance_quietly(state);
        if moved {
            self.changed.notify_all();
            self.moved.notify_waiters();
        }
        moved
    }

    fn advance_quietly(&self, state: PoolState) -> bool {
        let rank = |s: &PoolState| match s {
            PoolState::Running => 0,
            PoolState::Closing => 1,
            PoolState::Terminating => 2,
            PoolState::Broken(_) => 3,
        };
        let mut life = self.lock();
        if rank(&state) <= rank(&life.state) {
            return false;
        }
        life.state = state;
        true
    }

    /// Wakes whoever waits in [`wait_for`](Self::wait_for) (something they watch changed).
    pub(crate) fn poke(&self) {
        let _life = self.lock();
        self.changed.notify_all();
        self.moved.notify_waiters();
    }

    /// Async twin of [`wait_for`](Self::wait_for).
    pub(crate) async fn wait_for_async(&self, ready: impl Fn() -> bool) -> Result<(), PoolError> {
        loop {
            let moved = self.moved.notified();
            tokio::pin!(moved);
            moved.as_mut().enable();
            if ready() {
                return Ok(());
            }
            if self.lock().state != PoolState::Running {
                return self.check_running();
            }
            moved.await;
        }
    }

    /// Waits until `ready()` holds or the pool stops running; `Err` with why it stopped.
    pub(crate) fn wait_for(&self, ready: impl Fn() -> bool) -> Result<(), PoolError> {
        let mut life = self.lock();
        loop {
            if ready() {
                return Ok(());
            }
            if life.state != PoolState::Running {
                drop(life);
                return self.check_running();
            }
            life = self.changed.wait(life).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// The router is done: every worker has ended.
    pub(crate) fn finish(&self) {
        self.lock().finished = true;
        self.changed.notify_all();
        self.finished.notify_waiters();
        self.moved.notify_waiters();
    }

    /// Waits until the pool has stopped for good: broken (at once), or closed or terminated
    /// and finished. Its state then.
    pub(crate) async fn ended(&self) -> PoolState {
        loop {
            let moved = self.moved.notified();
            tokio::pin!(moved);
            moved.as_mut().enable();
            {
                let life = self.lock();
                match life.state {
                    PoolState::Broken(_) => return life.state.clone(),
                    PoolState::Running => {}
                    _ if life.finished => return life.state.clone(),
                    _ => {}
                }
            }
            moved.await;
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.lock().finished
    }

    /// Waits until finished or `deadline`; returns whether finished.
    pub(crate) fn wait_finished(&self, deadline: Option<Instant>) -> bool {
        let mut life = self.lock();
        while !life.finished {
            match deadline {
                None => life = self.changed.wait(life).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    life = self
                        .changed
                        .wait_timeout(life, deadline - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
        true
    }

    /// Async twin of [`wait_finished`](Self::wait_finished) without a deadline.
    pub(crate) async fn finished(&self) {
        loop {
            let notified = self.finished.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_finished() {
                return;
            }
            notified.await;
        }
    }
}
