//! A pool served by the manager (Python's `SyncManager.Pool`): its workers are children of the
//! manager process, and its clients submit registered functions by name, with arguments they
//! encoded. A call waits on its connection's thread, so it holds up no other client, and gives
//! up when its client goes (the task still runs; its result is dropped).

use crate::error::remote;
use crate::protocol::{Bytes, Op, Response};
use procvisor_pool::{AsyncResult, Pool, PoolError};
use procvisor_wire::Payload;
use std::time::{Duration, Instant};

/// How often a waiting call looks whether its client is still there (and tells it the manager
/// is, see `Response::StillWaiting`).
const CHECK_CLIENT: Duration = Duration::from_millis(100);

pub(super) struct PoolObject {
    pool: Pool,
}

impl PoolObject {
    pub(super) fn new(processes: usize) -> Result<PoolObject, String> {
        Pool::new(processes)
            .map(|pool| PoolObject { pool })
            .map_err(|e| pool_error(&e))
    }

    pub(super) fn call(&self, op: Op, client_gone: &dyn Fn() -> bool) -> Response {
        match op {
            Op::PoolApply { function, args } => {
                match self
                    .pool
                    .apply_encoded(&function, Payload::from_bytes(args))
                {
                    Ok(result) => match wait(&result, client_gone) {
                        Ok(part) => parts(vec![part]),
                        Err(response) => response,
                    },
                    Err(e) => Response::Error(pool_error(&e)),
                }
            }
            Op::PoolMap { function, chunks } => {
                let chunks = chunks
                    .into_iter()
                    .map(|(bytes, len)| (Payload::from_bytes(bytes), len as usize))
                    .collect();
                match self.pool.map_encoded(&function, chunks) {
                    Ok(result) => match wait(&result, client_gone) {
                        Ok(all) => parts(all),
                        Err(response) => response,
                    },
                    Err(e) => Response::Error(pool_error(&e)),
                }
            }
            Op::PoolClose => {
                self.pool.close();
                Response::Done
            }
            Op::PoolTerminate => {
                self.pool.terminate();
                Response::Done
            }
            Op::PoolJoin { timeout } => self.join(timeout, client_gone),
            _ => Response::Error(remote(
                "AttributeError",
                "a pool has no such method (the proxy is of another type)",
            )),
        }
    }

    fn join(&self, timeout: Option<Duration>, client_gone: &dyn Fn() -> bool) -> Response {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            let slice = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Response::Timeout;
                    }
                    left.min(CHECK_CLIENT)
                }
                None => CHECK_CLIENT,
            };
            match self.pool.join_timeout(slice) {
                Ok(()) => return Response::Done,
                Err(PoolError::Timeout) if client_gone() => {
                    return Response::Error(remote("EOFError", "the client has gone"));
                }
                Err(PoolError::Timeout) => {}
                Err(e) => return Response::Error(pool_error(&e)),
            }
        }
    }

    /// Stops the workers now (the manager is shutting down).
    pub(super) fn terminate(&self) {
        self.pool.terminate();
    }
}

/// Waits for `result` while its client is there.
fn wait<T: serde::de::DeserializeOwned>(
    result: &AsyncResult<T>,
    client_gone: &dyn Fn() -> bool,
) -> Result<T, Response> {
    loop {
        match result.get_timeout(CHECK_CLIENT) {
            Ok(value) => return Ok(value),
            Err(PoolError::Timeout) if client_gone() => {
                return Err(Response::Error(remote("EOFError", "the client has gone")));
            }
            Err(PoolError::Timeout) => {}
            Err(e) => return Err(Response::Error(pool_error(&e))),
        }
    }
}

/// Encoded results as they travel: their bytes (a descriptor cannot cross a manager's socket).
fn parts(parts: Vec<Payload>) -> Response {
    if parts.iter().any(|part| part.fd_count() > 0) {
        return Response::Error(remote(
            "TypeError",
            "the result holds a file descriptor, which cannot travel through a manager",
        ));
    }
    Response::List(
        parts
            .iter()
            .map(|part| part.bytes().to_vec())
            .collect::<Vec<Bytes>>(),
    )
}

/// A pool's error as the client reads it: `ValueError` for Python's (a bad argument, a pool
/// that no longer takes work), `PoolError` with the pool's own message for the rest (a task's
/// panic, a lost worker, a time limit).
fn pool_error(e: &PoolError) -> String {
    match e {
        PoolError::InvalidArgument(_) | PoolError::NotRunning => remote("ValueError", e),
        _ => remote("PoolError", e),
    }
}
