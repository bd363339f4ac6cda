//! [`Queue`], [`SimpleQueue`] and [`JoinableQueue`]: typed FIFO queues between processes.
//!
//! # How it works
//!
//! A queue is a byte ring in shared memory. Producers take turns under a producer lock and
//! consumers under a consumer lock, so between them the ring is single-producer,
//! single-consumer: a put is one encode, one copy into the ring and one atomic publish; a get
//! is the reverse. No pipe, no feeder thread: [`put`](Queue::put) returns once the item is in
//! the queue's shared memory, visible to every consumer, so there is nothing to flush at exit
//! and no "joining processes that use queues" deadlock.
//!
//! A message longer than the ring (or than the 1 GiB a record header can describe) streams
//! through it in fragments (the producer writes while a consumer reads).
//!
//! # A process that dies in the middle
//!
//! Both locks are robust, and every change a put or a get makes to the shared counts is
//! recorded so that whoever takes its lock over after its death can tell exactly how far it
//! got and finish or undo it:
//!
//! - A put counts its item (in `put`, and in `unfinished` for a [`JoinableQueue`]) with a
//!   [`PRODUCING`] mark in the same atomic operation, and publishes each record after noting
//!   where the record ends in `journal`. A producer that dies before its last record is out
//!   leaves a mark whose item is dropped from the counts; if part of its message was
//!   published, an `ABORT` record (written at once if there is room, else by the next put)
//!   tells consumers to drop what they saw of it.
//! - A get counts the item as taken (in `taken`) with a [`CONSUMING`] mark in one atomic
//!   operation, after noting
//!   in `take_from` where the item's last record starts, and removes that record afterwards: a
//!   consumer that dies between the two leaves a mark, and the record's presence at the head
//!   says whether to count the item back. Removing a fragment of a long message sets
//!   [`CONTINUES`] in the head, so the next consumer knows to skip the rest of a message whose
//!   consumer died.
//! - The repair happens when the next producer or consumer takes the lock over, and also,
//!   without waiting, whenever [`qsize`](Queue::qsize), [`empty`](Queue::empty),
//!   [`full`](Queue::full) or [`JoinableQueue::join`] look at the counts, and when a consumer
//!   in the middle of a long message finds its producer dead.
//!
//! A message is only removed from the ring once it has been copied out, so a consumer killed
//! between messages loses nothing.

use crate::futex::{self, AtomicU32, AtomicU64, Ordering, Wake};
use crate::raw_lock::{Acquired, LIVENESS_CHECK, RawLock, my_pid, process_alive};
use crate::shared::{Kind, STATE_OFFSET, Shared, type_tag};
use procvisor_wire::codec::{self, CodecError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// The default ring size: 256 KiB of shared memory (only the pages used become resident).
pub const DEFAULT_QUEUE_BYTES: usize = 256 << 10;

const HEADER: u64 = 8;
const MORE: u32 = 1 << 31;
const ABORT: u32 = 1 << 30;
const LEN_MASK: u32 = ABORT - 1;
/// The longest payload one record carries (its header has 30 bits of length); longer messages
/// stream in fragments of at most this.
const MAX_RECORD: u64 = LEN_MASK as u64 & !7;

// Tests lower the record limit to exercise it without gigabytes of memory.
#[cfg(test)]
thread_local! {
    static TEST_MAX_RECORD: std::cell::Cell<u64> = const { std::cell::Cell::new(MAX_RECORD) };
}

fn max_record() -> u64 {
    #[cfg(test)]
    return TEST_MAX_RECORD.with(|m| m.get());
    #[cfg(not(test))]
    MAX_RECORD
}
/// How long a consumer or producer polls before sleeping (see `procvisor_wire::DEFAULT_SPIN`).
const SPIN: Duration = Duration::from_micros(50);

/// A wait's polling window: [`SPIN`] from the first time it finds it must wait. The clock is
/// read only then, so a put or a get that does not wait (the usual case) never reads it; a
/// producer would read it under the producers' lock, which every other producer waits for.
struct Polling {
    spin: bool,
    until: Option<Instant>,
}

impl Polling {
    fn new(spin: bool) -> Polling {
        Polling { spin, until: None }
    }

    /// Whether to look again (after yielding the CPU) rather than sleep.
    fn again(&mut self) -> bool {
        if !self.spin {
            return false;
        }
        let now = Instant::now();
        now < *self.until.get_or_insert(now + SPIN)
    }
}
/// How long `put_nowait` and `get_nowait` wait for another producer's put or consumer's get in
/// progress to finish and release its lock.
const NOWAIT_LOCK_WAIT: Duration = Duration::from_millis(10);

/// In `put` and `unfinished`: the producer-lock holder counted an item it has not finished
/// publishing.
const PRODUCING: u64 = 1 << 63;
/// In `taken`: the consumer-lock holder counted an item whose last record it has not yet
/// removed from the ring.
const CONSUMING: u64 = 1 << 62;
/// The count in `put`, `taken` and `unfinished`, below the marks.
const COUNT: u64 = CONSUMING - 1;
/// In `head`: the record at the head continues a message whose beginning a consumer removed.
const CONTINUES: u64 = 1;
/// In `journal`: the record being published is not the message's last.
const JOURNAL_MORE: u64 = 1;
/// `journal` before a put has started its first record (never a tail: tails are multiples of
/// 8).
const NOTHING_PUBLISHED: u64 = 2;

fn count(word: u64) -> u64 {
    word & COUNT
}

/// Drops the item a producer counted in `word` with the [`PRODUCING`] mark, if the mark is
/// still there (so repeating it after a second death is harmless). Whether it did.
fn uncount_producing(word: &AtomicU64) -> bool {
    let mut current = word.load(Ordering::SeqCst);
    while current & PRODUCING != 0 {
        let dropped = (current & CONSUMING) | count(current).saturating_sub(1);
        match word.compare_exchange(current, dropped, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return true,
            Err(now) => current = now,
        }
    }
    false
}

// Tests stop a put or a get at a named point as if its process died there (the panic leaves
// the lock held; the test then gives it to a dead pid).
#[cfg(test)]
thread_local! {
    static CRASH_AT: std::cell::Cell<Option<(&'static str, u32)>> = const { std::cell::Cell::new(None) };
}

#[inline]
fn checkpoint(point: &'static str) {
    #[cfg(test)]
    CRASH_AT.with(|crash| {
        if let Some((at, skip)) = crash.get() {
            if at == point {
                if skip == 0 {
                    crash.set(None);
                    panic!("simulated death at {point}");
                }
                crash.set(Some((at, skip - 1)));
            }
        }
    });
    #[cfg(not(test))]
    let _ = point;
}

fn report_repair(what: &str) {
    tracing::warn!(
        target: "procvisor::sync",
        "a queue's {what} died in the middle of its operation; the queue was repaired"
    );
}

/// The queue's shared state, in groups that each have a cache line pair (128 bytes) to
/// themselves: what only producers write, what only consumers write, the tail, the head, the
/// item count. A put then moves no line that a get running beside it writes, and the reverse;
/// packed together, the two sides took turns at every line and an item cost several trips
/// between cores (four times the time on a machine whose cores are far apart).
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct QueueState {
    // Read-mostly: written once, or only by a side going to sleep or waking sleepers.
    capacity: AtomicU64,
    maxsize: AtomicU64,
    data_seq: AtomicU32,
    space_seq: AtomicU32,
    done_seq: AtomicU32,
    data_sleepers: AtomicU32,
    space_sleepers: AtomicU32,
    done_sleepers: AtomicU32,
    _read_mostly: Pad<24>,

    // Producers'.
    producer: RawLock,
    /// A dead producer's partly published message still needs its `ABORT` record.
    abort_owed: AtomicU32,
    /// The pid of the producer-lock holder while it sleeps for room, else 0 (stale if it died
    /// asleep: compare with the lock's owner).
    room_waiter: AtomicU32,
    _lock_words: AtomicU32,
    /// The tail when the put in progress began (producer-lock holder only).
    put_start: AtomicU64,
    /// Where the record the put in progress is publishing ends, plus [`JOURNAL_MORE`]; or
    /// [`NOTHING_PUBLISHED`] (producer-lock holder only).
    journal: AtomicU64,
    /// Items put and not yet marked done, plus the [`PRODUCING`] mark.
    unfinished: AtomicU64,
    /// Items ever put, plus the [`PRODUCING`] mark. The queue holds `put - taken` items: each
    /// side counts on its own line.
    put: AtomicU64,
    /// The head as producers last read it: the head only moves on, so room counted from it is
    /// there, and a put need not read the consumers' line while it finds room.
    head_seen: AtomicU64,
    _producers: Pad<72>,

    // Consumers'.
    consumer: RawLock,
    _lock_word: AtomicU32,
    /// Where the last record of the item being taken starts (consumer-lock holder only).
    take_from: AtomicU64,
    /// The tail as consumers last read it: records below it are there to read.
    tail_seen: AtomicU64,
    /// Items ever taken, plus the [`CONSUMING`] mark.
    taken: AtomicU64,
    _consumers: Pad<96>,

    /// Where producers write: a multiple of 8. Written by the producer-lock holder only.
    tail: AtomicU64,
    _tail: Pad<120>,

    /// Where consumers read: a multiple of 8, plus [`CONTINUES`]. Written by the consumer-lock
    /// holder only.
    head: AtomicU64,
    _head: Pad<120>,
}

impl QueueState {
    /// Items in the queue: counting an item being put, not one being taken.
    fn items(&self) -> u64 {
        // Taken first: an item is counted as put before it can be taken.
        let taken = count(self.taken.load(Ordering::SeqCst));
        count(self.put.load(Ordering::SeqCst)).saturating_sub(taken)
    }
}

/// Bytes that keep the next group of [`QueueState`] on a cache line pair of its own.
#[repr(C)]
struct Pad<const N: usize>([u8; N]);

impl<const N: usize> Default for Pad<N> {
    fn default() -> Self {
        Pad([0; N])
    }
}

impl<const N: usize> fmt::Debug for Pad<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("..")
    }
}

// Each group starts on a 128-byte boundary of the segment (the state lies at STATE_OFFSET).
// Not under loom, whose atomics are larger: there the layout changes speed only.
#[cfg(not(procvisor_loom))]
const _: () = {
    use std::mem::offset_of;
    let groups = [
        offset_of!(QueueState, producer),
        offset_of!(QueueState, consumer),
        offset_of!(QueueState, tail),
        offset_of!(QueueState, head),
    ];
    let mut i = 0;
    while i < groups.len() {
        assert!((STATE_OFFSET + groups[i]) % 128 == 0);
        i += 1;
    }
    assert!((STATE_OFFSET + std::mem::size_of::<QueueState>()) % 128 == 0);
};

/// Why a put did not enqueue the item. The item comes back in every case.
pub enum PutError<T> {
    /// The queue is at `maxsize` (or its ring is full) and the timeout passed.
    Full(T),
    /// This handle was closed.
    Closed(T),
    /// The item cannot be encoded (nothing was enqueued).
    Encode(T, CodecError),
    /// The item holds file descriptors (a `Connection`, another queue, shared memory), which
    /// cannot travel through a queue: pass them as process arguments or over a `Connection`.
    Descriptors(T),
}

impl<T> PutError<T> {
    /// The item that was not enqueued.
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full(v)
            | PutError::Closed(v)
            | PutError::Encode(v, _)
            | PutError::Descriptors(v) => v,
        }
    }

    /// Whether this is [`Full`](Self::Full).
    pub fn is_full(&self) -> bool {
        matches!(self, PutError::Full(_))
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("Full(..)"),
            PutError::Closed(_) => f.write_str("Closed(..)"),
            PutError::Encode(_, e) => f.debug_tuple("Encode").field(&"..").field(e).finish(),
            PutError::Descriptors(_) => f.write_str("Descriptors(..)"),
        }
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("the queue is full"),
            PutError::Closed(_) => f.write_str("the queue is closed"),
            PutError::Encode(_, e) => write!(f, "the item cannot be put: {e}"),
            PutError::Descriptors(_) => f.write_str(
                "the item holds file descriptors, which cannot travel through a queue; pass them as process arguments or over a Connection",
            ),
        }
    }
}

impl<T> std::error::Error for PutError<T> {}

/// Why a get returned no item.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GetError {
    /// The queue stayed empty until the timeout (Python's `queue.Empty`).
    #[error("the queue is empty")]
    Empty,
    /// This handle was closed.
    #[error("the queue is closed")]
    Closed,
    /// The message was not a valid encoding of the item type (it was consumed).
    #[error(transparent)]
    Decode(#[from] CodecError),
}

impl GetError {
    /// Whether this is [`Empty`](Self::Empty).
    pub fn is_empty(&self) -> bool {
        matches!(self, GetError::Empty)
    }
}

/// A multi-producer, multi-consumer FIFO queue between processes: Python's
/// `multiprocessing.Queue`, typed.
///
/// ```
/// use procvisor_sync::Queue;
///
/// let q: Queue<(i32, Option<i32>, String)> = Queue::new(0)?;
/// q.put((42, None, "hello".into()))?;
/// assert_eq!(q.get()?, (42, None, "hello".into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Items from one producer arrive in the order it put them; items from different producers
/// interleave. `maxsize` bounds the number of items (0: no bound but the ring's memory, which
/// a long item streams through). Use [`procvisor_wire::Object`] as `T` for Python-style mixed
/// items.
pub struct Queue<T> {
    shared: Shared<QueueState>,
    closed: Arc<AtomicBool>,
    _item: PhantomData<fn(T) -> T>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            closed: self.closed.clone(),
            _item: PhantomData,
        }
    }
}

fn ring_offset() -> usize {
    STATE_OFFSET + std::mem::size_of::<QueueState>().next_multiple_of(64)
}

fn padded(len: u64) -> u64 {
    len.next_multiple_of(8)
}

/// Takes `lock` for a nowait operation: waits up to [`NOWAIT_LOCK_WAIT`] for the put or get in
/// progress to release it (taking it over if its holder died), unless `pointless()` says that
/// waiting cannot help.
fn lock_briefly(lock: &RawLock, pointless: impl Fn() -> bool) -> Option<Acquired> {
    if lock.try_lock(my_pid()) {
        return Some(Acquired::Cleanly);
    }
    let until = Instant::now() + NOWAIT_LOCK_WAIT;
    loop {
        let now = Instant::now();
        if now >= until {
            return None;
        }
        // Slices of a millisecond: each ends with a check that the holder lives.
        let slice = (now + Duration::from_millis(1)).min(until);
        if let Some(acquired) = lock.lock(my_pid(), Some(slice)) {
            return Some(acquired);
        }
        if pointless() {
            return None;
        }
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// A queue of at most `maxsize` items (0: unbounded), with the default ring size.
    ///
    /// # Errors
    ///
    /// When the shared memory cannot be created.
    pub fn new(maxsize: usize) -> std::io::Result<Queue<T>> {
        Queue::with_capacity(maxsize, DEFAULT_QUEUE_BYTES)
    }

    /// A queue with a ring of `bytes` (rounded up to a power of two, at least 4 KiB). Items of
    /// any size go through any ring: one that does not fit streams through it.
    ///
    /// # Errors
    ///
    /// When the shared memory cannot be created (`bytes` too large for this machine, or
    /// above 2<sup>63</sup>).
    pub fn with_capacity(maxsize: usize, bytes: usize) -> std::io::Result<Queue<T>> {
        let capacity = bytes.max(4096).checked_next_power_of_two().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("a queue ring of {bytes} bytes is too large"),
            )
        })?;
        let extra = (ring_offset() - STATE_OFFSET - std::mem::size_of::<QueueState>())
            .checked_add(capacity)
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        let shared: Shared<QueueState> = Shared::create(Kind::Queue, extra, type_tag::<T>())?;
        shared
            .state()
            .capacity
            .store(capacity as u64, Ordering::Relaxed);
        shared.state().maxsize.store(
            if maxsize == 0 {
                u64::MAX
            } else {
                maxsize as u64
            },
            Ordering::Relaxed,
        );
        Ok(Queue::from_shared(shared))
    }

    fn from_shared(shared: Shared<QueueState>) -> Queue<T> {
        Queue {
            shared,
            closed: Arc::new(AtomicBool::new(false)),
            _item: PhantomData,
        }
    }

    fn state(&self) -> &QueueState {
        self.shared.state()
    }

    fn capacity(&self) -> u64 {
        self.state().capacity.load(Ordering::Relaxed)
    }

    /// Where the next record to read starts.
    fn head(&self) -> u64 {
        self.state().head.load(Ordering::SeqCst) & !CONTINUES
    }

    /// Whether the record at the head continues a message whose beginning was removed.
    fn continues(&self) -> bool {
        self.state().head.load(Ordering::SeqCst) & CONTINUES != 0
    }

    /// Whether the message's bytes would stream in fragments rather than go as one record.
    fn streams(&self, len: usize) -> bool {
        len as u64 > max_record() || HEADER + padded(len as u64) > self.capacity()
    }

    /// Puts an item, waiting for room as long as it takes.
    ///
    /// # Errors
    ///
    /// [`PutError::Closed`], [`PutError::Encode`], [`PutError::Descriptors`], each with the item.
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.put_until(item, None, false)
    }

    /// Puts an item, waiting for room at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`PutError::Full`] with the item when there was no room in time; otherwise as
    /// [`put`](Self::put).
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.put_until(item, futex::deadline(Some(timeout)), false)
    }

    /// Puts an item only if there is room now.
    ///
    /// It does not wait for room. If another producer is in the middle of a put, it waits for
    /// that put to finish, up to 10 ms, but not when that producer is itself waiting for room
    /// (the queue is full then).
    ///
    /// # Errors
    ///
    /// [`PutError::Full`] with the item; otherwise as [`put`](Self::put).
    pub fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
        self.put_until(item, Some(Instant::now()), true)
    }

    fn encode(item: &T) -> Result<Vec<u8>, Result<CodecError, ()>> {
        let (encoded, fds) = procvisor_wire::fd_passing::collect_fds(|| codec::encode(item));
        if !fds.is_empty() {
            return Err(Err(()));
        }
        encoded.map_err(Ok)
    }

    fn put_until(
        &self,
        item: T,
        deadline: Option<Instant>,
        nowait: bool,
    ) -> Result<(), PutError<T>> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(PutError::Closed(item));
        }
        if nowait && self.full() {
            return Err(PutError::Full(item));
        }
        let bytes = match Self::encode(&item) {
            Ok(bytes) => bytes,
            Err(Ok(e)) => return Err(PutError::Encode(item, e)),
            Err(Err(())) => return Err(PutError::Descriptors(item)),
        };
        match self.put_bytes(&bytes, deadline, !nowait, nowait) {
            true => Ok(()),
            false => Err(PutError::Full(item)),
        }
    }

    /// The put proper: take the producer lock (repairing what a dead holder left), then
    /// [`put_locked`](Self::put_locked).
    fn put_bytes(&self, bytes: &[u8], deadline: Option<Instant>, spin: bool, nowait: bool) -> bool {
        let state = self.state();
        let acquired = if nowait {
            // A holder sleeping for room means the queue is full: no use waiting for it.
            lock_briefly(&state.producer, || {
                let waiter = state.room_waiter.load(Ordering::SeqCst);
                waiter != 0 && state.producer.owner() == Some(waiter)
            })
        } else {
            state.producer.lock(my_pid(), deadline)
        };
        let Some(acquired) = acquired else {
            return false;
        };
        if acquired == Acquired::FromDeadOwner {
            self.recover_producer();
        }
        let deadline = if nowait {
            Some(Instant::now())
        } else {
            deadline
        };
        let put = self.put_locked(bytes, deadline, spin);
        state.producer.unlock();
        put
    }

    /// With the producer lock held: pay an abort record owed for a dead producer, reserve an
    /// item slot, wait for room, count the item, publish it. `false` (nothing enqueued, nothing
    /// counted) when the deadline passed before the first record went out.
    fn put_locked(&self, bytes: &[u8], deadline: Option<Instant>, spin: bool) -> bool {
        let state = self.state();
        if state.abort_owed.load(Ordering::SeqCst) != 0 {
            if !self.wait_for_space(HEADER, deadline, spin) {
                return false;
            }
            self.publish(ABORT, &[]);
            state.abort_owed.store(0, Ordering::SeqCst);
        }
        checkpoint("locked");
        state
            .put_start
            .store(state.tail.load(Ordering::SeqCst), Ordering::SeqCst);
        state.journal.store(NOTHING_PUBLISHED, Ordering::SeqCst);
        checkpoint("started");
        if !self.reserve_item(deadline, spin) {
            return false;
        }
        checkpoint("reserved");
        let streams = self.streams(bytes.len());
        let room = if streams {
            self.wait_for_fragment_room(deadline, spin)
        } else {
            let whole = HEADER + padded(bytes.len() as u64);
            self.wait_for_space(whole, deadline, spin)
                .then_some(whole - HEADER)
        };
        let Some(room) = room else {
            uncount_producing(&state.put);
            return false;
        };
        // Counted unfinished before a consumer can see it (and mark it done), and only once the
        // put can no longer fail.
        state.unfinished.fetch_add(1 | PRODUCING, Ordering::SeqCst);
        checkpoint("counted");
        self.write_message(bytes, room, streams);
        state.put.fetch_and(!PRODUCING, Ordering::SeqCst);
        checkpoint("items settled");
        state.unfinished.fetch_and(!PRODUCING, Ordering::SeqCst);
        true
    }

    /// With the producer lock taken over from a dead holder: finish or undo what its put did
    /// (see the module's documentation). Harmless to repeat.
    fn recover_producer(&self) {
        let state = self.state();
        let marks = state.put.load(Ordering::SeqCst) | state.unfinished.load(Ordering::SeqCst);
        if marks & PRODUCING == 0 {
            return;
        }
        report_repair("producer");
        let tail = state.tail.load(Ordering::SeqCst);
        if state.journal.load(Ordering::SeqCst) == tail {
            // Its last record is out, and it was the message's last: the item is in the queue.
            state.put.fetch_and(!PRODUCING, Ordering::SeqCst);
            state.unfinished.fetch_and(!PRODUCING, Ordering::SeqCst);
            return;
        }
        if tail != state.put_start.load(Ordering::SeqCst) {
            // Part of the message is out: consumers must be told to drop it.
            state.abort_owed.store(1, Ordering::SeqCst);
        }
        checkpoint("recovering");
        uncount_producing(&state.put);
        if uncount_producing(&state.unfinished) {
            self.wake_joiners_if_done();
        }
    }

    /// Repairs, without waiting, what a dead producer left: its counted item and partial
    /// message (taking its lock over), and an abort record still owed (if there is room for
    /// it now). Cheap when there is nothing to repair.
    fn settle_producer(&self) {
        let state = self.state();
        let marks = state.put.load(Ordering::SeqCst) | state.unfinished.load(Ordering::SeqCst);
        if marks & PRODUCING == 0 && state.abort_owed.load(Ordering::SeqCst) == 0 {
            return;
        }
        let Some(acquired) = state.producer.try_lock_or_take_over(my_pid()) else {
            return;
        };
        if acquired == Acquired::FromDeadOwner {
            self.recover_producer();
        }
        if state.abort_owed.load(Ordering::SeqCst) != 0 && self.free_space() >= HEADER {
            self.publish(ABORT, &[]);
            state.abort_owed.store(0, Ordering::SeqCst);
        }
        state.producer.unlock();
    }

    /// Repairs, without waiting, what a consumer that died while taking an item left.
    fn settle_consumer(&self) {
        let state = self.state();
        if state.taken.load(Ordering::SeqCst) & CONSUMING == 0 {
            return;
        }
        if let Some(acquired) = state.consumer.try_lock_or_take_over(my_pid()) {
            if acquired == Acquired::FromDeadOwner {
                self.recover_consumer();
            }
            state.consumer.unlock();
        }
    }

    /// Makes the counts exact if a producer or consumer died in the middle of its operation.
    fn settle(&self) {
        self.settle_producer();
        self.settle_consumer();
    }

    fn wake_joiners_if_done(&self) {
        let state = self.state();
        if count(state.unfinished.load(Ordering::SeqCst)) == 0 {
            state.done_seq.fetch_add(1, Ordering::SeqCst);
            if state.done_sleepers.load(Ordering::SeqCst) > 0 {
                futex::wake(&state.done_seq, u32::MAX);
            }
        }
    }

    fn reserve_item(&self, deadline: Option<Instant>, spin: bool) -> bool {
        let state = self.state();
        let maxsize = state.maxsize.load(Ordering::Relaxed);
        let mut polling = Polling::new(spin);
        // Consumers only take items away, so room seen here stays room; an unbounded queue
        // need not look at the consumers' count at all.
        while maxsize != u64::MAX && state.items() >= maxsize {
            if !self.sleep_on_space(deadline, &mut polling, || state.items() < maxsize) {
                return false;
            }
        }
        let before = state.put.fetch_add(1 | PRODUCING, Ordering::SeqCst);
        debug_assert_eq!(before & PRODUCING, 0, "one put at a time");
        true
    }

    /// Free bytes in the ring (exact for the producer-lock holder: only it moves the tail).
    fn free_space(&self) -> u64 {
        let state = self.state();
        let head = self.head();
        state.head_seen.store(head, Ordering::SeqCst);
        let tail = state.tail.load(Ordering::SeqCst);
        self.capacity() - tail.saturating_sub(head)
    }

    /// Whether the ring has `needed` bytes free, from the head producers last read when that
    /// says so (for the producer-lock holder).
    fn has_space(&self, needed: u64) -> bool {
        let state = self.state();
        let tail = state.tail.load(Ordering::SeqCst);
        let seen = state.head_seen.load(Ordering::SeqCst);
        self.capacity() - tail.saturating_sub(seen) >= needed || self.free_space() >= needed
    }

    fn wait_for_space(&self, needed: u64, deadline: Option<Instant>, spin: bool) -> bool {
        let mut polling = Polling::new(spin);
        while !self.has_space(needed) {
            if !self.sleep_on_space(deadline, &mut polling, || self.free_space() >= needed) {
                return false;
            }
        }
        true
    }

    /// Waits for consumers to make progress; `false` when the deadline passed first.
    fn sleep_on_space(
        &self,
        deadline: Option<Instant>,
        polling: &mut Polling,
        ready: impl Fn() -> bool,
    ) -> bool {
        let state = self.state();
        if polling.again() {
            std::thread::yield_now();
            return true;
        }
        let left = futex::remaining(deadline);
        if left.is_some_and(|l| l.is_zero()) {
            return false;
        }
        state.space_sleepers.fetch_add(1, Ordering::SeqCst);
        state.room_waiter.store(my_pid(), Ordering::SeqCst);
        let sequence = state.space_seq.load(Ordering::SeqCst);
        let woke = if ready() {
            Wake::Retry
        } else {
            futex::wait(&state.space_seq, sequence, left)
        };
        state.room_waiter.store(0, Ordering::SeqCst);
        state.space_sleepers.fetch_sub(1, Ordering::SeqCst);
        woke == Wake::Retry || ready()
    }

    fn wake_space_sleepers(&self) {
        let state = self.state();
        if state.space_sleepers.load(Ordering::SeqCst) > 0 {
            state.space_seq.fetch_add(1, Ordering::SeqCst);
            futex::wake(&state.space_seq, 1);
        }
    }

    /// Writes one message as one record, or as fragments when it `streams`; `room` is the
    /// payload room already waited for. Cannot fail: once the first record is out, the message
    /// must be finished (or aborted by whoever takes the lock over if this process dies).
    fn write_message(&self, bytes: &[u8], mut room: u64, streams: bool) {
        if !streams {
            self.write_record(0, bytes);
            return;
        }
        let mut rest = bytes;
        loop {
            let take = room.min(max_record()).min(rest.len() as u64) as usize;
            let (chunk, tail) = rest.split_at(take);
            let more = !tail.is_empty();
            self.write_record(if more { MORE } else { 0 }, chunk);
            if !more {
                return;
            }
            rest = tail;
            room = self
                .wait_for_fragment_room(None, true)
                .expect("no deadline");
        }
    }

    /// Waits until a fragment of at least one payload chunk fits; returns its payload room.
    fn wait_for_fragment_room(&self, deadline: Option<Instant>, spin: bool) -> Option<u64> {
        // At least a quarter of the ring per fragment, so fragments stay large.
        let wanted = (self.capacity() / 4).max(HEADER + 8);
        if !self.wait_for_space(wanted, deadline, spin) {
            return None;
        }
        let free = self.free_space();
        Some((free - HEADER) & !7)
    }

    /// Publishes a record of the put in progress, noting first in the journal where it ends
    /// and whether more follows.
    fn write_record(&self, flags: u32, payload: &[u8]) {
        let state = self.state();
        let end = state.tail.load(Ordering::SeqCst) + HEADER + padded(payload.len() as u64);
        let more = if flags & MORE != 0 { JOURNAL_MORE } else { 0 };
        state.journal.store(end | more, Ordering::SeqCst);
        checkpoint("journaled");
        self.publish(flags, payload);
        checkpoint("published");
    }

    /// Copies a record into the ring at the tail and publishes it (one store of the tail).
    fn publish(&self, flags: u32, payload: &[u8]) {
        let state = self.state();
        debug_assert!(payload.len() as u64 <= MAX_RECORD);
        let tail = state.tail.load(Ordering::SeqCst);
        let mut header = [0_u8; 8];
        header[..4].copy_from_slice(&(flags | payload.len() as u32).to_le_bytes());
        self.ring_write(tail, &header);
        self.ring_write(tail + HEADER, payload);
        state.tail.store(
            tail + HEADER + padded(payload.len() as u64),
            Ordering::SeqCst,
        );
        if state.data_sleepers.load(Ordering::SeqCst) > 0 {
            state.data_seq.fetch_add(1, Ordering::SeqCst);
            futex::wake(&state.data_seq, 1);
        }
    }

    fn ring_write(&self, position: u64, bytes: &[u8]) {
        let capacity = self.capacity();
        let start = (position % capacity) as usize;
        let first = bytes.len().min(capacity as usize - start);
        self.shared
            .segment()
            .write_bytes(ring_offset() + start, &bytes[..first]);
        if first < bytes.len() {
            self.shared
                .segment()
                .write_bytes(ring_offset(), &bytes[first..]);
        }
    }

    fn ring_read(&self, position: u64, out: &mut [u8]) {
        let capacity = self.capacity();
        let start = (position % capacity) as usize;
        let first = out.len().min(capacity as usize - start);
        self.shared
            .segment()
            .read_bytes(ring_offset() + start, &mut out[..first]);
        if first < out.len() {
            self.shared
                .segment()
                .read_bytes(ring_offset(), &mut out[first..]);
        }
    }

    /// Gets an item, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// [`GetError::Closed`]; [`GetError::Decode`] for a message that is not a `T`.
    pub fn get(&self) -> Result<T, GetError> {
        self.get_until(None, false)
    }

    /// Gets an item, waiting at most `timeout`.
    ///
    /// The timeout covers waiting for an item to begin. An item longer than the ring arrives in
    /// pieces while its producer writes them; once its first piece is taken, the get waits for
    /// the rest for as long as that producer is alive (it is writing as fast as the get reads).
    /// If the producer dies before the end, the get drops what it received of the item within
    /// about 20 ms of the death, and goes on waiting for another item until the timeout.
    ///
    /// # Errors
    ///
    /// [`GetError::Empty`] when none came in time; otherwise as [`get`](Self::get).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(GetError::Closed);
        }
        // An item that is there now needs no deadline: only a get that waits reads the clock.
        if let Some(bytes) = self.get_bytes_ready() {
            return Ok(codec::decode(&bytes)?);
        }
        self.get_until(futex::deadline(Some(timeout)), false)
    }

    /// Gets an item only if one is there now.
    ///
    /// It does not wait for an item. If another consumer is in the middle of a get while items
    /// are in the ring, it waits for that get to finish, up to 10 ms (Python's `get_nowait`
    /// does not wait at all for another consumer). An item longer than the ring is received
    /// whole, as in [`get_timeout`](Self::get_timeout).
    ///
    /// # Errors
    ///
    /// [`GetError::Empty`]; otherwise as [`get`](Self::get).
    pub fn get_nowait(&self) -> Result<T, GetError> {
        self.get_until(Some(Instant::now()), true)
    }

    fn get_until(&self, deadline: Option<Instant>, nowait: bool) -> Result<T, GetError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(GetError::Closed);
        }
        let bytes = self
            .get_bytes(deadline, !nowait, nowait)
            .ok_or(GetError::Empty)?;
        Ok(codec::decode(&bytes)?)
    }

    /// The next item, if it is in the ring whole (one record) and no other consumer is taking
    /// one; `None`, with nothing taken, otherwise. An item that streams in pieces, and what a
    /// dead consumer left in the middle of a message, go the way of a get with a deadline.
    fn get_bytes_ready(&self) -> Option<Vec<u8>> {
        let state = self.state();
        let whole = |header: Option<(u32, u64)>| header.is_some_and(|(flags, _)| flags == 0);
        if !whole(self.peek_header()) || !state.consumer.try_lock(my_pid()) {
            return None;
        }
        let message = if !self.continues() && whole(self.peek_header()) {
            // A whole item at the head: taken without waiting.
            self.take_message(None, true)
        } else {
            None
        };
        state.consumer.unlock();
        message
    }

    fn get_bytes(&self, deadline: Option<Instant>, spin: bool, nowait: bool) -> Option<Vec<u8>> {
        let state = self.state();
        let acquired = if nowait {
            // Nothing to take, whoever holds the lock: no need to wait for it.
            self.peek_header()?;
            lock_briefly(&state.consumer, || self.peek_header().is_none())
        } else {
            state.consumer.lock(my_pid(), deadline)
        }?;
        if acquired == Acquired::FromDeadOwner {
            self.recover_consumer();
        }
        let deadline = if nowait {
            Some(Instant::now())
        } else {
            deadline
        };
        let message = self.take_message(deadline, spin);
        state.consumer.unlock();
        message
    }

    /// With the consumer lock taken over from a dead holder: count back the item it uncounted
    /// if its last record is still in the ring, or just clear the mark. (What is left of a
    /// message it was in the middle of is skipped by [`take_message`](Self::take_message).)
    fn recover_consumer(&self) {
        let state = self.state();
        if state.taken.load(Ordering::SeqCst) & CONSUMING == 0 {
            return;
        }
        report_repair("consumer");
        if self.head() == state.take_from.load(Ordering::SeqCst) {
            // Undo `fetch_add(1 | CONSUMING)`: the item was not taken, no mark.
            state.taken.fetch_sub(1 | CONSUMING, Ordering::SeqCst);
        } else {
            state.taken.fetch_and(!CONSUMING, Ordering::SeqCst);
        }
    }

    /// With the consumer lock held: skips what is left of a message whose consumer died (or
    /// gave up skipping it), then reads the next message. `None` when the deadline passed
    /// first.
    fn take_message(&self, deadline: Option<Instant>, spin: bool) -> Option<Vec<u8>> {
        let state = self.state();
        // The rest of a message whose beginning went with a dead consumer: it is lost.
        let mut skipping = self.continues();
        let mut message = Vec::new();
        loop {
            let started = self.continues();
            // Skipping waits no longer than the deadline (nothing is lost by giving up: the
            // next consumer carries on). Receiving the rest of a message waits as long as its
            // producer lives: what was taken of it cannot be put back.
            let wait_until = if started && !skipping { None } else { deadline };
            let (flags, len) = self.wait_for_record(wait_until, spin, started)?;
            let head = self.head();
            let next = head + HEADER + padded(len);
            if flags & ABORT != 0 {
                // A producer died inside this message; what came of it is dropped.
                message.clear();
                skipping = false;
                state.head.store(next, Ordering::SeqCst);
                self.wake_space_sleepers();
                continue;
            }
            if !skipping {
                let offset = message.len();
                message.resize(offset + len as usize, 0);
                self.ring_read(head + HEADER, &mut message[offset..]);
            }
            if flags & MORE != 0 {
                // Removed fragment by fragment: a consumer that dies now loses this message.
                state.head.store(next | CONTINUES, Ordering::SeqCst);
                checkpoint("fragment taken");
                self.wake_space_sleepers();
                continue;
            }
            // Copied out before the record leaves the ring: a consumer killed before this
            // leaves the message for the next one.
            self.take_last(head, next);
            if skipping {
                skipping = false;
                continue;
            }
            return Some(message);
        }
    }

    /// Removes the last record of an item (from `head` to `next`) and uncounts the item, so
    /// that a consumer dying at any point leaves the count right (see
    /// [`recover_consumer`](Self::recover_consumer)).
    fn take_last(&self, head: u64, next: u64) {
        let state = self.state();
        state.take_from.store(head, Ordering::SeqCst);
        checkpoint("take journaled");
        // One item taken, and the mark, in one step.
        state.taken.fetch_add(1 | CONSUMING, Ordering::SeqCst);
        checkpoint("take counted");
        state.head.store(next, Ordering::SeqCst);
        checkpoint("taken");
        state.taken.fetch_and(!CONSUMING, Ordering::SeqCst);
        self.wake_space_sleepers();
    }

    /// The flags and payload length of the record at the head, if one is there.
    fn peek_header(&self) -> Option<(u32, u64)> {
        let state = self.state();
        let head = self.head();
        // A record below the tail consumers last read is there; otherwise read the tail.
        if state.tail_seen.load(Ordering::SeqCst).saturating_sub(head) < HEADER {
            let tail = state.tail.load(Ordering::SeqCst);
            state.tail_seen.fetch_max(tail, Ordering::SeqCst);
            if tail.saturating_sub(head) < HEADER {
                return None;
            }
        }
        let mut header = [0_u8; 8];
        self.ring_read(head, &mut header);
        let word = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
        Some((word & !LEN_MASK, u64::from(word & LEN_MASK)))
    }

    /// Waits for a record at the head; returns its flags and length. In the middle of a
    /// message, checks every [`LIVENESS_CHECK`] that the producer writing it lives, and repairs
    /// the queue if it died (an `ABORT` record then arrives).
    fn wait_for_record(
        &self,
        deadline: Option<Instant>,
        spin: bool,
        mid_message: bool,
    ) -> Option<(u32, u64)> {
        let state = self.state();
        let mut polling = Polling::new(spin);
        loop {
            if let Some(header) = self.peek_header() {
                return Some(header);
            }
            if polling.again() {
                std::thread::yield_now();
                continue;
            }
            let left = futex::remaining(deadline);
            if left.is_some_and(|l| l.is_zero()) {
                return None;
            }
            let slice = if mid_message {
                Some(left.map_or(LIVENESS_CHECK, |l| l.min(LIVENESS_CHECK)))
            } else {
                left
            };
            state.data_sleepers.fetch_add(1, Ordering::SeqCst);
            let sequence = state.data_seq.load(Ordering::SeqCst);
            let woke = if self.peek_header().is_some() {
                Wake::Retry
            } else {
                futex::wait(&state.data_seq, sequence, slice)
            };
            state.data_sleepers.fetch_sub(1, Ordering::SeqCst);
            if woke == Wake::TimedOut && mid_message {
                self.settle_producer();
            }
        }
    }

    /// Python's `qsize()`: the number of items in the queue now (an item being put counts from
    /// when its producer reserved room for it; an item being taken stops counting when its
    /// consumer starts removing it).
    pub fn qsize(&self) -> usize {
        self.settle();
        self.state().items() as usize
    }

    /// Whether it holds no items now.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether it holds `maxsize` items now.
    pub fn full(&self) -> bool {
        self.qsize() as u64 >= self.state().maxsize.load(Ordering::Relaxed)
    }

    /// The maximum number of items (`None`: unbounded).
    pub fn maxsize(&self) -> Option<usize> {
        match self.state().maxsize.load(Ordering::Relaxed) {
            u64::MAX => None,
            n => Some(n as usize),
        }
    }

    /// Python's `close()`: this handle (and its clones in this process) may no longer put or
    /// get. Other processes' handles are unaffected. Items already put stay in the queue.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    /// Whether [`close`](Self::close) was called on this handle.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Python's `join_thread()`. There is no feeder thread (a put is complete when it
    /// returns), so this only checks that the handle was closed, as Python does.
    ///
    /// # Errors
    ///
    /// [`NotClosed`] when [`close`](Self::close) was not called on this handle first (Python
    /// raises an `AssertionError`).
    pub fn join_thread(&self) -> Result<(), NotClosed> {
        if self.is_closed() {
            Ok(())
        } else {
            Err(NotClosed)
        }
    }

    /// Python's `cancel_join_thread()`: nothing to cancel (no feeder thread, nothing buffered).
    pub fn cancel_join_thread(&self) {}

    /// Async twin of [`put`](Self::put) / [`put_timeout`](Self::put_timeout) (`None`: no
    /// timeout). It works on any executor: the waiting happens on tokio's blocking pool inside
    /// a tokio runtime, and on a helper thread elsewhere.
    ///
    /// # Cancel safety
    ///
    /// An item whose future is dropped is either enqueued whole or not at all.
    ///
    /// # Errors
    ///
    /// As [`put_timeout`](Self::put_timeout).
    pub async fn put_async(&self, item: T) -> Result<(), PutError<T>>
    where
        T: Send + 'static,
    {
        self.put_async_for(item, None).await
    }

    /// Async twin of [`put_timeout`](Self::put_timeout).
    ///
    /// # Cancel safety
    ///
    /// As [`put_async`](Self::put_async).
    ///
    /// # Errors
    ///
    /// As [`put_timeout`](Self::put_timeout).
    pub async fn put_timeout_async(&self, item: T, timeout: Duration) -> Result<(), PutError<T>>
    where
        T: Send + 'static,
    {
        self.put_async_for(item, Some(timeout)).await
    }

    async fn put_async_for(&self, item: T, timeout: Option<Duration>) -> Result<(), PutError<T>>
    where
        T: Send + 'static,
    {
        if self.closed.load(Ordering::Relaxed) {
            return Err(PutError::Closed(item));
        }
        let bytes = match Self::encode(&item) {
            Ok(bytes) => bytes,
            Err(Ok(e)) => return Err(PutError::Encode(item, e)),
            Err(Err(())) => return Err(PutError::Descriptors(item)),
        };
        // Try at once unless the item streams: streaming waits for consumers, which must not
        // happen on the executor's thread.
        if !self.streams(bytes.len()) && self.put_bytes(&bytes, Some(Instant::now()), false, false)
        {
            return Ok(());
        }
        let queue = self.clone();
        let put = crate::blocking::wait_on_pool(
            move |slice| {
                queue
                    .put_bytes(&bytes, Some(Instant::now() + slice), false, false)
                    .then_some(())
            },
            // An enqueued item cannot be taken back; it stays in the queue.
            |()| {},
            futex::deadline(timeout),
        )
        .await;
        match put {
            Some(()) => Ok(()),
            None => Err(PutError::Full(item)),
        }
    }

    /// Async twin of [`get`](Self::get) / [`get_timeout`](Self::get_timeout) (`None`: no
    /// timeout). It works on any executor: the waiting happens on tokio's blocking pool inside
    /// a tokio runtime, and on a helper thread elsewhere.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the waiting happens without taking anything, and the item is taken by the
    /// future itself when it is polled, so a dropped future never loses an item. So an item
    /// longer than the ring is received on the thread that polls the future, which waits there
    /// while its producer streams the rest (see [`get_timeout`](Self::get_timeout)).
    ///
    /// # Errors
    ///
    /// As [`get_timeout`](Self::get_timeout).
    pub async fn get_async(&self) -> Result<T, GetError>
    where
        T: Send + 'static,
    {
        self.get_async_for(None).await
    }

    /// Async twin of [`get_timeout`](Self::get_timeout).
    ///
    /// # Cancel safety
    ///
    /// As [`get_async`](Self::get_async).
    ///
    /// # Errors
    ///
    /// As [`get_timeout`](Self::get_timeout).
    pub async fn get_timeout_async(&self, timeout: Duration) -> Result<T, GetError>
    where
        T: Send + 'static,
    {
        self.get_async_for(Some(timeout)).await
    }

    async fn get_async_for(&self, timeout: Option<Duration>) -> Result<T, GetError>
    where
        T: Send + 'static,
    {
        if self.closed.load(Ordering::Relaxed) {
            return Err(GetError::Closed);
        }
        let deadline = futex::deadline(timeout);
        loop {
            if let Some(bytes) = self.get_bytes_now() {
                return Ok(codec::decode(&bytes)?);
            }
            let queue = self.clone();
            let ready = crate::blocking::wait_on_pool(
                move |slice| {
                    queue
                        .wait_until_takeable(Instant::now() + slice)
                        .then_some(())
                },
                |()| {},
                deadline,
            )
            .await;
            if ready.is_none() {
                return Err(GetError::Empty);
            }
        }
    }

    /// A get that does not wait at all (for an async get, on the executor's thread). It takes
    /// over the consumer lock of a dead holder.
    fn get_bytes_now(&self) -> Option<Vec<u8>> {
        let state = self.state();
        let acquired = state.consumer.try_lock_or_take_over(my_pid())?;
        if acquired == Acquired::FromDeadOwner {
            self.recover_consumer();
        }
        let message = self.take_message(Some(Instant::now()), false);
        state.consumer.unlock();
        message
    }

    /// Waits (without taking anything) until an item is there and no other consumer holds the
    /// consumer lock, or until `deadline`.
    fn wait_until_takeable(&self, deadline: Instant) -> bool {
        let state = self.state();
        loop {
            let ready = self.peek_header().is_some();
            if ready && state.consumer.owner().is_none_or(|pid| !process_alive(pid)) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            if ready {
                // Another consumer is taking it: look again shortly.
                std::thread::sleep(left.min(Duration::from_millis(1)));
                continue;
            }
            state.data_sleepers.fetch_add(1, Ordering::SeqCst);
            let sequence = state.data_seq.load(Ordering::SeqCst);
            if self.peek_header().is_none() {
                futex::wait(&state.data_seq, sequence, Some(left));
            }
            state.data_sleepers.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// `join_thread` on a queue that was not closed (Python: `AssertionError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("join_thread() requires close() first")]
pub struct NotClosed;

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state();
        write!(
            f,
            "<Queue items={} bytes={}>",
            state.items(),
            state.capacity.load(Ordering::Relaxed)
        )
    }
}

impl<T: Serialize + DeserializeOwned> Serialize for Queue<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.shared.serialize_as(serializer)
    }
}

impl<'de, T: Serialize + DeserializeOwned> serde::Deserialize<'de> for Queue<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Queue::from_shared(Shared::deserialize_as(
            deserializer,
            Kind::Queue,
            type_tag::<T>(),
        )?))
    }
}

/// A queue with a count of unfinished items: Python's `multiprocessing.JoinableQueue`.
///
/// Every put counts an item as unfinished; a consumer calls [`task_done`](Self::task_done) once
/// per item it has finished; [`join`](Self::join) waits until every item put has been finished.
pub struct JoinableQueue<T>(Queue<T>);

impl<T> Clone for JoinableQueue<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: Serialize + DeserializeOwned> JoinableQueue<T> {
    /// A joinable queue of at most `maxsize` items (0: unbounded).
    ///
    /// # Errors
    ///
    /// When the shared memory cannot be created.
    pub fn new(maxsize: usize) -> std::io::Result<JoinableQueue<T>> {
        Ok(JoinableQueue(Queue::new(maxsize)?))
    }

    /// A joinable queue with a ring of `bytes`, as [`Queue::with_capacity`].
    ///
    /// # Errors
    ///
    /// When the shared memory cannot be created.
    pub fn with_capacity(maxsize: usize, bytes: usize) -> std::io::Result<JoinableQueue<T>> {
        Ok(JoinableQueue(Queue::with_capacity(maxsize, bytes)?))
    }

    /// The queue itself (put, get and the rest).
    pub fn queue(&self) -> &Queue<T> {
        &self.0
    }

    /// Marks one item finished.
    ///
    /// # Errors
    ///
    /// [`ReleaseError::TooManyTaskDone`](crate::ReleaseError::TooManyTaskDone) when more items
    /// were marked finished than were put.
    pub fn task_done(&self) -> Result<(), crate::ReleaseError> {
        let state = self.0.state();
        let mut unfinished = state.unfinished.load(Ordering::SeqCst);
        loop {
            if count(unfinished) == 0 {
                return Err(crate::ReleaseError::TooManyTaskDone);
            }
            match state.unfinished.compare_exchange(
                unfinished,
                unfinished - 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => break,
                Err(now) => unfinished = now,
            }
        }
        if count(unfinished) == 1 {
            self.0.wake_joiners_if_done();
        }
        Ok(())
    }

    /// Waits until every item put has been marked finished (Python's `join`).
    ///
    /// An item counts from when its put reserved room for it. If its producer dies before the
    /// put completes, the item no longer counts: `join` notices within about 20 ms.
    pub fn join(&self) {
        self.join_for(None);
    }

    /// [`join`](Self::join), at most `timeout`; whether every item was finished.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.join_for(Some(timeout))
    }

    fn join_for(&self, timeout: Option<Duration>) -> bool {
        let state = self.0.state();
        let deadline = futex::deadline(timeout);
        self.0.settle_producer();
        loop {
            state.done_sleepers.fetch_add(1, Ordering::SeqCst);
            let sequence = state.done_seq.load(Ordering::SeqCst);
            let unfinished = state.unfinished.load(Ordering::SeqCst);
            let left = futex::remaining(deadline);
            let mut check_producer = false;
            let outcome = if count(unfinished) == 0 {
                Some(true)
            } else if left.is_some_and(|l| l.is_zero()) {
                Some(false)
            } else {
                // A put in progress: look now and then whether its producer died.
                let producing = unfinished & PRODUCING != 0;
                let slice = if producing {
                    Some(left.map_or(LIVENESS_CHECK, |l| l.min(LIVENESS_CHECK)))
                } else {
                    left
                };
                check_producer =
                    futex::wait(&state.done_seq, sequence, slice) == Wake::TimedOut && producing;
                None
            };
            state.done_sleepers.fetch_sub(1, Ordering::SeqCst);
            if let Some(outcome) = outcome {
                return outcome;
            }
            if check_producer {
                self.0.settle_producer();
            }
        }
    }
}

impl<T> std::ops::Deref for JoinableQueue<T> {
    type Target = Queue<T>;

    fn deref(&self) -> &Queue<T> {
        &self.0
    }
}

impl<T> fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<JoinableQueue unfinished={}>",
            count(self.0.shared.state().unfinished.load(Ordering::Relaxed))
        )
    }
}

impl<T: Serialize + DeserializeOwned> Serialize for JoinableQueue<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T: Serialize + DeserializeOwned> serde::Deserialize<'de> for JoinableQueue<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(JoinableQueue(Queue::deserialize(deserializer)?))
    }
}

/// An unbounded queue without timeouts: Python's `multiprocessing.SimpleQueue`.
pub struct SimpleQueue<T>(Queue<T>);

impl<T> Clone for SimpleQueue<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: Serialize + DeserializeOwned> SimpleQueue<T> {
    /// A new, empty queue.
    ///
    /// # Errors
    ///
    /// When the shared memory cannot be created.
    pub fn new() -> std::io::Result<SimpleQueue<T>> {
        Ok(SimpleQueue(Queue::new(0)?))
    }

    /// Puts an item.
    ///
    /// # Errors
    ///
    /// As [`Queue::put`].
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.0.put(item)
    }

    /// Gets an item, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// As [`Queue::get`].
    pub fn get(&self) -> Result<T, GetError> {
        self.0.get()
    }

    /// Whether it holds no items now.
    pub fn empty(&self) -> bool {
        self.0.empty()
    }

    /// Closes this handle.
    pub fn close(&self) {
        self.0.close();
    }
}

impl<T> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<SimpleQueue items={}>", self.0.shared.state().items())
    }
}

impl<T: Serialize + DeserializeOwned> Serialize for SimpleQueue<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T: Serialize + DeserializeOwned> serde::Deserialize<'de> for SimpleQueue<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(SimpleQueue(Queue::deserialize(deserializer)?))
    }
}

#[cfg(all(test, not(procvisor_loom)))]
mod tests {
    //! A process killed in the middle of a put or a get, at each step: the panic of
    //! `checkpoint` stands for the death, and the lock it held is then given to a pid no
    //! process has, as if its holder had died.

    use super::*;
    use crate::raw_lock::DEAD_PID;
    use std::sync::mpsc;

    const LIMIT: Duration = Duration::from_secs(20);

    type Q = JoinableQueue<Vec<u8>>;

    #[test]
    fn a_wait_polls_for_its_window_from_its_first_look_then_sleeps() {
        assert!(
            !Polling::new(false).again(),
            "a wait that may not spin sleeps at once"
        );
        let mut polling = Polling::new(true);
        let first = Instant::now();
        assert!(polling.again(), "the window starts at the first look");
        while polling.again() {
            assert!(first.elapsed() < LIMIT, "the window never closed");
        }
        assert!(first.elapsed() >= SPIN, "the window closed early");
        assert!(!polling.again(), "and stays closed");
    }

    #[test]
    fn a_timed_get_takes_an_item_that_is_there_and_waits_for_one_that_is_not() {
        let q = Queue::<u32>::new(0).unwrap();
        q.put(7).unwrap();
        assert_eq!(q.get_timeout(LIMIT).unwrap(), 7);
        let start = Instant::now();
        let wait = Duration::from_millis(30);
        assert!(matches!(q.get_timeout(wait), Err(GetError::Empty)));
        assert!(
            start.elapsed() >= wait,
            "an empty queue is waited on until the timeout"
        );
        q.close();
        assert!(matches!(q.get_timeout(LIMIT), Err(GetError::Closed)));
    }

    /// Runs `f` as a process that dies the `skip + 1`-th time it reaches `point`, holding
    /// `lock`. Whether it got there.
    fn die_at<R>(lock: &RawLock, point: &'static str, skip: u32, f: impl FnOnce() -> R) -> bool {
        CRASH_AT.with(|crash| crash.set(Some((point, skip))));
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let reached = CRASH_AT.with(|crash| crash.take()).is_none();
        assert_eq!(outcome.is_err(), reached, "{point}");
        if reached {
            assert_eq!(
                lock.owner(),
                Some(my_pid()),
                "{point}: the dying put or get held it"
            );
            lock.force_owner(DEAD_PID);
        }
        reached
    }

    /// Runs `f` on a thread; fails naming `step` if it does not finish within [`LIMIT`].
    fn within<R: Send + 'static>(step: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(LIMIT)
            .unwrap_or_else(|_| panic!("`{step}` did not finish within {LIMIT:?}"))
    }

    /// Takes every item until the queue stays empty for `quiet`.
    fn drain(q: &Q, quiet: Duration) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        loop {
            match q.get_timeout(quiet) {
                Ok(item) => got.push(item),
                Err(GetError::Empty) => return got,
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// After the death, the queue holds exactly `expected` (and counts them), every one of them
    /// is unfinished until marked done, and it goes on working.
    fn check_queue(q: &Q, expected: &[Vec<u8>], what: &str) {
        assert_eq!(q.qsize(), expected.len(), "{what}: qsize");
        let got = drain(q, Duration::from_millis(50));
        assert_eq!(got, expected, "{what}: the items");
        assert_eq!(q.qsize(), 0, "{what}: qsize after taking them");
        finish(q, expected.len(), what);
    }

    /// Marks `n` items done; then nothing is unfinished, and the queue works.
    fn finish(q: &Q, n: usize, what: &str) {
        for _ in 0..n {
            q.task_done().unwrap();
        }
        assert!(
            q.join_timeout(Duration::ZERO),
            "{what}: unfinished items left"
        );
        assert!(q.task_done().is_err(), "{what}: more unfinished than put");
        q.put_timeout(vec![9], LIMIT).unwrap();
        assert_eq!(
            q.get_timeout(LIMIT).unwrap(),
            vec![9],
            "{what}: works after"
        );
        q.task_done().unwrap();
    }

    const PUT_STEPS: [&str; 7] = [
        "locked",
        "started",
        "reserved",
        "counted",
        "journaled",
        "published",
        "items settled",
    ];

    #[test]
    fn a_producer_dying_at_any_step_of_a_put_leaves_exact_counts() {
        for step in PUT_STEPS {
            // Bounded: a slot lost to the dead producer would make the second put fail.
            let q: Q = JoinableQueue::with_capacity(2, 4096).unwrap();
            q.put(vec![1]).unwrap();
            assert!(die_at(&q.state().producer, step, 0, || q.put(vec![2; 100])));
            let enqueued = step == "published" || step == "items settled";
            assert_eq!(q.qsize(), 1 + usize::from(enqueued), "{step}: qsize");
            assert!(!q.join_timeout(Duration::ZERO));
            if enqueued {
                assert!(q.full(), "{step}");
                check_queue(&q, &[vec![1], vec![2; 100]], step);
            } else {
                assert!(!q.full(), "{step}: the dead producer's slot came back");
                q.put_timeout(vec![3], LIMIT).unwrap();
                check_queue(&q, &[vec![1], vec![3]], step);
            }
        }
    }

    #[test]
    fn the_next_put_repairs_what_a_dead_producer_left() {
        for step in PUT_STEPS {
            let q: Q = JoinableQueue::with_capacity(2, 4096).unwrap();
            assert!(die_at(&q.state().producer, step, 0, || q.put(vec![2; 100])));
            // No observer first: the put takes the lock over and repairs.
            q.put_timeout(vec![3], LIMIT).unwrap();
            let enqueued = step == "published" || step == "items settled";
            let expected: &[Vec<u8>] = if enqueued {
                &[vec![2; 100], vec![3]]
            } else {
                &[vec![3]]
            };
            check_queue(&q, expected, step);
        }
    }

    #[test]
    fn a_repair_interrupted_by_another_death_is_finished_by_the_next() {
        for died_in in ["reserved", "counted", "journaled"] {
            let q: Q = JoinableQueue::with_capacity(2, 4096).unwrap();
            assert!(die_at(&q.state().producer, died_in, 0, || q.put(vec![2])));
            // The process repairing it dies too, half-way.
            assert!(die_at(&q.state().producer, "recovering", 0, || q.put(vec![3])));
            q.put_timeout(vec![4], LIMIT).unwrap();
            check_queue(&q, &[vec![4]], died_in);
        }
    }

    /// A message longer than the ring, its producer dying at `step` of its `skip + 1`-th
    /// record. A consumer reads while it streams, and no other producer puts.
    #[test]
    fn a_producer_dying_in_the_middle_of_a_long_message_does_not_block_a_timed_get() {
        // 10 003 bytes encoded; with records of at most 1 KiB in an 8 KiB ring (fragments wait
        // for 2 KiB of room), ten records of 1024 bytes, the last of 787.
        let big = vec![7_u8; 10_000];
        TEST_MAX_RECORD.with(|m| m.set(1024));
        for (step, skip) in [
            ("counted", 0),
            ("journaled", 0),
            ("published", 0),
            ("journaled", 1),
            ("published", 1),
            ("published", 5),
            ("journaled", 9),
            ("published", 9),
            ("items settled", 0),
        ] {
            let what = format!("{step} #{skip}");
            let q: Q = JoinableQueue::with_capacity(0, 8192).unwrap();
            q.put(vec![1]).unwrap();
            let consumer = {
                let q = q.clone();
                std::thread::spawn(move || drain(&q, Duration::from_millis(300)))
            };
            assert!(
                die_at(&q.state().producer, step, skip, || q.put(big.clone())),
                "{what}"
            );
            let got = within(&what, move || consumer.join().unwrap());
            let complete = step == "items settled" || (step == "published" && skip == 9);
            let expected = if complete {
                vec![vec![1], big.clone()]
            } else {
                vec![vec![1]]
            };
            assert_eq!(got.len(), expected.len(), "{what}");
            assert!(got == expected, "{what}: the items");
            assert_eq!(q.qsize(), 0, "{what}");
            finish(&q, got.len(), &what);
        }
        TEST_MAX_RECORD.with(|m| m.set(MAX_RECORD));
    }

    #[test]
    fn a_partial_message_left_in_a_full_ring_is_dropped_when_a_consumer_comes() {
        let q: Q = JoinableQueue::with_capacity(0, 4096).unwrap();
        // No consumer: the producer fills the ring with the first fragment, then dies waiting.
        assert!(die_at(&q.state().producer, "published", 0, || q
            .put(vec![7; 10_000])));
        // Repaired at once (the item is not counted), but the ring has no room to say so.
        assert_eq!(q.qsize(), 0);
        assert_eq!(q.state().abort_owed.load(Ordering::SeqCst), 1);
        assert!(q.join_timeout(Duration::ZERO));
        let start = Instant::now();
        assert!(matches!(
            within("get", {
                let q = q.clone();
                move || q.get_timeout(Duration::from_millis(200))
            }),
            Err(GetError::Empty)
        ));
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(q.state().abort_owed.load(Ordering::SeqCst), 0);
        finish(&q, 0, "after the abort");
    }

    #[test]
    fn a_timed_get_alone_drops_a_dead_producers_partial_message() {
        let q: Q = JoinableQueue::with_capacity(0, 4096).unwrap();
        assert!(die_at(&q.state().producer, "published", 0, || q
            .put(vec![7; 10_000])));
        // No observer, no other producer: the get finds the death itself.
        let start = Instant::now();
        assert!(
            within("get", {
                let q = q.clone();
                move || q.get_timeout(Duration::from_millis(200))
            })
            .unwrap_err()
            .is_empty()
        );
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(q.qsize(), 0);
        assert!(q.join_timeout(Duration::ZERO));
        finish(&q, 0, "after the abort");
    }

    #[test]
    fn the_next_put_writes_an_owed_abort_first() {
        let q: Q = JoinableQueue::with_capacity(0, 4096).unwrap();
        assert!(die_at(&q.state().producer, "published", 0, || q
            .put(vec![7; 10_000])));
        assert_eq!(q.qsize(), 0);
        let producer = {
            let q = q.clone();
            std::thread::spawn(move || q.put_timeout(vec![3], LIMIT).unwrap())
        };
        assert_eq!(
            within("get", {
                let q = q.clone();
                move || q.get_timeout(LIMIT).unwrap()
            }),
            vec![3]
        );
        producer.join().unwrap();
        finish(&q, 1, "after the abort");
    }

    #[test]
    fn a_consumer_dying_at_any_step_of_a_get_leaves_exact_counts() {
        for (step, taken) in [
            ("take journaled", false),
            ("take counted", false),
            ("taken", true),
        ] {
            let q: Q = JoinableQueue::with_capacity(0, 4096).unwrap();
            q.put(vec![1]).unwrap();
            q.put(vec![2]).unwrap();
            assert!(die_at(&q.state().consumer, step, 0, || q.get()));
            // A consumer that dies after removing the item had it: it went with it.
            let left: &[Vec<u8>] = if taken {
                &[vec![2]]
            } else {
                &[vec![1], vec![2]]
            };
            assert_eq!(q.qsize(), left.len(), "{step}: qsize");
            assert_eq!(drain(&q, Duration::from_millis(50)), left, "{step}");
            // The dead consumer never marked its item done.
            finish(&q, 2, step);
        }
    }

    #[test]
    fn a_consumer_dying_in_the_middle_of_a_long_message_loses_only_that_message() {
        for skip in [0, 2] {
            let q: Q = JoinableQueue::with_capacity(0, 8192).unwrap();
            let producer = {
                let q = q.clone();
                std::thread::spawn(move || {
                    // Ten records (see above).
                    TEST_MAX_RECORD.with(|m| m.set(1024));
                    q.put(vec![7; 10_000]).unwrap();
                    q.put(vec![2]).unwrap();
                })
            };
            assert!(die_at(&q.state().consumer, "fragment taken", skip, || q.get()));
            assert_eq!(
                within("the next get", {
                    let q = q.clone();
                    move || q.get_timeout(LIMIT).unwrap()
                }),
                vec![2],
                "the rest of the long message was skipped"
            );
            producer.join().unwrap();
            assert_eq!(q.qsize(), 0);
            finish(&q, 2, "after the lost message");
        }
    }

    #[test]
    fn a_message_longer_than_a_record_goes_in_several() {
        TEST_MAX_RECORD.with(|m| m.set(1024));
        let q: Q = JoinableQueue::with_capacity(0, 64 << 10).unwrap();
        let item: Vec<u8> = (0..5000_u32).map(|i| i as u8).collect();
        // It fits in the ring, so the put completes with no consumer.
        q.put_timeout(item.clone(), LIMIT).unwrap();
        let used = q.state().tail.load(Ordering::SeqCst) - q.head();
        assert_eq!(used, 5 * HEADER + 5008, "five records of at most 1 KiB");
        assert_eq!(q.get_timeout(LIMIT).unwrap(), item);
        TEST_MAX_RECORD.with(|m| m.set(MAX_RECORD));
    }

    #[test]
    fn nowait_waits_briefly_for_a_put_or_get_in_progress() {
        let q: Q = JoinableQueue::with_capacity(0, 4096).unwrap();
        // Another thread of this process is in the middle of a put, and finishes soon.
        assert!(q.state().producer.try_lock(my_pid()));
        let releaser = {
            let q = q.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(2));
                q.state().producer.unlock();
            })
        };
        q.put_nowait(vec![1])
            .expect("waited for the put in progress");
        releaser.join().unwrap();
        // One that does not finish in time: Full.
        assert!(q.state().producer.try_lock(my_pid()));
        let start = Instant::now();
        assert!(q.put_nowait(vec![2]).unwrap_err().is_full());
        assert!(start.elapsed() >= NOWAIT_LOCK_WAIT);
        q.state().producer.unlock();

        assert!(q.state().consumer.try_lock(my_pid()));
        let releaser = {
            let q = q.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(2));
                q.state().consumer.unlock();
            })
        };
        assert_eq!(q.get_nowait().unwrap(), vec![1]);
        releaser.join().unwrap();
        // Nothing in the ring: Empty at once, whoever holds the lock.
        assert!(q.state().consumer.try_lock(my_pid()));
        let start = Instant::now();
        assert!(q.get_nowait().unwrap_err().is_empty());
        assert!(start.elapsed() < NOWAIT_LOCK_WAIT);
        q.state().consumer.unlock();
    }

    #[test]
    fn put_nowait_does_not_wait_for_a_producer_that_waits_for_room() {
        let q: Q = JoinableQueue::with_capacity(0, 4096).unwrap();
        q.put(vec![0; 4000]).unwrap();
        let blocked = {
            let q = q.clone();
            std::thread::spawn(move || q.put(vec![1; 1000]).unwrap())
        };
        let deadline = Instant::now() + LIMIT;
        while q.state().room_waiter.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "the second put waits for room");
            std::thread::yield_now();
        }
        let start = Instant::now();
        assert!(q.put_nowait(vec![2]).unwrap_err().is_full());
        assert!(
            start.elapsed() < NOWAIT_LOCK_WAIT / 2,
            "{:?}",
            start.elapsed()
        );
        assert_eq!(q.get().unwrap(), vec![0; 4000]);
        blocked.join().unwrap();
        assert_eq!(q.get().unwrap(), vec![1; 1000]);
    }
}
