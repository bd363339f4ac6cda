//! The seed's tour of a pool: `map`, `imap_unordered`, `apply_async`, a worker's pid, several
//! tasks at once, and a result waited for with a timeout while the pool stays usable.
//!
//! ```python
//! from multiprocessing import Pool, TimeoutError
//! import time
//! import os
//!
//! def f(x):
//!     return x*x
//!
//! if __name__ == '__main__':
//!     # start 4 worker processes
//!     with Pool(processes=4) as pool:
//!
//!         # print "[0, 1, 4,..., 81]"
//!         print(pool.map(f, range(10)))
//!
//!         # print same numbers in arbitrary order
//!         for i in pool.imap_unordered(f, range(10)):
//!             print(i)
//!
//!         # evaluate "f(20)" asynchronously
//!         res = pool.apply_async(f, (20,))      # runs in *only* one process
//!         print(res.get(timeout=1))             # prints "400"
//!
//!         # evaluate "os.getpid()" asynchronously
//!         res = pool.apply_async(os.getpid, ()) # runs in *only* one process
//!         print(res.get(timeout=1))             # prints the PID of that process
//!
//!         # launching multiple evaluations asynchronously *may* use more processes
//!         multiple_results = [pool.apply_async(os.getpid, ()) for i in range(4)]
//!         print([res.get(timeout=1) for res in multiple_results])
//!
//!         # make a single worker sleep for 10 secs
//!         res = pool.apply_async(time.sleep, (10,))
//!         try:
//!             print(res.get(timeout=1))
//!         except TimeoutError:
//!             print("We lacked patience and got a multiprocessing.TimeoutError")
//!
//!         print("For the moment, the pool remains available for more work")
//!
//!     # exiting the 'with'-block has stopped the pool
//!     print("Now the pool is closed and no longer available")
//! ```

// ANCHOR: example
use procvisor::{Pool, PoolError, register};
use std::time::Duration;

fn f(x: i64) -> i64 {
    x * x
}

fn getpid() -> u32 {
    std::process::id()
}

fn sleep(secs: u64) {
    std::thread::sleep(Duration::from_secs(secs));
}

register!(f, getpid, sleep);

fn main() -> Result<(), PoolError> {
    let timeout = Duration::from_secs(1);
    {
        // start 4 worker processes
        let pool = Pool::new(4)?;

        // print "[0, 1, 4,..., 81]"
        println!("{:?}", pool.map(f, 0..10)?);

        // print same numbers in arbitrary order
        for i in pool.imap_unordered(f, 0..10)? {
            println!("{}", i?);
        }

        // evaluate "f(20)" asynchronously
        let res = pool.apply_async(f, (20,))?; // runs in *only* one process
        println!("{}", res.get_timeout(timeout)?); // prints "400"

        // evaluate "getpid()" asynchronously
        let res = pool.apply_async(getpid, ())?; // runs in *only* one process
        println!("{}", res.get_timeout(timeout)?); // prints the PID of that process

        // launching multiple evaluations asynchronously *may* use more processes
        let multiple_results = (0..4)
            .map(|_| pool.apply_async(getpid, ()))
            .collect::<Result<Vec<_>, _>>()?;
        let pids = multiple_results
            .iter()
            .map(|res| res.get_timeout(timeout))
            .collect::<Result<Vec<_>, _>>()?;
        println!("{pids:?}");

        // make a single worker sleep for 10 secs
        let res = pool.apply_async(sleep, (10,))?;
        match res.get_timeout(timeout) {
            Ok(()) => println!("()"),
            Err(PoolError::Timeout) => {
                println!("We lacked patience and got a multiprocessing.TimeoutError")
            }
            Err(other) => return Err(other),
        }

        println!("For the moment, the pool remains available for more work");
        // (It is: the other three workers are idle.)
        assert_eq!(pool.apply(f, (3,))?, 9);
    }
    // leaving the block dropped the pool, which stopped it (the sleeping worker too)
    println!("Now the pool is closed and no longer available");
    Ok(())
}
// ANCHOR_END: example
