//! `start_join_{fork,spawn,forkserver}`: start a trivial process and join it, 40 times.

use super::spawn_peer;
use crate::harness::{OpTimer, Peer, Sample, Side, Target, Workload};
use crate::python;
use procvisor::{Context, Process, StartMethod, get_context, register};
use std::time::Duration;

fn noop() {}
fn idle(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}
register!(noop, idle);

/// Starts `target` (no arguments) with `ctx` and joins it; a non-zero exit is an error.
pub(super) fn start_join<F: procvisor::Target<()>>(target: F, ctx: Context) -> Result<(), String> {
    let mut p = Process::new(target, ())
        .map_err(|e| e.to_string())?
        .with_context(ctx);
    p.start().map_err(|e| e.to_string())?;
    p.join().map_err(|e| e.to_string())?;
    match p.exitcode() {
        Some(0) => Ok(()),
        other => Err(format!("child exit code {other:?}")),
    }
}

pub(crate) struct StartJoin(pub(crate) StartMethod);

impl StartJoin {
    fn count(smoke: bool) -> u32 {
        if smoke { 3 } else { 40 }
    }

    fn procvisor(&self, n: u32) -> Result<Sample, String> {
        let ctx = get_context(self.0);
        let run = || start_join(noop, ctx);
        // Warm-up: the node's runtime, and for forkserver the server, start on first use.
        run()?;
        let mut timer = OpTimer::start(n as usize, 1);
        for _ in 0..n {
            run()?;
            timer.tick();
        }
        Ok(timer.finish())
    }

    /// A raw `fork` + `_exit` + `waitpid` loop: the floor for the fork method.
    fn raw_fork(n: u32) -> Result<Sample, String> {
        let mut timer = OpTimer::start(n as usize, 1);
        for _ in 0..n {
            // SAFETY: the child only calls `_exit`, which is async-signal-safe.
            match unsafe { libc::fork() } {
                -1 => return Err(std::io::Error::last_os_error().to_string()),
                // SAFETY: `_exit` in the child, as above.
                0 => unsafe { libc::_exit(0) },
                pid => {
                    let mut status = 0;
                    // SAFETY: waiting for our own child with a valid status pointer.
                    if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
                        return Err("waitpid failed".into());
                    }
                }
            }
            timer.tick();
        }
        Ok(timer.finish())
    }
}

/// The resident set of a process, from `/proc`.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
}

/// Proportional set size: shared pages divided among the processes sharing them.
fn pss_kib(pid: u32) -> Option<u64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
}

impl Workload for StartJoin {
    fn name(&self) -> &'static str {
        match self.0 {
            StartMethod::Fork => "start_join_fork",
            StartMethod::Spawn => "start_join_spawn",
            StartMethod::Forkserver => "start_join_forkserver",
        }
    }

    fn unit(&self) -> &'static str {
        "start+join"
    }

    fn targets(&self) -> &'static [Target] {
        match self.0 {
            StartMethod::Fork => &[Target::VsPython(0.3), Target::VsBaseline(2.0)],
            _ => &[Target::VsPython(0.3)],
        }
    }

    fn has_baseline(&self) -> bool {
        self.0 == StartMethod::Fork
    }

    fn measure(&self, side: Side, smoke: bool) -> Result<Duration, String> {
        self.sample(side, smoke).map(|s| s.per_op)
    }

    fn sample(&self, side: Side, smoke: bool) -> Result<Sample, String> {
        let n = Self::count(smoke);
        match side {
            Side::Procvisor => self.procvisor(n),
            Side::Python => {
                python::sample("start_join", &[self.0.as_str().to_string(), n.to_string()])
            }
            Side::Baseline => Self::raw_fork(n),
        }
    }

    fn peers(&self) -> &'static [Peer] {
        match self.0 {
            StartMethod::Spawn => &[Peer::Procspawn],
            _ => &[],
        }
    }

    fn measure_peer(&self, peer: Peer, smoke: bool) -> Result<Sample, String> {
        match peer {
            Peer::Procspawn => spawn_peer::start_join(Self::count(smoke)),
            _ => Err(format!("{} has no {} side", self.name(), peer.name())),
        }
    }

    fn notes(&self) -> Vec<String> {
        let mut p = match Process::new(idle, (2_000_u64,)) {
            Ok(p) => p.with_context(get_context(self.0)),
            Err(e) => return vec![format!("idle child: {e}")],
        };
        if let Err(e) = p.start() {
            return vec![format!("idle child: {e}")];
        }
        // Let the child settle into its sleep.
        std::thread::sleep(Duration::from_millis(300));
        let pid = p.pid().unwrap_or(0);
        let note = format!(
            "idle child RSS {} KiB, PSS {} KiB",
            rss_kib(pid).map_or("?".into(), |k| k.to_string()),
            pss_kib(pid).map_or("?".into(), |k| k.to_string())
        );
        let _ = p.kill();
        let _ = p.join();
        vec![note]
    }
}
