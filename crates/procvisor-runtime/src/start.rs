//! Starting a child with each start method, and what all methods share: the link, the record,
//! the process actor.

mod fork;
mod launcher;
mod spawn;

use crate::child_record::{ChildRecord, Reaper};
use crate::context::StartMethod;
use crate::error::ProcessError;
use crate::identity::Identity;
use crate::link::{Bootstrap, ToChild};
use crate::node::node;
use crate::outcome::ChildOutcome;
use crate::parent_only::ParentOnly;
use crate::process_actor::ProcessActor;
use procvisor_wire::Payload;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

pub(crate) use launcher::Launcher;

/// What the child runs.
pub(crate) enum Launch {
    /// A registered function, by name, with encoded arguments.
    Registered {
        name: &'static str,
        args: Payload,
        run: fn(&Payload) -> ChildOutcome,
    },
    /// A closure (fork only).
    Closure(Box<dyn FnOnce() -> ChildOutcome + Send>),
}

/// A started child, before the parent records it.
pub(crate) struct Launched {
    pub(crate) pid: u32,
    pub(crate) pidfd: OwnedFd,
}

/// Starts a child with `method`; returns its record, already tracked by a process actor.
pub(crate) fn start(
    method: StartMethod,
    identity: Identity,
    launch: Launch,
    terminate_at_exit: bool,
) -> Result<Arc<ChildRecord>, ProcessError> {
    let node = node();
    let name = identity.name.clone();
    let daemon = identity.daemon;
    let number = identity.ident.last().copied().unwrap_or(0);
    let failed = |source: std::io::Error| ProcessError::Start {
        name: name.clone(),
        source,
    };
    let (parent_end, child_end) = procvisor_wire::pipe(true).map_err(failed)?;
    // Listed at once for forked children to close: a fork on another thread must not keep a
    // copy of this end.
    let mut parent_end = ParentOnly::new(parent_end);
    let log_level = crate::logging::current_level();

    let (launched, reaper) = match (method, launch) {
        (StartMethod::Fork, launch) => {
            let parent_end_fd = parent_end.as_raw_fd();
            let launched = node
                .launcher()
                .run(move || {
                    fork::fork_child(identity, launch, parent_end_fd, child_end, log_level)
                })
                .map_err(failed)?;
            (launched, Reaper::Direct)
        }
        (
            method,
            Launch::Registered {
                name: target, args, ..
            },
        ) => {
            let (launched, reaper) = if method == StartMethod::Spawn {
                let launched = node
                    .launcher()
                    .run(move || spawn::spawn_child(child_end))
                    .map_err(failed)?;
                (launched, Reaper::Direct)
            } else {
                let client = crate::forkserver::client().map_err(failed)?;
                (client.fork(child_end).map_err(failed)?, Reaper::Forkserver)
            };
            let tracker = procvisor_sync::tracker::inheritable();
            let bootstrap = Bootstrap {
                identity,
                method,
                target: target.to_string(),
                args,
                log_level,
                tracker,
            };
            // A child that died at once shows up through its pidfd; nothing to do here.
            let _ = parent_end.send(&ToChild::Bootstrap(Box::new(bootstrap)));
            (launched, reaper)
        }
        (method, Launch::Closure(_)) => return Err(ProcessError::ClosureNeedsFork { method }),
    };

    let mut record = ChildRecord::new(launched.pid, name, daemon, method, launched.pidfd, reaper);
    record.terminate_at_exit |= terminate_at_exit;
    record.number = number;
    let record = Arc::new(record);
    node.children.insert(record.clone());
    if reaper == Reaper::Forkserver {
        crate::forkserver::attach(&record);
    }
    watch(record.clone(), parent_end);
    Ok(record)
}

/// Hands the child to the node's deferred watching (see [`Node::watch`]).
fn watch(record: Arc<ChildRecord>, link: ParentOnly) {
    record.put_link(link);
    node().watch(record);
}

/// Starts the process actors of `records` under the root supervisor. Runs on the node's
/// runtime (the root supervisor already exists: [`Node::watch`](crate::node::Node::watch) made
/// sure of it).
///
/// A child that has ended already (joined, say, before its watching began) gets no actor:
/// what it left on its link is read here and its end recorded, as its actor would have done.
/// Starting an actor allocates, and every page the parent writes while a forked child lives is
/// a page it copies.
pub(crate) async fn start_process_actors(records: Vec<Arc<ChildRecord>>) {
    let root = node().root();
    for record in records {
        if record.finish_if_ended() {
            crate::process_actor::record_end(&record);
            continue;
        }
        if let Err(e) =
            ractor::Actor::spawn_linked(None, ProcessActor, record.clone(), root.get_cell()).await
        {
            tracing::error!(target: "procvisor::process", %e, "cannot start the process actor");
            // Nobody will read the link: do not let `result` wait for it.
            record.set_link_closed();
        }
    }
}
