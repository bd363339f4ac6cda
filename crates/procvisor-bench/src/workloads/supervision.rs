//! `dynamic_start_local`, `dynamic_start_process` and `supervised_pool_restart`: children added
//! to a running supervisor until they answer, and a supervised pool started again.

use super::actors::ActorCall;
use super::process::StartJoin;
use crate::harness::{Side, Target, Workload};
use crate::python;
use procvisor::{
    Actor, ActorContext, DynamicSupervisor, InitError, Place, Placement, Pool, RemoteRef,
    RestartIntensity, StartMethod, Supervisor, default_context, register, register_actor, spawn_in,
};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Answers with the number it was started with, so a reply proves which child runs.
struct Numbered(u64);

impl Actor for Numbered {
    type Args = u64;
    type Msg = ();
    type Reply = u64;

    async fn start(n: u64, _: &ActorContext<Self>) -> Result<Self, InitError> {
        Ok(Numbered(n))
    }

    async fn handle(&mut self, (): (), _: &ActorContext<Self>) -> u64 {
        self.0
    }
}
register_actor!(Numbered);

fn square(x: i64) -> i64 {
    x * x
}
register!(square);

/// What the children of one round cost in memory, all of them alive.
#[derive(Debug, Clone, Copy)]
struct Memory {
    /// How many children were alive.
    children: u64,
    /// Growth of this process's resident set per child (the supervisor runs here).
    here: i64,
    /// Mean proportional set size of a child's own process, if it has one.
    own_pss_kib: Option<u64>,
}

/// This process's resident set in bytes: the second field of `/proc/self/statm`, in pages.
fn rss_bytes() -> Result<i64, String> {
    let statm = std::fs::read_to_string("/proc/self/statm").map_err(|e| e.to_string())?;
    let pages: i64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .ok_or("bad /proc/self/statm")?;
    // SAFETY: sysconf has no memory effects.
    Ok(pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as i64)
}

/// Proportional set size of process `pid` (shared pages divided among their sharers: a child
/// of the forkserver shares most of its pages with its siblings).
fn pss_kib(pid: u32) -> Option<u64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
}

/// Starts an actor child of a running supervisor, here or in a process of its own, and calls
/// it once; the children of a round stay alive together (to measure their memory), then are
/// terminated and deleted.
pub(crate) struct DynamicStart {
    placement: Placement,
    /// The procvisor rounds' memory, for the note.
    memory: Mutex<Vec<Memory>>,
}

impl DynamicStart {
    pub(crate) fn new(placement: Placement) -> DynamicStart {
        DynamicStart {
            placement,
            memory: Mutex::new(Vec::new()),
        }
    }

    fn count(&self, smoke: bool) -> u64 {
        match (self.placement, smoke) {
            (Placement::Local, false) => 1000,
            (Placement::Local, true) => 20,
            (Placement::OwnProcess(_), false) => 100,
            (Placement::OwnProcess(_), true) => 3,
        }
    }

    fn procvisor(&self, n: u64) -> Result<Duration, String> {
        let supervisor = DynamicSupervisor::<Numbered>::builder(self.name())
            .placed(self.placement)
            .start()
            .map_err(|e| e.to_string())?;
        // Warm-up: the node's runtime, and for a process of its own the forkserver, start on
        // first use.
        let first = start_and_call(&supervisor, u64::MAX)?;
        supervisor
            .terminate_child(&first)
            .map_err(|e| e.to_string())?;
        let before = rss_bytes()?;
        let start = Instant::now();
        let children = (0..n)
            .map(|i| start_and_call(&supervisor, i))
            .collect::<Result<Vec<_>, String>>()?;
        let elapsed = start.elapsed();
        let here = (rss_bytes()? - before) / n as i64;
        let own_pss_kib = match self.placement {
            Placement::Local => None,
            Placement::OwnProcess(_) => {
                let infos = supervisor.which_children().map_err(|e| e.to_string())?;
                let pss: Option<Vec<u64>> = infos.iter().map(|c| c.pid.and_then(pss_kib)).collect();
                pss.map(|p| p.iter().sum::<u64>() / p.len().max(1) as u64)
            }
        };
        self.memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Memory {
                children: n,
                here,
                own_pss_kib,
            });
        // Last first, as a supervisor stops its children: the first would shift every other
        // slot of the supervisor's list down on each delete.
        for child in children.iter().rev() {
            supervisor
                .terminate_child(child)
                .map_err(|e| e.to_string())?;
        }
        supervisor.shutdown().map_err(|e| e.to_string())?;
        Ok(elapsed / n as u32)
    }

    /// The same actors started and called without a supervisor (`spawn_in`, unnamed), for the
    /// note: the difference is what supervising and naming them costs.
    fn unsupervised(&self, n: u64) -> Result<Duration, String> {
        let place = match self.placement {
            Placement::Local => Place::Here,
            Placement::OwnProcess(_) => Place::NewProcess(default_context()),
        };
        let start_and_call = |i: u64| {
            let actor = spawn_in::<Numbered>(place, i).map_err(|e| e.to_string())?;
            answered(actor, i)
        };
        let stop = |actor: RemoteRef<Numbered>| {
            actor
                .stop_timeout(Duration::from_secs(5))
                .map_err(|e| e.to_string())
        };
        stop(start_and_call(u64::MAX)?)?;
        let start = Instant::now();
        let actors = (0..n)
            .map(start_and_call)
            .collect::<Result<Vec<_>, String>>()?;
        let elapsed = start.elapsed();
        actors.into_iter().try_for_each(stop)?;
        Ok(elapsed / n as u32)
    }
}

/// One child started with `n` and asked for it: the measured operation.
fn start_and_call(
    supervisor: &DynamicSupervisor<Numbered>,
    n: u64,
) -> Result<RemoteRef<Numbered>, String> {
    answered(supervisor.start_child(n).map_err(|e| e.to_string())?, n)
}

/// `actor`, once it has answered that it was started with `n`.
fn answered(actor: RemoteRef<Numbered>, n: u64) -> Result<RemoteRef<Numbered>, String> {
    match actor.call(()).map_err(|e| e.to_string())? {
        answer if answer == n => Ok(actor),
        other => Err(format!("child {n} answered {other}")),
    }
}

impl Workload for DynamicStart {
    fn name(&self) -> &'static str {
        match self.placement {
            Placement::Local => "dynamic_start_local",
            Placement::OwnProcess(_) => "dynamic_start_process",
        }
    }

    fn unit(&self) -> &'static str {
        "child"
    }

    fn targets(&self) -> &'static [Target] {
        match self.placement {
            // Within 20 actor_call round trips (its procvisor side, measured in the same run).
            Placement::Local => &[Target::VsBaseline(20.0)],
            // Within 1.5x of start_join_forkserver (its procvisor side, same run): supervising
            // the process and the round trip are to cost little beside starting it.
            Placement::OwnProcess(_) => &[Target::VsBaseline(1.5)],
        }
    }

    fn has_baseline(&self) -> bool {
        true
    }

    fn measure(&self, side: Side, smoke: bool) -> Result<Duration, String> {
        let n = self.count(smoke);
        match (side, self.placement) {
            (Side::Procvisor, _) => self.procvisor(n),
            // Python has no supervisors: a thread serving a queue, or a forkserver Process
            // answering on a Pipe, started and asked once by hand.
            (Side::Python, _) => python::run(self.name(), &[n.to_string()]),
            (Side::Baseline, Placement::Local) => ActorCall.measure(Side::Procvisor, smoke),
            (Side::Baseline, Placement::OwnProcess(_)) => {
                StartJoin(StartMethod::Forkserver).measure(Side::Procvisor, smoke)
            }
        }
    }

    fn notes(&self) -> Vec<String> {
        let memory = self.memory.lock().unwrap_or_else(|p| p.into_inner());
        let Some(first) = memory.first().copied() else {
            return Vec::new();
        };
        let n = first.children;
        let bare = match self.unsupervised(n) {
            Ok(d) => format!(
                "the same actors without a supervisor (spawn_in, unnamed): {:.2} µs per child",
                d.as_secs_f64() * 1e6
            ),
            Err(e) => format!("the same actors without a supervisor: {e}"),
        };
        // The first round is the figure: later ones reuse memory the earlier ones freed.
        let later = memory.iter().skip(1).map(|m| m.here);
        let mut note = format!(
            "memory per child ({n} alive): this process's RSS grew {} bytes per child in the first round{}",
            first.here,
            match (later.clone().min(), later.max()) {
                (Some(low), Some(high)) => format!(" ({low}–{high} in later rounds)"),
                _ => String::new(),
            }
        );
        if let Some(pss) = first.own_pss_kib {
            note += &format!("; each child's own process: PSS {pss} KiB");
        }
        vec![bare, note]
    }
}

/// Worker processes of the supervised pool and of the one built to compare.
const POOL_PROCESSES: usize = 2;

const POOL_ID: &str = "bench-pool";

/// One task, the proof that a pool answers.
fn answers(pool: &Pool) -> Result<(), String> {
    match pool.apply(square, (7,)).map_err(|e| e.to_string())? {
        49 => Ok(()),
        other => Err(format!("7 squared came back as {other}")),
    }
}

/// A supervised pool child stopped and started again (`restart_child`) until the new pool
/// answers one task, against building a pool of the same size until it answers.
pub(crate) struct SupervisedPoolRestart;

impl SupervisedPoolRestart {
    fn count(smoke: bool) -> u32 {
        if smoke { 1 } else { 10 }
    }

    fn procvisor(k: u32) -> Result<Duration, String> {
        let supervisor = Supervisor::builder("bench-pools")
            .intensity(RestartIntensity::unlimited())
            .child(
                Pool::builder()
                    .processes(POOL_PROCESSES)
                    .child_spec(POOL_ID),
            )
            .start()
            .map_err(|e| e.to_string())?;
        answers(&Pool::supervised(POOL_ID).map_err(|e| e.to_string())?)?;
        let mut total = Duration::ZERO;
        for _ in 0..k {
            // Stopping the old pool (its workers exit) is not part of starting the new one.
            supervisor
                .terminate_child(POOL_ID)
                .map_err(|e| e.to_string())?;
            let start = Instant::now();
            supervisor
                .restart_child(POOL_ID)
                .map_err(|e| e.to_string())?;
            answers(&Pool::supervised(POOL_ID).map_err(|e| e.to_string())?)?;
            total += start.elapsed();
        }
        supervisor.shutdown().map_err(|e| e.to_string())?;
        Ok(total / k)
    }

    /// A new pool of the same size built by hand until it answers: what a restart replaces.
    fn fresh_builds(k: u32) -> Result<Duration, String> {
        let build = || {
            Pool::builder()
                .processes(POOL_PROCESSES)
                .build()
                .map_err(|e| e.to_string())
        };
        // Warm-up: the forkserver starts on first use.
        answers(&build()?)?;
        let mut total = Duration::ZERO;
        for _ in 0..k {
            let start = Instant::now();
            let pool = build()?;
            answers(&pool)?;
            total += start.elapsed();
            // Terminated by the drop, untimed, as the restart's old pool is.
            drop(pool);
        }
        Ok(total / k)
    }
}

impl Workload for SupervisedPoolRestart {
    fn name(&self) -> &'static str {
        "supervised_pool_restart"
    }

    fn unit(&self) -> &'static str {
        "restart"
    }

    fn targets(&self) -> &'static [Target] {
        // Within 2x of building a new pool of the same size (the baseline).
        &[Target::VsBaseline(2.0)]
    }

    fn has_baseline(&self) -> bool {
        true
    }

    fn measure(&self, side: Side, smoke: bool) -> Result<Duration, String> {
        let k = Self::count(smoke);
        match side {
            Side::Procvisor => Self::procvisor(k),
            // Python has no supervisors: a new Pool of the same size, built by hand.
            Side::Python => python::run("pool_build", &[POOL_PROCESSES.to_string(), k.to_string()]),
            Side::Baseline => Self::fresh_builds(k),
        }
    }
}
