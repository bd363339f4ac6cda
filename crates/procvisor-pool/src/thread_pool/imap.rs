//! [`ThreadImap`]: the lazy results of a thread pool's `imap` and `imap_unordered`.

use super::workers::{Skip, Work, Workers};
use crate::error::{PoolError, TaskInfo};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

/// One chunk's results, by position.
type Arrival<R> = (usize, Vec<Result<R, PoolError>>);

/// The results of [`ThreadPool::imap`](super::ThreadPool::imap) (in input order) or
/// [`ThreadPool::imap_unordered`](super::ThreadPool::imap_unordered) (as they finish).
///
/// Lazy and bounded as a process pool's [`Imap`](crate::Imap): it reads the input only to keep
/// a window of chunks queued, so an endless input never fills memory. Every input item yields
/// exactly one result.
pub struct ThreadImap<'a, T, R> {
    workers: Arc<Workers>,
    input: Box<dyn Iterator<Item = T> + 'a>,
    input_done: bool,
    run: Arc<dyn Fn(T) -> R + Send + Sync>,
    chunksize: usize,
    window: usize,
    ordered: bool,
    sender: Sender<Arrival<R>>,
    arrivals: Receiver<Arrival<R>>,
    submitted: usize,
    consumed: usize,
    early: BTreeMap<usize, Vec<Result<R, PoolError>>>,
    current: std::vec::IntoIter<Result<R, PoolError>>,
}

impl<T, R> fmt::Debug for ThreadImap<'_, T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadImap")
            .field("ordered", &self.ordered)
            .field("submitted_chunks", &self.submitted)
            .field("consumed_chunks", &self.consumed)
            .finish()
    }
}

impl<'a, T: Send + 'static, R: Send + 'static> ThreadImap<'a, T, R> {
    pub(crate) fn new(
        workers: Arc<Workers>,
        input: Box<dyn Iterator<Item = T> + 'a>,
        run: Arc<dyn Fn(T) -> R + Send + Sync>,
        chunksize: usize,
        ordered: bool,
    ) -> ThreadImap<'a, T, R> {
        let (sender, arrivals) = channel();
        let window = (workers.threads * 4).max(16);
        ThreadImap {
            workers,
            input,
            input_done: false,
            run,
            chunksize,
            window,
            ordered,
            sender,
            arrivals,
            submitted: 0,
            consumed: 0,
            early: BTreeMap::new(),
            current: Vec::new().into_iter(),
        }
    }

    /// Queues chunks until the window is full or the input ends.
    fn refill(&mut self) {
        let mut work: Vec<Work> = Vec::new();
        while !self.input_done && self.submitted - self.consumed < self.window {
            let chunk: Vec<T> = self.input.by_ref().take(self.chunksize).collect();
            if chunk.is_empty() {
                self.input_done = true;
                break;
            }
            let position = self.submitted;
            self.submitted += 1;
            let run = self.run.clone();
            let sender = self.sender.clone();
            work.push(Box::new(move |skip: Option<Skip>| {
                let len = chunk.len();
                let results: Vec<Result<R, PoolError>> = match skip {
                    None => chunk
                        .into_iter()
                        .map(|item| super::guarded(|| run(item), position))
                        .collect(),
                    Some(skip) => (0..len)
                        .map(|_| Err(super::skipped(skip, position)))
                        .collect(),
                };
                let _ = sender.send((position, results));
            }));
        }
        if !work.is_empty() && self.workers.push(work).is_err() {
            // Each chunk was told; read no further.
            self.input_done = true;
        }
    }

    fn next_arrival(&mut self, deadline: Option<Instant>) -> Option<Result<Arrival<R>, ()>> {
        if self.ordered {
            if let Some(results) = self.early.remove(&self.consumed) {
                return Some(Ok((self.consumed, results)));
            }
        }
        loop {
            let arrival = match deadline {
                None => self.arrivals.recv().ok()?,
                Some(deadline) => {
                    match self
                        .arrivals
                        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                    {
                        Ok(arrival) => arrival,
                        Err(RecvTimeoutError::Timeout) => return Some(Err(())),
                        Err(RecvTimeoutError::Disconnected) => return None,
                    }
                }
            };
            if !self.ordered || arrival.0 == self.consumed {
                return Some(Ok(arrival));
            }
            self.early.insert(arrival.0, arrival.1);
        }
    }

    fn next_until(&mut self, deadline: Option<Instant>) -> Option<Result<R, PoolError>> {
        loop {
            if let Some(item) = self.current.next() {
                return Some(item);
            }
            self.refill();
            if self.input_done && self.consumed == self.submitted {
                return None;
            }
            match self.next_arrival(deadline)? {
                Ok((_, results)) => {
                    self.consumed += 1;
                    self.current = results.into_iter();
                }
                Err(()) => return Some(Err(PoolError::Timeout)),
            }
        }
    }

    /// The next result, waiting at most `timeout`; `Some(Err(PoolError::Timeout))` when
    /// nothing arrived in time (nothing is lost; call again).
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<R, PoolError>> {
        self.next_until(Instant::now().checked_add(timeout))
    }
}

impl<T: Send + 'static, R: Send + 'static> Iterator for ThreadImap<'_, T, R> {
    type Item = Result<R, PoolError>;

    fn next(&mut self) -> Option<Result<R, PoolError>> {
        self.next_until(None)
    }
}

/// Names the chunk at `position` in an error (a thread pool's calls have no target name).
pub(crate) fn chunk_info(position: usize) -> TaskInfo {
    TaskInfo {
        id: position as u64,
        target: "closure".into(),
        items: None,
        attempts: 1,
    }
}
