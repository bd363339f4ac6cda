//! Starting a worker process, and the two tasks that carry its link: a writer that sends what
//! the router hands it, and a watcher that forwards what the worker says and notices its death
//! from its pidfd (not from the link's end of file, which another process that inherited a copy
//! of the worker's end could delay).

use super::RouterMessage;
use crate::error::PoolError;
use crate::protocol::{Outgoing, ToRouter, WorkerMode};
use crate::worker_main::pool_worker;
use procvisor_runtime::__private::pool_support;
use procvisor_runtime::{Context, Process, StartMethod};
use procvisor_wire::{Connection, ConnectionError};
use ractor::ActorRef;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;

/// How much of a worker's answers one receive takes in.
const READ_AHEAD: usize = 64 * 1024;

/// A worker's identity within its pool (never reused).
pub(crate) type WorkerId = u64;

/// How the pool's workers are started.
#[derive(Debug, Clone)]
pub(crate) struct WorkerSpec {
    pub(crate) mode: WorkerMode,
    pub(crate) context: Option<Context>,
}

/// The router's end of a worker's link. Forked children (other workers, the user's processes)
/// close their inherited copy at once, so that only the router holds it.
pub(crate) struct RouterEnd(pool_support::ParentOnly);

impl RouterEnd {
    fn new(link: Connection) -> RouterEnd {
        RouterEnd(pool_support::ParentOnly::new(link))
    }

    fn try_clone(&self) -> std::io::Result<RouterEnd> {
        self.0
            .try_clone()
            .map(RouterEnd::new)
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

/// A worker process that has started.
pub(crate) struct Started {
    pub(crate) process: Process,
    pub(crate) link: RouterEnd,
    pub(crate) name: String,
    pub(crate) pid: u32,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("name", &self.name)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

fn name_prefix(method: StartMethod) -> &'static str {
    match method {
        StartMethod::Fork => "ForkPoolWorker",
        StartMethod::Spawn => "SpawnPoolWorker",
        StartMethod::Forkserver => "ForkServerPoolWorker",
    }
}

/// Starts one worker process (blocking: a fork or an exec).
pub(crate) fn start_worker(spec: &WorkerSpec) -> Result<Started, PoolError> {
    let failed = |e: std::io::Error| {
        PoolError::Start(Arc::new(procvisor_runtime::ProcessError::Start {
            name: "a pool worker".into(),
            source: e,
        }))
    };
    let (router_end, worker_end) = procvisor_wire::pipe(true).map_err(failed)?;
    let router_end = RouterEnd::new(router_end);
    // A worker's actor is reachable from its first moment: its actor link is in place before
    // it starts.
    let (actor_here, actor_there) = match spec.mode {
        WorkerMode::Actor { .. } => {
            let (here, there) = procvisor_wire::pipe(true).map_err(failed)?;
            (Some(here), Some(there))
        }
        WorkerMode::Functions { .. } => (None, None),
    };
    let process = Process::new(pool_worker, (worker_end, spec.mode.clone(), actor_there))
        .map_err(|e| PoolError::Start(Arc::new(e)))?;
    let process = match spec.context {
        Some(context) => process.with_context(context),
        None => process,
    };
    // Python's names: ForkPoolWorker-3 and so on, numbered like any other child.
    let name = process
        .name()
        .replacen("Process", name_prefix(process.start_method()), 1);
    let mut process = pool_support::terminate_at_exit(process.with_name(name.clone()));
    if let Some(here) = actor_here {
        pool_support::attach_actor_link(&process, here).map_err(failed)?;
    }
    process.start().map_err(|e| PoolError::Start(Arc::new(e)))?;
    let pid = process.pid().unwrap_or(0);
    Ok(Started {
        process,
        link: router_end,
        name,
        pid,
    })
}

/// The tasks that carry one worker's link; they end with the worker (or when dropped).
pub(crate) struct LinkTasks {
    pub(crate) outbox: UnboundedSender<Outgoing>,
    writer: JoinHandle<()>,
    watcher: JoinHandle<()>,
}

impl Drop for LinkTasks {
    fn drop(&mut self) {
        self.writer.abort();
        self.watcher.abort();
    }
}

/// Starts the writer and the watcher of worker `id` (on the node's runtime: the router's).
pub(crate) fn spawn_link_tasks(
    id: WorkerId,
    link: RouterEnd,
    process: &Process,
    router: ActorRef<RouterMessage>,
) -> std::io::Result<LinkTasks> {
    let pidfd: OwnedFd = process
        .sentinel()
        .map_err(|e| std::io::Error::other(e.to_string()))?
        .as_fd()
        .try_clone_to_owned()?;
    // SAFETY: the AsyncFd owns this duplicate of the pidfd, so it stays open while registered;
    // this runs on the node's runtime (from the router), so registration has a reactor.
    let exited = unsafe { AsyncFd::register_with_interest(pidfd, Interest::READABLE) }
        .map_err(|e| e.into_parts().1)?;
    let writer_end = link.try_clone()?;
    let (outbox, mut inbox) = unbounded_channel::<Outgoing>();

    let router_for_writer = router.clone();
    let writer = tokio::spawn(async move {
        let mut end = writer_end;
        while let Some(message) = inbox.recv().await {
            match end.0.send_async(&message.wire()).await {
                Ok(()) => {}
                // The worker is gone; the watcher reports it.
                Err(ConnectionError::BrokenPipe | ConnectionError::Io(_)) => return,
                Err(e) => {
                    let _ = router_for_writer
                        .send_message(RouterMessage::WriteFailed(id, e.to_string()));
                    return;
                }
            }
        }
    });

    let watcher = tokio::spawn(async move {
        let mut end = link;
        // Answers arrive in bursts: one receive takes in the whole burst, and the router hears
        // it as one message.
        let _ = end.0.set_read_ahead(READ_AHEAD);
        loop {
            tokio::select! {
                biased;
                message = end.0.recv_async::<ToRouter>() => match message {
                    Ok(message) => {
                        let mut batch = vec![message];
                        while let Some(Ok(message)) = end.0.try_recv_buffered::<ToRouter>() {
                            batch.push(message);
                        }
                        if router.send_message(RouterMessage::FromWorker(id, batch)).is_err() {
                            return;
                        }
                    }
                    Err(_) => break,
                },
                _ = exited.readable() => {
                    // Dead: what it wrote before dying is still in the socket.
                    while matches!(end.0.poll(), Ok(true)) {
                        match end.0.recv_async::<ToRouter>().await {
                            Ok(message) => {
                                let _ = router
                                    .send_message(RouterMessage::FromWorker(id, vec![message]));
                            }
                            Err(_) => break,
                        }
                    }
                    break;
                }
            }
        }
        drop(end);
        let _ = router.send_message(RouterMessage::LinkEnded(id));
    });

    Ok(LinkTasks {
        outbox,
        writer,
        watcher,
    })
}

/// Waits for a worker whose link has ended to exit (killing it if it lingers), then reports how
/// it ended.
pub(crate) fn spawn_exit_waiter(
    id: WorkerId,
    mut process: Process,
    router: ActorRef<RouterMessage>,
) {
    tokio::spawn(async move {
        if tokio::time::timeout(Duration::from_millis(500), process.join_async())
            .await
            .is_err()
        {
            // Its link ended but it lives on: it cannot get work any more.
            let _ = process.kill();
            let _ = process.join_async().await;
        }
        // What it reported before it died (a stack overflow, say) comes with the exit status.
        let ended = tokio::time::timeout(Duration::from_secs(2), pool_support::ended(&process));
        let (reason, cause) = match ended.await {
            Ok(Some((reason, cause))) => (reason, cause),
            _ => (
                process
                    .exit_reason()
                    .unwrap_or(procvisor_runtime::ExitReason::Code(-1)),
                None,
            ),
        };
        let _ = router.send_message(RouterMessage::Exited(id, reason, cause));
    });
}
