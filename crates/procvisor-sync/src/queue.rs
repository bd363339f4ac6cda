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
//! A message longer than the ring streams through it in fragments (the producer writes while a
//! consumer reads). Both locks are robust: if a producer dies in the middle of a long message,
//! the next producer marks it aborted and consumers discard the part they saw; if a consumer
//! dies, the next consumer carries on, and a message is only removed from the ring once it has
//! been copied out, so a consumer killed between messages loses nothing.

use crate::futex::{self, AtomicU32, AtomicU64, Ordering, Wake};
use crate::raw_lock::{Acquired, RawLock, my_pid};
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
/// How long a consumer or producer polls before sleeping (see `procvisor_wire::DEFAULT_SPIN`).
const SPIN: Duration = Duration::from_micros(50);

#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct QueueState {
    producer: RawLock,
    consumer: RawLock,
    capacity: AtomicU64,
    maxsize: AtomicU64,
    head: AtomicU64,
    tail: AtomicU64,
    items: AtomicU64,
    unfinished: AtomicU64,
    data_seq: AtomicU32,
    space_seq: AtomicU32,
    done_seq: AtomicU32,
    data_sleepers: AtomicU32,
    space_sleepers: AtomicU32,
    done_sleepers: AtomicU32,
    /// A producer has published part of a message.
    producer_partial: AtomicU32,
    /// A consumer has consumed part of a message.
    consumer_partial: AtomicU32,
}

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

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// A queue of at most `maxsize` items (0: unbounded), with the default ring size.
    ///
    /// # Errors
    ///
    /// When the shared memory cannot be created.
    pub fn new(maxsize: usize) -> std::io::Result<Queue<T>> {
        Queue::with_capacity(maxsize, DEFAULT_QUEUE_BYTES)
    }

    /// A queue with a ring of `bytes` (rounded up to a power of two, at least 4 KiB).
    ///
    /// # Errors
    ///
    /// When the shared memory cannot be created.
    pub fn with_capacity(maxsize: usize, bytes: usize) -> std::io::Result<Queue<T>> {
        let capacity = bytes.max(4096).next_power_of_two();
        let extra = ring_offset() - STATE_OFFSET - std::mem::size_of::<QueueState>() + capacity;
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

    /// Puts an item, waiting for room as long as it takes.
    ///
    /// # Errors
    ///
    /// [`PutError::Closed`], [`PutError::Encode`], [`PutError::Descriptors`], each with the item.
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.put_until(item, None, true)
    }

    /// Puts an item, waiting for room at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`PutError::Full`] with the item when there was no room in time; otherwise as
    /// [`put`](Self::put).
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.put_until(item, futex::deadline(Some(timeout)), true)
    }

    /// Puts an item only if there is room now.
    ///
    /// # Errors
    ///
    /// [`PutError::Full`] with the item; otherwise as [`put`](Self::put).
    pub fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
        self.put_until(item, Some(Instant::now()), false)
    }

    fn encode(item: &T) -> Result<Vec<u8>, Result<CodecError, ()>> {
        let (encoded, fds) = procvisor_wire::fd_passing::collect_fds(|| codec::encode(item));
        if !fds.is_empty() {
            return Err(Err(()));
        }
        encoded.map_err(Ok)
    }

    fn put_until(&self, item: T, deadline: Option<Instant>, spin: bool) -> Result<(), PutError<T>> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(PutError::Closed(item));
        }
        let bytes = match Self::encode(&item) {
            Ok(bytes) => bytes,
            Err(Ok(e)) => return Err(PutError::Encode(item, e)),
            Err(Err(())) => return Err(PutError::Descriptors(item)),
        };
        match self.put_bytes(&bytes, deadline, spin) {
            true => Ok(()),
            false => Err(PutError::Full(item)),
        }
    }

    /// The put proper: reserve an item slot, take the producer lock, copy, publish.
    fn put_bytes(&self, bytes: &[u8], deadline: Option<Instant>, spin: bool) -> bool {
        let state = self.state();
        let Some(acquired) = state.producer.lock(my_pid(), deadline) else {
            return false;
        };
        if acquired == Acquired::FromDeadOwner {
            self.recover_producer();
        }
        let reserved = self.reserve_item(deadline, spin);
        // Counted unfinished before a consumer can see it (and mark it done).
        if reserved {
            state.unfinished.fetch_add(1, Ordering::SeqCst);
        }
        let written = reserved && self.write_message(bytes, deadline, spin);
        if reserved && !written {
            state.items.fetch_sub(1, Ordering::SeqCst);
            state.unfinished.fetch_sub(1, Ordering::SeqCst);
        }
        state.producer.unlock();
        written
    }

    /// A dead producer may have left a message half-published: mark it aborted so consumers
    /// drop what they saw of it, and give back the item slot it reserved.
    fn recover_producer(&self) {
        let state = self.state();
        if state.producer_partial.swap(0, Ordering::SeqCst) == 1 {
            if self.wait_for_space(HEADER, None, true) {
                self.write_record(ABORT, &[]);
            }
            state.items.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn reserve_item(&self, deadline: Option<Instant>, spin: bool) -> bool {
        let state = self.state();
        let maxsize = state.maxsize.load(Ordering::Relaxed);
        let spin_until = spin.then(|| Instant::now() + SPIN);
        loop {
            let items = state.items.load(Ordering::SeqCst);
            if items < maxsize {
                if state
                    .items
                    .compare_exchange(items, items + 1, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    return true;
                }
                continue;
            }
            if !self.sleep_on_space(deadline, spin_until, || {
                state.items.load(Ordering::SeqCst) < maxsize
            }) {
                return false;
            }
        }
    }

    fn free_space(&self) -> u64 {
        let state = self.state();
        self.capacity() - (state.tail.load(Ordering::SeqCst) - state.head.load(Ordering::SeqCst))
    }

    fn wait_for_space(&self, needed: u64, deadline: Option<Instant>, spin: bool) -> bool {
        let spin_until = spin.then(|| Instant::now() + SPIN);
        while self.free_space() < needed {
            if !self.sleep_on_space(deadline, spin_until, || self.free_space() >= needed) {
                return false;
            }
        }
        true
    }

    /// Waits for consumers to make progress; `false` when the deadline passed first.
    fn sleep_on_space(
        &self,
        deadline: Option<Instant>,
        spin_until: Option<Instant>,
        ready: impl Fn() -> bool,
    ) -> bool {
        let state = self.state();
        if spin_until.is_some_and(|s| Instant::now() < s) {
            std::thread::yield_now();
            return true;
        }
        let left = futex::remaining(deadline);
        if left.is_some_and(|l| l.is_zero()) {
            return false;
        }
        state.space_sleepers.fetch_add(1, Ordering::SeqCst);
        let sequence = state.space_seq.load(Ordering::SeqCst);
        let woke = if ready() {
            Wake::Retry
        } else {
            futex::wait(&state.space_seq, sequence, left)
        };
        state.space_sleepers.fetch_sub(1, Ordering::SeqCst);
        woke == Wake::Retry || ready()
    }

    /// Writes one message as one or more records; `false` when room did not come in time (only
    /// possible before the first record is published).
    fn write_message(&self, bytes: &[u8], deadline: Option<Instant>, spin: bool) -> bool {
        let state = self.state();
        let capacity = self.capacity();
        let whole = HEADER + padded(bytes.len() as u64);
        if whole <= capacity {
            if !self.wait_for_space(whole, deadline, spin) {
                return false;
            }
            self.write_record(0, bytes);
            return true;
        }
        // Longer than the ring: stream it. Once the first fragment is out, the message must be
        // finished (or aborted by the next producer if this one dies).
        let mut rest = bytes;
        let mut first = true;
        while !rest.is_empty() {
            let Some(room) = self.wait_for_fragment_room(if first { deadline } else { None }, spin)
            else {
                return false;
            };
            let take = (room as usize).min(rest.len());
            let (chunk, tail) = rest.split_at(take);
            let more = !tail.is_empty();
            if first && more {
                state.producer_partial.store(1, Ordering::SeqCst);
            }
            self.write_record(if more { MORE } else { 0 }, chunk);
            rest = tail;
            first = false;
        }
        state.producer_partial.store(0, Ordering::SeqCst);
        true
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

    /// Copies a record into the ring at the tail and publishes it.
    fn write_record(&self, flags: u32, payload: &[u8]) {
        let state = self.state();
        let tail = state.tail.load(Ordering::Relaxed);
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
        self.get_until(None, true)
    }

    /// Gets an item, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`GetError::Empty`] when none came in time; otherwise as [`get`](Self::get).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        self.get_until(futex::deadline(Some(timeout)), true)
    }

    /// Gets an item only if one is there now.
    ///
    /// # Errors
    ///
    /// [`GetError::Empty`]; otherwise as [`get`](Self::get).
    pub fn get_nowait(&self) -> Result<T, GetError> {
        self.get_until(Some(Instant::now()), false)
    }

    fn get_until(&self, deadline: Option<Instant>, spin: bool) -> Result<T, GetError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(GetError::Closed);
        }
        let bytes = self.get_bytes(deadline, spin).ok_or(GetError::Empty)?;
        Ok(codec::decode(&bytes)?)
    }

    fn get_bytes(&self, deadline: Option<Instant>, spin: bool) -> Option<Vec<u8>> {
        let state = self.state();
        let acquired = state.consumer.lock(my_pid(), deadline)?;
        if acquired == Acquired::FromDeadOwner
            && state.consumer_partial.swap(0, Ordering::SeqCst) == 1
        {
            self.skip_partial();
        }
        let message = self.read_message(deadline, spin);
        state.consumer.unlock();
        message
    }

    /// A dead consumer took part of a message: drop the rest of it (it is lost).
    fn skip_partial(&self) {
        loop {
            let Some((flags, len)) = self.wait_for_header(None, true) else {
                return;
            };
            self.consume_record(len);
            if flags & MORE == 0 {
                if flags & ABORT == 0 {
                    self.state().items.fetch_sub(1, Ordering::SeqCst);
                }
                return;
            }
        }
    }

    /// Waits for a record header at the head; returns its flags and length.
    fn wait_for_header(&self, deadline: Option<Instant>, spin: bool) -> Option<(u32, u64)> {
        let state = self.state();
        let spin_until = spin.then(|| Instant::now() + SPIN);
        loop {
            let head = state.head.load(Ordering::Relaxed);
            if state.tail.load(Ordering::SeqCst) - head >= HEADER {
                let mut header = [0_u8; 8];
                self.ring_read(head, &mut header);
                let word = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
                return Some((word & !LEN_MASK, u64::from(word & LEN_MASK)));
            }
            if spin_until.is_some_and(|s| Instant::now() < s) {
                std::thread::yield_now();
                continue;
            }
            let left = futex::remaining(deadline);
            if left.is_some_and(|l| l.is_zero()) {
                return None;
            }
            state.data_sleepers.fetch_add(1, Ordering::SeqCst);
            let sequence = state.data_seq.load(Ordering::SeqCst);
            if state.tail.load(Ordering::SeqCst) - head < HEADER {
                futex::wait(&state.data_seq, sequence, left);
            }
            state.data_sleepers.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Removes a record of `len` payload bytes from the head and tells waiting producers.
    fn consume_record(&self, len: u64) {
        let state = self.state();
        state.head.fetch_add(HEADER + padded(len), Ordering::SeqCst);
        if state.space_sleepers.load(Ordering::SeqCst) > 0 {
            state.space_seq.fetch_add(1, Ordering::SeqCst);
            futex::wake(&state.space_seq, 1);
        }
    }

    fn read_message(&self, deadline: Option<Instant>, spin: bool) -> Option<Vec<u8>> {
        let state = self.state();
        let mut message = Vec::new();
        let mut started = false;
        loop {
            let (flags, len) = self.wait_for_header(if started { None } else { deadline }, spin)?;
            if flags & ABORT != 0 {
                // A producer died inside this message; what came of it is dropped.
                self.consume_record(0);
                message.clear();
                started = false;
                state.consumer_partial.store(0, Ordering::SeqCst);
                continue;
            }
            let offset = message.len();
            message.resize(offset + len as usize, 0);
            let head = state.head.load(Ordering::Relaxed);
            self.ring_read(head + HEADER, &mut message[offset..]);
            if flags & MORE != 0 {
                // Committed fragment by fragment: a consumer that dies now loses this message.
                state.consumer_partial.store(1, Ordering::SeqCst);
                self.consume_record(len);
                started = true;
                continue;
            }
            // Copied out before the record leaves the ring: a consumer killed before this line
            // leaves the message for the next one.
            self.consume_record(len);
            state.consumer_partial.store(0, Ordering::SeqCst);
            state.items.fetch_sub(1, Ordering::SeqCst);
            if state.space_sleepers.load(Ordering::SeqCst) > 0 {
                state.space_seq.fetch_add(1, Ordering::SeqCst);
                futex::wake(&state.space_seq, 1);
            }
            return Some(message);
        }
    }

    /// Python's `qsize()`: the number of items in the queue now.
    pub fn qsize(&self) -> usize {
        self.state().items.load(Ordering::SeqCst) as usize
    }

    /// Whether it holds no items now.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether it holds `maxsize` items now.
    pub fn full(&self) -> bool {
        self.state().items.load(Ordering::SeqCst) >= self.state().maxsize.load(Ordering::Relaxed)
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
    /// [`GetError::Closed`] is never returned; an error means the queue was not closed first.
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
    /// timeout).
    ///
    /// # Cancel safety
    ///
    /// An item whose future is dropped is either enqueued whole or not at all.
    ///
    /// # Errors
    ///
    /// As [`put_timeout`](Self::put_timeout).
    pub async fn put_async(&self, item: T, timeout: Option<Duration>) -> Result<(), PutError<T>>
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
        if self.put_bytes(&bytes, Some(Instant::now()), false) {
            return Ok(());
        }
        let queue = self.clone();
        let put = crate::blocking::wait_on_pool(
            move |slice| {
                queue
                    .put_bytes(&bytes, Some(Instant::now() + slice), false)
                    .then_some(())
            },
            // An enqueued item cannot be taken back; it stays in the queue.
            |()| {},
            futex::deadline(timeout),
        )
        .await;
        match put {
            Ok(Some(())) => Ok(()),
            _ => Err(PutError::Full(item)),
        }
    }

    /// Async twin of [`get`](Self::get) / [`get_timeout`](Self::get_timeout) (`None`: no
    /// timeout).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the waiting happens without taking anything, and the item is taken by the
    /// future itself when it is polled, so a dropped future never loses an item.
    ///
    /// # Errors
    ///
    /// As [`get_timeout`](Self::get_timeout).
    pub async fn get_async(&self, timeout: Option<Duration>) -> Result<T, GetError>
    where
        T: Send + 'static,
    {
        if self.closed.load(Ordering::Relaxed) {
            return Err(GetError::Closed);
        }
        loop {
            if let Some(bytes) = self.get_bytes(Some(Instant::now()), false) {
                return Ok(codec::decode(&bytes)?);
            }
            let queue = self.clone();
            let ready = crate::blocking::wait_on_pool(
                move |slice| {
                    queue
                        .wait_until_nonempty(Instant::now() + slice)
                        .then_some(())
                },
                |()| {},
                futex::deadline(timeout),
            )
            .await
            .map_err(|_| GetError::Empty)?;
            if ready.is_none() {
                return Err(GetError::Empty);
            }
        }
    }

    /// Waits (without taking anything) until an item may be there.
    fn wait_until_nonempty(&self, deadline: Instant) -> bool {
        let state = self.state();
        loop {
            if state.tail.load(Ordering::SeqCst) != state.head.load(Ordering::SeqCst) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state.data_sleepers.fetch_add(1, Ordering::SeqCst);
            let sequence = state.data_seq.load(Ordering::SeqCst);
            if state.tail.load(Ordering::SeqCst) == state.head.load(Ordering::SeqCst) {
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
            state.items.load(Ordering::Relaxed),
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
            if unfinished == 0 {
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
        if unfinished == 1 {
            state.done_seq.fetch_add(1, Ordering::SeqCst);
            if state.done_sleepers.load(Ordering::SeqCst) > 0 {
                futex::wake(&state.done_seq, u32::MAX);
            }
        }
        Ok(())
    }

    /// Waits until every item put has been marked finished, or `timeout` passes; returns
    /// whether they all were.
    pub fn join(&self, timeout: Option<Duration>) -> bool {
        let state = self.0.state();
        let deadline = futex::deadline(timeout);
        loop {
            state.done_sleepers.fetch_add(1, Ordering::SeqCst);
            let sequence = state.done_seq.load(Ordering::SeqCst);
            let finished = state.unfinished.load(Ordering::SeqCst) == 0;
            let left = futex::remaining(deadline);
            let outcome = if finished {
                Some(true)
            } else if left.is_some_and(|l| l.is_zero()) {
                Some(false)
            } else {
                futex::wait(&state.done_seq, sequence, left);
                None
            };
            state.done_sleepers.fetch_sub(1, Ordering::SeqCst);
            if let Some(outcome) = outcome {
                return outcome;
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
            self.0.shared.state().unfinished.load(Ordering::Relaxed)
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
        write!(
            f,
            "<SimpleQueue items={}>",
            self.0.shared.state().items.load(Ordering::Relaxed)
        )
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
