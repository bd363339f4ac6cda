//! Python's `sharedctypes` beyond `Value` and `Array`, used by a child process: a byte string
//! (`Array('c', 20)`), two values on one supplied lock (`Value('Q', 0, lock=lock)`), a raw value
//! wrapped with a lock (`synchronized`) and a copy of it (`copy`).
//!
//! ```python
//! def f(greeting, hits, misses, total):
//!     greeting.value += b' world'
//!     with hits.get_lock():          # the lock misses shares
//!         hits.value += 3
//!         misses.value += 1
//!     total.value *= 2
//!
//! if __name__ == '__main__':
//!     greeting = Array('c', 20)
//!     greeting.value = b'hello'
//!     lock = RLock()
//!     hits, misses = Value('Q', 0, lock=lock), Value('Q', 0, lock=lock)
//!     raw = RawValue('d', 1.5)
//!     total, snapshot = synchronized(raw), copy(raw)
//!     p = Process(target=f, args=(greeting, hits, misses, total))
//!     p.start(); p.join()
//!     print(greeting.value.decode())
//!     print(f'hits={hits.value} misses={misses.value}')
//!     print(f'total={raw.value} copy={snapshot.value}')
//! ```

// ANCHOR: example
use procvisor::{Array, Process, RLock, RawValue, Value, register};

fn f(greeting: Array<u8>, hits: Value<u64>, misses: Value<u64>, total: Value<f64>) {
    let doubled = [greeting.value(), b" world".to_vec()].concat();
    greeting.set_value(&doubled).expect("fits in 20 bytes");
    let guard = hits.lock().expect("a blocking acquisition"); // holds misses' lock too
    guard.set(guard.get() + 3);
    misses.update(|m| m + 1); // re-enters the RLock this thread holds
    drop(guard);
    total.update(|t| t * 2.0);
}
register!(f);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let greeting = Array::<u8>::zeroed(20)?;
    greeting.set_value(b"hello")?;
    let lock = RLock::new()?;
    let hits = Value::with_lock(0_u64, lock.clone())?;
    let misses = Value::with_lock(0_u64, lock)?;
    let raw = RawValue::new(1.5_f64)?;
    let total = Value::synchronized(raw.clone())?;
    let snapshot = raw.copy()?;

    let mut p = Process::new(f, (greeting.clone(), hits.clone(), misses.clone(), total))?;
    p.start()?;
    p.join()?;

    println!("{}", String::from_utf8_lossy(&greeting.value()));
    println!("hits={} misses={}", hits.get(), misses.get());
    println!("total={} copy={}", raw.get(), snapshot.get());
    Ok(())
}
// ANCHOR_END: example
