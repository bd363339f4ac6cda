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
use procvisor::{
    Connection, ConnectionError, Process, StartMethod, pipe, register, set_start_method,
};

fn foo(mut conn: Connection) -> Result<(), ConnectionError> {
    conn.send("hello")
}
register!(foo);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    set_start_method(StartMethod::Spawn)?;
    let (mut parent_conn, child_conn) = pipe(true)?;
    let mut p = Process::new(foo, (child_conn,))?;
    p.start()?;
    println!("{}", parent_conn.recv::<String>()?);
    p.join(None)?;
    Ok(())
}
// ANCHOR_END: example
