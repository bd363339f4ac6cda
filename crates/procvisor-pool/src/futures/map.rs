//! [`Executor::map`](super::Executor::map)'s results, with Python's whole-map timeout.

use crate::error::PoolError;
use crate::imap::Imap;
use serde::de::DeserializeOwned;
use std::fmt;
use std::time::{Duration, Instant};

/// The options of [`Executor::map_with`](super::Executor::map_with): Python's `timeout`,
/// `chunksize` and `buffersize`.
///
/// ```
/// use procvisor_pool::futures::MapOptions;
/// use std::time::Duration;
///
/// let options = MapOptions::new()
///     .timeout(Duration::from_secs(10))
///     .chunksize(100)
///     .buffersize(8);
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[must_use = "options do nothing until passed to map_with"]
pub struct MapOptions {
    pub(crate) timeout: Option<Duration>,
    pub(crate) chunksize: Option<usize>,
    pub(crate) buffersize: Option<usize>,
}

impl MapOptions {
    /// Python's defaults: no timeout, one item per call, the pool's window.
    pub fn new() -> MapOptions {
        MapOptions::default()
    }

    /// The time for the whole map, counted from the call to `map_with`: a result not there by
    /// then is [`PoolError::Timeout`], and the map ends.
    pub fn timeout(mut self, timeout: Duration) -> MapOptions {
        self.timeout = Some(timeout);
        self
    }

    /// Items per call (default 1, as Python's executor).
    pub fn chunksize(mut self, chunksize: usize) -> MapOptions {
        self.chunksize = Some(chunksize);
        self
    }

    /// How many calls (chunks) are submitted ahead of what was consumed (Python 3.14's
    /// `buffersize`; default: the pool's window, 64 per worker and at least 256).
    pub fn buffersize(mut self, calls: usize) -> MapOptions {
        self.buffersize = Some(calls);
        self
    }
}

/// The results of an executor's `map`, in input order: an iterator of `Result`s, the first
/// error of a failed call where its result would be.
pub struct MapResults<'a, R> {
    imap: Option<Imap<'a, R>>,
    deadline: Option<Instant>,
}

impl<R> fmt::Debug for MapResults<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapResults")
            .field("finished", &self.imap.is_none())
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl<'a, R> MapResults<'a, R> {
    pub(crate) fn new(imap: Imap<'a, R>, timeout: Option<Duration>) -> MapResults<'a, R> {
        MapResults {
            imap: Some(imap),
            deadline: timeout.and_then(|t| Instant::now().checked_add(t)),
        }
    }
}

impl<R: DeserializeOwned> Iterator for MapResults<'_, R> {
    type Item = Result<R, PoolError>;

    fn next(&mut self) -> Option<Result<R, PoolError>> {
        let imap = self.imap.as_mut()?;
        let next = match self.deadline {
            None => imap.next(),
            Some(deadline) => imap.next_timeout(deadline.saturating_duration_since(Instant::now())),
        };
        if matches!(next, None | Some(Err(PoolError::Timeout))) {
            // Python stops the map here: the calls not started are dropped with the input.
            self.imap = None;
        }
        next
    }
}
