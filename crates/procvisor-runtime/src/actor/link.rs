//! An actor link: the connection that carries envelopes between a node and its parent or one
//! of its children.
//!
//! Sending does not hop threads when it need not: a thread outside any runtime that finds the
//! link idle writes its envelope itself (a blocking send, as a `Connection::send` is), and
//! envelopes that arrive meanwhile from others are written in the same turn. Senders on a
//! runtime thread never block on the socket: they queue, and a writer task on the node's runtime
//! drains the queue. Each end is read by one task, with read-ahead.

use super::envelope::Envelope;
use crate::node::node;
use procvisor_wire::{Connection, ConnectionError};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

mod reader;

/// How much of a burst one receive takes in.
const READ_AHEAD: usize = 64 * 1024;

/// The largest envelope payload a runtime thread writes itself (see `Link::send`).
const SMALL: usize = 4096;

/// Which neighbour a link leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Up,
    Down(u32),
}

struct Writer {
    /// The writing end, when nobody is writing; `None` while a writer has it.
    conn: Option<Connection>,
    queue: VecDeque<Envelope>,
    broken: bool,
}

/// A link: its writing side, and its reading side, which whoever reads takes (the link's
/// reader task, or a caller polling for its reply, which then needs no thread to be woken).
pub(crate) struct Link {
    pub(crate) direction: Direction,
    writer: Mutex<Writer>,
    reader: Mutex<Connection>,
    /// The reader task found a caller reading and waits for it to let go (see `drain_here`).
    reader_waiting: AtomicBool,
    caller_done: tokio::sync::Notify,
    /// Callers that began and ended polling this link for their replies (see
    /// [`Link::caller_reading`]). While callers poll, the reader task leaves the reading to them.
    callers_began: AtomicU64,
    callers_ended: AtomicU64,
    /// The reader task stepped aside for callers (see `reader::step_aside`), and a caller that
    /// stops polling without its reply must call it back (`reader_wanted`).
    reader_aside: AtomicBool,
    reader_wanted: tokio::sync::Notify,
}

/// A caller polling a link for its reply; see [`Link::caller_reading`].
pub(crate) struct CallerReading<'a>(&'a Link);

impl Drop for CallerReading<'_> {
    fn drop(&mut self) {
        self.0.callers_ended.fetch_add(1, Ordering::Release);
    }
}

/// What one look at the reading side found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drained {
    /// Messages, now routed.
    Some,
    /// Nothing (yet).
    Nothing,
    /// Someone else is reading.
    Busy,
    /// The link has ended.
    Ended,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("direction", &self.direction)
            .finish_non_exhaustive()
    }
}

impl Link {
    fn lock(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `envelope` for the neighbour; `Err` gives it back when the link is broken.
    pub(crate) fn send(self: &Arc<Self>, envelope: Envelope) -> Result<(), Box<Envelope>> {
        let mut writer = self.lock();
        if writer.broken {
            return Err(Box::new(envelope));
        }
        let small = envelope.body.payload_len() <= SMALL && writer.queue.is_empty();
        writer.queue.push_back(envelope);
        let Some(conn) = writer.conn.take() else {
            // Someone is writing: they take this one too.
            return Ok(());
        };
        drop(writer);
        let on_runtime = tokio::runtime::Handle::try_current().is_ok();
        if !on_runtime {
            self.drain_blocking(conn);
        } else if small {
            // A socket with room takes a small envelope at once, so a runtime thread tries to
            // write it here, without a hop to a writer task.
            self.write_first_then_hand_off(conn);
        } else {
            let link = self.clone();
            node()
                .runtime()
                .spawn(async move { link.drain_async(conn).await });
        }
        Ok(())
    }

    /// Writes the first queued envelope (a small one) from a runtime thread, if the socket takes
    /// it without waiting; what was queued meanwhile, which may be large, and what the socket did
    /// not take, go to a writer task.
    fn write_first_then_hand_off(self: &Arc<Self>, mut conn: Connection) {
        let first = self.lock().queue.pop_front();
        if let Some(envelope) = first {
            match conn.send_timeout(&envelope, std::time::Duration::ZERO) {
                // A full socket: the writer task waits for room, for what the socket did not
                // take (the envelope, or the rest of it, which the connection owes).
                Err(e) if e.is_timeout() => {
                    if !conn.owes() {
                        self.lock().queue.push_front(envelope);
                    }
                    let link = self.clone();
                    node()
                        .runtime()
                        .spawn(async move { link.drain_async(conn).await });
                    return;
                }
                sent => {
                    if !self.after_send(envelope, sent) {
                        return;
                    }
                }
            }
        }
        let rest = {
            let mut writer = self.lock();
            if writer.queue.is_empty() {
                writer.conn = Some(conn);
                None
            } else {
                Some(conn)
            }
        };
        if let Some(conn) = rest {
            let link = self.clone();
            node()
                .runtime()
                .spawn(async move { link.drain_async(conn).await });
        }
    }

    /// Writes the queue until it is empty, then gives the connection back.
    fn drain_blocking(&self, mut conn: Connection) {
        loop {
            let batch = {
                let mut writer = self.lock();
                if writer.queue.is_empty() {
                    writer.conn = Some(conn);
                    return;
                }
                std::mem::take(&mut writer.queue)
            };
            for envelope in batch {
                let sent = conn.send(&envelope);
                if !self.after_send(envelope, sent) {
                    return;
                }
            }
        }
    }

    /// What a send's result means for the link: `true` when it goes on. An envelope that could
    /// not be encoded, or is too large for a message, goes back to its sender alone (nothing
    /// was written, the link is fine); any other error breaks the link.
    fn after_send(&self, envelope: Envelope, sent: Result<(), ConnectionError>) -> bool {
        match sent {
            Ok(()) => true,
            Err(e @ (ConnectionError::FrameTooLarge { .. } | ConnectionError::Codec(_))) => {
                node().actor_net().bounce(
                    envelope,
                    super::envelope::CallFailure::Codec(format!("cannot send the message: {e}")),
                );
                true
            }
            Err(e) => {
                self.break_with(Some(envelope), &e.to_string());
                false
            }
        }
    }

    async fn drain_async(self: Arc<Self>, mut conn: Connection) {
        if let Err(e) = conn.flush_async().await {
            self.break_with(None, &e.to_string());
            return;
        }
        loop {
            let batch = {
                let mut writer = self.lock();
                if writer.queue.is_empty() {
                    writer.conn = Some(conn);
                    return;
                }
                std::mem::take(&mut writer.queue)
            };
            for envelope in batch {
                let sent = conn.send_async(&envelope).await;
                if !self.after_send(envelope, sent) {
                    return;
                }
            }
        }
    }

    /// The link is broken: what was queued, and `failed`, go back to their senders.
    fn break_with(&self, failed: Option<Envelope>, error: &str) {
        let queued = {
            let mut writer = self.lock();
            writer.broken = true;
            std::mem::take(&mut writer.queue)
        };
        let net = node().actor_net();
        let reason = format!("the link to {:?} broke: {error}", self.direction);
        for envelope in failed.into_iter().chain(queued) {
            net.bounce(
                envelope,
                super::envelope::CallFailure::Unreachable(reason.clone()),
            );
        }
    }

    /// Waits (at most `limit`) until everything queued has been written.
    pub(crate) fn flush(&self, limit: std::time::Duration) {
        let deadline = std::time::Instant::now() + limit;
        loop {
            {
                let writer = self.lock();
                if writer.broken || (writer.conn.is_some() && writer.queue.is_empty()) {
                    return;
                }
            }
            if std::time::Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }

    /// Marks a caller as polling this link for its reply until the guard is dropped.
    pub(crate) fn caller_reading(&self) -> CallerReading<'_> {
        self.callers_began.fetch_add(1, Ordering::Acquire);
        CallerReading(self)
    }

    /// How many callers have begun polling this link so far.
    fn caller_visits(&self) -> u64 {
        self.callers_began.load(Ordering::Acquire)
    }

    /// Whether a caller is polling this link now.
    fn callers_reading(&self) -> bool {
        // Ended is read first: a caller counted in it was counted in began before.
        let ended = self.callers_ended.load(Ordering::Acquire);
        self.callers_began.load(Ordering::Acquire) != ended
    }

    /// Calls the reader task back if it stepped aside: a caller waits for a reply it will not
    /// read itself (it sleeps, or awaits from a task).
    pub(crate) fn want_reader(&self) {
        if self.reader_aside.load(Ordering::SeqCst) {
            self.reader_wanted.notify_one();
        }
    }

    /// Whether the link is known to be broken.
    pub(crate) fn is_broken(&self) -> bool {
        self.lock().broken
    }

    /// Marks the link broken (its neighbour is gone); returns what was still queued.
    pub(crate) fn close(&self) -> Vec<Envelope> {
        let mut writer = self.lock();
        writer.broken = true;
        writer.conn = None;
        writer.queue.drain(..).collect()
    }
}

impl Link {
    /// Reads and routes every message available now, unless someone else is reading.
    pub(crate) fn drain_here(&self) -> Drained {
        let Ok(mut reader) = self.reader.try_lock() else {
            return Drained::Busy;
        };
        let mut batch = Vec::new();
        let ended = loop {
            match reader.try_recv::<Envelope>() {
                Ok(Some(envelope)) => batch.push(envelope),
                Ok(None) => break false,
                Err(_) => break true,
            }
        };
        // Routed before the reading side is let go: a second reader must not route later
        // messages of this link ahead of these.
        let got = !batch.is_empty();
        if got {
            let net = node().actor_net();
            for envelope in batch {
                net.route(envelope);
            }
        }
        drop(reader);
        // What arrived after this look is the reader task's to read: wake it if it is waiting
        // for this reader to let go.
        if self.reader_waiting.swap(false, Ordering::AcqRel) {
            self.caller_done.notify_one();
        }
        match (ended, got) {
            (true, _) => Drained::Ended,
            (false, true) => Drained::Some,
            (false, false) => Drained::Nothing,
        }
    }
}

/// A link that is ready but not yet read: install it where routing finds it (the net's table
/// of links), then [`start`](Self::start) it. Reading before the link is installed would route
/// the first envelopes (a spawn request, say) while the table still lacks the link their replies
/// must leave by, and the node would open a second link to the same neighbour on demand.
pub(crate) struct Unstarted {
    link: Arc<Link>,
    readiness: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
}

impl Unstarted {
    /// The link, to install.
    pub(crate) fn link(&self) -> &Arc<Link> {
        &self.link
    }

    /// Starts the task that reads the link into the net. When the neighbour goes, the net hears
    /// of it.
    pub(crate) fn start(self) {
        let Unstarted { link, readiness } = self;
        let direction = link.direction;
        let weak = Arc::downgrade(&link);
        drop(link);
        node()
            .runtime()
            .spawn(reader::read_into_net(weak, readiness, direction));
    }
}

/// Makes a link of `conn` toward `direction`: a sending side, and a reading side registered with
/// the node's runtime.
pub(crate) fn new(conn: Connection, direction: Direction) -> std::io::Result<Unstarted> {
    let mut reader = conn
        .try_clone()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let _ = reader.set_read_ahead(READ_AHEAD);
    let readiness = std::os::fd::AsFd::as_fd(&reader).try_clone_to_owned()?;
    let link = Arc::new(Link {
        direction,
        writer: Mutex::new(Writer {
            conn: Some(conn),
            queue: VecDeque::new(),
            broken: false,
        }),
        reader: Mutex::new(reader),
        reader_waiting: AtomicBool::new(false),
        caller_done: tokio::sync::Notify::new(),
        callers_began: AtomicU64::new(0),
        callers_ended: AtomicU64::new(0),
        reader_aside: AtomicBool::new(false),
        reader_wanted: tokio::sync::Notify::new(),
    });
    let readiness = {
        let _enter = node().runtime().enter();
        reader::register(readiness)?
    };
    Ok(Unstarted { link, readiness })
}
