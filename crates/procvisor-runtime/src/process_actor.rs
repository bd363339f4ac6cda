//! The parent-side actor of one child process: it owns the child's link and watches its pidfd,
//! turning the link's end and the exit status into the record `join` waits on and into a
//! supervision event for the root supervisor.

use crate::child_record::ChildRecord;
use crate::link::ToParent;
use crate::node::node;
use procvisor_wire::Connection;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::task::JoinHandle;

#[derive(Debug)]
pub(crate) enum ProcessMessage {
    Link(ToParent),
    LinkClosed,
    Exited,
}

#[derive(Debug)]
pub(crate) struct ProcessActor;

/// Owns a child's link; forked children stop closing its descriptor number before it closes
/// (after which the number may be reused by anything).
struct LinkGuard(Connection);

impl Drop for LinkGuard {
    fn drop(&mut self) {
        if let Ok(fd) = self.0.fileno() {
            node().forget_fork_close(fd);
        }
    }
}

pub(crate) struct ProcessState {
    record: Arc<ChildRecord>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for ProcessState {
    fn drop(&mut self) {
        // `kill` skips post_stop; the tasks must still end with the actor.
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Actor for ProcessActor {
    type Msg = ProcessMessage;
    type State = ProcessState;
    type Arguments = (Arc<ChildRecord>, Connection);

    async fn pre_start(
        &self,
        myself: ActorRef<ProcessMessage>,
        (record, link): Self::Arguments,
    ) -> Result<ProcessState, ActorProcessingErr> {
        let reader = {
            let myself = myself.clone();
            let mut link = LinkGuard(link);
            tokio::spawn(async move {
                let link = &mut link.0;
                loop {
                    match link.recv_async::<ToParent>().await {
                        Ok(envelope) => {
                            if myself.cast(ProcessMessage::Link(envelope)).is_err() {
                                return;
                            }
                        }
                        Err(_) => {
                            let _ = myself.cast(ProcessMessage::LinkClosed);
                            return;
                        }
                    }
                }
            })
        };
        let pidfd = record.pidfd.as_fd().try_clone_to_owned()?;
        let watcher = {
            let myself = myself.clone();
            tokio::spawn(async move {
                let raw = pidfd.as_raw_fd();
                // SAFETY: the AsyncFd owns this duplicate, so it stays open for its whole life;
                // this runs inside the node's runtime, so registration cannot panic.
                let registered = match unsafe {
                    AsyncFd::register_with_interest(pidfd, Interest::READABLE)
                } {
                    Ok(r) => r,
                    Err(e) => {
                        let e = e.into_parts().1;
                        tracing::error!(target: "procvisor::process", pidfd = raw, %e, "cannot watch a child's pidfd");
                        return;
                    }
                };
                let _ = registered.readable().await;
                let _ = myself.cast(ProcessMessage::Exited);
            })
        };
        Ok(ProcessState {
            record,
            tasks: vec![reader, watcher],
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<ProcessMessage>,
        message: ProcessMessage,
        state: &mut ProcessState,
    ) -> Result<(), ActorProcessingErr> {
        let record = &state.record;
        match message {
            ProcessMessage::Link(ToParent::Log(log)) => {
                crate::logging::emit(&log, &record.name, record.pid)
            }
            ProcessMessage::Link(ToParent::Outcome(outcome)) => record.set_outcome(outcome),
            ProcessMessage::LinkClosed => record.set_link_closed(),
            ProcessMessage::Exited => {
                if record.try_reap().is_none() {
                    // A fork-served child: its status comes from the fork server.
                    let record = record.clone();
                    let myself = myself.clone();
                    tokio::spawn(async move {
                        loop {
                            let changed = record.notified();
                            tokio::pin!(changed);
                            changed.as_mut().enable();
                            if record.exit().is_some() {
                                break;
                            }
                            changed.await;
                        }
                        let _ = myself.cast(ProcessMessage::Exited);
                    });
                }
            }
        }
        if record.finished() {
            let reason = record.exit().map(|r| r.to_string()).unwrap_or_default();
            node().children.remove(&record.pid);
            tracing::debug!(target: "procvisor::process", name = %record.name, pid = record.pid, %reason, "child process ended");
            myself.stop(Some(format!(
                "process {} (pid {}) ended with {reason}",
                record.name, record.pid
            )));
        }
        Ok(())
    }
}
