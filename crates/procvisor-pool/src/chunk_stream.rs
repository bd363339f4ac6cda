//! Where the chunks of a `map`, `starmap` or `imap` land, in the order they finish. The
//! consumer (the caller's thread, or its async task) decodes them as they come, while the
//! workers compute the rest.

use crate::error::PoolError;
use crate::poll_briefly::poll_briefly;
use crate::sink::Sink;
use procvisor_wire::Payload;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Instant;

/// One finished chunk: its index and its encoded results, or why it failed.
pub(crate) type Arrival = (u64, Result<Payload, PoolError>);

#[derive(Default)]
struct State {
    arrived: VecDeque<Arrival>,
    waker: Option<Waker>,
    /// A consumer sleeps on `arrived` (a notification costs a system call; skip it otherwise).
    waiting: bool,
}

#[derive(Default)]
pub(crate) struct ChunkStream {
    state: Mutex<State>,
    arrived: Condvar,
    /// How many chunks wait in `state.arrived`, for a consumer to look at without the lock.
    waiting_chunks: AtomicUsize,
}

impl std::fmt::Debug for ChunkStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkStream")
            .field("waiting", &self.lock().arrived.len())
            .finish()
    }
}

impl ChunkStream {
    pub(crate) fn new() -> Arc<ChunkStream> {
        Arc::new(ChunkStream::default())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next finished chunk, waiting until `deadline` (`None`: as long as it takes).
    pub(crate) fn next(&self, deadline: Option<Instant>) -> Option<Arrival> {
        poll_briefly(deadline, || self.waiting_chunks.load(Ordering::Acquire) > 0);
        let mut state = self.lock();
        loop {
            if let Some(arrival) = self.pop(&mut state) {
                return Some(arrival);
            }
            state.waiting = true;
            match deadline {
                None => state = self.arrived.wait(state).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        state.waiting = false;
                        return None;
                    }
                    state = self
                        .arrived
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
            state.waiting = false;
        }
    }

    fn pop(&self, state: &mut State) -> Option<Arrival> {
        let arrival = state.arrived.pop_front()?;
        self.waiting_chunks
            .store(state.arrived.len(), Ordering::Release);
        Some(arrival)
    }

    /// The next finished chunk, or `None` after registering `waker` for the next arrival.
    pub(crate) fn poll_next(&self, waker: &Waker) -> Option<Arrival> {
        let mut state = self.lock();
        match self.pop(&mut state) {
            Some(arrival) => Some(arrival),
            None => {
                state.waker = Some(waker.clone());
                None
            }
        }
    }
}

impl Sink for ChunkStream {
    fn deliver(self: Arc<Self>, part: u64, outcome: Result<Payload, PoolError>) {
        let mut state = self.lock();
        state.arrived.push_back((part, outcome));
        self.waiting_chunks
            .store(state.arrived.len(), Ordering::Release);
        let waker = state.waker.take();
        // One wakeup is enough: the consumer takes everything that arrived when it runs.
        let waiting = std::mem::replace(&mut state.waiting, false);
        drop(state);
        if waiting {
            self.arrived.notify_one();
        }
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn chunks_come_out_in_arrival_order_and_a_deadline_ends_the_wait() {
        let stream = ChunkStream::new();
        stream.clone().deliver(1, Ok(Payload::encode(&1).unwrap()));
        stream.clone().deliver(0, Err(PoolError::NotRunning));
        assert_eq!(stream.next(None).unwrap().0, 1);
        assert!(matches!(
            stream.next(None).unwrap(),
            (0, Err(PoolError::NotRunning))
        ));
        let deadline = Instant::now() + Duration::from_millis(5);
        assert!(stream.next(Some(deadline)).is_none());
    }

    #[test]
    fn a_waiting_consumer_wakes_on_delivery() {
        let stream = ChunkStream::new();
        let producer = {
            let stream = stream.clone();
            std::thread::spawn(move || stream.deliver(3, Ok(Payload::encode(&3).unwrap())))
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        let arrival = stream
            .next(Some(deadline))
            .expect("no delivery within 10 s");
        assert_eq!(arrival.0, 3);
        producer.join().unwrap();
    }
}
