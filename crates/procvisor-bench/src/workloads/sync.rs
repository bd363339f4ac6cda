//! `queue_tput`, `value_lock` and `lock_uncontended`.

use crate::harness::{Side, Target, Workload};
use crate::python;
use procvisor::{Event, Lock, Process, Queue, Value, register};
use std::time::{Duration, Instant};

fn produce(q: Queue<i64>, n: i64) -> Result<(), String> {
    for i in 0..n {
        q.put(i).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn increment(v: Value<u64>, go: Event, n: u64) {
    go.wait();
    for _ in 0..n {
        v.update(|x| x + 1);
    }
}
register!(produce, increment);

fn started<F: procvisor::Target<A>, A: serde::Serialize>(f: F, args: A) -> Result<Process, String> {
    let mut p = Process::new(f, args).map_err(|e| e.to_string())?;
    p.start().map_err(|e| e.to_string())?;
    Ok(p)
}

pub(crate) struct QueueThroughput;

impl Workload for QueueThroughput {
    fn name(&self) -> &'static str {
        "queue_tput"
    }

    fn unit(&self) -> &'static str {
        "item"
    }

    fn targets(&self) -> &'static [Target] {
        // At least 10x Python's items/s (#15).
        &[Target::VsPython(0.1)]
    }

    fn measure(&self, side: Side, smoke: bool) -> Result<Duration, String> {
        let n: i64 = if smoke { 1000 } else { 100_000 };
        match side {
            Side::Procvisor => {
                let q: Queue<i64> = Queue::new(0).map_err(|e| e.to_string())?;
                let mut producer = started(produce, (q.clone(), n))?;
                // Time from the first item to the last, like the Python side.
                q.get().map_err(|e| e.to_string())?;
                let start = Instant::now();
                for expected in 1..n {
                    let got = q.get().map_err(|e| e.to_string())?;
                    if got != expected {
                        return Err(format!("got {got}, expected {expected}"));
                    }
                }
                let elapsed = start.elapsed();
                producer.result::<()>().map_err(|e| e.to_string())?;
                Ok(elapsed / (n - 1) as u32)
            }
            Side::Python => python::run("queue_tput", &[n.to_string()]),
            Side::Baseline => Err("no baseline".into()),
        }
    }
}

pub(crate) struct ValueLock;

impl Workload for ValueLock {
    fn name(&self) -> &'static str {
        "value_lock"
    }

    fn unit(&self) -> &'static str {
        "increment"
    }

    fn targets(&self) -> &'static [Target] {
        // At least 10x Python's increments/s.
        &[Target::VsPython(0.1)]
    }

    fn measure(&self, side: Side, smoke: bool) -> Result<Duration, String> {
        let n: u64 = if smoke { 1000 } else { 100_000 };
        match side {
            Side::Procvisor => {
                let value = Value::new(0_u64).map_err(|e| e.to_string())?;
                let go = Event::new().map_err(|e| e.to_string())?;
                let mut workers = vec![
                    started(increment, (value.clone(), go.clone(), n))?,
                    started(increment, (value.clone(), go.clone(), n))?,
                ];
                // Both children exist before the clock starts (as in the Python script).
                std::thread::sleep(Duration::from_millis(50));
                let start = Instant::now();
                go.set();
                for w in &mut workers {
                    w.result::<()>().map_err(|e| e.to_string())?;
                }
                let elapsed = start.elapsed();
                if value.get() != 2 * n {
                    return Err(format!("lost updates: {} of {}", value.get(), 2 * n));
                }
                Ok(elapsed / (2 * n) as u32)
            }
            Side::Python => python::run("value_lock", &[n.to_string()]),
            Side::Baseline => Err("no baseline".into()),
        }
    }
}

pub(crate) struct LockUncontended;

impl Workload for LockUncontended {
    fn name(&self) -> &'static str {
        "lock_uncontended"
    }

    fn unit(&self) -> &'static str {
        "acq+rel"
    }

    fn targets(&self) -> &'static [Target] {
        &[]
    }

    fn has_baseline(&self) -> bool {
        true
    }

    fn measure(&self, side: Side, smoke: bool) -> Result<Duration, String> {
        let n: u32 = if smoke { 10_000 } else { 5_000_000 };
        match side {
            Side::Procvisor => {
                let lock = Lock::new().map_err(|e| e.to_string())?;
                let start = Instant::now();
                for _ in 0..n {
                    drop(std::hint::black_box(
                        lock.acquire().map_err(|e| e.to_string())?,
                    ));
                }
                Ok(start.elapsed() / n)
            }
            Side::Python => python::run("lock_uncontended", &[(n / 5).to_string()]),
            // An in-process std::sync::Mutex: the floor for an uncontended lock.
            Side::Baseline => {
                let mutex = std::sync::Mutex::new(());
                let start = Instant::now();
                for _ in 0..n {
                    drop(std::hint::black_box(
                        mutex.lock().map_err(|e| e.to_string())?,
                    ));
                }
                Ok(start.elapsed() / n)
            }
        }
    }

    fn notes(&self) -> Vec<String> {
        vec!["target: an uncontended Lock acquire+release under 50 ns (absolute)".into()]
    }
}
