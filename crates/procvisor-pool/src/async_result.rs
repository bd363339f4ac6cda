//! [`AsyncResult`]: the result of `apply_async` or `map_async`, to wait for, poll, await, or
//! be called back with.

use crate::completion::{Completion, Outcome};
use crate::error::{PoolError, TaskInfo};
use procvisor_wire::Payload;
use serde::de::DeserializeOwned;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Decodes the parts of a finished result.
pub(crate) type Decoder<R> = fn(&[Payload]) -> Result<R, String>;

/// The result of [`Pool::apply_async`](crate::Pool::apply_async) or
/// [`Pool::map_async`](crate::Pool::map_async): Python's `AsyncResult`.
///
/// Wait for it with [`get`](Self::get) (with a timeout, like Python's `get(timeout)`), check it
/// with [`ready`](Self::ready) and [`successful`](Self::successful), have a callback run with
/// it ([`on_complete`](Self::on_complete), Python's `callback` and `error_callback`), or
/// `.await` it (it is [`IntoFuture`]).
///
/// ```
/// use procvisor_pool::Pool;
///
/// fn square(x: i64) -> i64 {
///     x * x
/// }
/// procvisor_runtime::register!(square);
///
/// let pool = Pool::new(2)?;
/// let result = pool.apply_async(square, (20,))?;
/// assert_eq!(result.get()?, 400);
/// assert_eq!(result.successful(), Some(true));
/// # Ok::<(), procvisor_pool::PoolError>(())
/// ```
///
/// The result is kept encoded and decoded by each `get`, so `get` can be called any number of
/// times (as in Python) without `R: Clone`. Dropping an `AsyncResult` does not cancel its task.
pub struct AsyncResult<R> {
    completion: Arc<Completion>,
    decode: Decoder<R>,
    info: TaskInfo,
}

impl<R> fmt::Debug for AsyncResult<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("task", &self.info.to_string())
            .field("ready", &self.completion.outcome().is_some())
            .finish()
    }
}

impl<R> AsyncResult<R> {
    pub(crate) fn completion(&self) -> &Arc<Completion> {
        &self.completion
    }
}

impl<R: DeserializeOwned> AsyncResult<R> {
    pub(crate) fn new(completion: Arc<Completion>, decode: Decoder<R>, info: TaskInfo) -> Self {
        AsyncResult {
            completion,
            decode,
            info,
        }
    }

    /// What the result is made of, for a type that builds on it (an executor's future).
    pub(crate) fn into_parts(self) -> (Arc<Completion>, Decoder<R>, TaskInfo) {
        (self.completion, self.decode, self.info)
    }

    fn resolve(&self, outcome: &Outcome) -> Result<R, PoolError> {
        resolve(outcome, self.decode, &self.info)
    }

    /// Waits for the result, as long as it takes (Python's `get()`).
    ///
    /// # Errors
    ///
    /// The task's error.
    pub fn get(&self) -> Result<R, PoolError> {
        self.get_within(None)
    }

    /// Waits for the result, at most `timeout` (Python's `get(timeout)`).
    ///
    /// # Errors
    ///
    /// The task's error, or [`PoolError::Timeout`] when `timeout` passed first (the task goes
    /// on; call `get` again later).
    pub fn get_timeout(&self, timeout: Duration) -> Result<R, PoolError> {
        self.get_within(Some(timeout))
    }

    fn get_within(&self, timeout: Option<Duration>) -> Result<R, PoolError> {
        let deadline = timeout.map(|t| Instant::now().checked_add(t).unwrap_or_else(far_future));
        match self.completion.wait_until(deadline) {
            Some(outcome) => self.resolve(outcome),
            None => Err(PoolError::Timeout),
        }
    }

    /// Waits until the result is ready (Python's `wait()`).
    pub fn wait(&self) {
        self.completion.wait_until(None);
    }

    /// Waits until the result is ready or `timeout` passes; returns whether it is ready.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(far_future);
        self.completion.wait_until(Some(deadline)).is_some()
    }

    /// Whether the result has arrived (its callbacks have run).
    pub fn ready(&self) -> bool {
        self.completion.outcome().is_some()
    }

    /// Whether the task succeeded; `None` while it is not ready (Python raises `ValueError`).
    pub fn successful(&self) -> Option<bool> {
        self.completion.outcome().map(|outcome| outcome.is_ok())
    }

    /// Runs `callback` with the result once it is ready (Python's `callback` and
    /// `error_callback` in one): on the pool's callback thread, before the result becomes
    /// visible to [`get`](Self::get); or at once, on this thread, if it is ready already.
    ///
    /// Callbacks run one at a time; a slow one delays the others (not the pool). A panic in a
    /// callback is logged and ignored.
    pub fn on_complete(&self, callback: impl FnOnce(Result<R, PoolError>) + Send + 'static)
    where
        R: 'static,
    {
        let (decode, info) = (self.decode, self.info.clone());
        self.completion.add_callback(Box::new(move |outcome| {
            callback(resolve(outcome, decode, &info));
        }));
    }

    /// Async twin of [`get`](Self::get), on any executor (awaiting the result itself,
    /// `result.await`, is the same).
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub async fn get_async(&self) -> Result<R, PoolError> {
        Waiting {
            completion: self.completion.clone(),
            decode: self.decode,
            info: self.info.clone(),
        }
        .await
    }

    /// Async twin of [`get_timeout`](Self::get_timeout) (needs a tokio runtime).
    ///
    /// # Errors
    ///
    /// As [`get_timeout`](Self::get_timeout).
    pub async fn get_timeout_async(&self, timeout: Duration) -> Result<R, PoolError> {
        tokio::time::timeout(timeout, self.get_async())
            .await
            .unwrap_or(Err(PoolError::Timeout))
    }
}

pub(crate) fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(60 * 60 * 24 * 365 * 30)
}

pub(crate) fn resolve<R>(
    outcome: &Outcome,
    decode: Decoder<R>,
    info: &TaskInfo,
) -> Result<R, PoolError> {
    match outcome {
        Ok(parts) => decode(parts).map_err(|message| PoolError::Result {
            task: info.clone(),
            message,
        }),
        Err(error) => Err(error.clone()),
    }
}

impl<R: DeserializeOwned> IntoFuture for AsyncResult<R> {
    type Output = Result<R, PoolError>;
    type IntoFuture = Waiting<R>;

    fn into_future(self) -> Waiting<R> {
        Waiting {
            completion: self.completion,
            decode: self.decode,
            info: self.info,
        }
    }
}

/// The future of an awaited [`AsyncResult`].
pub struct Waiting<R> {
    completion: Arc<Completion>,
    decode: Decoder<R>,
    info: TaskInfo,
}

impl<R> fmt::Debug for Waiting<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiting")
            .field("task", &self.info.to_string())
            .finish()
    }
}

impl<R: DeserializeOwned> Future for Waiting<R> {
    type Output = Result<R, PoolError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.completion.poll_outcome(cx.waker()) {
            Some(outcome) => Poll::Ready(resolve(outcome, self.decode, &self.info)),
            None => Poll::Pending,
        }
    }
}

/// Decodes the single result of an `apply`.
pub(crate) fn decode_one<R: DeserializeOwned>(parts: &[Payload]) -> Result<R, String> {
    let [part] = parts else {
        return Err(format!("expected one result, got {} parts", parts.len()));
    };
    let mut values: Vec<R> = part.decode().map_err(|e| e.to_string())?;
    match values.len() {
        1 => Ok(values.pop().expect("one value")),
        n => Err(format!("expected one result, got {n}")),
    }
}

/// Decodes and joins the chunks of a `map_async`.
pub(crate) fn decode_all<R: DeserializeOwned>(parts: &[Payload]) -> Result<Vec<R>, String> {
    let mut values = Vec::new();
    for part in parts {
        part.decode_extend(&mut values).map_err(|e| e.to_string())?;
    }
    Ok(values)
}

/// The single encoded part of an `apply` whose result type the caller knows (a manager's pool).
pub(crate) fn decode_part(parts: &[Payload]) -> Result<Payload, String> {
    match parts {
        [part] => Ok(part.clone()),
        _ => Err(format!("expected one result, got {} parts", parts.len())),
    }
}

/// The encoded parts of a `map` whose result type the caller knows (a manager's pool).
pub(crate) fn decode_parts(parts: &[Payload]) -> Result<Vec<Payload>, String> {
    Ok(parts.to_vec())
}
