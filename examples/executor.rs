//! Python's `concurrent.futures` example: which of six large numbers are prime, on a
//! `ProcessPoolExecutor`; then the same calls submitted one by one and taken as they finish.
//!
//! ```python
//! import concurrent.futures
//! import math
//!
//! PRIMES = [112272535095293, 112582705942171, 112272535095293,
//!           115280095190773, 115797848077099, 1099726899285419]
//!
//! def is_prime(n):
//!     if n < 2:
//!         return False
//!     if n == 2:
//!         return True
//!     if n % 2 == 0:
//!         return False
//!     sqrt_n = int(math.floor(math.sqrt(n)))
//!     for i in range(3, sqrt_n + 1, 2):
//!         if n % i == 0:
//!             return False
//!     return True
//!
//! def main():
//!     with concurrent.futures.ProcessPoolExecutor() as executor:
//!         for number, prime in zip(PRIMES, executor.map(is_prime, PRIMES)):
//!             print('%d is prime: %s' % (number, prime))
//!
//! if __name__ == '__main__':
//!     main()
//! ```

// ANCHOR: example
use procvisor::futures::{ProcessPoolExecutor, as_completed};
use procvisor::{PoolError, cpu_count, register};

const PRIMES: [u64; 6] = [
    112272535095293,
    112582705942171,
    112272535095293,
    115280095190773,
    115797848077099,
    1099726899285419,
];

fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n == 2 {
        return true;
    }
    if n % 2 == 0 {
        return false;
    }
    let sqrt_n = (n as f64).sqrt().floor() as u64;
    (3..=sqrt_n).step_by(2).all(|i| n % i != 0)
}
register!(is_prime);

fn main() -> Result<(), PoolError> {
    let executor = ProcessPoolExecutor::new(cpu_count())?;
    for (number, prime) in PRIMES.iter().zip(executor.map(is_prime, PRIMES)?) {
        println!(
            "{number} is prime: {}",
            if prime? { "True" } else { "False" }
        );
    }

    // The same, one future per number, taken in the order they finish.
    let futures = PRIMES
        .iter()
        .map(|&n| executor.submit(is_prime, (n,)))
        .collect::<Result<Vec<_>, _>>()?;
    let primes = as_completed(&futures)
        .filter(|future| matches!(future.result(), Ok(true)))
        .count();
    println!("{primes} of {} are prime", futures.len());
    executor.shutdown()
}
// ANCHOR_END: example
