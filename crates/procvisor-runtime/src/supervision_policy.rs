//! Restart limits shared by supervisors and pools.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// OTP's restart intensity: more than `max_restarts` restarts within `period` means the failure
/// is not transient, and the supervisor (or pool) gives up instead of restarting for ever.
///
/// The default is Elixir's: more than 3 restarts in 5 seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RestartIntensity {
    /// How many restarts are allowed within `period`.
    pub max_restarts: u32,
    /// The sliding window.
    pub period: Duration,
}

impl Default for RestartIntensity {
    fn default() -> Self {
        RestartIntensity {
            max_restarts: 3,
            period: Duration::from_secs(5),
        }
    }
}

impl RestartIntensity {
    /// `max_restarts` restarts allowed per `period`.
    pub fn new(max_restarts: u32, period: Duration) -> RestartIntensity {
        RestartIntensity {
            max_restarts,
            period,
        }
    }

    /// No limit: always restart.
    pub fn unlimited() -> RestartIntensity {
        RestartIntensity {
            max_restarts: u32::MAX,
            period: Duration::from_secs(1),
        }
    }
}

/// The restarts of the last period, to check against a [`RestartIntensity`].
#[derive(Debug, Default, Clone)]
pub struct RestartLog {
    restarts: VecDeque<Instant>,
}

impl RestartLog {
    /// Records a restart now; returns `false` when it exceeds `intensity` (give up).
    pub fn record(&mut self, intensity: RestartIntensity) -> bool {
        let now = Instant::now();
        while self
            .restarts
            .front()
            .is_some_and(|t| now.duration_since(*t) > intensity.period)
        {
            self.restarts.pop_front();
        }
        self.restarts.push_back(now);
        self.restarts.len() as u64 <= u64::from(intensity.max_restarts)
    }

    /// Restarts recorded within the current window.
    pub fn recent(&self) -> usize {
        self.restarts.len()
    }
}

/// How long to wait before a restart: exponential from `initial`, capped at `max`, with up to
/// `jitter` (a fraction) random spread so that many restarts do not happen in lockstep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The delay before the first restart.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
    /// Random spread, as a fraction of the delay (0.0 to 1.0).
    pub jitter: f64,
}

impl Default for Backoff {
    /// No delay: restart at once (pools want their workers back quickly).
    fn default() -> Self {
        Backoff {
            initial: Duration::ZERO,
            max: Duration::ZERO,
            jitter: 0.0,
        }
    }
}

impl Backoff {
    /// Exponential backoff from `initial` to `max` with 20% jitter.
    pub fn exponential(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            jitter: 0.2,
        }
    }

    /// The delay before restart number `attempt` (0 for the first).
    pub fn delay(&self, attempt: u32) -> Duration {
        if self.initial.is_zero() {
            return Duration::ZERO;
        }
        let base = self
            .initial
            .saturating_mul(1_u32 << attempt.min(20))
            .min(self.max);
        let mut seed = [0_u8; 8];
        let _ = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut seed));
        let unit = (u64::from_le_bytes(seed) >> 11) as f64 / (1_u64 << 53) as f64;
        base.mul_f64(1.0 + self.jitter.clamp(0.0, 1.0) * (unit * 2.0 - 1.0))
            .min(self.max.max(base))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intensity_allows_max_restarts_per_period() {
        let intensity = RestartIntensity::new(3, Duration::from_secs(60));
        let mut log = RestartLog::default();
        assert!(log.record(intensity) && log.record(intensity) && log.record(intensity));
        assert!(
            !log.record(intensity),
            "the fourth within the period is too many"
        );
        assert_eq!(log.recent(), 4);
    }

    #[test]
    fn backoff_grows_and_stays_capped() {
        let backoff = Backoff::exponential(Duration::from_millis(10), Duration::from_millis(100));
        for attempt in 0..10 {
            let delay = backoff.delay(attempt);
            assert!(delay <= Duration::from_millis(120), "{attempt}: {delay:?}");
        }
        assert!(
            backoff.delay(6) >= Duration::from_millis(80),
            "capped near max"
        );
        assert_eq!(Backoff::default().delay(3), Duration::ZERO);
    }
}
