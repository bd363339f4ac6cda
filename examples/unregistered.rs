//! The seed's interactive-shell failure, in Rust: a function the children cannot find.
//!
//! In Python's interactive shell, `Pool(5).map(f, [1, 2, 3])` fails in every worker with
//! `AttributeError: 'module' object has no attribute 'f'` and the pool hangs. Here the function
//! simply was not registered, and the call fails at once, in the parent, with the fix.

// ANCHOR: example
use procvisor::Process;

fn f(x: i64) -> i64 {
    x * x
}
// Missing: procvisor::register!(f);

fn main() {
    match Process::new(f, (3,)) {
        Ok(_) => println!("registered after all"),
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
    }
}
// ANCHOR_END: example
