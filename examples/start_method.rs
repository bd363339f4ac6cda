//! The seed's `set_start_method` example: choose `spawn` for the whole program, then a child
//! sends `hello` back.
//!
//! ```python
//! def foo(q):
//!     q.put('hello')
//!
//! if __name__ == '__main__':
//!     mp.set_start_method('spawn')
//!     q = mp.Queue()
//!     p = mp.Process(target=foo, args=(q,))
//!     p.start()
//!     print(q.get())
//!     p.join()
//! ```

// ANCHOR: example
use procvisor::{Process, PutError, Queue, StartMethod, register, set_start_method};

fn foo(q: Queue<String>) -> Result<(), PutError<String>> {
    q.put("hello".to_string())
}
register!(foo);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    set_start_method(StartMethod::Spawn)?;
    let q = Queue::new(0)?;
    let mut p = Process::new(foo, (q.clone(),))?;
    p.start()?;
    println!("{}", q.get()?);
    p.join()?;
    Ok(())
}
// ANCHOR_END: example
