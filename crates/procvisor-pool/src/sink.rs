//! Where the router puts a task's outcome.

use crate::error::PoolError;
use procvisor_wire::Payload;
use std::sync::Arc;

/// The receiving end of one or more tasks: a [`Completion`](crate::completion::Completion) for
/// `apply_async` and `map_async`, a [`ChunkStream`](crate::chunk_stream::ChunkStream) for `map`
/// and `imap`. Each task is one `part` of its sink.
///
/// `deliver` runs on the router: it stores and wakes, and never blocks.
pub(crate) trait Sink: Send + Sync {
    fn deliver(self: Arc<Self>, part: u64, outcome: Result<Payload, PoolError>);
}
