//! [`Imap`]: the lazy results of `imap` and `imap_unordered`, as an iterator and as a stream.

use crate::chunk_stream::{Arrival, ChunkStream};
use crate::core::{CallSettings, Core, Target};
use crate::error::{PoolError, TaskInfo};
use crate::options::{Progress, ProgressHook};
use crate::sink::Sink;
use procvisor_wire::Payload;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Takes the next chunk off the input: its length and its encoded items.
pub(crate) type NextChunk<'a> =
    Box<dyn FnMut() -> Option<(usize, Result<Payload, PoolError>)> + Send + 'a>;

/// The results of [`Pool::imap`](crate::Pool::imap) (in input order) or
/// [`Pool::imap_unordered`](crate::Pool::imap_unordered) (in the order they finish).
///
/// It is lazy and bounded: it takes items from the input only to keep a window of chunks
/// submitted and not yet consumed (by default 64 per worker, at least 256; see
/// [`Tasks::window`](crate::Tasks::window)), so an endless input never fills memory and the
/// workers stay busy while you consume. (Python's `imap` reads its whole input at once, unless
/// given `buffersize`, new in 3.16.)
///
/// Every input item yields exactly one result: a chunk that failed (a panic, a lost worker)
/// yields its error once for each of its items, so counting results always counts inputs.
///
/// It is an [`Iterator`], and a [`Stream`](futures_core::Stream) for async code.
pub struct Imap<'a, R> {
    core: Core,
    target: Target,
    settings: CallSettings,
    next_chunk: Option<NextChunk<'a>>,
    ordered: bool,
    window: usize,
    stream: Arc<ChunkStream>,
    submitted: u64,
    consumed: u64,
    next_item: usize,
    chunk_items: HashMap<u64, Range<usize>>,
    /// Chunks that finished before their turn (ordered only).
    early: BTreeMap<u64, Result<Payload, PoolError>>,
    next_part: u64,
    current: VecDeque<Result<R, PoolError>>,
    done: u64,
    total: Option<u64>,
    progress: Option<ProgressHook>,
    /// Counted in the pool's open streams (input left to read).
    open: bool,
    /// Whether it may go on submitting after the pool is closed (a pool's own `imap`; an
    /// executor's `map` may not, as Python's executor takes no calls after `shutdown`).
    after_close: bool,
}

impl<R> fmt::Debug for Imap<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Imap")
            .field("target", &self.target.short)
            .field("ordered", &self.ordered)
            .field("submitted_chunks", &self.submitted)
            .field("consumed_chunks", &self.consumed)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl<'a, R: DeserializeOwned> Imap<'a, R> {
    #[allow(clippy::too_many_arguments, reason = "one internal constructor")]
    pub(crate) fn new(
        core: Core,
        target: Target,
        settings: CallSettings,
        next_chunk: NextChunk<'a>,
        ordered: bool,
        window: usize,
        total: Option<u64>,
        progress: Option<ProgressHook>,
    ) -> Self {
        let mut imap = Imap {
            core,
            target,
            settings,
            next_chunk: Some(next_chunk),
            ordered,
            window,
            stream: ChunkStream::new(),
            submitted: 0,
            consumed: 0,
            next_item: 0,
            chunk_items: HashMap::new(),
            early: BTreeMap::new(),
            next_part: 0,
            current: VecDeque::new(),
            done: 0,
            total,
            progress,
            open: true,
            after_close: true,
        };
        imap.core
            .shared
            .open_streams
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        imap.refill();
        imap
    }

    /// Submits chunks until the window is full or the input is exhausted.
    fn refill(&mut self) {
        let Some(next_chunk) = self.next_chunk.as_mut() else {
            return;
        };
        // Refilled once half the window is free, so that chunks go to the router in batches
        // rather than one message per chunk consumed.
        let outstanding = self.submitted - self.consumed;
        if outstanding > 0 && outstanding > (self.window / 2) as u64 {
            return;
        }
        let mut jobs = Vec::new();
        while self.submitted - self.consumed < self.window as u64 {
            let Some((len, encoded)) = next_chunk() else {
                self.next_chunk = None;
                break;
            };
            // (`close_stream` runs below once the input is done.)
            let part = self.submitted;
            self.submitted += 1;
            let range = self.next_item..self.next_item + len;
            self.next_item += len;
            self.chunk_items.insert(part, range.clone());
            match encoded {
                Ok(args) => jobs.push(self.core.job(
                    &self.target,
                    args,
                    self.stream.clone(),
                    part,
                    Some(range),
                    &self.settings,
                )),
                // Reported in its turn, like a failed task.
                Err(error) => self.stream.clone().deliver(part, Err(error)),
            }
        }
        let submitted = if jobs.is_empty() {
            Ok(())
        } else if self.after_close {
            self.core.submit_continued(jobs)
        } else {
            self.core.submit(jobs)
        };
        if submitted.is_err() {
            // Each job's chunk got the error; read no further.
            self.next_chunk = None;
        }
        if self.next_chunk.is_none() {
            self.close_stream();
        }
    }

    fn exhausted(&self) -> bool {
        self.next_chunk.is_none() && self.consumed == self.submitted && self.current.is_empty()
    }

    /// Turns a finished chunk into one result per item.
    fn absorb(&mut self, (part, outcome): Arrival) {
        self.consumed += 1;
        if self.ordered {
            self.next_part = part + 1;
        }
        let range = self.chunk_items.remove(&part).unwrap_or(0..0);
        let count = range.len();
        let error = match outcome {
            Ok(payload) => match payload.decode::<Vec<R>>() {
                Ok(values) => {
                    self.current.extend(values.into_iter().map(Ok));
                    None
                }
                Err(e) => Some(PoolError::Result {
                    task: TaskInfo {
                        id: 0,
                        target: self.target.short.clone(),
                        items: Some(range.clone()),
                        attempts: 1,
                    },
                    message: e.to_string(),
                }),
            },
            Err(error) => Some(error),
        };
        if let Some(error) = error {
            self.current
                .extend(std::iter::repeat_n(error, count).map(Err));
        }
        self.done += count as u64;
        if let Some(hook) = &self.progress {
            hook(Progress {
                done: self.done,
                total: self.total,
            });
        }
    }

    /// The next chunk in turn, waiting until `deadline`.
    fn next_arrival(&mut self, deadline: Option<Instant>) -> Option<Arrival> {
        if !self.ordered {
            return self.stream.next(deadline);
        }
        loop {
            if let Some(outcome) = self.early.remove(&self.next_part) {
                return Some((self.next_part, outcome));
            }
            let (part, outcome) = self.stream.next(deadline)?;
            self.early.insert(part, outcome);
        }
    }

    fn next_until(&mut self, deadline: Option<Instant>) -> Option<Result<R, PoolError>> {
        loop {
            if let Some(item) = self.current.pop_front() {
                return Some(item);
            }
            self.refill();
            if self.exhausted() {
                return None;
            }
            match self.next_arrival(deadline) {
                Some(arrival) => self.absorb(arrival),
                None => return Some(Err(PoolError::Timeout)),
            }
        }
    }

    /// The next result, waiting at most `timeout`: Python's `IMapIterator.next(timeout)`.
    /// `Some(Err(PoolError::Timeout))` when nothing arrived in time (nothing is lost; call again).
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<R, PoolError>> {
        self.next_until(Instant::now().checked_add(timeout))
    }
}

impl<R: DeserializeOwned> Iterator for Imap<'_, R> {
    type Item = Result<R, PoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_until(None)
    }
}

impl<R: DeserializeOwned> futures_core::Stream for Imap<'_, R> {
    type Item = Result<R, PoolError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(item) = this.current.pop_front() {
                return Poll::Ready(Some(item));
            }
            this.refill();
            if this.exhausted() {
                return Poll::Ready(None);
            }
            if this.ordered {
                if let Some(outcome) = this.early.remove(&this.next_part) {
                    let part = this.next_part;
                    this.absorb((part, outcome));
                    continue;
                }
            }
            match this.stream.poll_next(cx.waker()) {
                Some((part, outcome)) if this.ordered && part != this.next_part => {
                    this.early.insert(part, outcome);
                }
                Some(arrival) => this.absorb(arrival),
                None => return Poll::Pending,
            }
        }
    }
}

impl<R> Unpin for Imap<'_, R> {}

impl<R> Imap<'_, R> {
    /// Makes it an executor's map: it no longer keeps a closing pool open, and submits
    /// nothing once the pool is closed (the input's rest fails with [`PoolError::NotRunning`]).
    pub(crate) fn stop_at_close(mut self) -> Self {
        self.after_close = false;
        self.close_stream();
        self
    }

    /// The input is done (or abandoned): a closing pool need not wait for this `Imap` any more.
    fn close_stream(&mut self) {
        if std::mem::replace(&mut self.open, false) {
            self.core
                .shared
                .open_streams
                .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
            let _ = self
                .core
                .router
                .send_message(crate::router::RouterMessage::StreamEnded);
        }
    }
}

impl<R> Drop for Imap<'_, R> {
    fn drop(&mut self) {
        self.close_stream();
    }
}
