//! The seed's Manager example: a dict and a list held by a manager process, changed by a
//! child process through proxies.
//!
//! ```python
//! from multiprocessing import Process, Manager
//!
//! def f(d, l):
//!     d[1] = '1'
//!     d['2'] = 2
//!     d[0.25] = None
//!     l.reverse()
//!
//! if __name__ == '__main__':
//!     with Manager() as manager:
//!         d = manager.dict()
//!         l = manager.list(range(10))
//!
//!         p = Process(target=f, args=(d, l))
//!         p.start()
//!         p.join()
//!
//!         print(d)
//!         print(l)
//! ```
//!
//! The seed prints `{0.25: None, 1: '1', '2': 2}`: Python's dicts had no order before 3.7.
//! A manager's dict keeps insertion order, as Python's does since, so this `f` sets `0.25`
//! first to print the same line.

// ANCHOR: example
use procvisor::{DictProxy, ListProxy, Manager, Object, Process, register};

fn f(d: DictProxy<Object, Object>, l: ListProxy<i64>) -> Result<(), procvisor::ManagerError> {
    d.set(Object::Float(0.25), Object::None)?;
    d.set(Object::Int(1), Object::from("1"))?;
    d.set(Object::from("2"), Object::Int(2))?;
    l.reverse()
}
register!(f);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manager = Manager::start()?;
    let d = manager.dict::<Object, Object>()?;
    let l = manager.list_from(0..10)?;

    let mut p = Process::new(f, (d.clone(), l.clone()))?;
    p.start()?;
    p.join()?;

    println!("{}", d.to_object()?); // prints "{0.25: None, 1: '1', '2': 2}"
    println!("{:?}", l.to_vec()?); // prints "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]"
    Ok(())
}
// ANCHOR_END: example
