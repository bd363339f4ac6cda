//! The seed's Queue example: a child puts `[42, None, 'hello']` on a queue.
//!
//! ```python
//! def f(q):
//!     q.put([42, None, 'hello'])
//!
//! if __name__ == '__main__':
//!     q = Queue()
//!     p = Process(target=f, args=(q,))
//!     p.start()
//!     print(q.get())    # prints "[42, None, 'hello']"
//!     p.join()
//! ```

// ANCHOR: example
use procvisor::{Object, Process, PutError, Queue, object, register};

fn f(q: Queue<Object>) -> Result<(), PutError<Object>> {
    q.put(object!([42, None, "hello"]))
}
register!(f);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let q = Queue::new(0)?;
    let mut p = Process::new(f, (q.clone(),))?;
    p.start()?;
    println!("{}", q.get()?); // prints "[42, None, 'hello']"
    p.join()?;
    Ok(())
}
// ANCHOR_END: example
