//! CPython's `ThreadPool` behaviours, rewritten in Rust.
//!
//! Provenance: `Lib/test/_test_multiprocessing.py`, the `_TestPool` cases as run for the
//! `threads` type (`WithThreadsTestPool`: `multiprocessing.dummy.Pool`), and
//! `test_wrapped_exception` (issue #20980) with `ThreadPool`; summarised in the reference's
//! §2 (items 80–99). Where Python raises, the Rust call returns the matching [`PoolError`].

mod common;

use common::{LIMIT, within};
use procvisor_pool::futures::{ReturnWhen, as_completed, wait};
use procvisor_pool::{PoolError, ThreadPool};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant};

fn sqr(x: i64) -> i64 {
    x * x
}

/// A call that says it started, then waits for `go` (at most the test's limit): what it
/// returns is whether `go` came.
fn held() -> (
    mpsc::Sender<()>,
    mpsc::Receiver<()>,
    impl FnOnce() -> bool + Send + 'static,
) {
    let (go, gate) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    let call = move || {
        started_tx.send(()).unwrap();
        gate.recv_timeout(LIMIT).is_ok()
    };
    (go, started, call)
}

#[test]
fn apply_map_starmap_and_their_async_forms() {
    within(LIMIT, "thread pool calls", || {
        let pool = ThreadPool::new(4).unwrap();
        assert_eq!(pool.apply(|| sqr(5)).unwrap(), 25);
        let xs: Vec<i64> = (0..10).collect();
        assert_eq!(
            pool.map(sqr, xs.clone()).unwrap(),
            xs.iter().map(|&x| sqr(x)).collect::<Vec<_>>()
        );
        assert_eq!(pool.map(sqr, 0..100).unwrap().len(), 100);
        let pairs = [(1, 2), (3, 4)];
        assert_eq!(
            pool.starmap(|(a, b): (i64, i64)| a * b, pairs).unwrap(),
            [2, 12]
        );
        assert_eq!(
            pool.starmap_async(|(a, b): (i64, i64)| a * b, pairs)
                .unwrap()
                .get()
                .unwrap(),
            [2, 12]
        );
        let result = pool.map_async(sqr, 0..10).unwrap();
        assert_eq!(result.get().unwrap()[9], 81);
        assert_eq!(result.get().unwrap()[9], 81, "get can be called again");
        assert_eq!(
            pool.map(sqr, Vec::<i64>::new()).unwrap(),
            Vec::<i64>::new(),
            "test_empty_iterable"
        );
    });
}

#[test]
fn async_results_wait_time_out_and_call_back() {
    within(LIMIT, "thread pool results", || {
        let pool = ThreadPool::new(2).unwrap();
        let (go, gate) = mpsc::channel::<()>();
        let held = pool
            .apply_async(move || {
                gate.recv_timeout(LIMIT).ok();
                7
            })
            .unwrap();
        assert!(matches!(
            held.get_timeout(Duration::from_millis(50)),
            Err(PoolError::Timeout)
        ));
        assert!(!held.ready());
        assert_eq!(held.successful(), None);
        let (tx, rx) = mpsc::channel();
        held.on_complete(move |outcome| tx.send(*outcome.as_ref().unwrap()).unwrap());
        go.send(()).unwrap();
        assert_eq!(rx.recv_timeout(LIMIT).unwrap(), 7);
        assert_eq!(held.get().unwrap(), 7);
        assert_eq!(held.successful(), Some(true));
    });
}

#[test]
fn imap_and_imap_unordered_are_lazy_and_complete() {
    within(LIMIT, "thread imap", || {
        let pool = ThreadPool::new(4).unwrap();
        let squares: Vec<i64> = pool
            .imap(sqr, 0..1000)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(squares, (0..1000).map(sqr).collect::<Vec<_>>());
        let chunked: Vec<i64> = pool
            .imap_chunked(sqr, 0..1000, 100)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(chunked, squares);
        let mut unordered: Vec<i64> = pool
            .imap_unordered(sqr, 0..1000)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        unordered.sort();
        assert_eq!(unordered, squares);
        // Lazy: an endless input is read only a window ahead.
        let read = Arc::new(AtomicUsize::new(0));
        let counter = read.clone();
        let endless = (0..).inspect(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let first: Vec<i64> = pool
            .imap(sqr, endless)
            .unwrap()
            .take(5)
            .map(Result::unwrap)
            .collect();
        assert_eq!(first, [0, 1, 4, 9, 16]);
        assert!(
            read.load(Ordering::SeqCst) < 200,
            "read {} items",
            read.load(Ordering::SeqCst)
        );
        assert!(matches!(
            pool.imap_chunked(sqr, 0..3, 0),
            Err(PoolError::InvalidArgument(_))
        ));
    });
}

#[test]
fn a_panic_fails_its_call_and_the_thread_works_on() {
    within(LIMIT, "wrapped exception", || {
        let pool = ThreadPool::new(1).unwrap();
        let error = pool
            .apply(|| -> i32 { panic!("ZeroDivisionError") })
            .unwrap_err();
        assert!(error.is_panic(), "{error}");
        assert!(error.to_string().contains("ZeroDivisionError"), "{error}");
        assert_eq!(pool.apply(|| 1).unwrap(), 1, "the thread survived");
        let results: Vec<_> = pool
            .imap(|x: i32| if x == 2 { panic!("two") } else { x }, 0..4)
            .unwrap()
            .collect();
        assert_eq!(results.len(), 4, "every item yields one result");
        assert!(results[2].as_ref().unwrap_err().is_panic());
        assert!(
            pool.map(|x: i32| if x == 3 { panic!("three") } else { x }, 0..10)
                .is_err()
        );
    });
}

#[test]
fn work_really_runs_on_that_many_threads() {
    within(LIMIT, "threads", || {
        let pool = ThreadPool::new(4).unwrap();
        let barrier = Arc::new(Barrier::new(4));
        // Four calls that can only finish together: they must run at once.
        let calls: Vec<_> = (0..4)
            .map(|_| {
                let barrier = barrier.clone();
                pool.apply_async(move || {
                    barrier.wait();
                    std::thread::current().id()
                })
                .unwrap()
            })
            .collect();
        let done = wait(&calls, ReturnWhen::AllCompleted);
        assert_eq!(done.done.len(), 4);
        let ids: std::collections::HashSet<_> = calls
            .into_iter()
            .map(|c| c.into_result().unwrap())
            .collect();
        assert_eq!(ids.len(), 4);
    });
}

#[test]
fn close_join_terminate_and_the_initializer() {
    within(LIMIT, "lifecycle", || {
        let started = Arc::new(AtomicUsize::new(0));
        let seen = started.clone();
        let pool = ThreadPool::builder()
            .threads(3)
            .initializer(move || {
                seen.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap();
        let slow = pool
            .apply_async(|| std::thread::sleep(Duration::from_millis(100)))
            .unwrap();
        assert!(
            matches!(pool.join(), Err(PoolError::InvalidArgument(_))),
            "join on a running pool"
        );
        pool.close();
        assert!(matches!(pool.apply(|| 1), Err(PoolError::NotRunning)));
        pool.join().unwrap();
        assert!(slow.ready(), "close lets queued work finish");
        assert_eq!(
            started.load(Ordering::SeqCst),
            3,
            "the initializer ran on each thread"
        );

        // test_terminate: queued calls fail at once; the running one ends.
        let pool = ThreadPool::new(1).unwrap();
        let (go, started, call) = held();
        let running = pool.apply_async(call).unwrap();
        started
            .recv_timeout(LIMIT)
            .expect("the first call to start");
        let queued: Vec<_> = (0..100)
            .map(|x| pool.apply_async(move || x).unwrap())
            .collect();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            go.send(()).unwrap();
        });
        let began = Instant::now();
        pool.terminate();
        assert!(began.elapsed() < Duration::from_secs(10));
        releaser.join().unwrap();
        assert!(running.get().unwrap());
        for result in queued {
            assert!(matches!(result.get(), Err(PoolError::Terminated { .. })));
        }
        assert!(matches!(
            ThreadPool::new(0),
            Err(PoolError::InvalidArgument(_))
        ));
    });
}

#[test]
fn results_are_awaitable_and_work_with_as_completed() {
    within(LIMIT, "async thread results", || {
        let pool = ThreadPool::new(2).unwrap();
        let calls: Vec<_> = (1..=3)
            .map(|x| pool.apply_async(move || x * 10).unwrap())
            .collect();
        let mut got: Vec<i32> = as_completed(&calls).map(|c| c.get().unwrap()).collect();
        got.sort();
        assert_eq!(got, [10, 20, 30]);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let value = runtime.block_on(pool.apply_async(|| "awaited").unwrap());
        assert_eq!(value.unwrap(), "awaited");
        // A result that is not Clone moves out.
        struct NotClone(u8);
        assert_eq!(
            pool.apply_async(|| NotClone(3))
                .unwrap()
                .into_result()
                .unwrap()
                .0,
            3
        );
    });
}

// ---- concurrent.futures: ThreadPoolExecutor (test_thread_pool.py, test_future.py) ----------

#[test]
fn a_thread_executor_submits_maps_cancels_and_shuts_down() {
    use procvisor_pool::futures::ThreadPoolExecutor;
    within(LIMIT, "thread executor", || {
        let executor = ThreadPoolExecutor::new(1).unwrap();
        let (go, started, call) = held();
        let running = executor.submit(call).unwrap();
        started
            .recv_timeout(LIMIT)
            .expect("the first call to start");
        let ran = Arc::new(AtomicUsize::new(0));
        let counter = ran.clone();
        let pending = executor
            .submit(move || counter.fetch_add(1, Ordering::SeqCst))
            .unwrap();
        assert!(running.running() && !pending.running());
        assert!(pending.cancel() && pending.cancelled() && pending.done());
        assert!(!running.cancel(), "a running call is not taken back");
        assert!(matches!(pending.result(), Err(PoolError::Cancelled { .. })));
        let others: Vec<_> = (0..10)
            .map(|x| executor.submit(move || x).unwrap())
            .collect();
        assert_eq!(executor.cancel_pending(), 10, "test_cancel_futures");
        go.send(()).unwrap();
        assert!(running.result().unwrap());
        for other in &others {
            assert!(other.cancelled());
        }
        assert_eq!(ran.load(Ordering::SeqCst), 0, "a cancelled call ran");
        let lengths: Vec<usize> = executor
            .map(|s: String| s.len(), ["ab".to_string(), "cde".to_string()])
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(lengths, [2, 3]);
        executor.shutdown().unwrap();
        assert!(matches!(executor.submit(|| 1), Err(PoolError::NotRunning)));
        assert!(matches!(
            ThreadPoolExecutor::new(0),
            Err(PoolError::InvalidArgument(_))
        ));
    });
}
