//! The seed's second Process example: the parent and the child each print their module, their
//! parent's pid and their own pid.
//!
//! `module name` is Rust's `module_path!()`: the crate of the example in both processes (Python
//! prints `__main__`, or `__mp_main__` in a spawned child). `parent process` is the process that
//! started this one: `procvisor::parent_process()` in the child (its logical parent, even when
//! a fork server forked it) and the OS parent for the main process.

// ANCHOR: example
use procvisor::{Process, parent_process, register};

fn info(title: &str) {
    println!("{title}");
    println!("module name: {}", module_path!());
    let parent = parent_process().map_or_else(std::os::unix::process::parent_id, |p| p.pid());
    println!("parent process: {parent}");
    println!("process id: {}", std::process::id());
}

fn f(name: String) {
    info("function f");
    println!("hello {name}");
}
register!(f);

fn main() -> Result<(), procvisor::ProcessError> {
    info("main line");
    let mut p = Process::new(f, ("bob".to_string(),))?;
    p.start()?;
    p.join()?;
    Ok(())
}
// ANCHOR_END: example
