//! How a worker answers: the answers of a run of short tasks travel together, but an answer
//! never waits for a long task that follows it, and none is lost when the worker stops. Every
//! test has a deadline that names the step that hung.

mod common;

use common::{LIMIT, within};
use procvisor_pool::{Pool, PoolError};
use procvisor_runtime::{RestartIntensity, register};
use procvisor_sync::Event;
use std::time::Duration;

fn square(x: i64) -> i64 {
    x * x
}
/// Waits at the gate (at most the test's limit), then answers `x`.
fn held(gate: Event, x: i64) -> i64 {
    gate.wait_timeout(LIMIT);
    x
}
/// Killed at once, as by the OOM killer.
fn killed() -> i64 {
    // SAFETY: raising a signal against this process has no memory effects.
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    std::thread::sleep(Duration::from_secs(10));
    0
}
register!(square, held, killed);

#[test]
fn short_answers_do_not_wait_for_the_long_task_behind_them() {
    within(LIMIT, "short tasks ahead of a long one", || {
        let pool = Pool::new(1).unwrap();
        // The worker's tasks are known to be short: it is sent many at once.
        let warm: Vec<i64> = pool.map(square, 0..2_000).unwrap();
        assert_eq!(warm[1_999], 1_999 * 1_999);
        for round in 0..5 {
            let gate = Event::new().unwrap();
            let squares: Vec<_> = (0..40)
                .map(|x| pool.apply_async(square, (x,)).unwrap())
                .collect();
            let long = pool.apply_async(held, (gate.clone(), round)).unwrap();
            for (x, square) in (0..40).zip(&squares) {
                // The gate is still shut: an answer held for the tasks after it would only come
                // once it opens, after this deadline.
                let got = square
                    .get_timeout(Duration::from_secs(20))
                    .unwrap_or_else(|e| panic!("round {round}: the square of {x}: {e}"));
                assert_eq!(got, x * x);
            }
            assert!(!long.ready(), "the long task ran past its gate");
            gate.set();
            assert_eq!(long.get_timeout(LIMIT).unwrap(), round);
        }
    });
}

#[test]
fn a_worker_killed_with_answers_held_back_loses_none_and_blames_the_running_task() {
    within(LIMIT, "a kill behind short tasks", || {
        let pool = Pool::builder()
            .processes(1)
            .restart_intensity(RestartIntensity::unlimited())
            .build()
            .unwrap();
        let warm: Vec<i64> = pool.map(square, 0..2_000).unwrap();
        assert_eq!(warm.len(), 2_000);
        for round in 0..5 {
            let squares: Vec<_> = (0..40)
                .map(|x| pool.apply_async(square, (x,)).unwrap())
                .collect();
            let killer = pool.apply_async(killed, ()).unwrap();
            for (x, square) in (0..40).zip(&squares) {
                let got = square
                    .get_timeout(LIMIT)
                    .unwrap_or_else(|e| panic!("round {round}: the square of {x} was lost: {e}"));
                assert_eq!(got, x * x);
            }
            match killer.get_timeout(LIMIT) {
                Err(PoolError::WorkerLost { task, .. }) => {
                    assert!(task.target().contains("killed"), "blamed on {task}")
                }
                other => panic!("round {round}: the killed task got {other:?}"),
            }
            // The replacement worker takes tasks.
            assert_eq!(pool.apply_async(square, (7,)).unwrap().get().unwrap(), 49);
        }
    });
}

#[test]
fn every_answer_of_many_short_tasks_arrives_once() {
    within(LIMIT, "many short tasks", || {
        let pool = Pool::new(2).unwrap();
        let n = 50_000;
        let mut seen = vec![false; n as usize];
        for got in pool.imap_unordered(square, 0..n).unwrap() {
            let got = got.unwrap();
            let x = (got as f64).sqrt() as usize;
            assert!(!seen[x], "{x} answered twice");
            seen[x] = true;
        }
        assert!(seen.iter().all(|&s| s), "an answer is missing");
        let results: Vec<_> = (0..100)
            .map(|x| pool.apply_async(square, (x,)).unwrap())
            .collect();
        pool.close();
        pool.join().unwrap();
        for (x, result) in (0..100).zip(results) {
            assert_eq!(result.get().unwrap(), x * x, "after the pool stopped");
        }
    });
}
