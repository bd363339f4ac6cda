//! How many clients may be in their authkey handshake at once, and for how long.
//!
//! Handshakes run on the client's own thread, never in the accept loop, so a client that
//! connects and says nothing delays nobody: it is cut off after [`HANDSHAKE_TIMEOUT`]. Many such
//! clients at once are bounded too: past [`MAX_PENDING`] handshakes, the one waiting longest is
//! cut short to make room, once it has waited [`PATIENCE`]. An honest client finishes its
//! handshake in a round trip, so one that has waited that long is the likeliest to be silent;
//! a burst of honest clients (a hundred tasks connecting at once on a busy machine) is let in
//! whole, up to [`HARD_LIMIT`].

use procvisor_wire::Interrupt;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most a client may take to prove it holds the authkey.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// How many handshakes may be in progress before the oldest is cut short.
pub(crate) const MAX_PENDING: usize = 64;

/// How long the oldest handshake is let run, past [`MAX_PENDING`], before it is cut short.
const PATIENCE: Duration = Duration::from_secs(1);

/// The most handshakes in progress at once, however young.
const HARD_LIMIT: usize = 1024;

/// What cuts a handshake short.
pub(crate) trait Cut {
    fn cut(&self);
}

impl Cut for Interrupt {
    fn cut(&self) {
        self.interrupt();
    }
}

/// The handshakes in progress, oldest first: ticket, start, and what cuts each short.
type Pending<C> = VecDeque<(u64, Instant, C)>;

/// The handshakes in progress, and the last ticket given.
pub(crate) struct Handshakes<C = Interrupt> {
    pending: Mutex<(u64, Pending<C>)>,
}

impl<C> Default for Handshakes<C> {
    fn default() -> Self {
        Handshakes {
            pending: Mutex::new((0, VecDeque::new())),
        }
    }
}

impl<C: Cut> Handshakes<C> {
    /// Records a handshake about to start (cutting the oldest short when too many have waited
    /// too long); returns its ticket for [`done`](Self::done).
    pub(crate) fn begin(&self, cut: C) -> u64 {
        self.begin_at(cut, Instant::now())
    }

    fn begin_at(&self, cut: C, now: Instant) -> u64 {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.1.len() >= MAX_PENDING {
            let overdue = pending
                .1
                .front()
                .is_some_and(|(_, started, _)| now.duration_since(*started) >= PATIENCE);
            if overdue || pending.1.len() >= HARD_LIMIT {
                if let Some((_, _, oldest)) = pending.1.pop_front() {
                    tracing::warn!(target: "procvisor::manager", limit = MAX_PENDING, "too many clients in their handshake at once; cutting the oldest short");
                    oldest.cut();
                }
            }
        }
        pending.0 += 1;
        let ticket = pending.0;
        pending.1.push_back((ticket, now, cut));
        ticket
    }

    /// The handshake with `ticket` is over (either way).
    pub(crate) fn done(&self, ticket: u64) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.1.retain(|(t, _, _)| *t != ticket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[derive(Clone, Default)]
    struct Flag(Arc<AtomicBool>);

    impl Cut for Flag {
        fn cut(&self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    impl Flag {
        fn was_cut(&self) -> bool {
            self.0.load(Ordering::SeqCst)
        }
    }

    /// A hundred clients connecting at once (CI saw honest ones cut off at the 65th).
    #[test]
    fn a_burst_of_young_handshakes_is_let_in_whole() {
        let handshakes = Handshakes::default();
        let t0 = Instant::now();
        let flags: Vec<Flag> = (0..100).map(|_| Flag::default()).collect();
        for (i, flag) in flags.iter().enumerate() {
            handshakes.begin_at(flag.clone(), t0 + Duration::from_millis(i as u64));
        }
        assert!(
            flags.iter().all(|f| !f.was_cut()),
            "an honest client was cut off"
        );
    }

    #[test]
    fn past_the_bound_the_oldest_is_cut_once_it_has_waited_too_long() {
        let handshakes = Handshakes::default();
        let t0 = Instant::now();
        let flags: Vec<Flag> = (0..MAX_PENDING).map(|_| Flag::default()).collect();
        for flag in &flags {
            handshakes.begin_at(flag.clone(), t0);
        }
        let late = Flag::default();
        handshakes.begin_at(late.clone(), t0 + PATIENCE);
        assert!(flags[0].was_cut(), "the silent oldest stayed");
        assert!(flags[1..].iter().all(|f| !f.was_cut()));
        assert!(!late.was_cut());
    }

    #[test]
    fn finished_handshakes_leave_room_and_the_hard_limit_holds() {
        let handshakes = Handshakes::default();
        let t0 = Instant::now();
        let first = Flag::default();
        let ticket = handshakes.begin_at(first.clone(), t0);
        handshakes.done(ticket);
        let flags: Vec<Flag> = (0..HARD_LIMIT).map(|_| Flag::default()).collect();
        for flag in &flags {
            handshakes.begin_at(flag.clone(), t0);
        }
        assert!(flags.iter().all(|f| !f.was_cut()));
        handshakes.begin_at(Flag::default(), t0);
        assert!(
            flags[0].was_cut(),
            "past the hard limit the oldest goes, however young"
        );
        assert!(!first.was_cut(), "a finished handshake is not cut");
    }
}
