//! The seed's first example: a pool of five workers squares `[1, 2, 3]`.
//!
//! ```python
//! from multiprocessing import Pool
//!
//! def f(x):
//!     return x*x
//!
//! if __name__ == '__main__':
//!     with Pool(5) as p:
//!         print(p.map(f, [1, 2, 3]))
//! ```

// ANCHOR: example
use procvisor::{Pool, PoolError, register};

fn f(x: i64) -> i64 {
    x * x
}
register!(f);

fn main() -> Result<(), PoolError> {
    let p = Pool::new(5)?;
    println!("{:?}", p.map(f, [1, 2, 3])?); // prints "[1, 4, 9]"
    Ok(())
}
// ANCHOR_END: example
