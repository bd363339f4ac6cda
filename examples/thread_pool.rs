//! A `ThreadPool` for I/O-bound work: closures that wait (here on a pretend download) run on
//! threads of this process, ten at a time, results in input order.
//!
//! ```python
//! from multiprocessing.pool import ThreadPool
//! import time
//!
//! def fetch(page):
//!     time.sleep(0.1)                  # a download
//!     return f"page {page}: {len(str(page)) * 100} bytes"
//!
//! with ThreadPool(10) as pool:
//!     for line in pool.imap(fetch, range(1, 21)):
//!         print(line)
//! ```

// ANCHOR: example
use procvisor::{PoolError, ThreadPool};
use std::time::Duration;

fn main() -> Result<(), PoolError> {
    let pool = ThreadPool::new(10)?;
    let fetch = |page: u32| {
        std::thread::sleep(Duration::from_millis(100)); // a download
        format!("page {page}: {} bytes", page.to_string().len() * 100)
    };
    for line in pool.imap(fetch, 1..=20)? {
        println!("{}", line?);
    }
    pool.close();
    pool.join()
}
// ANCHOR_END: example
