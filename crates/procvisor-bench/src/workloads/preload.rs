//! `forkserver_preload`: start and join a `forkserver` child whose target needs a 50 ms warm-up
//! (a static initialised once), with the warm-up preloaded in the fork server (procvisor's
//! column) and without (the baseline column). The ratio is what `set_forkserver_preload` saves.
//!
//! A fork server starts once per process and takes the preload list it finds then, so each
//! measurement runs in a fresh `spawn` child with a fork server of its own.

use crate::harness::{Side, Target, Workload};
use procvisor::runtime::{Preload, set_forkserver_preload};
use procvisor::{Process, StartMethod, get_context, register};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const WARM_UP: Duration = Duration::from_millis(50);

static WARMED: OnceLock<()> = OnceLock::new();

/// What a cold process pays once: 50 ms (a stand-in for reading a model or building a table).
fn warm_up() {
    WARMED.get_or_init(|| std::thread::sleep(WARM_UP));
}

/// The child's target: it needs the warm-up done.
fn warm_task() {
    warm_up();
}

/// In a fresh process: the time of one start+join of a `forkserver` child, averaged over `n`,
/// with or without the warm-up preloaded (the fork server's own start is not counted).
fn time_start_join(preload: bool, n: u32) -> Result<u64, String> {
    if preload {
        set_forkserver_preload([Preload::new(warm_up).map_err(|e| e.to_string())?]);
    }
    let ctx = get_context(StartMethod::Forkserver);
    let run = || super::process::start_join(warm_task, ctx);
    run()?;
    let start = Instant::now();
    for _ in 0..n {
        run()?;
    }
    Ok((start.elapsed() / n).as_nanos() as u64)
}

register!(warm_up, warm_task, time_start_join);

pub(crate) struct ForkserverPreload;

impl ForkserverPreload {
    fn measure_in_child(preload: bool, n: u32) -> Result<Duration, String> {
        let mut p = Process::new(time_start_join, (preload, n))
            .map_err(|e| e.to_string())?
            .with_context(get_context(StartMethod::Spawn));
        p.start().map_err(|e| e.to_string())?;
        let nanos: u64 = p
            .result_timeout(Duration::from_secs(120))
            .map_err(|e| e.to_string())?;
        Ok(Duration::from_nanos(nanos))
    }
}

impl Workload for ForkserverPreload {
    fn name(&self) -> &'static str {
        "forkserver_preload"
    }

    fn unit(&self) -> &'static str {
        "start+join"
    }

    fn targets(&self) -> &'static [Target] {
        // Preloaded, a start+join costs a plain start+join, far below the 50 ms warm-up.
        &[Target::VsBaseline(0.5)]
    }

    fn has_baseline(&self) -> bool {
        true
    }

    fn has_python(&self) -> bool {
        // Python preloads modules, not functions; a 50 ms import would be the counterpart.
        false
    }

    fn measure(&self, side: Side, smoke: bool) -> Result<Duration, String> {
        let n = if smoke { 2 } else { 10 };
        match side {
            Side::Procvisor => Self::measure_in_child(true, n),
            Side::Baseline => Self::measure_in_child(false, n),
            Side::Python => Err("no Python counterpart".into()),
        }
    }
}
