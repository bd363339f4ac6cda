//! CPython's `concurrent.futures` behaviours, rewritten in Rust over procvisor's executor.
//!
//! Provenance: `Lib/test/test_concurrent_futures/` — `test_future.py` (`FutureTests`),
//! `test_as_completed.py`, `test_wait.py`, `test_shutdown.py`, `executor.py`
//! (`ExecutorTest`) and `test_process_pool.py`. Where Python raises, the Rust call returns the
//! matching [`PoolError`]: `CancelledError` is [`PoolError::Cancelled`], `TimeoutError` is
//! [`PoolError::Timeout`], `RuntimeError` after shutdown is [`PoolError::NotRunning`],
//! `ValueError` is [`PoolError::InvalidArgument`]. Python builds futures by hand in
//! `test_future.py`; here every future comes from a real executor, held at a gate (an
//! [`Event`]) to keep it pending or running.

mod common;

use common::{LIMIT, wait_until, within};
use procvisor_pool::futures::{
    Finished, MapOptions, ProcessPoolExecutor, ReturnWhen, as_completed, as_completed_timeout,
    wait, wait_timeout,
};
use procvisor_pool::{Pool, PoolError};
use procvisor_runtime::register;
use procvisor_sync::Event;
use std::sync::mpsc;
use std::time::Duration;

fn square(x: i64) -> i64 {
    x * x
}
fn divide(a: i64, b: i64) -> i64 {
    a.checked_div(b)
        .unwrap_or_else(|| panic!("ZeroDivisionError: division by zero"))
}
/// Waits at the gate (at most the test's limit), then answers `x`.
fn held(gate: Event, x: i64) -> i64 {
    gate.wait_timeout(LIMIT);
    x
}
fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}
fn pid() -> u32 {
    std::process::id()
}
fn count(runs: procvisor_sync::Value<u32>) {
    runs.update(|n| n + 1);
}
register!(square, divide, held, sleep_ms, pid, count);

/// An executor of one worker whose worker is busy at a gate: the first future runs, the
/// others wait.
fn blocked_executor() -> (
    ProcessPoolExecutor,
    Event,
    procvisor_pool::futures::Future<i64>,
) {
    let executor = ProcessPoolExecutor::new(1).unwrap();
    let gate = Event::new().unwrap();
    let running = executor.submit(held, (gate.clone(), 1)).unwrap();
    wait_until(LIMIT, "the first call to reach the worker", || {
        running.running()
    });
    (executor, gate, running)
}

// ---- test_future.py: FutureTests -------------------------------------------------------------

#[test]
fn cancel_takes_back_a_pending_call_but_not_a_running_or_finished_one() {
    within(LIMIT, "cancel", || {
        let (executor, gate, running) = blocked_executor();
        let pending = executor.submit(held, (gate.clone(), 2)).unwrap();
        assert!(!pending.running() && !pending.done() && !pending.cancelled());
        assert!(pending.cancel(), "a pending call is taken back");
        assert!(pending.cancel(), "cancelling again still says cancelled");
        assert!(pending.cancelled() && pending.done() && !pending.running());
        assert!(matches!(pending.result(), Err(PoolError::Cancelled { .. })));

        assert!(!running.cancel(), "a running call is not");
        assert!(!running.cancelled());
        gate.set();
        assert_eq!(running.result().unwrap(), 1);
        assert!(!running.cancel(), "nor a finished one");
        assert!(!running.running());
        executor.shutdown().unwrap();
    });
}

#[test]
fn a_cancelled_call_never_runs() {
    within(LIMIT, "cancelled call", || {
        let (executor, gate, running) = blocked_executor();
        let runs = procvisor_sync::Value::new(0_u32).unwrap();
        let futures: Vec<_> = (0..20)
            .map(|_| executor.pool().apply_async(count, (runs.clone(),)).unwrap())
            .collect();
        let cancelled = executor.submit(count, (runs.clone(),)).unwrap();
        assert!(cancelled.cancel());
        gate.set();
        running.result().unwrap();
        for f in &futures {
            f.get().unwrap();
        }
        executor.shutdown().unwrap();
        assert_eq!(runs.get(), 20, "the cancelled call ran");
    });
}

#[test]
fn result_and_exception_with_timeout_success_and_failure() {
    within(LIMIT, "result", || {
        let (executor, gate, running) = blocked_executor();
        assert!(matches!(
            running.result_timeout(Duration::from_millis(50)),
            Err(PoolError::Timeout)
        ));
        assert!(matches!(
            running.exception_timeout(Duration::from_millis(50)),
            Err(PoolError::Timeout)
        ));
        gate.set();
        assert_eq!(running.result_timeout(LIMIT).unwrap(), 1);
        assert!(running.exception_timeout(LIMIT).unwrap().is_none());

        let failed = executor.submit(divide, (1, 0)).unwrap();
        let error = failed.exception().expect("a failure");
        assert!(error.is_panic(), "{error}");
        assert!(error.to_string().contains("ZeroDivisionError"), "{error}");
        assert!(failed.result().is_err(), "result raises the same error");
        executor.shutdown().unwrap();
    });
}

#[test]
fn done_callbacks_see_the_result_the_error_and_the_cancel() {
    within(LIMIT, "done callbacks", || {
        let (executor, gate, running) = blocked_executor();
        let (tx, rx) = mpsc::channel::<String>();

        let pending = executor.submit(held, (gate.clone(), 7)).unwrap();
        let sender = tx.clone();
        pending.add_done_callback(move |f| {
            sender.send(format!("cancelled={}", f.cancelled())).unwrap();
        });
        assert!(pending.cancel());
        assert_eq!(rx.recv_timeout(LIMIT).unwrap(), "cancelled=true");

        let sender = tx.clone();
        running.add_done_callback(move |f| {
            // The result is visible inside the callback (it runs after, not before).
            sender
                .send(format!("result={}", f.result().unwrap()))
                .unwrap();
        });
        gate.set();
        assert_eq!(rx.recv_timeout(LIMIT).unwrap(), "result=1");

        let failed = executor.submit(divide, (1, 0)).unwrap();
        let sender = tx.clone();
        failed.add_done_callback(move |f| {
            sender
                .send(format!("failed={}", f.exception().is_some()))
                .unwrap();
        });
        assert_eq!(rx.recv_timeout(LIMIT).unwrap(), "failed=true");

        // test_done_callback_already_successful: called at once, on this thread.
        let here = std::thread::current().id();
        let sender = tx.clone();
        running.add_done_callback(move |_| {
            sender
                .send(format!(
                    "same thread={}",
                    std::thread::current().id() == here
                ))
                .unwrap();
        });
        assert_eq!(rx.try_recv().unwrap(), "same thread=true");

        // test_done_callback_raises: a panicking callback is logged, the next still runs.
        let future = executor.submit(square, (3,)).unwrap();
        future.add_done_callback(|_| panic!("a callback that raises"));
        let sender = tx.clone();
        future.add_done_callback(move |f| {
            sender
                .send(format!("after={}", f.result().unwrap()))
                .unwrap();
        });
        assert_eq!(rx.recv_timeout(LIMIT).unwrap(), "after=9");
        executor.shutdown().unwrap();
    });
}

#[test]
fn debug_shows_the_state() {
    within(LIMIT, "repr", || {
        let (executor, gate, running) = blocked_executor();
        let pending = executor.submit(held, (gate.clone(), 2)).unwrap();
        assert!(format!("{running:?}").contains("running"), "{running:?}");
        assert!(format!("{pending:?}").contains("pending"), "{pending:?}");
        pending.cancel();
        assert!(format!("{pending:?}").contains("cancelled"), "{pending:?}");
        gate.set();
        running.result().unwrap();
        assert!(format!("{running:?}").contains("finished"), "{running:?}");
    });
}

// ---- test_as_completed.py ---------------------------------------------------------------------

#[test]
fn as_completed_yields_every_call_finished_ones_first() {
    within(LIMIT, "as_completed", || {
        let (executor, gate, running) = blocked_executor();
        let finished = executor.pool().apply_async(square, (5,)).unwrap();
        // The pool runs its own call after the held one; use a second pool for a finished one.
        let other = Pool::new(1).unwrap();
        let done_first = other.apply_async(square, (4,)).unwrap();
        done_first.wait();
        let calls = [&running, &running];
        // Duplicates: Python takes a set; a list here yields each entry.
        let gate2 = gate.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            gate2.set();
        });
        let mut order = Vec::new();
        for f in as_completed(calls) {
            order.push(f.result().unwrap());
        }
        assert_eq!(order, [1, 1]);
        let seen: Vec<i64> = as_completed([&done_first, &finished])
            .map(|r| r.get().unwrap())
            .collect();
        assert_eq!(seen[0], 16, "the call finished before is handed out first");
        assert_eq!(seen.len(), 2);
        executor.shutdown().unwrap();
    });
}

#[test]
fn as_completed_times_out_after_yielding_what_finished() {
    within(LIMIT, "as_completed timeout", || {
        let (executor, gate, running) = blocked_executor();
        let other = ProcessPoolExecutor::new(1).unwrap();
        let finished = other.submit(square, (6,)).unwrap();
        finished.result().unwrap();
        let mut items = as_completed_timeout([&finished, &running], Duration::from_millis(100));
        assert_eq!(items.next().unwrap().unwrap().result().unwrap(), 36);
        assert!(matches!(items.next(), Some(Err(PoolError::Timeout))));
        assert!(
            items.next().is_none(),
            "the iterator ends after the timeout"
        );
        assert_eq!(items.remaining().len(), 1, "the running call is left");
        gate.set();
        executor.shutdown().unwrap();
    });
}

// ---- test_wait.py --------------------------------------------------------------------------

#[test]
fn wait_first_completed_first_exception_all_completed_and_timeout() {
    within(LIMIT, "wait", || {
        let (executor, gate, running) = blocked_executor();
        let side = ProcessPoolExecutor::new(1).unwrap();
        let ok = side.submit(square, (2,)).unwrap();
        let failed = side.submit(divide, (1, 0)).unwrap();

        // FIRST_COMPLETED: the finished one is done, the running one is not.
        let got = wait([&ok, &running], ReturnWhen::FirstCompleted);
        assert_eq!(got.done.len(), 1);
        assert_eq!(got.not_done.len(), 1);
        assert_eq!(got.done[0].result().unwrap(), 4);

        // FIRST_EXCEPTION: returns on the failure though a call still runs.
        let got = wait([&running, &failed], ReturnWhen::FirstException);
        assert_eq!(got.done.len(), 1);
        assert!(got.done[0].exception().is_some());
        assert_eq!(got.not_done.len(), 1);

        // A timeout returns what finished so far.
        let got = wait_timeout(
            [&ok, &running],
            Duration::from_millis(50),
            ReturnWhen::AllCompleted,
        );
        assert_eq!((got.done.len(), got.not_done.len()), (1, 1));

        // FIRST_EXCEPTION without failures is ALL_COMPLETED.
        gate.set();
        let got = wait([&ok, &running], ReturnWhen::FirstException);
        assert_eq!((got.done.len(), got.not_done.len()), (2, 0));
        let got = wait([&ok, &running, &failed], ReturnWhen::AllCompleted);
        assert_eq!(got.done.len(), 3);
        executor.shutdown().unwrap();
    });
}

#[test]
fn a_cancelled_call_counts_as_completed_not_as_an_exception() {
    within(LIMIT, "wait cancelled", || {
        let (executor, gate, running) = blocked_executor();
        let pending = executor.submit(held, (gate.clone(), 2)).unwrap();
        pending.cancel();
        let got = wait_timeout(
            [&pending, &running],
            Duration::from_millis(100),
            ReturnWhen::FirstException,
        );
        assert_eq!(
            got.not_done.len(),
            1,
            "a cancel is no exception: still waiting for the running call"
        );
        let got = wait([&pending, &running], ReturnWhen::FirstCompleted);
        assert_eq!(got.done.len(), 1);
        use procvisor_pool::futures::Completable;
        assert_eq!(
            pending.poll_finished(std::task::Waker::noop()),
            Some(Finished::Cancelled)
        );
        gate.set();
    });
}

// ---- executor.py: ExecutorTest, test_shutdown.py ---------------------------------------------

#[test]
fn submit_map_and_map_exception() {
    within(LIMIT, "map", || {
        let executor = ProcessPoolExecutor::new(2).unwrap();
        assert_eq!(executor.submit(square, (8,)).unwrap().result().unwrap(), 64);
        let squares: Vec<i64> = executor
            .map(square, 0..10)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(squares, (0..10).map(|x| x * x).collect::<Vec<_>>());
        let chunked: Vec<i64> = executor
            .map_with(
                square,
                0..1000,
                MapOptions::new().chunksize(50).buffersize(2),
            )
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(chunked.len(), 1000);
        // test_map_exception: the third result is the error, in its place.
        let mut results = executor.map(divide_ten_by, [5, 2, 0, 1]).unwrap();
        assert_eq!(results.next().unwrap().unwrap(), 2);
        assert_eq!(results.next().unwrap().unwrap(), 5);
        assert!(results.next().unwrap().unwrap_err().is_panic());
        executor.shutdown().unwrap();
    });
}

fn divide_ten_by(b: i64) -> i64 {
    divide(10, b)
}
register!(divide_ten_by);

#[test]
fn map_timeout_counts_from_the_call() {
    within(LIMIT, "map timeout", || {
        let executor = ProcessPoolExecutor::new(1).unwrap();
        let mut results = executor
            .map_with(
                sleep_ms,
                [0, 0, 5_000],
                MapOptions::new().timeout(Duration::from_millis(1_000)),
            )
            .unwrap();
        assert_eq!(results.next().unwrap().unwrap(), 0);
        assert_eq!(results.next().unwrap().unwrap(), 0);
        assert!(matches!(results.next(), Some(Err(PoolError::Timeout))));
        assert!(results.next().is_none());
        executor.pool().terminate();
    });
}

#[test]
fn bad_arguments_are_errors() {
    within(LIMIT, "bad arguments", || {
        // test_max_workers_negative: ValueError.
        assert!(matches!(
            ProcessPoolExecutor::new(0),
            Err(PoolError::InvalidArgument(_))
        ));
        let executor = ProcessPoolExecutor::new(1).unwrap();
        // test_map_chunksize: chunksize < 1 is ValueError.
        assert!(matches!(
            executor.map_with(square, [1], MapOptions::new().chunksize(0)),
            Err(PoolError::InvalidArgument(_))
        ));
        assert!(matches!(
            executor.map_with(square, [1], MapOptions::new().buffersize(0)),
            Err(PoolError::InvalidArgument(_))
        ));
        // A closure cannot cross to a worker.
        assert!(matches!(
            executor.submit(|x: i64| x, (1,)),
            Err(PoolError::Closure)
        ));
    });
}

#[test]
fn no_new_calls_after_shutdown_and_shutdown_twice_is_fine() {
    within(LIMIT, "run after shutdown", || {
        let executor = ProcessPoolExecutor::new(1).unwrap();
        let before = executor.submit(sleep_ms, (50,)).unwrap();
        executor.shutdown_nowait().unwrap();
        assert!(matches!(
            executor.submit(square, (1,)),
            Err(PoolError::NotRunning)
        ));
        assert!(matches!(
            executor.map(square, [1]),
            Err(PoolError::NotRunning)
        ));
        assert_eq!(before.result().unwrap(), 50, "submitted calls finish");
        executor.shutdown().unwrap();
        executor.shutdown().unwrap();
    });
}

#[test]
fn cancel_pending_then_shutdown_is_shutdown_with_cancel_futures() {
    within(LIMIT, "cancel_futures", || {
        let (executor, gate, running) = blocked_executor();
        let others: Vec<_> = (0..50)
            .map(|x| executor.submit(held, (gate.clone(), x)).unwrap())
            .collect();
        let cancelled = executor.cancel_pending();
        gate.set();
        executor.shutdown().unwrap();
        assert!(running.result().is_ok());
        let (mut ok, mut gone) = (0, 0);
        for f in &others {
            assert!(f.done(), "every future is done after shutdown");
            match f.result() {
                Ok(_) => ok += 1,
                Err(PoolError::Cancelled { .. }) => gone += 1,
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(gone, cancelled);
        assert!(
            gone >= 40,
            "most calls were still queued: {gone} cancelled, {ok} ran"
        );
    });
}

#[test]
fn dropping_the_executor_waits_for_its_calls() {
    within(LIMIT, "drop", || {
        let executor = ProcessPoolExecutor::new(2).unwrap();
        let futures: Vec<_> = (0..4)
            .map(|_| executor.submit(sleep_ms, (100,)).unwrap())
            .collect();
        drop(executor);
        for f in &futures {
            assert!(f.done(), "drop returned before a call finished");
            assert_eq!(f.result().unwrap(), 100);
        }
    });
}

#[test]
fn a_map_left_open_does_not_hold_shutdown() {
    within(LIMIT, "open map", || {
        let executor = ProcessPoolExecutor::new(1).unwrap();
        let mut results = executor
            .map_with(square, 0..10_000, MapOptions::new().buffersize(4))
            .unwrap();
        assert_eq!(results.next().unwrap().unwrap(), 0);
        executor.shutdown().unwrap();
        let rest: Vec<_> = results.collect();
        assert!(
            rest.iter().any(|r| matches!(r, Err(PoolError::NotRunning))),
            "the map's unsubmitted rest is refused after shutdown"
        );
    });
}

// ---- test_process_pool.py ----------------------------------------------------------------------

#[test]
fn a_killed_worker_fails_its_call_only() {
    within(LIMIT, "killed worker", || {
        // Python: BrokenProcessPool for every pending future. Here only the running call fails.
        let (executor, gate, running) = blocked_executor();
        let queued = executor.submit(square, (9,)).unwrap();
        let worker = executor.pool().worker_pids()[0];
        // SAFETY: kill(2) with a pid this test's pool started.
        unsafe { libc::kill(worker as i32, libc::SIGKILL) };
        assert!(matches!(
            running.result(),
            Err(PoolError::WorkerLost { .. })
        ));
        assert_eq!(
            queued.result().unwrap(),
            81,
            "the queued call ran on the replacement"
        );
        assert_ne!(executor.submit(pid, ()).unwrap().result().unwrap(), worker);
        drop(gate);
    });
}

#[test]
fn futures_are_rust_futures_too() {
    within(LIMIT, "async", || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let executor = ProcessPoolExecutor::new(2).unwrap();
        runtime.block_on(async {
            let a = executor.submit(square, (3,)).unwrap();
            let b = executor.submit(square, (4,)).unwrap();
            assert_eq!(b.result_async().await.unwrap(), 16);
            assert_eq!(a.await.unwrap(), 9);
            let calls: Vec<_> = (0..5)
                .map(|x| executor.submit(square, (x,)).unwrap())
                .collect();
            let got = procvisor_pool::futures::wait_async(&calls, ReturnWhen::AllCompleted).await;
            assert_eq!(got.done.len(), 5);
            use futures_core::Stream;
            let mut stream = as_completed(calls.clone());
            let mut sum = 0;
            while let Some(f) =
                std::future::poll_fn(|cx| std::pin::Pin::new(&mut stream).poll_next(cx)).await
            {
                sum += f.await.unwrap();
            }
            assert_eq!(sum, 30);
        });
    });
}
