//! The seed's first Process example: a child says hello to bob.
//!
//! ```python
//! def f(name):
//!     print('hello', name)
//!
//! if __name__ == '__main__':
//!     p = Process(target=f, args=('bob',))
//!     p.start()
//!     p.join()
//! ```

// ANCHOR: example
use procvisor::{Process, register};

fn f(name: String) {
    println!("hello {name}");
}
register!(f);

fn main() -> Result<(), procvisor::ProcessError> {
    let mut p = Process::new(f, ("bob".to_string(),))?;
    p.start()?;
    p.join()?;
    Ok(())
}
// ANCHOR_END: example
