//! [`Barrier`]: a fixed number of processes wait for each other.

use crate::error::BrokenBarrierError;
use crate::futex::{self, AtomicU32, AtomicU64, Ordering};
use crate::raw_lock::{RawLock, my_pid};
use crate::shared::{Kind, Shared, shared_serde};
use std::fmt;
use std::time::{Duration, Instant};

#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct BarrierState {
    lock: RawLock,
    parties: AtomicU32,
    /// Parties waiting in the current pass.
    count: AtomicU32,
    /// The current pass; waiters sleep on it.
    generation: AtomicU32,
    /// The last pass that completed normally (the others ended broken).
    completed: AtomicU32,
    broken: AtomicU32,
    /// The default timeout of a wait, in nanoseconds (0: none).
    timeout_ns: AtomicU64,
    /// The action, as an offset from [`anchor`] (0: none), and the identity of the binary it
    /// belongs to.
    action_offset: AtomicU64,
    exe_dev: AtomicU64,
    exe_ino: AtomicU64,
}

/// A reference point in this binary: actions travel as offsets from it, which are the same in
/// every process running the same binary, wherever the loader put it.
fn anchor() {}

fn exe_identity() -> (u64, u64) {
    std::fs::metadata("/proc/self/exe")
        .map(|m| {
            use std::os::unix::fs::MetadataExt;
            (m.dev(), m.ino())
        })
        .unwrap_or((0, 0))
}

/// A barrier shared between processes: Python's `multiprocessing.Barrier`.
///
/// `parties` processes (or threads) call [`wait`](Self::wait); each blocks until all have, then
/// all continue and the barrier resets for the next pass. Each `wait` returns a distinct index
/// from `0` to `parties - 1` (exactly one gets 0). A timeout, [`abort`](Self::abort) or
/// [`reset`](Self::reset) while parties wait breaks the pass: every waiter gets
/// [`BrokenBarrierError`].
///
/// ```
/// use procvisor_sync::Barrier;
///
/// let barrier = Barrier::new(1, None, None)?;
/// assert_eq!(barrier.wait(), Ok(0));
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// The action (a plain `fn`, run once per pass by the party that completes it) works in every
/// process running the same binary, however it was started; a process running another binary
/// refuses to run it and breaks the barrier instead.
#[derive(Clone)]
pub struct Barrier {
    shared: Shared<BarrierState>,
}

shared_serde!(Barrier, Kind::Barrier, shared);

impl Barrier {
    /// A barrier for `parties` parties, with an optional action and default timeout.
    ///
    /// # Errors
    ///
    /// When the shared memory for it cannot be created, or `parties` is 0.
    pub fn new(
        parties: u32,
        action: Option<fn()>,
        timeout: Option<Duration>,
    ) -> std::io::Result<Barrier> {
        if parties == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a barrier needs at least one party",
            ));
        }
        let shared: Shared<BarrierState> = Shared::create(Kind::Barrier, 0, 0)?;
        let state = shared.state();
        state.parties.store(parties, Ordering::Relaxed);
        state.completed.store(u32::MAX, Ordering::Relaxed);
        state.timeout_ns.store(
            timeout.map_or(0, |t| t.as_nanos().clamp(1, u64::MAX as u128) as u64),
            Ordering::Relaxed,
        );
        if let Some(action) = action {
            let offset = (action as usize as i64).wrapping_sub(anchor as fn() as usize as i64);
            // 0 means "no action"; a real action is never the anchor itself.
            state.action_offset.store(offset as u64, Ordering::Relaxed);
            let (dev, ino) = exe_identity();
            state.exe_dev.store(dev, Ordering::Relaxed);
            state.exe_ino.store(ino, Ordering::Relaxed);
        }
        Ok(Barrier { shared })
    }

    fn from_shared(shared: Shared<BarrierState>) -> Barrier {
        Barrier { shared }
    }

    fn state(&self) -> &BarrierState {
        self.shared.state()
    }

    /// How many parties it needs.
    pub fn parties(&self) -> u32 {
        self.state().parties.load(Ordering::Relaxed)
    }

    /// How many parties wait in the current pass.
    pub fn n_waiting(&self) -> u32 {
        self.state().count.load(Ordering::Relaxed)
    }

    /// Whether it is broken (until [`reset`](Self::reset)).
    pub fn broken(&self) -> bool {
        self.state().broken.load(Ordering::Relaxed) != 0
    }

    fn lock(&self) {
        crate::lock::note_recovery(self.state().lock.lock(my_pid(), None));
    }

    fn unlock(&self) {
        self.state().lock.unlock();
    }

    /// Ends the current pass as broken (lock held).
    fn break_pass(&self) {
        let state = self.state();
        state.broken.store(1, Ordering::Relaxed);
        state.count.store(0, Ordering::Relaxed);
        state.generation.fetch_add(1, Ordering::SeqCst);
        futex::wake(&state.generation, u32::MAX);
    }

    fn run_action(&self) -> bool {
        let state = self.state();
        let offset = state.action_offset.load(Ordering::Relaxed) as i64;
        if offset == 0 {
            return true;
        }
        if exe_identity()
            != (
                state.exe_dev.load(Ordering::Relaxed),
                state.exe_ino.load(Ordering::Relaxed),
            )
        {
            return false;
        }
        let address = (anchor as fn() as usize as i64).wrapping_add(offset) as usize;
        // SAFETY: this process runs the binary the action was taken from (same file, checked
        // above), and code is laid out at the same offsets from the anchor in every process of
        // one binary, so `address` is the action `fn()` given to `new`.
        let action: fn() = unsafe { std::mem::transmute::<usize, fn()>(address) };
        std::panic::catch_unwind(action).is_ok()
    }

    /// Waits for the other parties, at most the barrier's default timeout (if it was made with
    /// one). Returns this party's index in the pass.
    ///
    /// # Errors
    ///
    /// [`BrokenBarrierError`] when the pass broke (timeout, abort, reset, a failing action) or
    /// the barrier was already broken.
    pub fn wait(&self) -> Result<u32, BrokenBarrierError> {
        self.wait_within(None)
    }

    /// [`wait`](Self::wait), at most `timeout` (Python's `wait(timeout)`); a timeout breaks the
    /// barrier for every party.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<u32, BrokenBarrierError> {
        self.wait_within(Some(timeout))
    }

    fn wait_within(&self, timeout: Option<Duration>) -> Result<u32, BrokenBarrierError> {
        let state = self.state();
        let timeout = timeout.or(match state.timeout_ns.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(Duration::from_nanos(ns)),
        });
        let deadline = futex::deadline(timeout);
        self.lock();
        if self.broken() {
            self.unlock();
            return Err(BrokenBarrierError);
        }
        let generation = state.generation.load(Ordering::Relaxed);
        let index = state.count.fetch_add(1, Ordering::Relaxed);
        if index + 1 == self.parties() {
            let ok = self.run_action();
            if ok {
                state.count.store(0, Ordering::Relaxed);
                state.completed.store(generation, Ordering::Relaxed);
                state.generation.fetch_add(1, Ordering::SeqCst);
                futex::wake(&state.generation, u32::MAX);
            } else {
                self.break_pass();
            }
            self.unlock();
            return if ok {
                Ok(index)
            } else {
                Err(BrokenBarrierError)
            };
        }
        self.unlock();
        self.wait_for_pass(generation, deadline).map(|()| index)
    }

    fn wait_for_pass(
        &self,
        generation: u32,
        deadline: Option<Instant>,
    ) -> Result<(), BrokenBarrierError> {
        let state = self.state();
        loop {
            if state.generation.load(Ordering::SeqCst) != generation {
                return if state.completed.load(Ordering::Relaxed) == generation {
                    Ok(())
                } else {
                    Err(BrokenBarrierError)
                };
            }
            let left = futex::remaining(deadline);
            if left.is_some_and(|l| l.is_zero()) {
                self.lock();
                let result = if state.generation.load(Ordering::SeqCst) != generation {
                    if state.completed.load(Ordering::Relaxed) == generation {
                        Ok(())
                    } else {
                        Err(BrokenBarrierError)
                    }
                } else {
                    self.break_pass();
                    Err(BrokenBarrierError)
                };
                self.unlock();
                return result;
            }
            futex::wait(&state.generation, generation, left);
        }
    }

    /// Breaks the barrier: current and future waiters get [`BrokenBarrierError`] until
    /// [`reset`](Self::reset).
    pub fn abort(&self) {
        self.lock();
        self.break_pass();
        self.unlock();
    }

    /// Makes the barrier usable again; parties waiting now get [`BrokenBarrierError`].
    pub fn reset(&self) {
        self.lock();
        let state = self.state();
        if state.count.load(Ordering::Relaxed) > 0 {
            self.break_pass();
        }
        state.broken.store(0, Ordering::Relaxed);
        self.unlock();
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<Barrier(parties={}, waiting={}, broken={})>",
            self.parties(),
            self.n_waiting(),
            self.broken()
        )
    }
}
