//! The seed's Pipe example: a child sends `[42, None, 'hello']` through a pipe.
//!
//! ```python
//! def f(conn):
//!     conn.send([42, None, 'hello'])
//!     conn.close()
//!
//! if __name__ == '__main__':
//!     parent_conn, child_conn = Pipe()
//!     p = Process(target=f, args=(child_conn,))
//!     p.start()
//!     print(parent_conn.recv())   # prints "[42, None, 'hello']"
//!     p.join()
//! ```

// ANCHOR: example
use procvisor::{Connection, ConnectionError, Object, Process, object, pipe, register};

fn f(mut conn: Connection) -> Result<(), ConnectionError> {
    conn.send(&object!([42, None, "hello"]))?;
    conn.close();
    Ok(())
}
register!(f);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut parent_conn, child_conn) = pipe(true)?;
    let mut p = Process::new(f, (child_conn,))?;
    p.start()?;
    println!("{}", parent_conn.recv::<Object>()?); // prints "[42, None, 'hello']"
    p.join()?;
    Ok(())
}
// ANCHOR_END: example
