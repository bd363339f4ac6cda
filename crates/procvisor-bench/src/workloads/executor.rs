//! `executor_submit`: `pool_apply_async`'s work through the `concurrent.futures` executor, so
//! the executor's cost over its pool shows (the baseline is `pool_apply_async` in the same run;
//! Python's side is its `ProcessPoolExecutor`).

use crate::harness::{Side, Target, Workload};
use crate::python;
use procvisor::futures::ProcessPoolExecutor;
use procvisor::{Pool, register};
use std::time::Duration;

fn square(x: i64) -> i64 {
    x * x
}
register!(square);

pub(crate) struct ExecutorSubmit;

impl Workload for ExecutorSubmit {
    fn name(&self) -> &'static str {
        "executor_submit"
    }

    fn unit(&self) -> &'static str {
        "task"
    }

    fn targets(&self) -> &'static [Target] {
        // At most 1.1x the pool's own apply_async; at least 5x Python's executor.
        &[Target::VsPython(0.2), Target::VsBaseline(1.1)]
    }

    fn has_baseline(&self) -> bool {
        true
    }

    fn measure(&self, side: Side, smoke: bool) -> Result<Duration, String> {
        let n: i64 = if smoke { 1000 } else { 20_000 };
        match side {
            Side::Procvisor => {
                let executor =
                    ProcessPoolExecutor::from_pool(Pool::new(2).map_err(|e| e.to_string())?);
                executor
                    .map(square, 0..100)
                    .map_err(|e| e.to_string())?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| e.to_string())?;
                let (per_task, last) = super::pool::time_submits(n as u32, |i| {
                    executor.submit(square, (i64::from(i),))
                })?;
                super::pool::check(last, n)?;
                Ok(per_task)
            }
            Side::Python => python::run("executor_submit", &[n.to_string()]),
            Side::Baseline => super::pool::PoolApplyAsync.measure(Side::Procvisor, smoke),
        }
    }
}
