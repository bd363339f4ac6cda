//! Children's `tracing` output, forwarded to the parent.
//!
//! A child forwards every event its parent would display (the parent's maximum level travels in
//! the bootstrap) over the link; the parent re-emits it through its own subscriber under the
//! target `procvisor::child`, with the child's name and pid as fields. [`log_to_stderr`] is the
//! counterpart of Python's `multiprocessing.log_to_stderr`.

use crate::link::ToParent;
use crate::node::node;
use serde::{Deserialize, Serialize};
use std::fmt::{self, Write as _};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// One event from a child.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LogRecord {
    level: u8,
    target: String,
    message: String,
}

fn level_index(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

fn filter_from_index(index: u8) -> LevelFilter {
    match index {
        0 => LevelFilter::OFF,
        1 => LevelFilter::ERROR,
        2 => LevelFilter::WARN,
        3 => LevelFilter::INFO,
        4 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    }
}

/// The most verbose level this process's subscriber displays, as sent to children.
pub(crate) fn current_level() -> u8 {
    match LevelFilter::current().into_level() {
        None => 0,
        Some(level) => level_index(&level),
    }
}

/// Collects an event's message and fields into one line.
#[derive(Default)]
struct Line {
    message: String,
    fields: String,
    child: Option<String>,
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            "child" => self.child = Some(value.to_string()),
            name => {
                let _ = write!(self.fields, " {name}={value}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            "child" => self.child = Some(format!("{value:?}")),
            name => {
                let _ = write!(self.fields, " {name}={value:?}");
            }
        }
    }
}

/// The child-side layer: every event goes to the parent.
struct Forward;

impl<S: Subscriber> Layer<S> for Forward {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut line = Line::default();
        event.record(&mut line);
        let meta = event.metadata();
        let record = LogRecord {
            level: level_index(meta.level()),
            target: meta.target().to_string(),
            message: format!("{}{}", line.message, line.fields),
        };
        node().send_to_parent(&ToParent::Log(record));
    }
}

/// In a spawned or fork-served child: forward events to the parent, process-wide.
pub(crate) fn forward_to_parent_globally(level: u8) {
    if level == 0 {
        return;
    }
    let subscriber =
        tracing_subscriber::registry().with(Forward.with_filter(filter_from_index(level)));
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// In a forked child (which inherited its parent's global subscriber): forward the events of
/// the calling thread. Keep the guard alive while the target runs.
pub(crate) fn forward_to_parent_on_this_thread(
    level: u8,
) -> Option<tracing::subscriber::DefaultGuard> {
    if level == 0 {
        // The parent displays nothing: keep the fork cheap (a subscriber allocates pages that a
        // forked child would have to copy).
        return None;
    }
    let subscriber =
        tracing_subscriber::registry().with(Forward.with_filter(filter_from_index(level)));
    Some(tracing::subscriber::set_default(subscriber))
}

/// In the parent: re-emits a child's event through this process's subscriber.
pub(crate) fn emit(record: &LogRecord, child: &str, pid: u32) {
    macro_rules! event {
        ($level:expr) => {
            tracing::event!(target: "procvisor::child", $level, child = child, pid, origin = %record.target, "{}", record.message)
        };
    }
    match record.level {
        1 => event!(Level::ERROR),
        2 => event!(Level::WARN),
        3 => event!(Level::INFO),
        4 => event!(Level::DEBUG),
        _ => event!(Level::TRACE),
    }
}

/// Python's format: `[LEVEL/ProcessName] message`, where a child's events carry the child's
/// name.
struct PythonFormat;

impl<S, N> FormatEvent<S, N> for PythonFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Line::default();
        event.record(&mut line);
        let name = line.child.clone().unwrap_or_else(|| node().identity().name);
        let fields = if event.metadata().target() == "procvisor::child" {
            // The child's own fields are already in its message; drop the routing fields.
            String::new()
        } else {
            line.fields
        };
        writeln!(
            writer,
            "[{}/{}] {}{}",
            event.metadata().level(),
            name,
            line.message,
            fields
        )
    }
}

/// Python's `log_to_stderr(level)`: prints this process's events and its children's to stderr
/// as `[LEVEL/ProcessName] message`. Installs the global subscriber; does nothing if one is
/// already installed (returns `false` then).
pub fn log_to_stderr(level: Level) -> bool {
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .event_format(PythonFormat)
        .finish();
    tracing::subscriber::set_global_default(subscriber).is_ok()
}
