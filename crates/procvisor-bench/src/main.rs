//! Side-by-side benchmarks of procvisor against Python's `multiprocessing`.
//!
//! Each workload runs in Rust (procvisor), in Python (`python3`, the same workload written with
//! `multiprocessing`), and, where it has one, as a raw system-call baseline; the three are
//! interleaved round by round in one run so machine noise hits them alike, and the medians are
//! compared. Absolute times on a small shared machine are noise; the ratios are the result.
//!
//! ```text
//! cargo run -p procvisor-bench --profile release-lto -- [--rounds N] [--smoke] [WORKLOAD...]
//! ```
//!
//! `--smoke` runs every workload once at a tiny size: it checks that the harness works, not how
//! fast anything is.
//!
//! Beside the three sides, some workloads have peers, run in the same rounds: the round-trip
//! floor (two processes spinning on shared memory), Python's loky, pebble, mpire and Ray pools,
//! and the Rust crate procspawn. A peer that is not installed is skipped with a note.

mod child;
mod harness;
mod python;
mod scale;
mod workloads;

use std::process::ExitCode;

fn main() -> ExitCode {
    // First: a process procspawn started (this binary again) runs its call here and exits.
    procspawn::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(role) = child::role(&args) {
        return child::run(role);
    }
    // Other modes that take over the whole command line (`--scale`) dispatch here, before the
    // side-by-side options are parsed.
    if args.iter().any(|a| a == "--scale") {
        return scale::main(&args);
    }
    let options = match harness::Options::parse(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}\n\n{}", harness::USAGE);
            return ExitCode::from(2);
        }
    };
    let selected = match workloads::select(&options.workloads) {
        Ok(selected) => selected,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let report = harness::run(&selected, &options);
    println!("{report}");
    if report.failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
