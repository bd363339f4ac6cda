//! The `floor` peer: the physical limit of a round trip between two processes. Each process
//! spins on a word the other writes (one cache line each way, in procvisor's shared memory),
//! so a round trip is two cache-line transfers between cores and nothing else: no system call,
//! no scheduler, no encoding.

use crate::harness::{OpTimer, Sample};
use procvisor::{Process, RawValue, register};
use std::time::{Duration, Instant};

/// Round trips before the timing starts.
const WARMUP: u64 = 200;

/// How long either end waits for the other before giving up (the other end died, or never
/// started).
const TIMEOUT: Duration = Duration::from_secs(10);

/// Spins until `ready` holds, giving up after [`TIMEOUT`]. After a long spin it yields the CPU
/// between looks, so two ends sharing one CPU still make progress.
#[inline]
fn spin_until(mut ready: impl FnMut() -> bool) -> Result<(), String> {
    let mut spins: u32 = 0;
    let mut deadline = None;
    while !ready() {
        spins = spins.wrapping_add(1);
        if spins % 4096 == 0 {
            let now = Instant::now();
            if now > *deadline.get_or_insert(now + TIMEOUT) {
                return Err(format!("no answer within {TIMEOUT:?}"));
            }
            if spins >= 1 << 16 {
                std::thread::yield_now();
            }
        }
        std::hint::spin_loop();
    }
    Ok(())
}

/// The other end: waits for each number on `ping` and answers it on `pong`.
fn floor_echo(ping: RawValue<u64>, pong: RawValue<u64>, n: u64) -> Result<(), String> {
    for i in 1..=n {
        spin_until(|| ping.get() >= i)?;
        pong.set(i);
    }
    Ok(())
}
register!(floor_echo);

/// `n` timed round trips (after a warm-up) with an echo in a procvisor Process.
pub(crate) fn round_trips(n: u64) -> Result<Sample, String> {
    let ping = RawValue::new(0_u64).map_err(|e| e.to_string())?;
    let pong = RawValue::new(0_u64).map_err(|e| e.to_string())?;
    let mut echo = Process::new(floor_echo, (ping.clone(), pong.clone(), n + WARMUP))
        .map_err(|e| e.to_string())?;
    echo.start().map_err(|e| e.to_string())?;
    let round_trip = |i: u64| {
        ping.set(i);
        spin_until(|| pong.get() == i)
    };
    let run = || -> Result<Sample, String> {
        for i in 1..=WARMUP {
            round_trip(i)?;
        }
        let mut timer = OpTimer::start(n as usize, 1);
        for i in WARMUP + 1..=WARMUP + n {
            round_trip(i)?;
            timer.tick();
        }
        Ok(timer.finish())
    };
    match run() {
        Ok(sample) => {
            echo.result_timeout::<()>(TIMEOUT)
                .map_err(|e| format!("floor echo: {e}"))?;
            Ok(sample)
        }
        Err(e) => {
            let _ = echo.kill();
            let _ = echo.join();
            Err(e)
        }
    }
}
