//! Python's `get_logger()`: where procvisor's own log events go, and how to see them.
//!
//! Python's `multiprocessing` logs through one `logging` logger named `'multiprocessing'`.
//! procvisor logs through [`tracing`], under one target per part of the library, all starting
//! with `procvisor`; children's events reach the parent under `procvisor::child`. There is no
//! logger object to configure: a `tracing` subscriber decides what is shown, and [`Logger`]
//! names the targets and builds the filter for one.

use tracing::Level;
use tracing_subscriber::filter::Targets;

/// Every `tracing` target procvisor logs under.
///
/// | target | what |
/// |---|---|
/// | `procvisor::process` | starting and watching child processes |
/// | `procvisor::child` | a child's own events, re-emitted in the parent (fields `child`, `pid`, `origin`) |
/// | `procvisor::sync` | a lock taken over from a process that died holding it |
/// | `procvisor::pool` | pools: workers, restarts, lost tasks |
/// | `procvisor::manager` | manager servers and proxies |
/// | `procvisor::actor` | actors and their links |
/// | `procvisor::supervisor` | supervision: restarts, escalation, shutdown |
/// | `procvisor::cluster` | clusters: hosts, agents, the bus |
pub const LOG_TARGETS: &[&str] = &[
    "procvisor::process",
    "procvisor::child",
    "procvisor::sync",
    "procvisor::pool",
    "procvisor::manager",
    "procvisor::actor",
    "procvisor::supervisor",
    "procvisor::cluster",
];

/// procvisor's logging, as Python's `get_logger()` returns it: see [`get_logger`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Logger;

/// Python's `multiprocessing.get_logger()`: a handle on procvisor's logging.
///
/// Python's logger starts with no handler, so nothing is shown until one is added; the same
/// holds here until a `tracing` subscriber is installed. [`log_to_stderr`](crate::log_to_stderr)
/// installs one with Python's format; to keep your own subscriber and show procvisor's events
/// at a level, add the [`filter`](Logger::filter):
///
/// ```
/// use procvisor_runtime::get_logger;
/// use tracing::Level;
/// use tracing_subscriber::prelude::*;
///
/// let subscriber = tracing_subscriber::registry()
///     .with(tracing_subscriber::fmt::layer().with_filter(get_logger().filter(Level::DEBUG)));
/// tracing::subscriber::with_default(subscriber, || {
///     assert!(get_logger().is_enabled_for(Level::DEBUG));
///     assert!(!get_logger().is_enabled_for(Level::TRACE));
///     get_logger().log(Level::INFO, "shown under the target `procvisor`");
/// });
/// ```
pub fn get_logger() -> Logger {
    Logger
}

impl Logger {
    /// The prefix of every target: `procvisor` (Python's logger is `'multiprocessing'`).
    ///
    /// ```
    /// assert_eq!(procvisor_runtime::get_logger().name(), "procvisor");
    /// ```
    pub fn name(&self) -> &'static str {
        "procvisor"
    }

    /// The targets procvisor logs under: [`LOG_TARGETS`].
    ///
    /// ```
    /// let targets = procvisor_runtime::get_logger().targets();
    /// assert!(targets.contains(&"procvisor::pool"));
    /// ```
    pub fn targets(&self) -> &'static [&'static str] {
        LOG_TARGETS
    }

    /// A filter that lets procvisor's events through up to `level` and nothing else (Python's
    /// `get_logger().setLevel(level)`); combine it with your other layers' filters.
    ///
    /// ```
    /// use tracing_subscriber::prelude::*;
    ///
    /// let only_ours = procvisor_runtime::get_logger().filter(tracing::Level::WARN);
    /// let _subscriber = tracing_subscriber::registry().with(only_ours);
    /// ```
    pub fn filter(&self, level: Level) -> Targets {
        Targets::new().with_target(self.name(), level)
    }

    /// Whether the current subscriber shows procvisor's events at `level` (Python's
    /// `isEnabledFor`).
    ///
    /// ```
    /// // No subscriber installed: nothing is shown.
    /// assert!(!procvisor_runtime::get_logger().is_enabled_for(tracing::Level::ERROR));
    /// ```
    pub fn is_enabled_for(&self, level: Level) -> bool {
        macro_rules! enabled {
            ($level:expr) => {
                tracing::enabled!(target: "procvisor", $level)
            };
        }
        match level {
            Level::ERROR => enabled!(Level::ERROR),
            Level::WARN => enabled!(Level::WARN),
            Level::INFO => enabled!(Level::INFO),
            Level::DEBUG => enabled!(Level::DEBUG),
            Level::TRACE => enabled!(Level::TRACE),
        }
    }

    /// Logs `message` at `level` under the target `procvisor` (Python's
    /// `get_logger().info(...)` and friends). In a child, it reaches the parent like any event.
    ///
    /// ```
    /// procvisor_runtime::get_logger().log(tracing::Level::WARN, "a warning");
    /// ```
    pub fn log(&self, level: Level, message: &str) {
        macro_rules! event {
            ($level:expr) => {
                tracing::event!(target: "procvisor", $level, "{message}")
            };
        }
        match level {
            Level::ERROR => event!(Level::ERROR),
            Level::WARN => event!(Level::WARN),
            Level::INFO => event!(Level::INFO),
            Level::DEBUG => event!(Level::DEBUG),
            Level::TRACE => event!(Level::TRACE),
        }
    }

    /// Python's `log_to_stderr(level)`: see [`log_to_stderr`](crate::log_to_stderr).
    ///
    /// ```no_run
    /// procvisor_runtime::get_logger().log_to_stderr(tracing::Level::INFO);
    /// ```
    pub fn log_to_stderr(&self, level: Level) -> bool {
        crate::log_to_stderr(level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Every procvisor target named in an event of the workspace's crates, so that the table
    /// cannot fall behind the code.
    fn targets_in(dir: &Path, found: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                targets_in(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                for piece in text.split("target: \"").skip(1) {
                    let target = piece.split('"').next().unwrap_or_default();
                    if target.starts_with("procvisor::") {
                        found.push(target.to_string());
                    }
                }
            }
        }
    }

    #[test]
    fn every_target_the_crates_log_under_is_listed() {
        let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut found = Vec::new();
        for name in [
            "procvisor-runtime",
            "procvisor-sync",
            "procvisor-pool",
            "procvisor-manager",
            "procvisor-cluster",
        ] {
            targets_in(&crates.join(name).join("src"), &mut found);
        }
        assert!(found.len() > 10, "the search found the crates: {found:?}");
        for target in found {
            assert!(
                LOG_TARGETS.contains(&target.as_str()),
                "{target} is not in LOG_TARGETS"
            );
        }
    }

    #[test]
    fn the_filter_shows_procvisor_up_to_its_level_and_nothing_else() {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(get_logger().filter(Level::INFO));
        tracing::subscriber::with_default(subscriber, || {
            assert!(get_logger().is_enabled_for(Level::INFO));
            assert!(!get_logger().is_enabled_for(Level::DEBUG));
            assert!(tracing::enabled!(target: "procvisor::pool", Level::WARN));
            assert!(!tracing::enabled!(target: "someone_else", Level::ERROR));
        });
    }
}
