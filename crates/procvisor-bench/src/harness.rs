//! Running workloads interleaved and reporting medians, ratios, percentiles and spreads.

use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub(crate) const USAGE: &str = "usage: procvisor-bench [--rounds N] [--smoke] [--only SIDE[,SIDE...]] [--verbose] [--list] [WORKLOAD...]
  SIDE: procvisor, python, baseline, floor, loky, pebble, mpire, ray, procspawn";

/// Command-line options.
#[derive(Debug)]
pub(crate) struct Options {
    pub(crate) rounds: usize,
    pub(crate) smoke: bool,
    /// Run these sides only (for profiling one); a ratio is reported only when both of its
    /// sides ran.
    pub(crate) only: Option<Vec<Column>>,
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
                    let names = args.next().ok_or("--only takes a side")?;
                    options.only = Some(
                        names
                            .split(',')
                            .map(|name| {
                                Column::parse(name).ok_or_else(|| {
                                    format!("--only: unknown side {name}; sides: {}", {
                                        let all: Vec<&str> =
                                            Column::ALL.iter().map(|c| c.name()).collect();
                                        all.join(", ")
                                    })
                                })
                            })
                            .collect::<Result<_, _>>()?,
                    );
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

    fn runs(&self, column: Column) -> bool {
        self.only.as_ref().is_none_or(|only| only.contains(&column))
    }
}

/// Which of a workload's own implementations a measurement is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Procvisor,
    Python,
    Baseline,
}

/// Another implementation measured beside a workload's own sides, where it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// The physical floor of a round trip: two processes spinning on one cache line each way.
    Floor,
    /// Python's loky (`ProcessPoolExecutor`, fork).
    Loky,
    /// Python's pebble (`ProcessPool`, fork).
    Pebble,
    /// Python's mpire (`WorkerPool`, fork).
    Mpire,
    /// Ray's `ray.util.multiprocessing.Pool` (a local Ray cluster).
    Ray,
    /// The Rust crate procspawn.
    Procspawn,
}

impl Peer {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Peer::Floor => "floor",
            Peer::Loky => "loky",
            Peer::Pebble => "pebble",
            Peer::Mpire => "mpire",
            Peer::Ray => "ray",
            Peer::Procspawn => "procspawn",
        }
    }

    /// The Python module a peer needs and how to install it.
    fn python_module(self) -> Option<(&'static str, &'static str)> {
        match self {
            Peer::Loky => Some(("loky", "pip install loky")),
            Peer::Pebble => Some(("pebble", "pip install pebble")),
            Peer::Mpire => Some(("mpire", "pip install mpire")),
            Peer::Ray => Some(("ray.util.multiprocessing", "pip install \"ray[default]\"")),
            Peer::Floor | Peer::Procspawn => None,
        }
    }

    /// Why the peer cannot run here (naming what to install), or `None` when it can.
    fn missing(self, smoke: bool, named: bool) -> Option<String> {
        if self == Peer::Ray && smoke && !named {
            return Some("skipped in --smoke (a Ray cluster takes seconds to start; name it with --only ray to smoke it)".into());
        }
        let (module, install) = self.python_module()?;
        let importable = python_importable();
        match importable.iter().find(|(m, _)| *m == module) {
            Some((_, true)) => None,
            _ => Some(format!(
                "skipped, python3 cannot import {module} ({install})"
            )),
        }
    }
}

/// Which of the peers' Python modules `python3` can import, asked once for all of them.
fn python_importable() -> &'static [(&'static str, bool)] {
    static IMPORTABLE: OnceLock<Vec<(&'static str, bool)>> = OnceLock::new();
    IMPORTABLE.get_or_init(|| {
        let modules: Vec<&str> = Column::ALL
            .iter()
            .filter_map(|c| match c {
                Column::Peer(p) => p.python_module().map(|(m, _)| m),
                Column::Side(_) => None,
            })
            .collect();
        let script = format!(
            "import importlib\nfor m in {modules:?}:\n    try:\n        importlib.import_module(m)\n        print(m)\n    except Exception:\n        pass\n"
        );
        let found = std::process::Command::new("python3")
            .args(["-c", &script])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        modules
            .into_iter()
            .map(|m| (m, found.lines().any(|l| l == m)))
            .collect()
    })
}

/// A column of the report: one of a workload's own sides, or a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    Side(Side),
    Peer(Peer),
}

impl Column {
    const ALL: [Column; 9] = [
        Column::Side(Side::Procvisor),
        Column::Side(Side::Python),
        Column::Side(Side::Baseline),
        Column::Peer(Peer::Floor),
        Column::Peer(Peer::Loky),
        Column::Peer(Peer::Pebble),
        Column::Peer(Peer::Mpire),
        Column::Peer(Peer::Ray),
        Column::Peer(Peer::Procspawn),
    ];

    fn name(self) -> &'static str {
        match self {
            Column::Side(Side::Procvisor) => "procvisor",
            Column::Side(Side::Python) => "python",
            Column::Side(Side::Baseline) => "baseline",
            Column::Peer(peer) => peer.name(),
        }
    }

    fn parse(name: &str) -> Option<Column> {
        Column::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// A goal from the issue tracker, checked against the medians.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// procvisor's time per operation at most this fraction of Python's.
    VsPython(f64),
    /// procvisor's time per operation at most this multiple of the baseline's.
    VsBaseline(f64),
}

/// One run of one side: its time per operation and, where the workload is latency-shaped, the
/// times of the operations inside the run.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) per_op: Duration,
    /// Time per operation of each operation (`batch` 1) or of each batch of `batch` operations
    /// (the batch's time divided by `batch`); empty when only the run's total was timed.
    pub(crate) ops: Vec<Duration>,
    pub(crate) batch: u32,
}

impl From<Duration> for Sample {
    fn from(per_op: Duration) -> Sample {
        Sample {
            per_op,
            ops: Vec::new(),
            batch: 0,
        }
    }
}

/// Times operations inside a run: call [`tick`](Self::tick) after each one.
#[derive(Debug)]
pub(crate) struct OpTimer {
    start: Instant,
    last: Instant,
    batch: u32,
    count: u32,
    ops: Vec<Duration>,
}

impl OpTimer {
    /// Starts timing `n` operations, keeping the time of every `batch` of them.
    pub(crate) fn start(n: usize, batch: u32) -> OpTimer {
        let now = Instant::now();
        OpTimer {
            start: now,
            last: now,
            batch: batch.max(1),
            count: 0,
            ops: Vec::with_capacity(n / batch.max(1) as usize + 1),
        }
    }

    /// One operation done.
    #[inline]
    pub(crate) fn tick(&mut self) {
        self.count += 1;
        if self.count % self.batch == 0 {
            let now = Instant::now();
            self.ops.push((now - self.last) / self.batch);
            self.last = now;
        }
    }

    /// The run's sample: its total time per operation and the operations' times.
    pub(crate) fn finish(self) -> Sample {
        let elapsed = self.start.elapsed();
        Sample {
            per_op: elapsed / self.count.max(1),
            ops: self.ops,
            batch: self.batch,
        }
    }
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
    /// One run with the operations' times inside it, where the workload times them.
    fn sample(&self, side: Side, smoke: bool) -> Result<Sample, String> {
        self.measure(side, smoke).map(Sample::from)
    }
    /// The peers measured beside this workload's own sides.
    fn peers(&self) -> &'static [Peer] {
        &[]
    }
    /// One run of a peer (one of [`peers`](Self::peers)).
    fn measure_peer(&self, peer: Peer, _smoke: bool) -> Result<Sample, String> {
        Err(format!("{} has no {} side", self.name(), peer.name()))
    }
    /// Other facts worth reporting (memory, latencies), measured once after the rounds.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
}

/// What one side of one workload gave over the rounds.
#[derive(Debug)]
enum Outcome {
    /// Not run: not named by `--only`.
    NotSelected,
    /// Not run: not available here (the note says what to install).
    Skipped(String),
    Failed(String),
    Ran(Stats),
}

/// Where a side's percentiles come from.
#[derive(Debug, Clone, Copy)]
enum Basis {
    /// Every operation of every round was timed.
    Ops,
    /// Every batch of this many operations was timed.
    Batches(u32),
    /// Only each round's total: the percentiles are over rounds.
    Rounds,
}

/// One side's statistics over the rounds.
#[derive(Debug)]
struct Stats {
    median: Duration,
    /// The lowest and highest round median.
    spread: (Duration, Duration),
    p50: Duration,
    p99: Duration,
    basis: Basis,
}

/// The `q` quantile (nearest rank) of sorted values.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

impl Stats {
    fn of(samples: Vec<Sample>) -> Stats {
        let mut rounds: Vec<Duration> = samples.iter().map(|s| s.per_op).collect();
        rounds.sort();
        let median = rounds[rounds.len() / 2];
        let spread = (rounds[0], rounds[rounds.len() - 1]);
        let timed = samples.iter().all(|s| !s.ops.is_empty());
        let (mut ops, basis) = if timed {
            let batch = samples[0].batch;
            let ops: Vec<Duration> = samples.into_iter().flat_map(|s| s.ops).collect();
            (
                ops,
                if batch == 1 {
                    Basis::Ops
                } else {
                    Basis::Batches(batch)
                },
            )
        } else {
            (rounds, Basis::Rounds)
        };
        ops.sort();
        Stats {
            median,
            spread,
            p50: quantile(&ops, 0.5),
            p99: quantile(&ops, 0.99),
            basis,
        }
    }
}

/// The results of one workload.
#[derive(Debug)]
pub(crate) struct Row {
    name: &'static str,
    unit: &'static str,
    /// Every side the workload has, in column order.
    sides: Vec<(Column, Outcome)>,
    targets: &'static [Target],
    notes: Vec<String>,
}

impl Row {
    fn outcome(&self, column: Column) -> Option<&Outcome> {
        self.sides
            .iter()
            .find(|(c, _)| *c == column)
            .map(|(_, o)| o)
    }

    fn median(&self, column: Column) -> Option<Duration> {
        match self.outcome(column) {
            Some(Outcome::Ran(stats)) => Some(stats.median),
            _ => None,
        }
    }

    /// procvisor's median over `column`'s.
    fn ratio(&self, column: Column) -> Option<f64> {
        let pv = self.median(Column::Side(Side::Procvisor))?;
        Some(pv.as_secs_f64() / self.median(column)?.as_secs_f64())
    }
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
        self.rows
            .iter()
            .any(|r| r.sides.iter().any(|(_, o)| matches!(o, Outcome::Failed(_))))
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

/// Up to this many sides, the rounds go through every order of them; past it (n! orders), each
/// round rotates the order by one, every other round reversed, so each side still runs in every
/// position and after both of its neighbours.
const MAX_PERMUTED: usize = 4;

fn order(n: usize, round: usize, permuted: &[Vec<usize>]) -> Vec<usize> {
    if n <= MAX_PERMUTED {
        return permuted[round % permuted.len()].clone();
    }
    let rotated = (0..n).map(|k| (k + round / 2) % n);
    if round % 2 == 0 {
        rotated.collect()
    } else {
        rotated.rev().collect()
    }
}

/// Runs every workload `rounds` times, changing the order of its sides each round.
pub(crate) fn run(workloads: &[Box<dyn Workload>], options: &Options) -> Report {
    let mut rows = Vec::new();
    for workload in workloads {
        let mut columns = vec![Column::Side(Side::Procvisor)];
        if workload.has_python() {
            columns.push(Column::Side(Side::Python));
        }
        if workload.has_baseline() {
            columns.push(Column::Side(Side::Baseline));
        }
        columns.extend(workload.peers().iter().map(|&p| Column::Peer(p)));
        // Each side's samples, or why it is not run or failed.
        let mut samples: Vec<Result<Vec<Sample>, Outcome>> = columns
            .iter()
            .map(|&column| {
                if !options.runs(column) {
                    return Err(Outcome::NotSelected);
                }
                match column {
                    Column::Peer(peer) => {
                        let named = options.only.is_some();
                        match peer.missing(options.smoke, named) {
                            Some(why) => Err(Outcome::Skipped(why)),
                            None => Ok(Vec::new()),
                        }
                    }
                    Column::Side(_) => Ok(Vec::new()),
                }
            })
            .collect();
        // Each side follows each other side about equally often (what ran just before
        // measurably changes a run on a small virtual machine).
        let permuted = if columns.len() <= MAX_PERMUTED {
            permutations(columns.len())
        } else {
            Vec::new()
        };
        for round in 0..options.rounds {
            for i in order(columns.len(), round, &permuted) {
                let Ok(list) = &mut samples[i] else { continue };
                let result = match columns[i] {
                    Column::Side(side) => workload.sample(side, options.smoke),
                    Column::Peer(peer) => workload.measure_peer(peer, options.smoke),
                };
                match result {
                    Ok(sample) => {
                        if options.verbose {
                            eprintln!(
                                "  {} {}: {}",
                                workload.name(),
                                columns[i].name(),
                                show(&sample.per_op)
                            );
                        }
                        list.push(sample);
                    }
                    Err(e) => samples[i] = Err(Outcome::Failed(e)),
                }
            }
            eprintln!(
                "{}: round {}/{} done",
                workload.name(),
                round + 1,
                options.rounds
            );
        }
        let sides = columns
            .into_iter()
            .zip(samples)
            .map(|(column, result)| {
                let outcome = match result {
                    Ok(list) => Outcome::Ran(Stats::of(list)),
                    Err(outcome) => outcome,
                };
                (column, outcome)
            })
            .collect();
        rows.push(Row {
            name: workload.name(),
            unit: workload.unit(),
            sides,
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

/// A median cell of the main table.
fn cell(row: &Row, column: Column) -> String {
    match row.outcome(column) {
        Some(Outcome::Ran(stats)) => show(&stats.median),
        Some(Outcome::Failed(_)) => "FAILED".into(),
        Some(Outcome::Skipped(_) | Outcome::NotSelected) | None => "-".into(),
    }
}

fn ratio_cell(ratio: Option<f64>) -> String {
    ratio.map_or("-".into(), |r| format!("{r:.3}x"))
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pv = Column::Side(Side::Procvisor);
        let py = Column::Side(Side::Python);
        let base = Column::Side(Side::Baseline);
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
            let vs_python = row.ratio(py);
            let vs_base = row.ratio(base);
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
                cell(row, pv),
                cell(row, py),
                ratio_cell(vs_python),
                cell(row, base),
                ratio_cell(vs_base),
                verdicts.join("; ")
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "every side: median of the rounds, procvisor's median over the side's, percentiles of one operation (op: each timed; /N: batches of N; rounds: over the round medians), spread = lowest-highest round median"
        )?;
        writeln!(
            f,
            "{:<24} {:<10} {:>12} {:>10} {:>12} {:>12} {:>8} {:>25}",
            "workload", "side", "median", "pv/side", "p50", "p99", "basis", "spread"
        )?;
        for row in &self.rows {
            for (column, outcome) in &row.sides {
                match outcome {
                    Outcome::Ran(stats) => writeln!(
                        f,
                        "{:<24} {:<10} {:>12} {:>10} {:>12} {:>12} {:>8} {:>25}",
                        row.name,
                        column.name(),
                        show(&stats.median),
                        if *column == pv {
                            "1x".into()
                        } else {
                            ratio_cell(row.ratio(*column))
                        },
                        show(&stats.p50),
                        show(&stats.p99),
                        match stats.basis {
                            Basis::Ops => "op".to_string(),
                            Basis::Batches(n) => format!("/{n}"),
                            Basis::Rounds => "rounds".to_string(),
                        },
                        format!("{} - {}", show(&stats.spread.0), show(&stats.spread.1)),
                    )?,
                    Outcome::Failed(_) => {
                        writeln!(f, "{:<24} {:<10} FAILED", row.name, column.name())?
                    }
                    Outcome::Skipped(why) => {
                        writeln!(f, "{:<24} {:<10} {why}", row.name, column.name())?
                    }
                    Outcome::NotSelected => {}
                }
            }
        }
        for row in &self.rows {
            for note in &row.notes {
                writeln!(f, "note: {}: {note}", row.name)?;
            }
        }
        for row in &self.rows {
            for (column, outcome) in &row.sides {
                if let Outcome::Failed(e) = outcome {
                    writeln!(f, "error: {} ({}): {e}", row.name, column.name())?;
                }
            }
        }
        Ok(())
    }
}
