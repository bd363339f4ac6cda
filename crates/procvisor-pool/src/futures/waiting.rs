//! [`as_completed`] and [`wait`]: Python's module functions of `concurrent.futures`, over any
//! [`Completable`].
//!
//! Each watched call gets a waker of its own that, when its call finishes, puts its position
//! on a shared board; the waiting side sleeps on the board, never polls.

use super::completable::{Completable, Finished};
use crate::async_result::far_future;
use crate::error::PoolError;
use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// Where finished calls are posted, by position.
#[derive(Default)]
struct Board {
    state: Mutex<Posted>,
    changed: Condvar,
}

#[derive(Default)]
struct Posted {
    finished: VecDeque<usize>,
    task: Option<Waker>,
}

impl Board {
    fn lock(&self) -> MutexGuard<'_, Posted> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The waker of one watched call.
struct Slot {
    index: usize,
    board: Arc<Board>,
}

impl Wake for Slot {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let task = {
            let mut posted = self.board.lock();
            posted.finished.push_back(self.index);
            posted.task.take()
        };
        self.board.changed.notify_all();
        if let Some(task) = task {
            task.wake();
        }
    }
}

/// The calls being watched, and how each finished.
struct Watch<T> {
    items: Vec<Option<T>>,
    wakers: Vec<Waker>,
    finished: Vec<Option<Finished>>,
    board: Arc<Board>,
    /// Finished, in the order they finished, not yet handed out.
    ready: VecDeque<usize>,
    /// How many calls have not been handed out yet.
    left: usize,
    /// How many have finished, and how many of those failed.
    done: usize,
    failed: usize,
}

impl<T: Completable> Watch<T> {
    fn new(items: impl IntoIterator<Item = T>) -> Watch<T> {
        let board = Arc::new(Board::default());
        let items: Vec<Option<T>> = items.into_iter().map(Some).collect();
        let items_len = items.len();
        let wakers: Vec<Waker> = (0..items.len())
            .map(|index| {
                Waker::from(Arc::new(Slot {
                    index,
                    board: board.clone(),
                }))
            })
            .collect();
        let mut watch = Watch {
            finished: vec![None; items.len()],
            items,
            wakers,
            board,
            ready: VecDeque::new(),
            left: items_len,
            done: 0,
            failed: 0,
        };
        for index in 0..watch.items.len() {
            watch.check(index);
        }
        watch
    }

    /// Polls the call at `index` (registering its waker); records it once finished.
    fn check(&mut self, index: usize) {
        if self.finished[index].is_some() {
            return;
        }
        let Some(item) = &self.items[index] else {
            return;
        };
        if let Some(how) = item.poll_finished(&self.wakers[index]) {
            self.finished[index] = Some(how);
            self.done += 1;
            self.failed += usize::from(how == Finished::Failed);
            self.ready.push_back(index);
        }
    }

    /// Takes in what the board says has finished. Called without the board's lock: a call
    /// that finishes posts while holding its own lock, so polling it under the board's would
    /// take the two locks in the opposite order.
    fn collect(&mut self, indices: Vec<usize>) {
        for index in indices {
            self.check(index);
        }
    }

    /// Waits until something new is posted or `deadline` passes; false when it passed.
    fn wait_posted(&mut self, deadline: Option<Instant>) -> bool {
        let board = self.board.clone();
        let mut posted = board.lock();
        loop {
            if !posted.finished.is_empty() {
                let indices = posted.finished.drain(..).collect();
                drop(posted);
                self.collect(indices);
                return true;
            }
            match deadline {
                None => {
                    posted = board
                        .changed
                        .wait(posted)
                        .unwrap_or_else(|p| p.into_inner());
                }
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    posted = board
                        .changed
                        .wait_timeout(posted, deadline - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
    }

    /// The next finished call, waiting until `deadline`; `Err` when it passed first, `None`
    /// when every call has been handed out.
    fn next_until(&mut self, deadline: Option<Instant>) -> Option<Result<T, ()>> {
        loop {
            if let Some(index) = self.ready.pop_front() {
                self.left -= 1;
                return self.items[index].take().map(Ok);
            }
            if self.left == 0 {
                return None;
            }
            if !self.wait_posted(deadline) {
                return Some(Err(()));
            }
        }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        loop {
            if let Some(index) = self.ready.pop_front() {
                self.left -= 1;
                return Poll::Ready(self.items[index].take());
            }
            if self.left == 0 {
                return Poll::Ready(None);
            }
            let indices = {
                let mut posted = self.board.lock();
                if posted.finished.is_empty() {
                    posted.task = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                posted.finished.drain(..).collect()
            };
            self.collect(indices);
        }
    }

    /// The calls not handed out yet, in input order.
    fn remaining(self) -> Vec<T> {
        self.items.into_iter().flatten().collect()
    }
}

/// The calls of [`as_completed`], in the order they finish.
///
/// An iterator (blocking) and a stream (async). Calls that had finished before are handed out
/// first.
pub struct AsCompleted<T> {
    watch: Watch<T>,
}

impl<T> fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("left", &self.watch.left)
            .finish()
    }
}

/// Hands out `calls` as they finish: Python's `concurrent.futures.as_completed(fs)`. Works
/// over [`Future`](super::Future)s, [`AsyncResult`](crate::AsyncResult)s or references to
/// them; a call handed out is finished, so its result is there without waiting.
///
/// ```
/// use procvisor_pool::futures::{ProcessPoolExecutor, as_completed};
///
/// fn square(x: i64) -> i64 {
///     x * x
/// }
/// procvisor_runtime::register!(square);
///
/// let executor = ProcessPoolExecutor::new(2)?;
/// let futures = (1..=4)
///     .map(|x| executor.submit(square, (x,)))
///     .collect::<Result<Vec<_>, _>>()?;
/// let mut squares: Vec<i64> = as_completed(&futures)
///     .map(|future| future.result())
///     .collect::<Result<_, _>>()?;
/// squares.sort();
/// assert_eq!(squares, [1, 4, 9, 16]);
/// # Ok::<(), procvisor_pool::PoolError>(())
/// ```
pub fn as_completed<T: Completable>(calls: impl IntoIterator<Item = T>) -> AsCompleted<T> {
    AsCompleted {
        watch: Watch::new(calls),
    }
}

impl<T: Completable> AsCompleted<T> {
    /// The calls not handed out yet, in input order.
    pub fn remaining(self) -> Vec<T> {
        self.watch.remaining()
    }
}

impl<T: Completable> Iterator for AsCompleted<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        // Without a deadline, only `Ok` comes back.
        self.watch.next_until(None).and_then(Result::ok)
    }
}

impl<T: Completable + Unpin> futures_core::Stream for AsCompleted<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().watch.poll_next(cx)
    }
}

/// The calls of [`as_completed_timeout`]: each as it finishes, then
/// `Err(`[`PoolError::Timeout`]`)` once if the time runs out first.
pub struct AsCompletedTimeout<T> {
    watch: Watch<T>,
    deadline: Instant,
    timed_out: bool,
}

impl<T> fmt::Debug for AsCompletedTimeout<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompletedTimeout")
            .field("left", &self.watch.left)
            .field("timed_out", &self.timed_out)
            .finish()
    }
}

/// [`as_completed`] with Python's `timeout`: counted from this call, the time for every call to
/// finish. When it runs out, the iterator yields [`PoolError::Timeout`] and ends; the calls
/// left are in [`remaining`](AsCompletedTimeout::remaining) (they go on).
///
/// ```
/// use procvisor_pool::futures::{ProcessPoolExecutor, as_completed_timeout};
/// use std::time::Duration;
///
/// fn square(x: i64) -> i64 {
///     x * x
/// }
/// procvisor_runtime::register!(square);
///
/// let executor = ProcessPoolExecutor::new(2)?;
/// let futures = vec![executor.submit(square, (3,))?];
/// for future in as_completed_timeout(&futures, Duration::from_secs(30)) {
///     assert_eq!(future?.result()?, 9);
/// }
/// # Ok::<(), procvisor_pool::PoolError>(())
/// ```
pub fn as_completed_timeout<T: Completable>(
    calls: impl IntoIterator<Item = T>,
    timeout: Duration,
) -> AsCompletedTimeout<T> {
    AsCompletedTimeout {
        watch: Watch::new(calls),
        deadline: Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(far_future),
        timed_out: false,
    }
}

impl<T: Completable> AsCompletedTimeout<T> {
    /// The calls not handed out yet, in input order.
    pub fn remaining(self) -> Vec<T> {
        self.watch.remaining()
    }
}

impl<T: Completable> Iterator for AsCompletedTimeout<T> {
    type Item = Result<T, PoolError>;

    fn next(&mut self) -> Option<Result<T, PoolError>> {
        if self.timed_out {
            return None;
        }
        match self.watch.next_until(Some(self.deadline))? {
            Ok(call) => Some(Ok(call)),
            Err(()) => {
                self.timed_out = true;
                Some(Err(PoolError::Timeout))
            }
        }
    }
}

/// When [`wait`] returns: Python's `FIRST_COMPLETED`, `FIRST_EXCEPTION` and `ALL_COMPLETED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReturnWhen {
    /// As soon as any call finishes (or is cancelled).
    FirstCompleted,
    /// As soon as any call fails; when none fails, once all have finished. A cancelled call
    /// is not a failure, as in Python.
    FirstException,
    /// Once every call has finished.
    #[default]
    AllCompleted,
}

/// What [`wait`] found: the finished calls and the others, each in input order (Python's
/// `DoneAndNotDoneFutures`).
#[derive(Debug)]
pub struct Done<T> {
    /// Finished (returned, failed or cancelled).
    pub done: Vec<T>,
    /// Not finished when `wait` returned.
    pub not_done: Vec<T>,
}

/// Waits for `calls` until `return_when` holds: Python's `concurrent.futures.wait(fs,
/// return_when=...)`.
///
/// ```
/// use procvisor_pool::futures::{ProcessPoolExecutor, ReturnWhen, wait};
///
/// fn square(x: i64) -> i64 {
///     x * x
/// }
/// procvisor_runtime::register!(square);
///
/// let executor = ProcessPoolExecutor::new(2)?;
/// let futures = vec![executor.submit(square, (2,))?, executor.submit(square, (3,))?];
/// let finished = wait(&futures, ReturnWhen::AllCompleted);
/// assert_eq!(finished.done.len(), 2);
/// assert!(finished.not_done.is_empty());
/// # Ok::<(), procvisor_pool::PoolError>(())
/// ```
pub fn wait<T: Completable>(
    calls: impl IntoIterator<Item = T>,
    return_when: ReturnWhen,
) -> Done<T> {
    wait_until(calls, None, return_when)
}

/// [`wait`], at most `timeout` (Python's `wait(fs, timeout, return_when)`): when it passes,
/// returns what has finished so far.
pub fn wait_timeout<T: Completable>(
    calls: impl IntoIterator<Item = T>,
    timeout: Duration,
    return_when: ReturnWhen,
) -> Done<T> {
    let deadline = Instant::now()
        .checked_add(timeout)
        .unwrap_or_else(far_future);
    wait_until(calls, Some(deadline), return_when)
}

/// Async twin of [`wait`], on any executor.
pub async fn wait_async<T: Completable + Unpin>(
    calls: impl IntoIterator<Item = T>,
    return_when: ReturnWhen,
) -> Done<T> {
    let mut watch = Watch::new(calls);
    std::future::poll_fn(|cx| {
        loop {
            if satisfied(&watch, return_when) {
                return Poll::Ready(());
            }
            let indices = {
                let mut posted = watch.board.lock();
                if posted.finished.is_empty() {
                    posted.task = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                posted.finished.drain(..).collect()
            };
            watch.collect(indices);
        }
    })
    .await;
    split(watch)
}

fn wait_until<T: Completable>(
    calls: impl IntoIterator<Item = T>,
    deadline: Option<Instant>,
    return_when: ReturnWhen,
) -> Done<T> {
    let mut watch = Watch::new(calls);
    while !satisfied(&watch, return_when) {
        if !watch.wait_posted(deadline) {
            break;
        }
    }
    split(watch)
}

fn satisfied<T>(watch: &Watch<T>, return_when: ReturnWhen) -> bool {
    let all = watch.done == watch.finished.len();
    match return_when {
        ReturnWhen::FirstCompleted => all || watch.done > 0,
        ReturnWhen::FirstException => all || watch.failed > 0,
        ReturnWhen::AllCompleted => all,
    }
}

fn split<T>(watch: Watch<T>) -> Done<T> {
    let mut done = Vec::new();
    let mut not_done = Vec::new();
    for (item, finished) in watch.items.into_iter().zip(watch.finished) {
        let Some(item) = item else { continue };
        match finished {
            Some(_) => done.push(item),
            None => not_done.push(item),
        }
    }
    Done { done, not_done }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::async_result::{AsyncResult, decode_one};
    use crate::callbacks::CallbackRunner;
    use crate::completion::Completion;
    use crate::error::TaskInfo;
    use procvisor_wire::Payload;

    fn results(n: usize) -> Vec<AsyncResult<u32>> {
        let runner = CallbackRunner::new();
        (0..n)
            .map(|i| {
                let info = TaskInfo {
                    id: i as u64,
                    target: "test".into(),
                    items: None,
                    attempts: 1,
                };
                AsyncResult::new(Completion::new(1, runner.clone()), decode_one::<u32>, info)
            })
            .collect()
    }

    fn finish(result: &AsyncResult<u32>, value: u32) {
        let payload = Payload::encode(&vec![value]).unwrap();
        result.completion().accept(0, Ok(payload));
    }

    /// Calls finishing on another thread while the waiting side takes them in, each call
    /// watched twice (Python's test_duplicate_futures): a lock order that once deadlocked here.
    /// A finishing call holds its own lock while it wakes its two watchers (each takes the
    /// board's lock); the waiting side, woken by the first, polled that call under the board's.
    #[test]
    fn calls_finishing_while_they_are_taken_in_never_deadlock() {
        for _ in 0..50 {
            let calls = Arc::new(results(200));
            let finisher = {
                let calls = calls.clone();
                std::thread::spawn(move || {
                    for (i, call) in calls.iter().enumerate() {
                        finish(call, i as u32);
                    }
                })
            };
            let mut seen: Vec<u32> = as_completed(calls.iter().chain(calls.iter()))
                .map(|call| call.get().unwrap())
                .collect();
            finisher.join().unwrap();
            seen.sort_unstable();
            let expected: Vec<u32> = (0..200).flat_map(|i| [i, i]).collect();
            assert_eq!(seen, expected);
        }
    }

    #[test]
    fn wait_returns_as_its_condition_says() {
        let calls = results(3);
        let got = wait_timeout(
            &calls,
            Duration::from_millis(10),
            ReturnWhen::FirstCompleted,
        );
        assert_eq!(
            (got.done.len(), got.not_done.len()),
            (0, 3),
            "nothing finished"
        );
        finish(&calls[1], 1);
        let got = wait(&calls, ReturnWhen::FirstCompleted);
        assert_eq!(got.done[0].get().unwrap(), 1);
        calls[2].completion().accept(0, Err(PoolError::NotRunning));
        let got = wait(&calls, ReturnWhen::FirstException);
        assert_eq!((got.done.len(), got.not_done.len()), (2, 1));
        finish(&calls[0], 0);
        let got = wait(&calls, ReturnWhen::AllCompleted);
        assert_eq!(got.done.len(), 3);
    }

    #[test]
    fn as_completed_timeout_yields_the_finished_then_times_out() {
        let calls = results(2);
        finish(&calls[1], 7);
        let mut items = as_completed_timeout(&calls, Duration::from_millis(20));
        assert_eq!(items.next().unwrap().unwrap().get().unwrap(), 7);
        assert!(matches!(items.next(), Some(Err(PoolError::Timeout))));
        assert!(items.next().is_none());
        assert_eq!(items.remaining().len(), 1);
    }
}
