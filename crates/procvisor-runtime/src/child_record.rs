//! What a parent knows about one child: pid, pidfd, exit status, outcome.
//!
//! Three parties update a record: the child's process actor (reading the link, watching the
//! pidfd), a thread blocked in `join` (which reaps directly from the pidfd so that `join` costs
//! one wakeup), and for fork-served children the fork server's status reader. Reaping happens
//! under the record's lock, so exactly one of them collects the status.

use crate::context::StartMethod;
use crate::link::ToParent;
use crate::outcome::{ChildOutcome, ExitReason};
use crate::parent_only::ParentOnly;
use crate::sys;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Who collects the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reaper {
    /// This process is the parent: `waitid` on the pidfd.
    Direct,
    /// The fork server is the parent; it reports the status.
    Forkserver,
}

#[derive(Debug, Default)]
pub(crate) struct ChildState {
    pub(crate) exit: Option<ExitReason>,
    pub(crate) outcome: Option<ChildOutcome>,
    pub(crate) link_closed: bool,
}

/// One child, as its parent tracks it.
#[derive(Debug)]
pub(crate) struct ChildRecord {
    pub(crate) pid: u32,
    /// Its number among its parent's children (the last of its identity numbers).
    pub(crate) number: u32,
    pub(crate) name: String,
    pub(crate) daemon: bool,
    /// Terminated rather than joined when this process exits: daemons, and children started
    /// for a pool (which stay allowed to have children of their own).
    pub(crate) terminate_at_exit: bool,
    pub(crate) method: StartMethod,
    pub(crate) pidfd: OwnedFd,
    pub(crate) reaper: Reaper,
    state: Mutex<ChildState>,
    changed: Condvar,
    async_changed: tokio::sync::Notify,
    /// The parent's end of the link until someone takes it to read: the process actor, or a
    /// `result` call that comes first.
    link: Mutex<Option<ParentOnly>>,
}

impl ChildRecord {
    pub(crate) fn new(
        pid: u32,
        name: String,
        daemon: bool,
        method: StartMethod,
        pidfd: OwnedFd,
        reaper: Reaper,
    ) -> Self {
        Self {
            pid,
            number: 0,
            name,
            daemon,
            terminate_at_exit: daemon,
            method,
            pidfd,
            reaper,
            state: Mutex::new(ChildState::default()),
            changed: Condvar::new(),
            async_changed: tokio::sync::Notify::new(),
            link: Mutex::new(None),
        }
    }

    pub(crate) fn put_link(&self, link: ParentOnly) {
        *self.link.lock().unwrap_or_else(|p| p.into_inner()) = Some(link);
    }

    /// Takes the link to read it; `None` when someone else has it (or had it).
    pub(crate) fn take_link(&self) -> Option<ParentOnly> {
        self.link.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Reads the link on the calling thread until it ends (or the deadline passes), recording
    /// what arrives. Used by `result` when the process actor has not taken the link yet, so a
    /// short-lived child costs no thread handoff. Returns `false` on timeout.
    pub(crate) fn drain_link_here(&self, deadline: Option<Instant>) -> bool {
        let Some(mut link) = self.take_link() else {
            return true;
        };
        loop {
            let received = match deadline {
                None => link.recv::<ToParent>(),
                Some(d) => {
                    link.recv_timeout::<ToParent>(d.saturating_duration_since(Instant::now()))
                }
            };
            match received {
                Ok(message) => self.record_message(message),
                Err(e) if e.is_timeout() => {
                    // Keep the partial state for whoever reads next.
                    self.put_link(link);
                    return false;
                }
                Err(_) => {
                    drop(link);
                    self.set_link_closed();
                    return true;
                }
            }
        }
    }

    /// Records one message the child sent on its link.
    pub(crate) fn record_message(&self, message: ToParent) {
        match message {
            ToParent::Log(log) => crate::logging::emit(&log, &self.name, self.pid),
            ToParent::Outcome(outcome) => self.set_outcome(outcome),
            ToParent::ActorLink(conn) => crate::actor::adopt_link(self.number, conn),
        }
    }

    /// For a child that has already ended when its watching begins: reads what it left on the
    /// link, without waiting, and records both ends, so that it needs no process actor. `false`,
    /// with nothing lost, while the child runs, and when it has exited but its link has not
    /// ended (a child of its own may still hold it open): then the process actor takes over.
    pub(crate) fn finish_if_ended(&self) -> bool {
        if self.try_reap().is_none() {
            return false;
        }
        // `None`: a `result` call is reading the link, and records its end.
        if let Some(mut link) = self.take_link() {
            loop {
                match link.try_recv::<ToParent>() {
                    Ok(Some(message)) => self.record_message(message),
                    Ok(None) => {
                        self.put_link(link);
                        return false;
                    }
                    Err(_) => break,
                }
            }
            drop(link);
            self.set_link_closed();
        }
        true
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, ChildState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn notify(&self) {
        self.changed.notify_all();
        self.async_changed.notify_waiters();
    }

    /// The exit status, if known.
    pub(crate) fn exit(&self) -> Option<ExitReason> {
        self.lock().exit
    }

    /// Collects the exit status if this process is the parent and the child has exited.
    pub(crate) fn try_reap(&self) -> Option<ExitReason> {
        let mut state = self.lock();
        if state.exit.is_none() && self.reaper == Reaper::Direct {
            if let Ok(Some(reason)) = sys::try_reap(self.pidfd.as_fd()) {
                state.exit = Some(reason);
                drop(state);
                self.notify();
                return Some(reason);
            }
        }
        state.exit
    }

    pub(crate) fn set_exit(&self, reason: ExitReason) {
        self.lock().exit.get_or_insert(reason);
        self.notify();
    }

    pub(crate) fn set_outcome(&self, outcome: ChildOutcome) {
        self.lock().outcome = Some(outcome);
        self.notify();
    }

    pub(crate) fn set_link_closed(&self) {
        self.lock().link_closed = true;
        self.notify();
    }

    /// Whether both the exit status and the end of the link have been seen.
    pub(crate) fn finished(&self) -> bool {
        let state = self.lock();
        state.exit.is_some() && state.link_closed
    }

    /// Blocks until the child has exited (and was reaped) or the deadline passes.
    pub(crate) fn wait_exit(&self, deadline: Option<Instant>) -> Option<ExitReason> {
        loop {
            if let Some(reason) = self.try_reap() {
                return Some(reason);
            }
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if remaining.is_some_and(|r| r.is_zero()) {
                return None;
            }
            match self.reaper {
                // Wait on the pidfd itself: one wakeup when the child dies.
                Reaper::Direct => {
                    sys::poll_readable(self.pidfd.as_fd(), remaining);
                }
                // The fork server reaps and reports; wait for its report.
                Reaper::Forkserver => {
                    let state = self.lock();
                    if state.exit.is_some() {
                        continue;
                    }
                    let wait = remaining.unwrap_or(Duration::from_secs(3600));
                    drop(
                        self.changed
                            .wait_timeout(state, wait)
                            .unwrap_or_else(|p| p.into_inner()),
                    );
                }
            }
        }
    }

    /// Blocks until the child has exited and its link has closed (so any outcome it sent has
    /// arrived), or the deadline passes.
    pub(crate) fn wait_finished(&self, deadline: Option<Instant>) -> bool {
        self.wait_exit(deadline);
        let mut state = self.lock();
        loop {
            if state.exit.is_some() && state.link_closed {
                return true;
            }
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if remaining.is_some_and(|r| r.is_zero()) {
                return false;
            }
            let wait = remaining.unwrap_or(Duration::from_secs(3600));
            state = self
                .changed
                .wait_timeout(state, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// A future that resolves at the record's next change; `enable` it before checking the
    /// state so that no change is missed.
    pub(crate) fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.async_changed.notified()
    }

    /// Async twin of [`wait_finished`](Self::wait_finished) without a deadline.
    pub(crate) async fn wait_finished_async(&self) {
        loop {
            let notified = self.async_changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            self.try_reap();
            if self.finished() {
                return;
            }
            notified.await;
        }
    }
}

/// A node's children by pid. A plain locked map: it changes once per child start and end, and
/// (unlike a sharded map) costs nothing to create, which matters in every forked child.
#[derive(Debug, Default)]
pub(crate) struct Children(Mutex<std::collections::HashMap<u32, std::sync::Arc<ChildRecord>>>);

impl Children {
    fn map(&self) -> MutexGuard<'_, std::collections::HashMap<u32, std::sync::Arc<ChildRecord>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn insert(&self, record: std::sync::Arc<ChildRecord>) {
        self.map().insert(record.pid, record);
    }

    pub(crate) fn remove(&self, pid: u32) {
        self.map().remove(&pid);
    }

    pub(crate) fn get(&self, pid: u32) -> Option<std::sync::Arc<ChildRecord>> {
        self.map().get(&pid).cloned()
    }

    /// Every tracked child, in pid order.
    pub(crate) fn all(&self) -> Vec<std::sync::Arc<ChildRecord>> {
        let mut all: Vec<_> = self.map().values().cloned().collect();
        all.sort_by_key(|r| r.pid);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Failure, FailureKind};
    use procvisor_wire::Connection;
    use std::process::Command;

    /// A record of a real child process (`command`), whose link the test writes itself.
    fn record_of(command: &mut Command) -> (ChildRecord, Connection, std::process::Child) {
        let child = command.spawn().expect("start a child process");
        let pidfd = sys::pidfd_open(child.id() as i32).expect("pidfd_open");
        let (parent_end, child_end) = procvisor_wire::pipe(true).expect("a link");
        let record = ChildRecord::new(
            child.id(),
            "test-child".into(),
            false,
            StartMethod::Spawn,
            pidfd,
            Reaper::Direct,
        );
        record.put_link(ParentOnly::new(parent_end));
        (record, child_end, child)
    }

    fn wait_for_exit(record: &ChildRecord) {
        assert!(
            sys::poll_readable(record.pidfd.as_fd(), Some(Duration::from_secs(30))),
            "the child did not exit within 30 s"
        );
    }

    fn failure_outcome() -> ToParent {
        ToParent::Outcome(ChildOutcome::failed(Failure::new(
            FailureKind::Error,
            "boom",
            None,
        )))
    }

    #[test]
    fn an_ended_child_is_finished_from_what_it_left_on_its_link() {
        let (record, mut child_end, _child) = record_of(&mut Command::new("true"));
        child_end.send(&failure_outcome()).unwrap();
        drop(child_end);
        wait_for_exit(&record);

        assert!(record.finish_if_ended());
        let state = record.lock();
        assert_eq!(
            state.exit.map(|e| e.to_string()),
            Some("exit code 0".into())
        );
        let failure = state.outcome.as_ref().and_then(|o| o.failure.clone());
        assert_eq!(failure.as_ref().map(Failure::message), Some("boom"));
        assert!(state.link_closed);
    }

    #[test]
    fn an_exited_child_whose_link_is_still_open_is_left_to_its_actor() {
        // A child of the child may still hold the link: what arrived is kept, the rest waits.
        let (record, mut child_end, _child) = record_of(&mut Command::new("true"));
        child_end.send(&failure_outcome()).unwrap();
        wait_for_exit(&record);

        assert!(!record.finish_if_ended());
        assert!(record.lock().outcome.is_some(), "what arrived is recorded");
        assert!(!record.lock().link_closed);
        assert!(
            record.take_link().is_some(),
            "the link is there for the actor"
        );
    }

    #[test]
    fn a_running_child_is_left_to_its_actor() {
        let (record, child_end, mut child) = record_of(Command::new("sleep").arg("60"));
        assert!(!record.finish_if_ended());
        assert!(record.exit().is_none());
        assert!(record.take_link().is_some(), "the link is untouched");
        child.kill().unwrap();
        child.wait().unwrap();
        drop(child_end);
    }
}
