//! Per-call options: chunk size, retries, time limit, `imap`'s window, progress.

use crate::error::PoolError;
use std::sync::Arc;
use std::time::Duration;

/// Progress of a `map`, `starmap` or `imap`: items finished, and the total when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Items whose results have arrived.
    pub done: u64,
    /// All items, when the input's length is known.
    pub total: Option<u64>,
}

/// A progress hook, called on the caller's thread as results arrive.
pub(crate) type ProgressHook = Arc<dyn Fn(Progress) + Send + Sync>;

/// The options of one call; the pool's defaults fill what is not set.
#[derive(Clone, Default)]
pub(crate) struct TaskOptions {
    pub(crate) chunksize: Option<usize>,
    pub(crate) retries: Option<u32>,
    pub(crate) time_limit: Option<Option<Duration>>,
    pub(crate) window: Option<usize>,
    pub(crate) progress: Option<ProgressHook>,
}

impl std::fmt::Debug for TaskOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskOptions")
            .field("chunksize", &self.chunksize)
            .field("retries", &self.retries)
            .field("time_limit", &self.time_limit)
            .field("window", &self.window)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// Python's default chunk size for `map`: the input cut into about four chunks per worker.
pub(crate) fn default_chunksize(items: usize, processes: usize) -> usize {
    let slots = processes.max(1) * 4;
    items.div_ceil(slots).max(1)
}

/// Checks a chunk size given by the caller (Python: `ValueError('Chunksize must be 1+, not 0')`).
pub(crate) fn checked_chunksize(chunksize: usize) -> Result<usize, PoolError> {
    if chunksize == 0 {
        return Err(PoolError::InvalidArgument(
            "Chunksize must be 1+, not 0".into(),
        ));
    }
    Ok(chunksize)
}

/// How many chunks of an `imap` may be submitted and not yet consumed, by default.
pub(crate) fn default_window(processes: usize) -> usize {
    (processes * 64).max(256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunksize_follows_python() {
        // Python: chunksize, extra = divmod(len, 4 * processes); if extra: chunksize += 1
        assert_eq!(default_chunksize(1_000_000, 2), 125_000);
        assert_eq!(default_chunksize(10, 4), 1);
        assert_eq!(default_chunksize(100, 4), 7);
        assert_eq!(default_chunksize(0, 4), 1);
        assert!(checked_chunksize(0).is_err());
    }
}
