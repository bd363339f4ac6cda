//! Who gets a task first: the router that hands it to a worker, or a caller that cancels it.
//! A task can be taken back only while nobody has started it, as Python's
//! `Future.cancel` can only take back a call that has not reached a worker.

use std::sync::atomic::{AtomicU8, Ordering};

const QUEUED: u8 = 0;
const STARTED: u8 = 1;
const CANCELLED: u8 = 2;

/// Where a task stands, as far as cancelling it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClaimState {
    /// Waiting in the pool's queue: it can still be cancelled.
    Queued,
    /// Handed to a worker (or a host): it runs or is about to, and cannot be cancelled.
    Started,
    /// Cancelled before it started: it will never run.
    Cancelled,
}

/// One task's claim, shared by the pool's router and the task's future.
#[derive(Debug, Default)]
pub(crate) struct Claim(AtomicU8);

impl Claim {
    /// The router takes the task for a worker; false when it was cancelled first.
    pub(crate) fn start(&self) -> bool {
        match self
            .0
            .compare_exchange(QUEUED, STARTED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(now) => now == STARTED,
        }
    }

    /// The caller takes the task back; false when a worker has it already.
    pub(crate) fn cancel(&self) -> bool {
        match self
            .0
            .compare_exchange(QUEUED, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(now) => now == CANCELLED,
        }
    }

    /// [`cancel`](Self::cancel), true only if this call is the one that cancelled it.
    pub(crate) fn cancel_queued(&self) -> bool {
        self.0
            .compare_exchange(QUEUED, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    pub(crate) fn state(&self) -> ClaimState {
        match self.0.load(Ordering::Acquire) {
            QUEUED => ClaimState::Queued,
            STARTED => ClaimState::Started,
            _ => ClaimState::Cancelled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_of_start_and_cancel_wins() {
        let claim = Claim::default();
        assert_eq!(claim.state(), ClaimState::Queued);
        assert!(claim.cancel());
        assert!(!claim.start(), "a cancelled task must not run");
        assert!(
            claim.cancel(),
            "cancelling twice says cancelled, as Python does"
        );
        assert!(!claim.cancel_queued(), "but only the first cancel did it");
        assert_eq!(claim.state(), ClaimState::Cancelled);

        let claim = Claim::default();
        assert!(claim.start());
        assert!(
            claim.start(),
            "a task taken back from a worker is started again"
        );
        assert!(!claim.cancel(), "a started task cannot be cancelled");
        assert_eq!(claim.state(), ClaimState::Started);
    }

    #[test]
    fn racing_threads_agree_on_one_winner() {
        for _ in 0..200 {
            let claim = std::sync::Arc::new(Claim::default());
            let other = claim.clone();
            let starter = std::thread::spawn(move || other.start());
            let cancelled = claim.cancel();
            let started = starter.join().unwrap();
            assert_ne!(cancelled, started, "exactly one side wins");
        }
    }
}
