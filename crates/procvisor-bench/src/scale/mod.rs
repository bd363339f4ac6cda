//! `--scale`: how cost grows with size.
//!
//! Each scale workload is measured at a few sizes (workers, children, actors, producers,
//! clients), each size in a fresh process of its own (this binary again, with
//! `--scale --measure NAME SIZE`) and, where Python has a counterpart, in a fresh `python3`, so a
//! size's memory is its own and a size that hangs is killed at its deadline and reported as
//! failed. Then, per workload: a table (size → measurements), the growth exponent of each
//! measurement from a log-log fit, the check that no cost of the whole size grows worse than
//! linearly (an exponent above 1.1 is flagged), and an SVG plot.
//!
//! ```text
//! cargo run -p procvisor-bench --profile release-lto -- --scale [--smoke] [--plots-dir DIR] [NAME...]
//! ```
//!
//! The plots go to the book's `book/src/plots/` by default; a `--smoke` run's, whose tiny sizes
//! say nothing, to `procvisor-bench-plots` in the temporary folder.

mod actors;
mod manager;
mod plot;
mod pool_start;
mod queue;
mod report;
mod run;
mod supervisor;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: procvisor-bench --scale [--smoke] [--plots-dir DIR] [NAME...]";

/// What a measurement is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    Seconds,
    Bytes,
    PerSecond,
}

/// How a measurement relates to the cost of the whole size, for the growth check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Growth {
    /// The cost of the whole size (a start, a restart storm): its exponent is the one checked.
    Total,
    /// A cost per unit of size (memory per worker): the whole costs this times the size.
    PerUnit,
    /// A cost that should not depend on the size (one call's latency): checked as it is.
    Flat,
    /// Work per second, with work proportional to the size: the whole takes size / rate.
    Rate,
}

/// One measurement of a scale workload.
#[derive(Debug)]
pub(crate) struct Metric {
    /// The key of its `MEASURE` lines.
    pub(crate) key: &'static str,
    pub(crate) label: &'static str,
    pub(crate) unit: Unit,
    pub(crate) growth: Growth,
    /// A goal: procvisor's value at most this fraction of Python's.
    pub(crate) vs_python: Option<f64>,
}

/// What one size measured: each metric's key and value, in its unit.
pub(crate) type Measured = Vec<(&'static str, f64)>;

/// One scale workload.
#[derive(Debug)]
pub(crate) struct Scale {
    pub(crate) name: &'static str,
    /// What the size counts ("workers").
    pub(crate) size: &'static str,
    pub(crate) sizes: &'static [u64],
    pub(crate) smoke_sizes: &'static [u64],
    pub(crate) metrics: &'static [Metric],
    /// The Python script (`python/<name>.py`) that measures the same, if Python has one.
    pub(crate) python: Option<&'static str>,
    /// Measures procvisor at one size (`smoke`: less work per size), in this process.
    pub(crate) measure: fn(u64, bool) -> Result<Measured, String>,
    /// How long one size may take, on either side, before it counts as stuck.
    pub(crate) deadline: fn(u64) -> Duration,
}

/// Every scale workload, in report order.
fn all() -> Vec<&'static Scale> {
    vec![
        &pool_start::SCALE,
        &supervisor::SCALE,
        &actors::SCALE,
        &queue::SCALE,
        &manager::SCALE,
    ]
}

/// One size's results, per side: the measurements or why there are none.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) size: u64,
    pub(crate) procvisor: Result<BTreeMap<String, f64>, String>,
    pub(crate) python: Option<Result<BTreeMap<String, f64>, String>>,
}

#[derive(Debug)]
struct Options {
    smoke: bool,
    plots_dir: PathBuf,
    names: Vec<String>,
    /// `--measure NAME SIZE`: this process measures one size (a child of the scale run).
    measure: Option<(String, u64)>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut options = Options {
            smoke: false,
            plots_dir: PathBuf::new(),
            names: Vec::new(),
            measure: None,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--scale" => {}
                "--smoke" => options.smoke = true,
                "--plots-dir" => {
                    options.plots_dir = args.next().ok_or("--plots-dir takes a folder")?.into();
                }
                "--measure" => {
                    let name = args.next().ok_or("--measure takes NAME SIZE")?;
                    let size = args
                        .next()
                        .and_then(|s| s.parse().ok())
                        .ok_or("--measure takes NAME SIZE")?;
                    options.measure = Some((name.clone(), size));
                }
                flag if flag.starts_with("--") => {
                    return Err(format!("unknown option {flag} with --scale"));
                }
                name => options.names.push(name.to_string()),
            }
        }
        if options.plots_dir.as_os_str().is_empty() {
            // The book's plots come from full runs: a smoke run's go to a scratch folder.
            options.plots_dir = if options.smoke {
                std::env::temp_dir().join("procvisor-bench-plots")
            } else {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../book/src/plots")
            };
        }
        Ok(options)
    }
}

/// `procvisor-bench --scale ...`.
pub(crate) fn main(args: &[String]) -> ExitCode {
    let options = match Options::parse(args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let known = all();
    if let Some((name, size)) = &options.measure {
        return match known.iter().find(|s| s.name == name) {
            Some(scale) => run::child(scale, *size, options.smoke),
            None => {
                eprintln!("unknown scale workload {name}");
                ExitCode::from(2)
            }
        };
    }
    if let Some(unknown) = options
        .names
        .iter()
        .find(|n| !known.iter().any(|s| s.name == n.as_str()))
    {
        let names: Vec<&str> = known.iter().map(|s| s.name).collect();
        eprintln!(
            "unknown scale workload {unknown}; known: {}",
            names.join(", ")
        );
        return ExitCode::from(2);
    }
    let selected = known
        .into_iter()
        .filter(|s| options.names.is_empty() || options.names.iter().any(|n| n == s.name));
    let mut ok = true;
    if let Err(e) = std::fs::create_dir_all(&options.plots_dir) {
        eprintln!("cannot create {}: {e}", options.plots_dir.display());
        return ExitCode::FAILURE;
    }
    for scale in selected {
        let rows = run::sizes(scale, options.smoke);
        let summary = report::Summary::new(scale, &rows, options.smoke);
        println!("{summary}");
        ok &= summary.ok();
        let path = options.plots_dir.join(format!("{}.svg", scale.name));
        match plot::draw(&path, scale, &rows, options.smoke) {
            Ok(()) => println!("plot: {}\n", path.display()),
            Err(e) => {
                println!("plot: cannot draw {}: {e}\n", path.display());
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Resident and proportional set sizes of process `pid`, in bytes, from its `smaps_rollup`
/// (PSS divides each shared page among the processes that share it).
pub(crate) fn rss_pss(pid: u32) -> Result<(f64, f64), String> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .map_err(|e| format!("/proc/{pid}/smaps_rollup: {e}"))?;
    let field = |name: &str| -> Result<f64, String> {
        rollup
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse::<f64>().ok())
            .map(|kib| kib * 1024.0)
            .ok_or_else(|| format!("no {name} in /proc/{pid}/smaps_rollup"))
    };
    Ok((field("Rss:")?, field("Pss:")?))
}

/// This process's resident set, in bytes.
pub(crate) fn own_rss() -> Result<f64, String> {
    Ok(rss_pss(std::process::id())?.0)
}

/// The median of `samples` (not empty).
pub(crate) fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Turns any error into its message.
pub(crate) fn text<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}
