//! Adaptive spinning before a receive blocks.
//!
//! Waking a process that sleeps in `recv` costs a scheduler round trip, and on virtual
//! machines waking an idle CPU costs tens of microseconds, far more than the message itself.
//! So a blocking receive first polls the socket for a short while. The budget adapts per
//! connection: a wait that would have ended within the budget keeps (or restores) the full
//! budget; a wait that outlasted it halves the budget, so an idle connection soon stops spinning
//! at all. Every poll yields the CPU, so a spinning receiver does not starve a runnable peer.

use std::time::{Duration, Instant};

/// The default upper bound on spinning before a receive blocks.
pub const DEFAULT_SPIN: Duration = Duration::from_micros(50);

/// Per-connection spin state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spin {
    max: Duration,
    budget: Duration,
}

impl Default for Spin {
    fn default() -> Self {
        Self::new(DEFAULT_SPIN)
    }
}

impl Spin {
    pub(crate) fn new(max: Duration) -> Self {
        Self { max, budget: max }
    }

    pub(crate) fn max(&self) -> Duration {
        self.max
    }

    /// How long to spin now (capped by a deadline, if any).
    pub(crate) fn budget(&self, deadline: Option<Instant>) -> Duration {
        match deadline {
            Some(d) => self.budget.min(d.saturating_duration_since(Instant::now())),
            None => self.budget,
        }
    }

    /// Data arrived while spinning.
    pub(crate) fn hit(&mut self) {
        self.budget = self.max;
    }

    /// Spinning ran out and the receive blocked for `blocked`.
    pub(crate) fn missed(&mut self, blocked: Duration) {
        self.budget = if blocked <= self.max {
            self.max
        } else {
            self.budget / 2
        };
        if self.budget < Duration::from_micros(1) {
            self.budget = Duration::ZERO;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_waits_shrink_the_budget_to_nothing_and_short_ones_restore_it() {
        let mut spin = Spin::new(Duration::from_micros(64));
        for _ in 0..10 {
            spin.missed(Duration::from_millis(5));
        }
        assert_eq!(spin.budget(None), Duration::ZERO);
        spin.missed(Duration::from_micros(10));
        assert_eq!(spin.budget(None), Duration::from_micros(64));
        spin.missed(Duration::from_millis(1));
        assert_eq!(spin.budget(None), Duration::from_micros(32));
        spin.hit();
        assert_eq!(spin.budget(None), Duration::from_micros(64));
    }

    #[test]
    fn a_deadline_caps_the_budget() {
        let spin = Spin::new(Duration::from_secs(1));
        let deadline = Instant::now() + Duration::from_millis(1);
        assert!(spin.budget(Some(deadline)) <= Duration::from_millis(1));
    }
}
