//! `cluster_map`, `cluster_apply_async` and `host_loss`: a pool across two hosts (two local
//! agents of one worker each, so that the cluster has the local pool's two workers) against
//! the local pool in the same run; and the time from a hung host to its tasks' `HostLost`.

use crate::harness::{Side, Target, Workload};
use crate::python;
use procvisor::cluster::{Cluster, LocalLauncher};
use procvisor::{Pool, PoolError, register};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn square(x: u64) -> u64 {
    x * x
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}
register!(square, sleep_ms);

/// The host timeout of `host_loss`.
const HOST_TIMEOUT: Duration = Duration::from_secs(1);

fn cluster(hosts: usize, host_timeout: Duration) -> Result<Cluster, String> {
    Cluster::builder()
        .launcher(LocalLauncher::new(hosts))
        .min_hosts(hosts)
        .workers_per_host(1)
        .host_timeout(host_timeout)
        .join()
        .map_err(|e| e.to_string())
}

/// One cluster for every round (starting one is not what is measured).
fn shared_cluster() -> Result<&'static Cluster, String> {
    static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
    CLUSTER
        .get_or_init(|| cluster(2, Duration::from_secs(10)))
        .as_ref()
        .map_err(Clone::clone)
}

fn warm(pool: &Pool) -> Result<(), String> {
    pool.map(square, 0..100u64)
        .map(drop)
        .map_err(|e| e.to_string())
}

fn check(last: u64, n: u64) -> Result<(), String> {
    if last != (n - 1) * (n - 1) {
        return Err(format!("wrong last result {last}"));
    }
    Ok(())
}

pub(crate) struct ClusterMap;

impl ClusterMap {
    fn map(pool: &Pool, n: u64) -> Result<Duration, String> {
        warm(pool)?;
        let start = Instant::now();
        let squares = pool.map(square, 0..n).map_err(|e| e.to_string())?;
        let elapsed = start.elapsed();
        check(*squares.last().ok_or("no result")?, n)?;
        Ok(elapsed / n as u32)
    }
}

impl Workload for ClusterMap {
    fn name(&self) -> &'static str {
        "cluster_map"
    }

    fn unit(&self) -> &'static str {
        "item"
    }

    fn targets(&self) -> &'static [Target] {
        // At most 3x the local pool per item (the baseline).
        &[Target::VsBaseline(3.0)]
    }

    fn has_baseline(&self) -> bool {
        true
    }

    fn measure(&self, side: Side, smoke: bool) -> Result<Duration, String> {
        let n: u64 = if smoke { 10_000 } else { 1_000_000 };
        match side {
            Side::Procvisor => {
                let pool = Pool::builder()
                    .cluster(shared_cluster()?)
                    .build()
                    .map_err(|e| e.to_string())?;
                ClusterMap::map(&pool, n)
            }
            Side::Baseline => ClusterMap::map(&Pool::new(2).map_err(|e| e.to_string())?, n),
            Side::Python => python::run("pool_map", &[n.to_string()]),
        }
    }
}

pub(crate) struct ClusterApplyAsync;

impl Workload for ClusterApplyAsync {
    fn name(&self) -> &'static str {
        "cluster_apply_async"
    }

    fn unit(&self) -> &'static str {
        "task"
    }

    fn targets(&self) -> &'static [Target] {
        // Python's local pool as the reference; Ray's pool is a note (when it is installed).
        &[]
    }

    fn has_baseline(&self) -> bool {
        true
    }

    fn measure(&self, side: Side, smoke: bool) -> Result<Duration, String> {
        let n: u64 = if smoke { 500 } else { 20_000 };
        let run = |pool: &Pool| -> Result<Duration, String> {
            warm(pool)?;
            let (per_task, last) =
                super::pool::time_submits(n as u32, |i| pool.apply_async(square, (u64::from(i),)))?;
            check(last, n)?;
            Ok(per_task)
        };
        match side {
            Side::Procvisor => run(&Pool::builder()
                .cluster(shared_cluster()?)
                .build()
                .map_err(|e| e.to_string())?),
            Side::Baseline => run(&Pool::new(2).map_err(|e| e.to_string())?),
            Side::Python => python::run("pool_apply_async", &[n.to_string()]),
        }
    }

    fn notes(&self) -> Vec<String> {
        let ray = std::process::Command::new("python3")
            .args(["-c", "import ray"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !ray {
            return vec![
                "Ray's ray.util.multiprocessing.Pool: skipped, `ray` is not importable (pip install ray)"
                    .into(),
            ];
        }
        let n = 2_000u64;
        let (Ok(ray), Ok(ours)) = (
            python::run("ray_apply_async", &[n.to_string()]),
            self.measure(Side::Procvisor, false),
        ) else {
            return vec!["could not measure Ray's pool".into()];
        };
        let ratio = ray.as_secs_f64() / ours.as_secs_f64();
        let verdict = if ratio >= 20.0 { "met" } else { "MISSED" };
        vec![format!(
            "Ray's Pool apply_async: {:.1} µs per task, {ratio:.1}x procvisor's cluster pool (target: at least 20x): {verdict}",
            ray.as_secs_f64() * 1e6
        )]
    }
}

pub(crate) struct HostLoss;

impl Workload for HostLoss {
    fn name(&self) -> &'static str {
        "host_loss"
    }

    fn unit(&self) -> &'static str {
        "loss"
    }

    fn targets(&self) -> &'static [Target] {
        // At most the host timeout plus a second: checked in the note.
        &[]
    }

    fn has_python(&self) -> bool {
        false
    }

    /// SIGSTOP of a host's agent while it runs a task, to that task's `HostLost`.
    fn measure(&self, side: Side, _smoke: bool) -> Result<Duration, String> {
        if side != Side::Procvisor {
            return Err("no other side".into());
        }
        let cluster = cluster(2, HOST_TIMEOUT)?;
        let pool = Pool::builder()
            .cluster(&cluster)
            .build()
            .map_err(|e| e.to_string())?;
        let tasks = (0..2)
            .map(|_| pool.apply_async(sleep_ms, (60_000u64,)))
            .collect::<Result<Vec<_>, PoolError>>()
            .map_err(|e| e.to_string())?;
        // Both started, and said so in a heartbeat.
        std::thread::sleep(HOST_TIMEOUT / 2);
        let (_, agent) = cluster
            .local_agents()
            .into_iter()
            .next()
            .ok_or("no local agent")?;
        let start = Instant::now();
        // SAFETY: kill(2) with a pid and a signal number.
        unsafe { libc::kill(agent as i32, libc::SIGSTOP) };
        let lost = tasks
            .iter()
            .find_map(|t| match t.get_timeout(Duration::from_secs(30)) {
                Err(PoolError::HostLost { .. }) => Some(start.elapsed()),
                _ => None,
            });
        // SAFETY: as above.
        unsafe { libc::kill(agent as i32, libc::SIGCONT) };
        lost.ok_or_else(|| "no task was lost with its host".into())
    }

    fn notes(&self) -> Vec<String> {
        match self.measure(Side::Procvisor, false) {
            Ok(took) => {
                let limit = HOST_TIMEOUT + Duration::from_secs(1);
                let verdict = if took <= limit { "met" } else { "MISSED" };
                vec![format!(
                    "a hung host to HostLost: {:.2} s with a host timeout of {:?} (target: at most {:?}): {verdict}",
                    took.as_secs_f64(),
                    HOST_TIMEOUT,
                    limit
                )]
            }
            Err(e) => vec![format!("could not measure: {e}")],
        }
    }
}
