//! Where the results of an `apply_async` or a `map_async` land: one part per task, complete
//! when every part has arrived. Callbacks run before the result becomes visible, as in Python
//! (a `get` that returns has seen the callbacks run).

use crate::callbacks::CallbackRunner;
use crate::error::PoolError;
use crate::poll_briefly::poll_briefly;
use crate::sink::Sink;
use procvisor_wire::Payload;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::task::Waker;
use std::time::Instant;

/// The parts of a finished result, or the error of its first failed part (in input order).
pub(crate) type Outcome = Result<Vec<Payload>, PoolError>;

/// A callback waiting for the outcome.
pub(crate) type Callback = Box<dyn FnOnce(&Outcome) + Send>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Parts are still missing.
    Pending,
    /// Every part is in; the callbacks are running.
    Delivering,
    /// Visible to `get`, `ready` and awaiting tasks.
    Ready,
}

struct State {
    parts: Vec<Option<Payload>>,
    received: usize,
    /// How many parts there are, once known (see [`Completion::seal`]).
    expected: Option<usize>,
    /// The failed part with the lowest index, and its error.
    error: Option<(usize, PoolError)>,
    phase: Phase,
    callbacks: Vec<Callback>,
    wakers: Vec<Waker>,
    /// Threads sleep on `ready` (a notification costs a system call; skip it otherwise).
    waiting: usize,
}

pub(crate) struct Completion {
    state: Mutex<State>,
    ready: Condvar,
    /// Set with the phase `Ready`, for a waiter to look at without the lock.
    visible: AtomicBool,
    outcome: OnceLock<Outcome>,
    runner: Arc<CallbackRunner>,
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completion")
            .field("ready", &self.outcome.get().is_some())
            .finish_non_exhaustive()
    }
}

impl Completion {
    /// A result of `parts` parts (zero parts is complete at once: an empty map).
    pub(crate) fn new(parts: usize, runner: Arc<CallbackRunner>) -> Arc<Completion> {
        let completion = Completion::open(runner);
        completion.seal(parts);
        completion
    }

    /// A result whose number of parts is told later, by [`seal`](Self::seal).
    pub(crate) fn open(runner: Arc<CallbackRunner>) -> Arc<Completion> {
        Arc::new(Completion {
            state: Mutex::new(State {
                parts: Vec::new(),
                received: 0,
                expected: None,
                error: None,
                phase: Phase::Pending,
                callbacks: Vec::new(),
                wakers: Vec::new(),
                waiting: 0,
            }),
            ready: Condvar::new(),
            visible: AtomicBool::new(false),
            outcome: OnceLock::new(),
            runner,
        })
    }

    /// Says how many parts there are; complete now if they have all arrived.
    pub(crate) fn seal(self: &Arc<Self>, parts: usize) {
        let mut state = self.lock();
        if state.expected.is_some() {
            return;
        }
        state.expected = Some(parts);
        if state.received >= parts {
            self.finish(&mut state);
            self.publish(state);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the outcome once every part is in.
    fn finish(&self, state: &mut State) {
        let outcome = match state.error.take() {
            Some((_, error)) => Err(error),
            None => Ok(state.parts.iter_mut().filter_map(Option::take).collect()),
        };
        let _ = self.outcome.set(outcome);
        state.phase = Phase::Delivering;
    }

    /// Makes a finished result visible, after its callbacks (on the callback thread).
    fn publish(self: &Arc<Self>, mut state: MutexGuard<'_, State>) {
        if state.callbacks.is_empty() {
            self.make_ready(&mut state);
        } else {
            drop(state);
            self.runner.run(self.clone());
        }
    }

    fn make_ready(&self, state: &mut State) {
        state.phase = Phase::Ready;
        self.visible.store(true, Ordering::Release);
        if state.waiting > 0 {
            self.ready.notify_all();
        }
        for waker in state.wakers.drain(..) {
            waker.wake();
        }
    }

    /// Runs the callbacks (called on the callback thread), then makes the result visible.
    /// Callbacks added meanwhile run too.
    pub(crate) fn run_callbacks(&self) {
        let outcome = self
            .outcome
            .get()
            .expect("callbacks run once the outcome is set");
        loop {
            let callbacks = {
                let mut state = self.lock();
                if state.callbacks.is_empty() {
                    self.make_ready(&mut state);
                    return;
                }
                std::mem::take(&mut state.callbacks)
            };
            for callback in callbacks {
                crate::callbacks::call_guarded(|| callback(outcome));
            }
        }
    }

    /// Adds a callback; when the result is already visible it runs now, on this thread.
    pub(crate) fn add_callback(&self, callback: Callback) {
        let mut state = self.lock();
        if state.phase == Phase::Ready {
            drop(state);
            let outcome = self.outcome.get().expect("a ready result has its outcome");
            crate::callbacks::call_guarded(|| callback(outcome));
        } else {
            state.callbacks.push(callback);
        }
    }

    /// The outcome, once visible.
    pub(crate) fn outcome(&self) -> Option<&Outcome> {
        if self.lock().phase == Phase::Ready {
            self.outcome.get()
        } else {
            None
        }
    }

    /// Waits until the outcome is visible or `deadline` passes.
    pub(crate) fn wait_until(&self, deadline: Option<Instant>) -> Option<&Outcome> {
        poll_briefly(deadline, || self.visible.load(Ordering::Acquire));
        let mut state = self.lock();
        while state.phase != Phase::Ready {
            state.waiting += 1;
            match deadline {
                None => state = self.ready.wait(state).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        state.waiting -= 1;
                        return None;
                    }
                    state = self
                        .ready
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
            state.waiting -= 1;
        }
        drop(state);
        self.outcome.get()
    }

    /// The outcome if visible; otherwise registers `waker` for when it is.
    pub(crate) fn poll_outcome(&self, waker: &Waker) -> Option<&Outcome> {
        let mut state = self.lock();
        if state.phase == Phase::Ready {
            drop(state);
            return self.outcome.get();
        }
        if !state.wakers.iter().any(|w| w.will_wake(waker)) {
            state.wakers.push(waker.clone());
        }
        None
    }
}

impl Sink for Completion {
    fn deliver(self: Arc<Self>, part: u64, outcome: Result<Payload, PoolError>) {
        self.accept(part, outcome);
    }
}

impl Completion {
    /// Takes in one part's outcome.
    pub(crate) fn accept(self: &Arc<Self>, part: u64, outcome: Result<Payload, PoolError>) {
        let mut state = self.lock();
        let index = part as usize;
        if state.phase != Phase::Pending || state.expected.is_some_and(|expected| index >= expected)
        {
            return;
        }
        if state.parts.len() <= index {
            state.parts.resize_with(index + 1, || None);
        }
        if state.parts[index].is_some() {
            return;
        }
        match outcome {
            Ok(payload) => state.parts[index] = Some(payload),
            Err(error) => {
                // An empty payload marks the part as arrived.
                state.parts[index] = Some(Payload::encode(&()).expect("unit encodes"));
                if state.error.as_ref().is_none_or(|(first, _)| index < *first) {
                    state.error = Some((index, error));
                }
            }
        }
        state.received += 1;
        if state
            .expected
            .is_some_and(|expected| state.received >= expected)
        {
            self.finish(&mut state);
            self.publish(state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn payload(v: i64) -> Payload {
        Payload::encode(&v).unwrap()
    }

    #[test]
    fn complete_when_every_part_arrived_in_part_order() {
        let c = Completion::new(3, CallbackRunner::new());
        c.accept(2, Ok(payload(2)));
        c.accept(0, Ok(payload(0)));
        assert!(c.outcome().is_none());
        c.accept(1, Ok(payload(1)));
        let parts = c.wait_until(None).unwrap().as_ref().unwrap();
        let values: Vec<i64> = parts.iter().map(|p| p.decode().unwrap()).collect();
        assert_eq!(values, vec![0, 1, 2]);
    }

    #[test]
    fn the_first_error_in_input_order_wins_and_waits_for_all_parts() {
        let c = Completion::new(3, CallbackRunner::new());
        c.accept(2, Err(PoolError::Timeout));
        c.accept(1, Err(PoolError::NotRunning));
        assert!(
            c.outcome().is_none(),
            "no fail-fast: part 0 is still running"
        );
        c.accept(0, Ok(payload(0)));
        assert!(matches!(
            c.wait_until(None),
            Some(Err(PoolError::NotRunning))
        ));
    }

    #[test]
    fn callbacks_run_before_the_result_is_visible() {
        let c = Completion::new(1, CallbackRunner::new());
        let seen = Arc::new(AtomicUsize::new(0));
        let seen2 = seen.clone();
        c.add_callback(Box::new(move |outcome| {
            assert!(outcome.is_ok());
            std::thread::sleep(std::time::Duration::from_millis(20));
            seen2.fetch_add(1, Ordering::SeqCst);
        }));
        c.accept(0, Ok(payload(1)));
        c.wait_until(None).unwrap();
        assert_eq!(
            seen.load(Ordering::SeqCst),
            1,
            "get returned before the callback ran"
        );
        // Added late: runs at once, on this thread.
        let seen3 = seen.clone();
        c.add_callback(Box::new(move |_| {
            seen3.fetch_add(1, Ordering::SeqCst);
        }));
        assert_eq!(seen.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_deadline_passes_without_the_outcome() {
        let c = Completion::new(1, CallbackRunner::new());
        let deadline = Instant::now() + std::time::Duration::from_millis(10);
        assert!(c.wait_until(Some(deadline)).is_none());
        assert!(Instant::now() >= deadline);
    }

    #[test]
    fn an_open_result_completes_once_sealed_and_all_parts_are_in() {
        let c = Completion::open(CallbackRunner::new());
        c.accept(1, Ok(payload(1)));
        c.accept(0, Ok(payload(0)));
        assert!(c.outcome().is_none(), "not sealed yet");
        c.seal(3);
        assert!(c.outcome().is_none());
        c.accept(2, Ok(payload(2)));
        assert_eq!(c.wait_until(None).unwrap().as_ref().unwrap().len(), 3);
        let early = Completion::open(CallbackRunner::new());
        early.accept(0, Ok(payload(0)));
        early.seal(1);
        assert!(
            early.outcome().is_some(),
            "sealed after its last part arrived"
        );
    }

    #[test]
    fn zero_parts_is_complete_at_once() {
        let c = Completion::new(0, CallbackRunner::new());
        assert!(c.outcome().unwrap().as_ref().unwrap().is_empty());
    }
}
