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
use procvisor::{Connection, ConnectionError, Process, StartMethod, get_context, pipe, register};

fn foo(mut conn: Connection) -> Result<(), ConnectionError> {
    conn.send("hello")
}
register!(foo);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ctx = get_context(StartMethod::Spawn);
    let (mut parent_conn, child_conn) = pipe(true)?;
    let mut p = Process::new(foo, (child_conn,))?.with_context(ctx);
    p.start()?;
    println!("{}", parent_conn.recv::<String>()?);
    p.join(None)?;
    Ok(())
}
// ANCHOR_END: example
