//! The seed's Lock example: ten processes print without interleaving their lines.
//!
//! ```python
//! def f(l, i):
//!     l.acquire()
//!     try:
//!         print('hello world', i)
//!     finally:
//!         l.release()
//!
//! if __name__ == '__main__':
//!     lock = Lock()
//!     for num in range(10):
//!         Process(target=f, args=(lock, num)).start()
//! ```
//!
//! As in Python, the processes are not joined explicitly: at the end of `main` the parent waits
//! for its non-daemonic children.

// ANCHOR: example
use procvisor::{Lock, Process, register};

fn f(l: Lock, i: u32) -> Result<(), procvisor::AcquireError> {
    let _guard = l.acquire()?;
    println!("hello world {i}");
    Ok(())
}
register!(f);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lock = Lock::new()?;
    for num in 0..10 {
        Process::new(f, (lock.clone(), num))?.start()?;
    }
    Ok(())
}
// ANCHOR_END: example
