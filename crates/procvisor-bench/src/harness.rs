//! Running workloads interleaved and reporting medians and ratios.

use std::fmt;
use std::time::Duration;

pub(crate) const USAGE: &str = "usage: procvisor-bench [--rounds N] [--smoke] [--only procvisor|python|baseline] [--verbose] [--list] [WORKLOAD...]";

/// Command-line options.
#[derive(Debug)]
pub(crate) struct Options {
    pub(crate) rounds: usize,
    pub(crate) smoke: bool,
    /// Run one side only (for profiling it); ratios are then not reported.
    pub(crate) only: Option<Side>,
    /// Print every sample, not only the medians.
    pub(crate) verbose: bool,
    pub(crate) workloads: Vec<String>,
}

impl Options {
    pub(crate) fn parse(args: &[String]) -> Result<Options, String> {
        let mut options = Options {
            rounds: 6,
            smoke: false,
            only: None,
            verbose: false,
            workloads: Vec::new(),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--smoke" => options.smoke = true,
                "--verbose" => options.verbose = true,
                "--rounds" => {
                    options.rounds = args
                        .next()
                        .and_then(|n| n.parse().ok())
                        .filter(|&n| n > 0)
                        .ok_or("--rounds takes a positive number")?;
                }
                "--only" => {
                    options.only = Some(match args.next().map(String::as_str) {
                        Some("procvisor") => Side::Procvisor,
                        Some("python") => Side::Python,
                        Some("baseline") => Side::Baseline,
                        _ => return Err("--only takes procvisor, python or baseline".into()),
                    });
                }
                "--list" => {
                    let names: Vec<&str> =
                        crate::workloads::all().iter().map(|w| w.name()).collect();
                    return Err(format!("workloads: {}", names.join(", ")));
                }
                flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
                name => options.workloads.push(name.to_string()),
            }
        }
        if options.smoke {
            options.rounds = 1;
        }
        Ok(options)
    }
}

/// Which implementation a measurement is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Procvisor,
    Python,
    Baseline,
}

/// A goal from the issue tracker, checked against the medians.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// procvisor's time per operation at most this fraction of Python's.
    VsPython(f64),
    /// procvisor's time per operation at most this multiple of the baseline's.
    VsBaseline(f64),
}

/// One benchmark workload.
pub(crate) trait Workload {
    fn name(&self) -> &'static str;
    /// What one operation is ("round trip", "MiB").
    fn unit(&self) -> &'static str;
    fn targets(&self) -> &'static [Target];
    fn has_baseline(&self) -> bool {
        false
    }
    /// Whether Python has a counterpart to measure (a host loss has none: Python's pools have
    /// no hosts).
    fn has_python(&self) -> bool {
        true
    }
    /// Time per operation of one run at full size (`smoke`: a tiny size).
    fn measure(&self, side: Side, smoke: bool) -> Result<Duration, String>;
    /// Other facts worth reporting (memory, latencies), measured once after the rounds.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The medians of one workload.
#[derive(Debug)]
pub(crate) struct Row {
    name: &'static str,
    unit: &'static str,
    procvisor: Result<Duration, String>,
    python: Option<Result<Duration, String>>,
    baseline: Option<Result<Duration, String>>,
    targets: &'static [Target],
    notes: Vec<String>,
}

/// Everything measured in one run.
#[derive(Debug)]
pub(crate) struct Report {
    rows: Vec<Row>,
    rounds: usize,
    smoke: bool,
}

impl Report {
    pub(crate) fn failed(&self) -> bool {
        self.rows.iter().any(|r| {
            r.procvisor.is_err()
                || r.python.as_ref().is_some_and(|p| p.is_err())
                || r.baseline.as_ref().is_some_and(|b| b.is_err())
        })
    }
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n <= 1 {
        return vec![(0..n).collect()];
    }
    let mut all = Vec::new();
    for rest in permutations(n - 1) {
        for position in 0..n {
            let mut order = rest.clone();
            order.insert(position, n - 1);
            all.push(order);
        }
    }
    all
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Runs every workload `rounds` times, rotating which side goes first each round.
pub(crate) fn run(workloads: &[Box<dyn Workload>], options: &Options) -> Report {
    let mut rows = Vec::new();
    for workload in workloads {
        let mut sides = vec![Side::Procvisor];
        if workload.has_python() {
            sides.push(Side::Python);
        }
        if workload.has_baseline() {
            sides.push(Side::Baseline);
        }
        let mut samples: Vec<Result<Vec<Duration>, String>> = vec![Ok(Vec::new()); sides.len()];
        // Every order of the sides in turn, so each side follows each other side equally often
        // (what ran just before measurably changes a run on a small virtual machine).
        let orders = permutations(sides.len());
        for round in 0..options.rounds {
            for &i in &orders[round % orders.len()] {
                if options.only.is_some_and(|only| only != sides[i]) {
                    samples[i] = Err("not run (--only)".into());
                }
                if let Ok(list) = &mut samples[i] {
                    match workload.measure(sides[i], options.smoke) {
                        Ok(d) => {
                            if options.verbose {
                                eprintln!("  {} {:?}: {}", workload.name(), sides[i], show(&d));
                            }
                            list.push(d)
                        }
                        Err(e) => samples[i] = Err(e),
                    }
                }
            }
            eprintln!(
                "{}: round {}/{} done",
                workload.name(),
                round + 1,
                options.rounds
            );
        }
        let mut medians = samples.into_iter().map(|s| s.map(|mut v| median(&mut v)));
        let procvisor = medians.next().expect("procvisor side");
        let python = workload
            .has_python()
            .then(|| medians.next().expect("python side"));
        rows.push(Row {
            name: workload.name(),
            unit: workload.unit(),
            procvisor,
            python,
            baseline: medians.next(),
            targets: workload.targets(),
            notes: if options.only.is_none() {
                workload.notes()
            } else {
                Vec::new()
            },
        });
    }
    Report {
        rows,
        rounds: options.rounds,
        smoke: options.smoke,
    }
}

fn show(d: &Duration) -> String {
    let ns = d.as_secs_f64() * 1e9;
    if ns < 1e3 {
        format!("{ns:.1} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

fn cell(r: &Result<Duration, String>) -> String {
    match r {
        Ok(d) => show(d),
        Err(_) => "FAILED".to_string(),
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "procvisor-bench: medians of {} interleaved round(s){}; times are per operation",
            self.rounds,
            if self.smoke {
                " (SMOKE: tiny sizes, ratios meaningless)"
            } else {
                ""
            }
        )?;
        writeln!(
            f,
            "{:<24} {:>12} {:>12} {:>12} {:>10} {:>12} {:>10}  targets",
            "workload", "operation", "procvisor", "python", "pv/py", "baseline", "pv/base"
        )?;
        for row in &self.rows {
            let vs_python = match (&row.procvisor, &row.python) {
                (Ok(p), Some(Ok(y))) => Some(p.as_secs_f64() / y.as_secs_f64()),
                _ => None,
            };
            let vs_base = match (&row.procvisor, &row.baseline) {
                (Ok(p), Some(Ok(b))) => Some(p.as_secs_f64() / b.as_secs_f64()),
                _ => None,
            };
            let verdicts: Vec<String> = row
                .targets
                .iter()
                .map(|t| {
                    let (label, limit, actual) = match t {
                        Target::VsPython(limit) => ("pv/py", *limit, vs_python),
                        Target::VsBaseline(limit) => ("pv/base", *limit, vs_base),
                    };
                    let verdict = match actual {
                        _ if self.smoke => "smoke",
                        Some(a) if a <= limit => "met",
                        Some(_) => "MISSED",
                        None => "n/a",
                    };
                    format!("{label} <= {limit}: {verdict}")
                })
                .collect();
            writeln!(
                f,
                "{:<24} {:>12} {:>12} {:>12} {:>10} {:>12} {:>10}  {}",
                row.name,
                row.unit,
                cell(&row.procvisor),
                row.python.as_ref().map_or("-".into(), cell),
                vs_python.map_or("-".into(), |r| format!("{r:.3}x")),
                row.baseline.as_ref().map_or("-".into(), cell),
                vs_base.map_or("-".into(), |r| format!("{r:.3}x")),
                verdicts.join("; ")
            )?;
        }
        for row in &self.rows {
            for note in &row.notes {
                writeln!(f, "note: {}: {note}", row.name)?;
            }
        }
        for row in &self.rows {
            for (side, result) in [("procvisor", &row.procvisor)]
                .into_iter()
                .chain(row.python.as_ref().map(|p| ("python", p)))
                .chain(row.baseline.as_ref().map(|b| ("baseline", b)))
            {
                if let Err(e) = result {
                    writeln!(f, "error: {} ({side}): {e}", row.name)?;
                }
            }
        }
        Ok(())
    }
}
