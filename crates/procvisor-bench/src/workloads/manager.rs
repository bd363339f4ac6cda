//! `manager_dict` and `manager_actor`: writes to a dict held by a manager process, through its
//! proxy; calls to a user's actor the manager serves.

use super::pipe::{self, PipeRtt};
use crate::harness::{OpTimer, Peer, Sample, Side, Target, Workload};
use crate::python;
use procvisor::{Actor, ActorContext, InitError, register_actor};
use procvisor_manager::{DictProxy, Manager};
use std::time::Duration;

const WARMUP: i64 = 200;

/// Distinct keys written in turn (`i % KEYS`), so the dict stops growing after the warm-up.
const KEYS: i64 = 1000;

pub(crate) struct ManagerDict;

impl ManagerDict {
    fn count(smoke: bool) -> i64 {
        if smoke { 200 } else { 20_000 }
    }
}

/// `d[i % KEYS] = i` for `n` values of `i`, after a warm-up; each write timed.
fn timed_writes(d: &DictProxy<i64, i64>, n: i64) -> Result<Sample, String> {
    for i in 0..WARMUP {
        d.set(i % KEYS, i).map_err(|e| e.to_string())?;
    }
    let mut timer = OpTimer::start(n as usize, 1);
    for i in 0..n {
        d.set(i % KEYS, i).map_err(|e| e.to_string())?;
        timer.tick();
    }
    let sample = timer.finish();
    let last = (n - 1) % KEYS;
    match d.get(&last).map_err(|e| e.to_string())? {
        Some(v) if v == n - 1 => Ok(sample),
        other => Err(format!("d[{last}] is {other:?}, expected {}", n - 1)),
    }
}

impl Workload for ManagerDict {
    fn name(&self) -> &'static str {
        "manager_dict"
    }

    fn unit(&self) -> &'static str {
        "write"
    }

    fn targets(&self) -> &'static [Target] {
        // A proxied dict write at most 0.3x Python's time, and within 1.5x of a Connection
        // round trip (pipe_rtt) measured in the same run.
        &[Target::VsPython(0.3), Target::VsBaseline(1.5)]
    }

    fn has_baseline(&self) -> bool {
        true
    }

    fn peers(&self) -> &'static [Peer] {
        &[Peer::Floor]
    }

    fn measure_peer(&self, _: Peer, smoke: bool) -> Result<Sample, String> {
        pipe::floor(smoke)
    }

    fn measure(&self, side: Side, smoke: bool) -> Result<Duration, String> {
        self.sample(side, smoke).map(|s| s.per_op)
    }

    fn sample(&self, side: Side, smoke: bool) -> Result<Sample, String> {
        let n = Self::count(smoke);
        match side {
            Side::Procvisor => {
                let manager = Manager::start().map_err(|e| e.to_string())?;
                let d = manager.dict::<i64, i64>().map_err(|e| e.to_string())?;
                let per_write = timed_writes(&d, n);
                drop(d);
                manager.shutdown().map_err(|e| e.to_string())?;
                per_write
            }
            Side::Python => python::sample("manager_dict", &[n.to_string(), WARMUP.to_string()]),
            // The floor for one request and its reply: a Connection round trip.
            Side::Baseline => PipeRtt.sample(Side::Procvisor, smoke),
        }
    }
}

/// `manager_actor`: calls to a user's actor served by a manager (Python: a method of a class
/// registered with a `BaseManager`).
pub(crate) struct ManagerActor;

/// Adds what it is sent to its total; answers the total.
struct Counter(i64);

impl Actor for Counter {
    type Args = ();
    type Msg = i64;
    type Reply = i64;

    async fn start((): (), _: &ActorContext<Self>) -> Result<Self, InitError> {
        Ok(Counter(0))
    }

    async fn handle(&mut self, n: i64, _: &ActorContext<Self>) -> i64 {
        self.0 += n;
        self.0
    }
}
register_actor!(Counter);

impl Workload for ManagerActor {
    fn name(&self) -> &'static str {
        "manager_actor"
    }

    fn unit(&self) -> &'static str {
        "call"
    }

    fn targets(&self) -> &'static [Target] {
        // As manager_dict: a call to one's own type costs no more than a built-in object's.
        &[Target::VsPython(0.3), Target::VsBaseline(2.0)]
    }

    fn has_baseline(&self) -> bool {
        true
    }

    fn measure(&self, side: Side, smoke: bool) -> Result<Duration, String> {
        self.sample(side, smoke).map(|s| s.per_op)
    }

    fn sample(&self, side: Side, smoke: bool) -> Result<Sample, String> {
        let n = ManagerDict::count(smoke);
        match side {
            Side::Procvisor => {
                let manager = Manager::start().map_err(|e| e.to_string())?;
                let counter = manager.spawn::<Counter>(()).map_err(|e| e.to_string())?;
                for _ in 0..WARMUP {
                    counter.call(1).map_err(|e| e.to_string())?;
                }
                let mut timer = OpTimer::start(n as usize, 1);
                for _ in 0..n {
                    counter.call(1).map_err(|e| e.to_string())?;
                    timer.tick();
                }
                let sample = timer.finish();
                let total = counter.call(0).map_err(|e| e.to_string())?;
                if total != n + WARMUP {
                    return Err(format!("the total is {total}, expected {}", n + WARMUP));
                }
                drop(counter);
                manager.shutdown().map_err(|e| e.to_string())?;
                Ok(sample)
            }
            Side::Python => python::sample("manager_actor", &[n.to_string(), WARMUP.to_string()]),
            Side::Baseline => PipeRtt.sample(Side::Procvisor, smoke),
        }
    }
}
