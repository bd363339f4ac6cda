//! The seed's interactive-shell failure, in Rust: a function the workers cannot find.
//!
//! In Python's interactive shell, `Pool(5).map(f, [1, 2, 3])` fails in every worker with
//! `AttributeError: 'module' object has no attribute 'f'`, three tracebacks interleave, and the
//! pool hangs until someone kills the main process. Here the function simply was not registered,
//! and the call fails at once, in the parent, with the fix in the message.

// ANCHOR: example
use procvisor::Pool;

fn f(x: i64) -> i64 {
    x * x
}
// Missing: procvisor::register!(f);

fn main() -> Result<(), procvisor::PoolError> {
    let p = Pool::new(5)?;
    match p.map(f, [1, 2, 3]) {
        Ok(squares) => println!("{squares:?}"),
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
    }
    Ok(())
}
// ANCHOR_END: example
