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

/// About how many encoded bytes a default chunk holds.
const CHUNK_BYTES: usize = 128 * 1024;
/// The same for a pool across hosts: each chunk is a message through the cluster's servers,
/// which cost more per message than a local pipe, so chunks are larger.
const REMOTE_CHUNK_BYTES: usize = 1024 * 1024;
/// The first chunk of a default `map`, whose encoded size sets the others'.
const PROBE_ITEMS: usize = 1024;

/// The sizes of a `map`'s chunks.
///
/// Given by the caller, a chunk size is used as is. By default it is Python's (about four chunks
/// per worker), but no larger than about [`CHUNK_BYTES`] encoded: the first chunk is small, and
/// its encoded size per item sets the size of the others. Python's formula alone makes chunks
/// of megabytes on large inputs, which cost more in page faults and idle workers (the first
/// results wait for the whole first chunk) than their fewer messages save; capped, a `map` of a
/// million integers went from 23 to 16 ns per item on the benchmark machine.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chunker {
    next: usize,
    /// The encoded size of an item, once a chunk has shown it.
    item_bytes: Option<usize>,
    /// The largest default size (Python's); `None` for a size given by the caller.
    adapt_up_to: Option<usize>,
    /// The encoded size a default chunk aims at.
    budget: usize,
}

impl Chunker {
    pub(crate) fn new(
        given: Option<usize>,
        items: usize,
        processes: usize,
    ) -> Result<Chunker, PoolError> {
        Ok(match given {
            Some(size) => Chunker {
                next: checked_chunksize(size)?,
                item_bytes: None,
                adapt_up_to: None,
                budget: CHUNK_BYTES,
            },
            None => {
                let python = default_chunksize(items, processes);
                Chunker {
                    next: python.min(PROBE_ITEMS),
                    item_bytes: None,
                    adapt_up_to: Some(python),
                    budget: CHUNK_BYTES,
                }
            }
        })
    }

    /// Aims default chunks at the size that suits a pool across hosts.
    pub(crate) fn for_remote(mut self) -> Chunker {
        self.budget = REMOTE_CHUNK_BYTES;
        self
    }

    /// The size of the next chunk.
    pub(crate) fn next_size(&self) -> usize {
        self.next
    }

    /// About how many bytes the next chunk encodes to (0 before the first): room to encode it
    /// into. A little over, so that a chunk a few bytes larger than the last does not grow.
    pub(crate) fn expected_bytes(&self) -> usize {
        self.item_bytes.map_or(0, |each| {
            each.saturating_mul(self.next).saturating_add(64) / 16 * 17
        })
    }

    /// Learns from a chunk of `items` items that encoded to `bytes` bytes.
    pub(crate) fn encoded(&mut self, items: usize, bytes: usize) {
        let per_item = (bytes / items.max(1)).max(1);
        self.item_bytes = Some(per_item);
        if let Some(python) = self.adapt_up_to.take() {
            self.next = (self.budget / per_item).clamp(1, python);
        }
    }
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

    #[test]
    fn default_chunks_stay_near_their_byte_budget() {
        // A million 8-byte integers on 2 workers: Python would cut 125000-item chunks.
        let mut chunker = Chunker::new(None, 1_000_000, 2).unwrap();
        assert_eq!(chunker.next_size(), PROBE_ITEMS);
        chunker.encoded(PROBE_ITEMS, PROBE_ITEMS * 8 + 8);
        assert_eq!(chunker.next_size(), CHUNK_BYTES / 8);
        // Small inputs keep Python's size.
        let mut small = Chunker::new(None, 10, 4).unwrap();
        assert_eq!(small.next_size(), 1);
        small.encoded(1, 16);
        assert_eq!(small.next_size(), 1);
        // Huge items: one per chunk.
        let mut huge = Chunker::new(None, 100, 1).unwrap();
        huge.encoded(huge.next_size(), 25 * 1024 * 1024);
        assert_eq!(huge.next_size(), 1);
        // A size given by the caller is kept.
        let mut given = Chunker::new(Some(7), 1_000_000, 2).unwrap();
        given.encoded(7, 7_000_000);
        assert_eq!(given.next_size(), 7);
        assert!(Chunker::new(Some(0), 10, 1).is_err());
    }

    #[test]
    fn the_room_for_a_chunk_covers_what_the_last_one_took() {
        let mut chunker = Chunker::new(None, 1_000_000, 2).unwrap();
        assert_eq!(
            chunker.expected_bytes(),
            0,
            "nothing to go by before a chunk"
        );
        chunker.encoded(PROBE_ITEMS, PROBE_ITEMS * 8 + 8);
        let room = chunker.expected_bytes();
        let next = chunker.next_size() * 8 + 8;
        assert!(
            (next..next + next / 8).contains(&room),
            "room for {room} bytes, the next chunk takes {next}"
        );
    }
}
