//! The async twins work without a tokio runtime: under another executor (here a minimal
//! `block_on` that parks the thread), each waits on a helper thread and completes when the
//! object becomes available, exactly as it does inside tokio.

use procvisor_sync::{AcquireError, BoundedSemaphore, Event, Lock, Queue, Semaphore};
use std::future::Future;
use std::sync::Arc;
use std::sync::mpsc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(20);

struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` on this thread, parking between polls: no tokio anywhere. `meanwhile` runs
/// once, after the first poll that found the future waiting (so what it releases is acquired
/// by the future's own wait, not by its first attempt).
fn block_on<F: Future>(future: F, meanwhile: impl FnOnce()) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    let mut meanwhile = Some(meanwhile);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        if let Some(act) = meanwhile.take() {
            act();
        }
        std::thread::park();
    }
}

/// Runs `f` on a thread of its own; fails naming `step` if it does not finish in time.
fn within<R: Send + 'static>(step: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(LIMIT)
        .unwrap_or_else(|_| panic!("step `{step}` did not finish within {LIMIT:?}"))
}

#[test]
fn a_lock_is_acquired_once_released() {
    within("lock", || {
        assert!(tokio::runtime::Handle::try_current().is_err());
        let lock = Lock::new().unwrap();
        lock.acquire().unwrap().leak();
        let guard = block_on(lock.acquire_timeout_async(LIMIT), || {
            lock.release().unwrap()
        })
        .expect("acquired after the release");
        assert!(!guard.previous_owner_died());
        drop(guard);
        // A timeout is a timeout, not a refusal.
        lock.acquire().unwrap().leak();
        let start = Instant::now();
        assert_eq!(
            block_on(lock.acquire_timeout_async(Duration::from_millis(30)), || {}).unwrap_err(),
            AcquireError::Timeout
        );
        assert!(start.elapsed() >= Duration::from_millis(25));
    });
}

#[test]
fn semaphores_and_events_wake_an_async_waiter() {
    within("semaphores and events", || {
        let sem = Semaphore::new(0).unwrap();
        block_on(sem.acquire_timeout_async(LIMIT), || sem.release())
            .expect("a permit after the release")
            .leak();
        assert_eq!(sem.value(), 0);

        let bounded = BoundedSemaphore::new(1).unwrap();
        let held = bounded.acquire();
        let permit = block_on(bounded.acquire_timeout_async(LIMIT), || drop(held))
            .expect("a permit after the release");
        drop(permit);
        assert_eq!(bounded.value(), 1);

        let event = Event::new().unwrap();
        assert!(block_on(event.wait_timeout_async(LIMIT), || event.set()));
    });
}

#[test]
fn queue_twins_wait_for_an_item_and_for_room() {
    within("queue", || {
        let q: Queue<u32> = Queue::new(1).unwrap();
        assert_eq!(
            block_on(q.get_timeout_async(LIMIT), || q.put(7).unwrap()).unwrap(),
            7
        );
        q.put(1).unwrap();
        let mut taken = None;
        block_on(q.put_timeout_async(2, LIMIT), || {
            taken = Some(q.get_timeout(LIMIT).unwrap())
        })
        .expect("room after the get");
        assert_eq!(taken, Some(1));
        assert_eq!(q.get_timeout(LIMIT).unwrap(), 2);
        assert!(
            block_on(q.get_timeout_async(Duration::from_millis(20)), || {})
                .unwrap_err()
                .is_empty()
        );
    });
}
