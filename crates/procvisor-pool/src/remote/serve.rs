//! The host's side: a task that came from another host's router, run on this host's own pool.

use super::{RemoteFailure, RemoteOutcome, RemoteTask};
use crate::core::{CallSettings, Core};
use crate::error::PoolError;
use crate::sink::Sink;
use procvisor_runtime::__private::pool_support;
use procvisor_wire::Payload;
use std::sync::{Arc, Mutex};

/// What receives a remote task's outcome.
type Done = Box<dyn FnOnce(RemoteOutcome) + Send>;

/// Where a remote task's outcome goes: once, to its `Done`.
struct Reply(Mutex<Option<Done>>);

impl Sink for Reply {
    fn deliver(self: Arc<Self>, _part: u64, outcome: Result<Payload, PoolError>) {
        let done = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(done) = done {
            done(outcome.map_err(remote_failure));
        }
    }
}

/// A local task's error, as it travels back to the router (which knows the task).
fn remote_failure(error: PoolError) -> RemoteFailure {
    match error {
        PoolError::Failed { failure, .. } => RemoteFailure::Failed(failure),
        PoolError::WorkerLost {
            worker,
            pid,
            exit,
            cause,
            ..
        } => RemoteFailure::WorkerLost {
            worker,
            pid,
            exit: exit.0,
            cause: cause.map(|c| *c),
        },
        PoolError::TimeLimitExceeded {
            worker, pid, limit, ..
        } => RemoteFailure::TimeLimitExceeded { worker, pid, limit },
        other => RemoteFailure::Refused(other.to_string()),
    }
}

/// Runs `task` on `core`'s workers; `done` gets its outcome. Returns the task's number in
/// this pool (what [`Core::running_tasks`] names it by).
pub(crate) fn run(core: &Core, task: RemoteTask, done: Done) -> Result<Option<u64>, PoolError> {
    let Some(name) = pool_support::registered_name(&task.target) else {
        done(Err(RemoteFailure::Refused(format!(
            "the function `{}` is not registered in this host's binary (is it the same build?)",
            task.target
        ))));
        return Ok(None);
    };
    let target = core.target(name, |_| true)?;
    let settings = CallSettings {
        retries: 0,
        time_limit: task.time_limit,
    };
    let reply = Arc::new(Reply(Mutex::new(Some(done))));
    let job = core.job(&target, task.args, reply, 0, None, &settings);
    let id = job.info.id;
    core.submit(vec![job]).map(|()| Some(id))
}
