//! A pool and a manager under one supervisor, under each strategy, while their processes are
//! killed at random: every pool task and every proxy call is either done or fails with a clear
//! error within a deadline (never a hang, never a wrong answer), and both are back after each
//! kill. Each strategy runs 100 kills.

use procvisor::{
    DictProxy, Manager, ManagerError, Pool, PoolError, RestartIntensity, Strategy, Supervisor,
    register,
};
use procvisor_testing::within;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(240);
/// No single call may take longer than this.
const CALL_LIMIT: Duration = Duration::from_secs(15);
const KILLS: u32 = 100;

fn sqr(x: u64) -> u64 {
    x * x
}

fn setup(manager: Manager) -> Result<(), ManagerError> {
    let counts = manager.dict::<String, u64>()?;
    manager.publish("counts", &counts)
}
register!(sqr, setup);

/// What the client saw.
#[derive(Default)]
struct Seen {
    done: AtomicU64,
    failed: AtomicU64,
}

/// Calls the pool and the manager by id, over and over, until `stop`; checks every answer and
/// every error, and the time each call took.
fn client(pool_id: String, manager_id: String, stop: Arc<AtomicBool>, seen: Arc<Seen>) {
    let mut i = 0_u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let started = Instant::now();
        match pool_call(&pool_id, i) {
            Ok(v) => {
                assert_eq!(v, i * i, "a wrong answer from the pool");
                seen.done.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                assert!(clear_pool_error(&e), "an unclear pool error: {e:?}");
                seen.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        assert!(
            started.elapsed() < CALL_LIMIT,
            "a pool call took {:?}",
            started.elapsed()
        );
        let started = Instant::now();
        match manager_call(&manager_id, i) {
            Ok(()) => {
                seen.done.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                assert!(clear_manager_error(&e), "an unclear manager error: {e:?}");
                seen.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        assert!(
            started.elapsed() < CALL_LIMIT,
            "a proxy call took {:?}",
            started.elapsed()
        );
    }
}

fn pool_call(id: &str, i: u64) -> Result<u64, PoolError> {
    let pool = Pool::supervised_timeout(id, Duration::from_secs(10))?;
    pool.apply_async(sqr, (i,))?
        .get_timeout(Duration::from_secs(10))
}

fn manager_call(id: &str, i: u64) -> Result<(), ManagerError> {
    let manager = Manager::supervised_timeout(id, Duration::from_secs(10))?
        .with_liveness_timeout(Duration::from_secs(3));
    let counts: DictProxy<String, u64> = manager
        .lookup("counts")?
        .ok_or_else(|| ManagerError::Remote("KeyError: counts".into()))?;
    counts.set("last".into(), i)?;
    let back = counts.get(&"last".to_string())?;
    // Another incarnation may have come between the two calls; never a value from nowhere.
    assert!(
        back.is_none() || back == Some(i),
        "read {back:?} after writing {i}"
    );
    Ok(())
}

fn clear_pool_error(e: &PoolError) -> bool {
    matches!(
        e,
        PoolError::WorkerLost { .. }
            | PoolError::SupervisedEnded { .. }
            | PoolError::Broken { .. }
            | PoolError::Terminated { .. }
            | PoolError::NotRunning
    )
}

fn clear_manager_error(e: &ManagerError) -> bool {
    matches!(e, ManagerError::Unreachable { .. }) || e.is_remote("ReferenceError")
}

/// A small deterministic random sequence (the seed is printed on failure).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

fn chaos(strategy: Strategy, tag: &str) {
    let (pool_id, manager_id) = (format!("pool-{tag}"), format!("manager-{tag}"));
    let supervisor = Supervisor::builder(&format!("chaos-{tag}"))
        .strategy(strategy)
        .intensity(RestartIntensity::unlimited())
        .child(
            Pool::builder()
                .processes(2)
                .restart_intensity(RestartIntensity::new(2, Duration::from_secs(1)))
                .child_spec(&pool_id),
        )
        .child(Manager::builder().setup(setup).child_spec(&manager_id))
        .start()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Seen::default());
    let client = {
        let (p, m, stop, seen) = (
            pool_id.clone(),
            manager_id.clone(),
            stop.clone(),
            seen.clone(),
        );
        std::thread::spawn(move || client(p, m, stop, seen))
    };
    let seed = std::process::id() as u64;
    let mut random = Lcg(seed);
    for kill in 0..KILLS {
        let what = random.next(4);
        match what {
            0 => {
                if let Ok(pool) = Pool::supervised(&pool_id) {
                    if let Some(pid) = pool.worker_pids().first() {
                        sigkill(*pid);
                    }
                }
            }
            1 => {
                let tree = supervisor.tree().unwrap();
                let pid = tree
                    .find(&manager_id)
                    .and_then(|n| n.service.as_ref())
                    .and_then(|s| s.processes.first())
                    .map(|p| p.pid);
                if let Some(pid) = pid {
                    sigkill(pid);
                }
            }
            2 => {
                let _ = supervisor.kill_child(&pool_id);
            }
            _ => {
                let _ = supervisor.kill_child(&manager_id);
            }
        }
        // Both back and answering before the next kill.
        let deadline = Instant::now() + Duration::from_secs(30);
        let before = seen.done.load(Ordering::Relaxed);
        while seen.done.load(Ordering::Relaxed) < before + 4 {
            assert!(
                !client.is_finished(),
                "the client failed (seed {seed}, kill {kill}, kind {what})"
            );
            assert!(
                Instant::now() < deadline,
                "no progress after kill {kill} (kind {what}, seed {seed})"
            );
            std::thread::yield_now();
        }
    }
    stop.store(true, Ordering::Relaxed);
    if let Err(panic) = client.join() {
        eprintln!("seed {seed}");
        std::panic::resume_unwind(panic);
    }
    assert_eq!(pool_call(&pool_id, 12).unwrap(), 144);
    manager_call(&manager_id, 1).unwrap();
    eprintln!(
        "{tag}: {} calls done, {} failed clearly, over {KILLS} kills",
        seen.done.load(Ordering::Relaxed),
        seen.failed.load(Ordering::Relaxed)
    );
    supervisor.shutdown().unwrap();
}

fn sigkill(pid: u32) {
    // SAFETY: kills a process this test's supervisor started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
}

#[test]
fn one_for_one_keeps_its_pool_and_manager_answering() {
    within(LIMIT, "one_for_one chaos", || {
        chaos(Strategy::OneForOne, "o4o")
    });
}

#[test]
fn one_for_all_keeps_its_pool_and_manager_answering() {
    within(LIMIT, "one_for_all chaos", || {
        chaos(Strategy::OneForAll, "o4a")
    });
}

#[test]
fn rest_for_one_keeps_its_pool_and_manager_answering() {
    within(LIMIT, "rest_for_one chaos", || {
        chaos(Strategy::RestForOne, "r4o")
    });
}
