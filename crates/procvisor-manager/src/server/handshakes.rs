//! How many clients may be in their authkey handshake at once, and for how long.
//!
//! Handshakes run on the client's own thread, never in the accept loop, so a client that
//! connects and says nothing delays nobody: it is cut off after [`HANDSHAKE_TIMEOUT`]. Many such
//! clients at once are bounded too: past [`MAX_PENDING`] handshakes, the one waiting longest is
//! cut short to make room (an honest client finishes its handshake in a round trip; one that
//! has waited longest is the likeliest to be silent).

use procvisor_wire::Interrupt;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

/// The most a client may take to prove it holds the authkey.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The most handshakes in progress at once.
pub(crate) const MAX_PENDING: usize = 64;

/// The handshakes in progress, oldest first.
#[derive(Default)]
pub(crate) struct Handshakes {
    pending: Mutex<(u64, VecDeque<(u64, Interrupt)>)>,
}

impl Handshakes {
    /// Records a handshake about to start (cutting the oldest short when full); returns its
    /// ticket for [`done`](Self::done).
    pub(crate) fn begin(&self, interrupt: Interrupt) -> u64 {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.1.len() >= MAX_PENDING {
            if let Some((_, oldest)) = pending.1.pop_front() {
                tracing::warn!(target: "procvisor::manager", limit = MAX_PENDING, "too many clients in their handshake at once; cutting the oldest short");
                oldest.interrupt();
            }
        }
        pending.0 += 1;
        let ticket = pending.0;
        pending.1.push_back((ticket, interrupt));
        ticket
    }

    /// The handshake with `ticket` is over (either way).
    pub(crate) fn done(&self, ticket: u64) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.1.retain(|(t, _)| *t != ticket);
    }
}
