//! Behaviours of CPython's `Lib/test/_test_multiprocessing.py` (3.14.5, Python Software
//! Foundation License) for queues, locks, semaphores, conditions, events, barriers, values and
//! arrays, rewritten in Rust. Case numbers refer to §2.3 of `reference/python-multiprocessing.md`.
//!
//! Tweaks: CPython runs these templates with processes, threads and manager proxies; here
//! threads stand in for processes (the objects are the same shared-memory objects either way;
//! `tests/sync_processes.rs` at the workspace root repeats the cross-process ones with real
//! processes). CPython's `TIMEOUT1..3 = 0.1 s` are 100 ms here; outcomes are asserted, not
//! durations, except where CPython asserts a bound. Python's bool/exception returns become Rust
//! results (`queue.Full` is `PutError::Full` carrying the item back, and so on).

use procvisor_sync::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_millis(100);
const LIMIT: Duration = Duration::from_secs(20);

/// Runs `f` on a thread; fails naming `step` if it does not finish in time.
fn within<R: Send + 'static>(step: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(LIMIT)
        .unwrap_or_else(|_| panic!("step `{step}` did not finish within {LIMIT:?}"))
}

/// Waits until `condition` holds; fails naming `what` past the limit.
fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {LIMIT:?}"
        );
        std::thread::yield_now();
    }
}

// --- Queues (cases 24-34) ---------------------------------------------------------------

#[test]
fn queue_put_blocks_at_maxsize() {
    // Case 24 (test_put).
    let q: Queue<i32> = Queue::new(6).unwrap();
    q.put(1).unwrap();
    q.put(2).unwrap();
    q.put_timeout(3, T).unwrap();
    q.put_nowait(4).unwrap();
    q.put_nowait(5).unwrap();
    q.put_nowait(6).unwrap();
    assert!(q.full());
    assert!(!q.empty());
    assert_eq!(q.qsize(), 6);
    assert!(matches!(q.put_nowait(7), Err(PutError::Full(7))));
    let start = Instant::now();
    assert!(matches!(q.put_timeout(7, T), Err(PutError::Full(7))));
    assert!(start.elapsed() >= T - Duration::from_millis(5));
    let drained: Vec<i32> = (0..6).map(|_| q.get().unwrap()).collect();
    assert_eq!(drained, vec![1, 2, 3, 4, 5, 6]);
    assert!(q.empty());
}

#[test]
fn queue_get_times_out_empty() {
    // Cases 25, 27, 30 (test_get, test_qsize, test_timeout).
    let q: Queue<i32> = Queue::new(0).unwrap();
    assert_eq!(q.qsize(), 0);
    for i in 2..6 {
        q.put(i).unwrap();
    }
    assert_eq!(q.qsize(), 4);
    assert_eq!(q.get().unwrap(), 2);
    assert_eq!(q.get_timeout(Duration::from_secs(1)).unwrap(), 3);
    assert_eq!(q.get_nowait().unwrap(), 4);
    assert_eq!(q.get().unwrap(), 5);
    assert!(q.get_nowait().unwrap_err().is_empty());
    let start = Instant::now();
    assert!(
        q.get_timeout(Duration::from_millis(200))
            .unwrap_err()
            .is_empty()
    );
    assert!(
        start.elapsed() >= Duration::from_millis(100),
        "case 30: at least 0.1 s"
    );
}

#[test]
fn queue_errors_hand_the_item_back() {
    // Cases 31, 32: a value that cannot be encoded fails in the caller; the queue goes on.
    // A closed handle refuses puts and gets.
    struct Unencodable;
    impl serde::Serialize for Unencodable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("refuses"))
        }
    }
    impl<'de> serde::Deserialize<'de> for Unencodable {
        fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
            Err(serde::de::Error::custom("never"))
        }
    }
    let q: Queue<Unencodable> = Queue::new(1).unwrap();
    assert!(matches!(
        q.put(Unencodable),
        Err(PutError::Encode(Unencodable, _))
    ));
    assert_eq!(q.qsize(), 0, "nothing enqueued");

    let q: Queue<String> = Queue::new(0).unwrap();
    let other = q.clone();
    q.close();
    assert!(
        q.is_closed() && other.is_closed(),
        "clones in one process are one handle"
    );
    assert!(matches!(q.put("x".into()), Err(PutError::Closed(s)) if s == "x"));
    assert!(matches!(q.get(), Err(GetError::Closed)));
    q.join_thread().unwrap();
    let fresh: Queue<String> = Queue::new(0).unwrap();
    assert!(
        fresh.join_thread().is_err(),
        "join_thread needs close first"
    );
}

#[test]
fn queue_items_holding_descriptors_are_refused_in_the_caller() {
    let q: Queue<Lock> = Queue::new(0).unwrap();
    let lock = Lock::new().unwrap();
    match q.put(lock) {
        Err(PutError::Descriptors(back)) => assert!(!back.locked()),
        other => panic!("expected Descriptors, got {other:?}"),
    }
}

#[test]
fn a_message_longer_than_the_ring_streams_through_it() {
    let q: Queue<Vec<u8>> = Queue::with_capacity(0, 4096).unwrap();
    let big: Vec<u8> = (0..1_000_000).map(|i| (i % 253) as u8).collect();
    let expected = big.clone();
    let consumer = {
        let q = q.clone();
        std::thread::spawn(move || (q.get().unwrap(), q.get().unwrap()))
    };
    q.put(big).unwrap();
    q.put(vec![7]).unwrap();
    let (first, second) = within("consume a streamed message", move || {
        consumer.join().unwrap()
    });
    assert!(first == expected);
    assert_eq!(second, vec![7]);
}

#[test]
fn many_producers_and_consumers_deliver_each_item_exactly_once_in_producer_order() {
    let q: Queue<(u32, u32)> = Queue::with_capacity(64, 4096).unwrap();
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let q = q.clone();
            std::thread::spawn(move || {
                for i in 0..2000 {
                    q.put((p, i)).unwrap();
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let q = q.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                while let Ok(item) = q.get_timeout(Duration::from_millis(500)) {
                    got.push(item);
                }
                got
            })
        })
        .collect();
    for p in producers {
        within("producer", move || p.join().unwrap());
    }
    let mut all = Vec::new();
    for c in consumers {
        let got = within("consumer", move || c.join().unwrap());
        // Each consumer sees each producer's items in increasing order.
        for p in 0..4 {
            let mine: Vec<u32> = got
                .iter()
                .filter(|(q, _)| *q == p)
                .map(|(_, i)| *i)
                .collect();
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "producer {p} reordered"
            );
        }
        all.extend(got);
    }
    all.sort();
    let expected: Vec<(u32, u32)> = (0..4)
        .flat_map(|p| (0..2000).map(move |i| (p, i)))
        .collect();
    assert_eq!(all, expected);
}

#[test]
fn joinable_queue_join_waits_for_every_task_done() {
    // Case 28 (test_task_done) and the too-many-calls error.
    let q: JoinableQueue<u32> = JoinableQueue::new(0).unwrap();
    let done = Arc::new(AtomicU32::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (q, done) = (q.clone(), done.clone());
            std::thread::spawn(move || {
                while let Ok(item) = q.get_timeout(Duration::from_millis(300)) {
                    std::thread::sleep(Duration::from_millis(1));
                    done.fetch_add(item, Ordering::SeqCst);
                    q.task_done().unwrap();
                }
            })
        })
        .collect();
    for i in 1..=10 {
        q.put(i).unwrap();
    }
    within("join", {
        let q = q.clone();
        move || q.join()
    });
    assert_eq!(
        done.load(Ordering::SeqCst),
        55,
        "join returned only after every item was finished"
    );
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(q.task_done(), Err(ReleaseError::TooManyTaskDone));
    assert!(q.join_timeout(Duration::ZERO));
}

#[test]
fn simple_queue_puts_and_gets() {
    // Case 34 (TestSimpleQueue.test_empty).
    let q: SimpleQueue<String> = SimpleQueue::new().unwrap();
    assert!(q.empty());
    q.put("a".into()).unwrap();
    assert!(!q.empty());
    assert_eq!(q.get().unwrap(), "a");
    q.close();
    q.close();
}

// --- Locks (cases 35-38) ------------------------------------------------------------------

#[test]
fn lock_semantics() {
    // Case 35 (test_lock).
    let lock = Lock::new().unwrap();
    let guard = lock.acquire().unwrap();
    assert!(lock.locked());
    assert!(matches!(lock.try_acquire(), Err(AcquireError::WouldBlock)));
    assert!(matches!(
        lock.acquire_timeout(T),
        Err(AcquireError::Timeout)
    ));
    drop(guard);
    assert!(!lock.locked());
    assert_eq!(lock.release(), Err(ReleaseError::NotHeld));
    assert_eq!(format!("{lock:?}"), "<Lock(owner=None)>");
    // Python's Lock may be released by another thread.
    lock.acquire().unwrap().leak();
    let other = lock.clone();
    within("release from another thread", move || other.release()).unwrap();
    assert!(!lock.locked());
}

#[test]
fn rlock_semantics() {
    // Cases 36, 37 (test_rlock, test_repr_rlock).
    let lock = RLock::new().unwrap();
    let a = lock.acquire().unwrap();
    let b = lock.acquire().unwrap();
    let c = lock.acquire().unwrap();
    assert_eq!(lock.level(), 3);
    assert!(lock.locked());
    assert!(format!("{lock:?}").ends_with(", 3)>"));
    let other = lock.clone();
    assert!(within("another thread", move || other
        .try_acquire()
        .is_err()));
    let other = lock.clone();
    assert_eq!(
        within("release by a non-owner", move || other.release()),
        Err(ReleaseError::NotOwner)
    );
    drop((c, b));
    assert!(lock.locked());
    drop(a);
    assert!(!lock.locked());
    assert_eq!(lock.release(), Err(ReleaseError::NotHeld));
    assert_eq!(format!("{lock:?}"), "<RLock(None, 0)>");
}

#[test]
fn locks_exclude_threads() {
    let lock = Lock::new().unwrap();
    let counter = Value::new(0_u64).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (lock, counter) = (lock.clone(), counter.clone());
            std::thread::spawn(move || {
                for _ in 0..5000 {
                    let _guard = lock.acquire().unwrap();
                    // Unprotected read-modify-write: only the lock makes it exact.
                    let raw = counter.get();
                    counter.set(raw + 1);
                }
            })
        })
        .collect();
    for t in threads {
        within("incrementer", move || t.join().unwrap());
    }
    assert_eq!(counter.get(), 20_000);
}

// --- Semaphores (cases 39-40) ----------------------------------------------------------

#[test]
fn semaphore_values() {
    // Case 39 (test_semaphore).
    let sem = Semaphore::new(2).unwrap();
    let a = sem.acquire();
    assert_eq!(sem.value(), 1);
    let b = sem.acquire();
    assert_eq!(sem.value(), 0);
    assert!(matches!(sem.try_acquire(), Err(AcquireError::WouldBlock)));
    drop((a, b));
    assert_eq!(sem.value(), 2);
    sem.release();
    sem.release();
    assert_eq!(
        sem.value(),
        4,
        "a plain semaphore may exceed its initial value"
    );

    let bounded = BoundedSemaphore::new(2).unwrap();
    let permit = bounded.acquire();
    assert_eq!(bounded.value(), 1);
    drop(permit);
    assert_eq!(bounded.release(), Err(ReleaseError::AboveBound));
    assert_eq!(bounded.value(), 2);
}

#[test]
fn semaphore_timeouts() {
    // Case 40 (_TestSemaphore.test_timeout).
    let sem = Semaphore::new(0).unwrap();
    assert!(matches!(sem.try_acquire(), Err(AcquireError::WouldBlock)));
    assert!(matches!(sem.acquire_timeout(T), Err(AcquireError::Timeout)));
    let other = sem.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        other.release();
    });
    assert!(
        sem.acquire_timeout(LIMIT).is_ok(),
        "a release wakes a waiter"
    );
}

// --- Conditions (cases 41-46) ------------------------------------------------------------

fn start_waiters(
    cond: &Condition,
    n: usize,
    woken: &Arc<AtomicU32>,
    sleeping: &Arc<AtomicU32>,
    timeout: Option<Duration>,
) -> Vec<std::thread::JoinHandle<bool>> {
    (0..n)
        .map(|_| {
            let (cond, woken, sleeping) = (cond.clone(), woken.clone(), sleeping.clone());
            std::thread::spawn(move || {
                let mut guard = cond.acquire().unwrap();
                sleeping.fetch_add(1, Ordering::SeqCst);
                let notified = match timeout {
                    Some(timeout) => cond.wait_timeout(&mut guard, timeout),
                    None => {
                        cond.wait(&mut guard);
                        true
                    }
                };
                woken.fetch_add(1, Ordering::SeqCst);
                notified
            })
        })
        .collect()
}

#[test]
fn condition_notify_n_wakes_exactly_n() {
    // Cases 41, 43 (test_notify, test_notify_n).
    let cond = Condition::new().unwrap();
    let (woken, sleeping) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let waiters = start_waiters(&cond, 6, &woken, &sleeping, None);
    eventually("6 waiters asleep", || sleeping.load(Ordering::SeqCst) == 6);
    // A waiter counts as waiting once it released the lock: taking the lock proves it.
    drop(cond.acquire().unwrap());
    assert_eq!(woken.load(Ordering::SeqCst), 0);
    let guard = cond.acquire().unwrap();
    cond.notify(&guard, 2);
    drop(guard);
    eventually("2 woken", || woken.load(Ordering::SeqCst) == 2);
    let guard = cond.acquire().unwrap();
    cond.notify(&guard, 4);
    drop(guard);
    eventually("6 woken", || woken.load(Ordering::SeqCst) == 6);
    let guard = cond.acquire().unwrap();
    cond.notify(&guard, 3);
    drop(guard);
    assert_eq!(woken.load(Ordering::SeqCst), 6, "nobody left to wake");
    for w in waiters {
        assert!(within("notified waiter", move || w.join().unwrap()));
    }
}

#[test]
fn condition_notify_all_and_timeouts() {
    // Cases 42, 44 (test_notify_all, _TestCondition.test_timeout).
    let cond = Condition::new().unwrap();
    let (woken, sleeping) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let timing_out = start_waiters(&cond, 3, &woken, &sleeping, Some(T));
    for w in timing_out {
        assert!(
            !within("timed-out waiter", move || w.join().unwrap()),
            "nobody notified them"
        );
    }
    let waiters = start_waiters(&cond, 6, &woken, &sleeping, None);
    eventually("6 more asleep", || sleeping.load(Ordering::SeqCst) == 9);
    let guard = cond.acquire().unwrap();
    cond.notify_all(&guard);
    drop(guard);
    for w in waiters {
        assert!(within("woken by notify_all", move || w.join().unwrap()));
    }
    assert_eq!(woken.load(Ordering::SeqCst), 9);
    let mut guard = cond.acquire().unwrap();
    assert!(!cond.wait_timeout(&mut guard, Duration::from_millis(10)));
}

#[test]
fn condition_wait_for_a_predicate() {
    // Case 45 (test_waitfor, test_waitfor_timeout).
    let cond = Condition::new().unwrap();
    let state = Value::new(3_i32).unwrap();
    let worker = {
        let (cond, state) = (cond.clone(), state.clone());
        std::thread::spawn(move || {
            for _ in 0..3 {
                std::thread::sleep(Duration::from_millis(5));
                let guard = cond.acquire().unwrap();
                state.update(|v| v - 1);
                cond.notify(&guard, 1);
            }
        })
    };
    let mut guard = cond.acquire().unwrap();
    assert!(cond.wait_for_timeout(&mut guard, || state.get() == 0, LIMIT));
    drop(guard);
    worker.join().unwrap();
    let mut guard = cond.acquire().unwrap();
    let start = Instant::now();
    assert!(!cond.wait_for_timeout(&mut guard, || state.get() == 99, T));
    assert!(start.elapsed() >= T - Duration::from_millis(5));
}

// --- Events (case 47) ----------------------------------------------------------------------

#[test]
fn event_semantics() {
    let event = Event::new().unwrap();
    assert!(!event.is_set());
    assert!(!event.wait_timeout(Duration::ZERO));
    assert!(!event.wait_timeout(T));
    event.set();
    assert!(event.is_set());
    event.wait();
    assert!(event.wait_timeout(T));
    event.clear();
    assert!(!event.is_set());
    let other = event.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        other.set();
    });
    within("wait for a set from another thread", move || event.wait());
}

// --- Barriers (case 48) --------------------------------------------------------------------

static ACTIONS: AtomicU32 = AtomicU32::new(0);

fn count_action() {
    ACTIONS.fetch_add(1, Ordering::SeqCst);
}

fn run_parties(barrier: &Barrier, n: u32, passes: u32) -> Vec<Result<u32, BrokenBarrierError>> {
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || (0..passes).map(|_| barrier.wait()).collect::<Vec<_>>())
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| within("barrier party", move || t.join().unwrap()))
        .collect()
}

#[test]
fn barrier_passes_with_distinct_indices_and_one_action_per_pass() {
    ACTIONS.store(0, Ordering::SeqCst);
    let barrier = Barrier::new(5, Some(count_action), None).unwrap();
    let results = run_parties(&barrier, 5, 10);
    assert_eq!(results.len(), 50);
    let zeros = results.iter().filter(|r| **r == Ok(0)).count();
    assert_eq!(zeros, 10, "exactly one party per pass gets index 0");
    assert!(results.iter().all(|r| matches!(r, Ok(i) if *i < 5)));
    assert_eq!(
        ACTIONS.load(Ordering::SeqCst),
        10,
        "the action ran once per pass"
    );
    assert_eq!((barrier.n_waiting(), barrier.broken()), (0, false));
    let single = Barrier::new(1, None, None).unwrap();
    assert_eq!((single.wait(), single.wait()), (Ok(0), Ok(0)));
}

#[test]
fn barrier_abort_reset_and_timeout_break_the_pass() {
    // test_abort, test_reset, test_abort_and_reset, test_timeout, test_default_timeout.
    let barrier = Barrier::new(5, None, None).unwrap();
    let waiting: Vec<_> = (0..4)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || barrier.wait())
        })
        .collect();
    eventually("4 parties waiting", || barrier.n_waiting() == 4);
    barrier.abort();
    for w in waiting {
        assert_eq!(
            within("aborted party", move || w.join().unwrap()),
            Err(BrokenBarrierError)
        );
    }
    assert!(barrier.broken());
    assert_eq!(barrier.wait(), Err(BrokenBarrierError), "stays broken");
    barrier.reset();
    assert!(!barrier.broken());
    let results = run_parties(&barrier, 5, 1);
    assert!(
        results.iter().all(Result::is_ok),
        "usable again after reset"
    );

    let waiting: Vec<_> = (0..4)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || barrier.wait())
        })
        .collect();
    eventually("4 parties waiting again", || barrier.n_waiting() == 4);
    barrier.reset();
    for w in waiting {
        assert_eq!(
            within("reset party", move || w.join().unwrap()),
            Err(BrokenBarrierError)
        );
    }
    assert!(run_parties(&barrier, 5, 1).iter().all(Result::is_ok));

    let timed = Barrier::new(2, None, Some(Duration::from_millis(50))).unwrap();
    assert_eq!(
        timed.wait(),
        Err(BrokenBarrierError),
        "the default timeout breaks it"
    );
    assert!(timed.broken());
}

// --- Values and arrays (cases 49-52) -----------------------------------------------------

#[test]
fn values_of_each_type() {
    // Case 49 (test_value) with CPython's codes i, d, h, q, c.
    let i = Value::new(4343_i32).unwrap();
    let d = Value::new(3.625_f64).unwrap();
    let h = Value::new(-232_i16).unwrap();
    let q = Value::new(1_i64 << 33).unwrap();
    let c = Value::new(b'x').unwrap();
    assert_eq!(
        (i.get(), d.get(), h.get(), q.get(), c.get()),
        (4343, 3.625, -232, 1 << 33, b'x')
    );
    i.set(24234);
    d.set(-4.25);
    h.set(234);
    q.set(1 << 34);
    c.set(b'y');
    assert_eq!(
        (i.get(), d.get(), h.get(), q.get(), c.get()),
        (24234, -4.25, 234, 1 << 34, b'y')
    );
    let raw = RawValue::new(7_u64).unwrap();
    raw.set(8);
    assert_eq!(raw.get(), 8);
    let guard = i.lock().unwrap();
    guard.set(guard.get() + 1);
    assert_eq!(
        i.get(),
        24235,
        "get under the same thread's lock re-enters it"
    );
    drop(guard);
    assert!(!i.get_lock().locked());
    assert_eq!(format!("{d:?}"), "<Synchronized wrapper for -4.25>");
}

#[test]
fn arrays() {
    // Case 51 (test_array, test_array_from_size).
    let values = [680, 626, 934, 821, 150, 233, 548, 982, 714, 831];
    let arr = Array::new(&values).unwrap();
    assert_eq!(arr.len(), 10);
    assert_eq!(arr.get(3), Some(821));
    assert_eq!(arr.get(10), None);
    assert_eq!(arr.set(10, 0), Err(IndexError { index: 10, len: 10 }));
    let guard = arr.lock().unwrap();
    let mut total = 0;
    for i in 0..guard.len() {
        total += guard.get(i).unwrap();
        guard.set(i, total).unwrap();
    }
    drop(guard);
    let expected: Vec<i32> = values
        .iter()
        .scan(0, |s, v| {
            *s += v;
            Some(*s)
        })
        .collect();
    assert_eq!(arr.to_vec(), expected);
    for _ in 0..3 {
        assert_eq!(
            Array::<i32>::zeroed(10).unwrap().to_vec(),
            vec![0; 10],
            "#11675"
        );
    }
    let raw = RawArray::new(&[1.5_f64, 2.5]).unwrap();
    raw.set(1, 3.5).unwrap();
    assert_eq!(raw.to_vec(), vec![1.5, 3.5]);
}

// --- Async twins ----------------------------------------------------------------------------

#[test]
fn async_twins_wait_and_are_cancel_safe() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let lock = Lock::new().unwrap();
        let held = lock.acquire().unwrap();
        assert!(matches!(
            lock.acquire_timeout_async(Duration::from_millis(30)).await,
            Err(AcquireError::Timeout)
        ));
        // A dropped acquisition never leaves the lock held.
        let attempt = tokio::time::timeout(Duration::from_millis(30), lock.acquire_async()).await;
        assert!(attempt.is_err());
        drop(held);
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(!lock.locked(), "the cancelled acquisition did not keep it");
        let guard = lock.acquire_async().await.unwrap();
        drop(guard);

        let sem = Semaphore::new(0).unwrap();
        let releaser = sem.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            releaser.release();
        });
        assert!(sem.acquire_timeout_async(LIMIT).await.is_ok());

        let event = Event::new().unwrap();
        assert!(!event.wait_timeout_async(Duration::from_millis(20)).await);
        let setter = event.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            setter.set();
        });
        assert!(event.wait_timeout_async(LIMIT).await);

        let q: Queue<u32> = Queue::new(1).unwrap();
        assert!(
            q.get_timeout_async(Duration::from_millis(20))
                .await
                .unwrap_err()
                .is_empty()
        );
        q.put_async(1).await.unwrap();
        assert!(matches!(
            q.put_timeout_async(2, Duration::from_millis(20)).await,
            Err(PutError::Full(2))
        ));
        let producer = q.clone();
        tokio::spawn(async move { producer.put_async(3).await.unwrap() });
        assert_eq!(q.get_async().await.unwrap(), 1);
        assert_eq!(q.get_timeout_async(LIMIT).await.unwrap(), 3);
    });
}

// --- Handles between processes ---------------------------------------------------------------

#[test]
fn handles_travel_as_descriptors_and_are_checked_on_arrival() {
    let lock = Lock::new().unwrap();
    assert!(
        procvisor_wire::codec::encode(&lock).is_err(),
        "not outside a hand-over"
    );
    let payload = procvisor_wire::Payload::encode(&lock).unwrap();
    let copy: Lock = payload.decode().unwrap();
    assert!(copy.same_as(&lock));
    let _held = copy.acquire().unwrap();
    assert!(lock.locked(), "the copy is the same lock");
    assert!(payload.decode::<Event>().is_err(), "a Lock is not an Event");
    let value = Value::new(1.5_f64).unwrap();
    let payload = procvisor_wire::Payload::encode(&value).unwrap();
    assert!(
        payload.decode::<Value<i32>>().is_err(),
        "element types must match"
    );
    assert_eq!(payload.decode::<Value<f64>>().unwrap().get(), 1.5);
}
