//! The parent-side actor of one child process. It owns the child's link and watches its pidfd;
//! when both the link has ended and the child has exited, it records the end and stops, which
//! the root supervisor sees as a supervision event naming the exit status.
//!
//! The watching is one task selecting on the link and the pidfd. It writes what it learns
//! straight into the child's record (where `join` and `result` wait) and messages the actor only
//! once, at the end: every allocation made while a forked child is alive costs a copy-on-write
//! page fault, so the parent does as little as it can while children run.

use crate::child_record::{ChildRecord, Reaper};
use crate::link::ToParent;
use crate::node::node;
use crate::parent_only::ParentOnly;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::task::JoinHandle;

#[derive(Debug)]
pub(crate) enum ProcessMessage {
    /// The link has ended and the exit status is known.
    Ended,
}

#[derive(Debug)]
pub(crate) struct ProcessActor;

pub(crate) struct ProcessState {
    record: Arc<ChildRecord>,
    watcher: JoinHandle<()>,
}

impl Drop for ProcessState {
    fn drop(&mut self) {
        // `kill` skips post_stop; the watcher must still end with the actor.
        self.watcher.abort();
    }
}

impl Actor for ProcessActor {
    type Msg = ProcessMessage;
    type State = ProcessState;
    type Arguments = Arc<ChildRecord>;

    async fn pre_start(
        &self,
        myself: ActorRef<ProcessMessage>,
        record: Arc<ChildRecord>,
    ) -> Result<ProcessState, ActorProcessingErr> {
        // `result` may have taken the link already (the child ended before this actor started).
        let link = record.take_link();
        let watcher = tokio::spawn(watch(record.clone(), link, myself));
        Ok(ProcessState { record, watcher })
    }

    async fn handle(
        &self,
        myself: ActorRef<ProcessMessage>,
        ProcessMessage::Ended: ProcessMessage,
        state: &mut ProcessState,
    ) -> Result<(), ActorProcessingErr> {
        let record = &state.record;
        let reason = record_end(record);
        myself.stop(Some(format!(
            "process {} (pid {}) ended with {reason}",
            record.name, record.pid
        )));
        Ok(())
    }
}

/// What the parent does when a child has ended (its link closed, its status collected): it
/// leaves the node's children, and its actor address goes. Returns how it ended, for the log.
pub(crate) fn record_end(record: &ChildRecord) -> String {
    let reason = record.exit().map(|r| r.to_string()).unwrap_or_default();
    node().children.remove(record.pid);
    if let Some(net) = node().actor_net_if_started() {
        net.child_ended(record.number);
    }
    tracing::debug!(target: "procvisor::process", name = %record.name, pid = record.pid, %reason, "child process ended");
    reason
}

/// Reads the link and waits for the exit, recording both; then tells the actor.
async fn watch(
    record: Arc<ChildRecord>,
    mut link: Option<ParentOnly>,
    actor: ActorRef<ProcessMessage>,
) {
    let exited = async {
        let Ok(pidfd) = record.pidfd.as_fd().try_clone_to_owned() else {
            return;
        };
        let raw = pidfd.as_raw_fd();
        // SAFETY: the AsyncFd owns this duplicate, so it stays open for its whole life; this
        // runs inside the node's runtime, so registration cannot panic.
        match unsafe { AsyncFd::register_with_interest(pidfd, Interest::READABLE) } {
            Ok(registered) => {
                let _ = registered.readable().await;
            }
            Err(e) => {
                let e = e.into_parts().1;
                tracing::error!(target: "procvisor::process", pidfd = raw, %e, "cannot watch a child's pidfd; relying on its link");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::pin!(exited);
    let mut link_open = link.is_some();
    let mut dead = false;
    while link_open || !dead {
        tokio::select! {
            envelope = async { link.as_mut().expect("open").recv_async::<ToParent>().await }, if link_open => match envelope {

                Ok(message) => record.record_message(message),
                Err(_) => {
                    link_open = false;
                    record.set_link_closed();
                }
            },
            () = &mut exited, if !dead => {
                dead = true;
                if record.try_reap().is_none() && record.reaper == Reaper::Forkserver {
                    // The fork server reaps it and reports the status; wait for that.
                    loop {
                        let changed = record.notified();
                        tokio::pin!(changed);
                        changed.as_mut().enable();
                        if record.exit().is_some() {
                            break;
                        }
                        changed.await;
                    }
                }
            }
        }
    }
    drop(link);
    let _ = actor.cast(ProcessMessage::Ended);
}
