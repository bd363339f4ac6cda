//! A worker's answers on their way to the router.
//!
//! A short task's answer waits while the worker runs the next task it already holds, so that a
//! run of short tasks is answered in one message: the router is then woken once for many
//! answers, not once per task, which is most of what a short task costs. An answer never waits
//! long: it goes at once when no task waits behind it, when its task was not short or its
//! answer is large, when enough are held, and in any case within [`HOLD_AT_MOST`], the reader
//! thread sending it when the worker is still busy with a task that turned out long. A held
//! answer is also written to the worker's [`AnswerRing`], which its router reads if the worker
//! dies: a crash loses no answer and is blamed on the task that was running.

use crate::answer_ring::AnswerRing;
use crate::protocol::ToRouter;
use procvisor_runtime::__private::pool_support;
use procvisor_runtime::Failure;
use procvisor_wire::{Connection, ConnectionError, Payload};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// A task that ran for less than this counts as short: its answer may wait for the next one.
const SHORT: Duration = Duration::from_micros(100);
/// The most answers sent in one message.
const MOST_HELD: usize = 32;
/// The most bytes of answers held.
const MOST_BYTES: usize = 256 << 10;
/// The largest answer that may wait. A larger one goes at once: the wake it would share is a
/// small part of what moving its bytes costs, and keeping its copy in the ring is not.
const LARGEST_HELD: usize = 8 << 10;
/// How long an answer may wait for the tasks after it.
pub(super) const HOLD_AT_MOST: Duration = Duration::from_millis(1);

type Answer = (u64, Result<Payload, Failure>);

/// Why a message was not sent.
pub(super) enum SendError {
    /// The router is gone.
    Gone,
    /// This message cannot be sent (too large, unencodable); the link is fine.
    Unsendable(String),
}

#[derive(Default)]
struct Held {
    answers: Vec<Answer>,
    bytes: usize,
    /// When the first held answer was ready.
    since: Option<Instant>,
}

/// The link's writing end and the answers held for it.
pub(super) struct Outbox {
    writer: Mutex<Connection>,
    held: Mutex<Held>,
    /// Where held answers survive the worker, made (and handed to the router) before the first
    /// is held; a worker that never holds one never makes it. Without one, nothing is held.
    ring: OnceLock<Option<AnswerRing>>,
}

impl Outbox {
    pub(super) fn new(writer: Connection) -> Outbox {
        Outbox {
            writer: Mutex::new(writer),
            held: Mutex::new(Held::default()),
            ring: OnceLock::new(),
        }
    }

    /// Makes the ring and hands it to the router (before any answer is kept in it).
    fn make_ring(&self) -> Option<AnswerRing> {
        let ring = AnswerRing::create(MOST_BYTES).ok()?;
        self.send_now(&ToRouter::AnswerRing(ring.clone())).ok()?;
        Some(ring)
    }

    /// Keeps a copy of `answer` in the ring; false when it cannot be (no ring, no room, or
    /// descriptors, which only a message can carry).
    fn keep(&self, answer: &Answer) -> bool {
        let Some(ring) = self.ring.get_or_init(|| self.make_ring()) else {
            return false;
        };
        let mut record = Vec::new();
        let (encoded, fds) = procvisor_wire::fd_passing::collect_fds(|| {
            procvisor_wire::codec::encode_into(answer, &mut record)
        });
        encoded.is_ok() && fds.is_empty() && ring.append(&record)
    }

    fn held(&self) -> MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `message`, after any answers held (they came first).
    pub(super) fn send(&self, message: &ToRouter) -> Result<(), SendError> {
        self.flush()?;
        self.send_now(message)
    }

    fn send_now(&self, message: &ToRouter) -> Result<(), SendError> {
        match self
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(message)
        {
            Ok(()) => Ok(()),
            Err(e @ (ConnectionError::FrameTooLarge { .. } | ConnectionError::Codec(_))) => {
                Err(SendError::Unsendable(e.to_string()))
            }
            Err(_) => Err(SendError::Gone),
        }
    }

    /// Answers the task `id`, which ran for `ran`: held when `may_wait` (another task is queued
    /// here, and this task has no time limit) and the policy above allows, sent otherwise.
    pub(super) fn answer(
        &self,
        id: u64,
        result: Result<Payload, Failure>,
        ran: Duration,
        may_wait: bool,
    ) -> Result<(), SendError> {
        let size = match &result {
            Ok(payload) => payload.bytes().len(),
            Err(_) => 0,
        };
        let answer = (id, result);
        let mut held = self.held();
        let hold = may_wait
            && ran < SHORT
            && size <= LARGEST_HELD
            && held.answers.len() + 1 < MOST_HELD
            && held.bytes + size < MOST_BYTES
            && held
                .since
                .is_none_or(|since| since.elapsed() < HOLD_AT_MOST)
            && self.keep(&answer);
        held.answers.push(answer);
        held.bytes += size;
        held.since.get_or_insert_with(Instant::now);
        if hold {
            return Ok(());
        }
        let answers = take(&mut held);
        self.send_answers(answers)
    }

    /// Sends the held answers.
    pub(super) fn flush(&self) -> Result<(), SendError> {
        let mut held = self.held();
        let answers = take(&mut held);
        self.send_answers(answers)
    }

    /// Sends the held answers if the first has waited [`HOLD_AT_MOST`] (the reader thread's
    /// look while the worker is busy).
    pub(super) fn flush_if_due(&self) -> Result<(), SendError> {
        let mut held = self.held();
        let answers = match held.since {
            Some(since) if since.elapsed() >= HOLD_AT_MOST => take(&mut held),
            _ => return Ok(()),
        };
        self.send_answers(answers)
    }

    /// Whether answers are held.
    pub(super) fn holding(&self) -> bool {
        !self.held().answers.is_empty()
    }

    /// One message for one answer, one for several. An answer that cannot travel (too large, or
    /// its descriptors) is replaced by the failure that says so. Called with the held answers
    /// locked: the ring's copies are cleared once these are sent, and none may be kept between.
    fn send_answers(&self, answers: Vec<Answer>) -> Result<(), SendError> {
        if answers.is_empty() {
            return Ok(());
        }
        let sent = self.send_answers_now(answers);
        // Sent (or never to be: the router is gone): the copies are not needed.
        if let Some(Some(ring)) = self.ring.get() {
            ring.clear();
        }
        sent
    }

    fn send_answers_now(&self, answers: Vec<Answer>) -> Result<(), SendError> {
        let answers = if answers.len() > 1 {
            let many = ToRouter::DoneMany(answers);
            match self.send_now(&many) {
                Err(SendError::Unsendable(_)) => {}
                sent => return sent,
            }
            // Too large together, or one of them cannot travel: one by one.
            let ToRouter::DoneMany(answers) = many else {
                unreachable!("built above")
            };
            answers
        } else {
            answers
        };
        for (id, result) in answers {
            match self.send_now(&ToRouter::Done { id, result }) {
                Err(SendError::Unsendable(reason)) => {
                    let failure = pool_support::failure(
                        procvisor_runtime::FailureKind::Codec,
                        format!("cannot send the result back: {reason}"),
                    );
                    self.send_now(&ToRouter::Done {
                        id,
                        result: Err(failure),
                    })?;
                }
                sent => sent?,
            }
        }
        Ok(())
    }
}

fn take(held: &mut Held) -> Vec<Answer> {
    held.bytes = 0;
    held.since = None;
    std::mem::take(&mut held.answers)
}
