//! The seed's `get_context` example: a spawn context next to the default one.
//!
//! ```python
//! def foo(q):
//!     q.put('hello')
//!
//! if __name__ == '__main__':
//!     ctx = mp.get_context('spawn')
//!     q = ctx.Queue()
//!     p = ctx.Process(target=foo, args=(q,))
//!     p.start()
//!     print(q.get())
//!     p.join()
//! ```

// ANCHOR: example
use procvisor::{Process, PutError, Queue, StartMethod, get_context, register};

fn foo(q: Queue<String>) -> Result<(), PutError<String>> {
    q.put("hello".to_string())
}
register!(foo);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ctx = get_context(StartMethod::Spawn);
    let q = Queue::new(0)?;
    let mut p = Process::new(foo, (q.clone(),))?.with_context(ctx);
    p.start()?;
    println!("{}", q.get()?);
    p.join()?;
    Ok(())
}
// ANCHOR_END: example
