//! The `SharedMemoryManager` example of Python's `multiprocessing.shared_memory` docs: two
//! processes sum halves of a shareable list that a manager made, and the manager unlinks it
//! when the program leaves its scope.
//!
//! ```python
//! from multiprocessing import Process
//! from multiprocessing.managers import SharedMemoryManager
//!
//! def do_work(sl, start, stop):
//!     total = 0
//!     for i in range(start, stop):
//!         total += sl[i]
//!     sl[start] = total
//!
//! if __name__ == '__main__':
//!     with SharedMemoryManager() as smm:
//!         sl = smm.ShareableList(range(2000))
//!         p1 = Process(target=do_work, args=(sl, 0, 1000))
//!         p2 = Process(target=do_work, args=(sl, 1000, 2000))
//!         p1.start(); p2.start()
//!         p1.join(); p2.join()
//!         print(sl[0] + sl[1000])
//!     # sl's segment is unlinked here
//! ```

// ANCHOR: example
use procvisor::manager::SharedMemoryManager;
use procvisor::{Object, Process, ShareableList, SharedMemory, SharedMemoryError, register};

type Error = Box<dyn std::error::Error>;

fn int(sl: &ShareableList, i: usize) -> Result<i64, Error> {
    match sl.get(i)? {
        Object::Int(n) => Ok(n),
        other => Err(format!("item {i} is {other}, not an int").into()),
    }
}

fn do_work(sl: ShareableList, start: usize, stop: usize) -> Result<(), Error> {
    let mut total = 0;
    for i in start..stop {
        total += int(&sl, i)?;
    }
    sl.set(start, Object::Int(total))?;
    Ok(())
}
register!(do_work);

fn main() -> Result<(), Error> {
    let mut smm = SharedMemoryManager::new();
    smm.start()?;
    let items: Vec<Object> = (0..2000).map(Object::Int).collect();
    let sl = smm.shareable_list(&items)?;

    let mut p1 = Process::new(do_work, (sl.clone(), 0, 1000))?;
    let mut p2 = Process::new(do_work, (sl.clone(), 1000, 2000))?;
    p1.start()?;
    p2.start()?;
    p1.join()?;
    p2.join()?;
    println!("{}", int(&sl, 0)? + int(&sl, 1000)?); // prints "1999000"

    drop(smm); // Python's leaving `with`: every segment it made is unlinked
    let gone = matches!(
        SharedMemory::attach(sl.shm().name()),
        Err(SharedMemoryError::NotFound(_))
    );
    println!("unlinked: {gone}"); // prints "unlinked: true"
    Ok(())
}
// ANCHOR_END: example
