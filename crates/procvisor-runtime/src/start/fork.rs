//! The `fork` start method: fork the calling process and run the target in the copy.
//!
//! The copy has one thread, the one that forked. It never touches what the parent's other
//! threads were doing: it installs a node of its own, lazily starts a runtime of its own if it
//! needs one, and closes the parent's links. Locks that another thread held at the instant of
//! the fork stay held in the copy forever, so the fork happens while this thread holds the
//! standard output and error locks (the ones a child is most likely to take); any other lock
//! in user code remains the documented hazard of `fork` in a multi-threaded program.

use super::{Launch, Launched};
use crate::context::StartMethod;
use crate::identity::Identity;
use crate::node::{self, node};
use procvisor_wire::Connection;
use std::io;
use std::os::fd::RawFd;

pub(super) fn fork_child(
    identity: Identity,
    launch: Launch,
    parent_end: RawFd,
    child_end: Connection,
    log_level: u8,
) -> io::Result<Launched> {
    let parent_pid = std::process::id() as i32;
    // Built before the fork: every allocation the child makes is a page it has to copy.
    let prepared = node::prepare_child(identity, StartMethod::Fork, child_end, log_level);
    crate::stack_overflow::prepare();
    let stdout = std::io::stdout().lock();
    let stderr = std::io::stderr().lock();
    // SAFETY: the child branch below calls only functions that are safe after a fork in a
    // multi-threaded process, given that it never uses the parent's runtime, actors or node
    // (see the module documentation for the remaining user-level hazard).
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => {
            drop(stdout);
            drop(stderr);
            // SAFETY: the parent's end of this child's link belongs to the parent's objects,
            // which this copy never drops. It is on the list closed just below too, but that
            // list is skipped when its lock was held at the fork; closing twice here, where no
            // other thread can open a descriptor in between, at worst fails with EBADF.
            unsafe { libc::close(parent_end) };
            node().close_parent_descriptors_after_fork();
            if crate::sys::die_with_parent(parent_pid).is_err() {
                crate::sys::exit_now(1);
            }
            redirect_stdin_to_null();
            let node = node::install(prepared);
            let _forwarding =
                crate::logging::forward_to_parent_on_this_thread(node.parent_log_level);
            crate::panics::install_hook();
            let outcome = match launch {
                Launch::Registered { args, run, .. } => run(&args),
                Launch::Closure(body) => body(),
            };
            crate::bootstrap::finish(outcome)
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(stdout);
            drop(stderr);
            // The child's copy of the link end is its own; ours closes here.
            drop(prepared);
            let pidfd = crate::sys::pidfd_open(child.as_raw())?;

            Ok(Launched {
                pid: child.as_raw() as u32,
                pidfd,
            })
        }
    }
}

/// Python's children read from `/dev/null`, not the parent's terminal.
fn redirect_stdin_to_null() {
    // SAFETY: open with a NUL-terminated static path; dup2 onto descriptor 0 replaces this
    // process's stdin; the temporary descriptor is closed after. No allocation: every page a
    // forked child touches is a copy.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::close(null);
        }
    }
}
