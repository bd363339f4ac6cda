//! The lock word shared by `Lock`, `RLock`, `Condition`, `Barrier` and the queue: a futex
//! word holding the owner's pid.
//!
//! Acquiring is one compare-and-swap from 0 to the caller's pid, so the owner is known from the
//! instant the lock is taken. A bit marks that someone sleeps on the lock, so releasing wakes a
//! sleeper only when there is one.
//!
//! # A dead owner
//!
//! A sleeper wakes at least every [`LIVENESS_CHECK`] and asks whether the owner process still
//! exists. If it does not (killed inside the locked section), the sleeper takes the lock over
//! and reports that the previous owner died, so the caller can repair whatever the dead process
//! left half-done. This is the robust-mutex guarantee (`EOWNERDEAD`), built from the owner pid
//! instead of the kernel's per-thread robust list so that a lock belongs to a process, may be
//! released from any of its threads (Python's `Lock` allows that), and can be waited on by async
//! code. The price is one `kill(pid, 0)` per check while contended, and the rare case of a pid
//! reused by an unrelated process before the check, which keeps the lock held until that process
//! exits.

use crate::futex::{self, AtomicU32, Ordering, Wake};
use std::time::{Duration, Instant};

/// Set in the word while someone sleeps on the lock.
const WAITERS: u32 = 1 << 31;
/// The owner's pid (Linux pids fit in 22 bits).
const PID_MASK: u32 = !WAITERS;

/// A pid no process can have (pids fit in 22 bits): a lock "held" by it was held by the dead.
#[cfg(all(test, not(procvisor_loom)))]
pub(crate) const DEAD_PID: u32 = PID_MASK - 1;

/// How often a sleeper checks that the owner is alive.
pub(crate) const LIVENESS_CHECK: Duration = Duration::from_millis(20);

/// How many times to retry before sleeping.
const SPINS: u32 = if cfg!(procvisor_loom) { 0 } else { 100 };
/// How many of those retries only pause the CPU; the later ones yield it.
const PAUSING: u32 = 24;

/// The lock word, as it lies in shared memory.
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct RawLock {
    word: AtomicU32,
}

/// How an acquisition went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acquired {
    /// The lock was free, or released normally.
    Cleanly,
    /// The previous owner died holding it; the caller owns it now.
    FromDeadOwner,
}

/// This process's id, cached: `getpid` is a system call (glibc stopped caching it), and a lock
/// needs the pid on every acquisition. A fork handler clears the cache in the child.
static PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

extern "C" fn forget_pid_in_child() {
    PID.store(0, std::sync::atomic::Ordering::Relaxed);
}

/// This process's id, as lock words record it.
pub(crate) fn my_pid() -> u32 {
    let cached = PID.load(std::sync::atomic::Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    let pid = std::process::id();
    if PID.swap(pid, std::sync::atomic::Ordering::Relaxed) == 0 {
        static REGISTERED: std::sync::atomic::AtomicBool =
            std::sync::atomic::AtomicBool::new(false);
        if !REGISTERED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            // SAFETY: registers a plain extern "C" fn that lives as long as the process; it only
            // stores to an atomic, which is safe in a freshly forked child.
            unsafe { libc::pthread_atfork(None, None, Some(forget_pid_in_child)) };
        }
    }
    pid
}

/// Whether process `pid` exists (a zombie counts as dead: it runs no more code).
pub(crate) fn process_alive(pid: u32) -> bool {
    if pid == my_pid() {
        return true;
    }
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid as i32, 0) };
    if rc != 0 {
        return std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    }
    // It exists; a zombie has already exited.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(") ")
            .next()
            .is_some_and(|rest| rest.starts_with('Z')),
        Err(_) => false,
    }
}

impl RawLock {
    /// Takes the lock if it is free.
    pub(crate) fn try_lock(&self, me: u32) -> bool {
        self.word
            .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Takes the lock without waiting: if it is free, or if the process holding it has died
    /// (then the lock is taken over, as a waiting acquisition would after its next liveness
    /// check). `None` if a live process holds it.
    ///
    /// Checking the holder costs a `kill(pid, 0)` and, if the process exists, a read of its
    /// `/proc` status (a zombie counts as dead); a holder in this process is known to be alive.
    pub(crate) fn try_lock_or_take_over(&self, me: u32) -> Option<Acquired> {
        if self.try_lock(me) {
            return Some(Acquired::Cleanly);
        }
        loop {
            let word = self.word.load(Ordering::Relaxed);
            let owner = word & PID_MASK;
            if owner == 0 {
                // Released meanwhile (a free word holds no waiters bit).
                return self.try_lock(me).then_some(Acquired::Cleanly);
            }
            if process_alive(owner) {
                return None;
            }
            // Keep the waiters bit, so that our release wakes whoever sleeps on the lock.
            if self
                .word
                .compare_exchange(
                    word,
                    me | (word & WAITERS),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                return Some(Acquired::FromDeadOwner);
            }
        }
    }

    /// Makes the lock look held by `pid`, as if that process had died holding it.
    #[cfg(all(test, not(procvisor_loom)))]
    pub(crate) fn force_owner(&self, pid: u32) {
        let word = self.word.load(Ordering::Relaxed);
        self.word.store(pid | (word & WAITERS), Ordering::Relaxed);
    }

    /// Takes the lock, waiting until `deadline` (`None`: forever). `None` on timeout.
    pub(crate) fn lock(&self, me: u32, deadline: Option<Instant>) -> Option<Acquired> {
        if self.try_lock(me) {
            return Some(Acquired::Cleanly);
        }
        self.lock_slow(me, deadline)
    }

    #[cold]
    fn lock_slow(&self, me: u32, deadline: Option<Instant>) -> Option<Acquired> {
        let mut spins = 0;
        // After sleeping, take the lock with the waiters bit: others may still sleep.
        let mut flag = 0;
        loop {
            let word = self.word.load(Ordering::Relaxed);
            if word == 0 {
                if self
                    .word
                    .compare_exchange(0, me | flag, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return Some(Acquired::Cleanly);
                }
                continue;
            }
            if spins < SPINS {
                spins += 1;
                if spins <= PAUSING {
                    // Back off more at each look: every look pulls the line away from the
                    // owner, whose next write must then take it back.
                    for _ in 0..(1_u32 << (spins / 8).min(4)) {
                        futex::spin_hint();
                    }
                } else {
                    // Held this long, the owner may be waiting for a CPU (more processes than
                    // CPUs contend), perhaps this one: let it run rather than spin in its way.
                    futex::yield_cpu();
                }
                continue;
            }
            if word & WAITERS == 0
                && self
                    .word
                    .compare_exchange(word, word | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            flag = WAITERS;
            let left = futex::remaining(deadline);
            if left.is_some_and(|l| l.is_zero()) {
                return None;
            }
            let slice = left.map_or(LIVENESS_CHECK, |l| l.min(LIVENESS_CHECK));
            if futex::wait(&self.word, word | WAITERS, Some(slice)) == Wake::TimedOut {
                let current = self.word.load(Ordering::Relaxed);
                let owner = current & PID_MASK;
                if owner != 0
                    && !process_alive(owner)
                    && self
                        .word
                        .compare_exchange(
                            current,
                            me | WAITERS,
                            Ordering::Acquire,
                            Ordering::Relaxed,
                        )
                        .is_ok()
                {
                    return Some(Acquired::FromDeadOwner);
                }
            }
        }
    }

    /// Releases the lock (whoever holds it). `false` if it was not held.
    pub(crate) fn unlock(&self) -> bool {
        let previous = self.word.swap(0, Ordering::Release);
        if previous & WAITERS != 0 {
            futex::wake(&self.word, 1);
        }
        previous != 0
    }

    /// The pid of the process holding the lock.
    pub(crate) fn owner(&self) -> Option<u32> {
        match self.word.load(Ordering::Relaxed) & PID_MASK {
            0 => None,
            pid => Some(pid),
        }
    }
}

#[cfg(all(test, not(procvisor_loom)))]
mod tests {
    use super::*;

    #[test]
    fn lock_and_unlock_record_the_owner() {
        let lock = RawLock::default();
        assert_eq!(lock.owner(), None);
        assert_eq!(lock.lock(7, None), Some(Acquired::Cleanly));
        assert_eq!(lock.owner(), Some(7));
        assert!(!lock.try_lock(8));
        assert!(lock.unlock());
        assert!(!lock.unlock(), "a second release finds it free");
    }

    #[test]
    fn a_timed_acquire_of_a_held_lock_times_out() {
        let lock = RawLock::default();
        assert!(lock.try_lock(my_pid()));
        let start = Instant::now();
        assert_eq!(
            lock.lock(
                my_pid() + 1,
                Some(Instant::now() + Duration::from_millis(30))
            ),
            None
        );
        assert!(start.elapsed() >= Duration::from_millis(25));
    }

    #[test]
    fn a_lock_held_by_a_dead_pid_is_taken_over() {
        let lock = RawLock::default();
        // A pid that cannot exist (pid_max is at most 2^22).
        assert!(lock.try_lock(PID_MASK - 1));
        let deadline = Instant::now() + Duration::from_secs(5);
        assert_eq!(
            lock.lock(my_pid(), Some(deadline)),
            Some(Acquired::FromDeadOwner)
        );
        assert_eq!(lock.owner(), Some(my_pid()));
    }

    #[test]
    fn a_non_waiting_acquisition_takes_over_from_a_dead_holder_only() {
        let lock = RawLock::default();
        assert_eq!(
            lock.try_lock_or_take_over(my_pid()),
            Some(Acquired::Cleanly)
        );
        assert_eq!(
            lock.try_lock_or_take_over(my_pid()),
            None,
            "held by a live process (this one)"
        );
        lock.force_owner(PID_MASK - 1);
        assert_eq!(
            lock.try_lock_or_take_over(my_pid()),
            Some(Acquired::FromDeadOwner)
        );
        assert_eq!(lock.owner(), Some(my_pid()));
        assert!(lock.unlock());
    }

    #[test]
    fn threads_exclude_each_other() {
        let lock = std::sync::Arc::new(RawLock::default());
        let counter = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let inside = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (lock, counter, inside) = (lock.clone(), counter.clone(), inside.clone());
                std::thread::spawn(move || {
                    for _ in 0..2000 {
                        lock.lock(my_pid(), None).unwrap();
                        assert!(
                            !inside.swap(true, std::sync::atomic::Ordering::SeqCst),
                            "two holders"
                        );
                        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        inside.store(false, std::sync::atomic::Ordering::SeqCst);
                        lock.unlock();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.load(std::sync::atomic::Ordering::Relaxed), 8000);
    }
}

#[cfg(all(test, procvisor_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicUsize;

    #[test]
    fn mutual_exclusion_and_no_lost_wakeups_of_the_waiters_bit() {
        loom::model(|| {
            let lock = Arc::new(RawLock::default());
            let inside = Arc::new(AtomicUsize::new(0));
            let threads: Vec<_> = (0..2)
                .map(|i| {
                    let (lock, inside) = (lock.clone(), inside.clone());
                    loom::thread::spawn(move || {
                        lock.lock(10 + i, None).unwrap();
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                        inside.fetch_sub(1, Ordering::SeqCst);
                        assert!(lock.unlock());
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(lock.owner(), None);
        });
    }
}
