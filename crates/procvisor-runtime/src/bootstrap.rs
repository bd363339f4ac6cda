//! The start of a child: diverted before `main`, it becomes a node and runs its target.
//!
//! A spawned child and a fork server are this program's binary executed again with a marker in
//! the environment. A constructor in `.init_array` (run by the dynamic loader before `main`, in
//! every binary that links this crate: programs, examples, test harnesses, doctests) sees the
//! marker and runs the child or the server; it never returns to `main`. Nothing from `main` runs
//! twice, which is what Python's `if __name__ == '__main__'` guard is for.

use crate::context::StartMethod;
use crate::link::ToChild;
use crate::node::{self, CHILD_ENV, FORKSERVER_ENV};
use crate::outcome::{ChildOutcome, Failure, FailureKind};
use procvisor_wire::Connection;
use std::os::fd::{FromRawFd, OwnedFd};

#[used]
#[unsafe(link_section = ".init_array")]
static BOOTSTRAP: extern "C" fn() = bootstrap;

extern "C" fn bootstrap() {
    let child = std::env::var(CHILD_ENV).ok();
    let server = std::env::var(FORKSERVER_ENV).ok();
    if child.is_none() && server.is_none() {
        if let Some((role, value)) = crate::roles::chosen() {
            // Rust's `main` would ignore SIGPIPE; a role never gets there.
            // SAFETY: setting a signal disposition to SIG_IGN has no preconditions.
            unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
            (role.run)(value);
        }
        return;
    }
    // SAFETY: constructors run before main, while the process has a single thread, so changing
    // the environment cannot race; the markers must not leak into grandchildren.
    unsafe {
        std::env::remove_var(CHILD_ENV);
        std::env::remove_var(FORKSERVER_ENV);
    }
    // Rust's `main` would ignore SIGPIPE; these processes never get there.
    // SAFETY: setting a signal disposition to SIG_IGN has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let result = std::panic::catch_unwind(|| {
        if let Some(fd) = child.and_then(|v| v.parse::<i32>().ok()) {
            // SAFETY: the parent made this one descriptor inheritable for us; we own it now.
            let link = Connection::from_fd(unsafe { OwnedFd::from_raw_fd(fd) }, true, true);
            run_spawned(link, StartMethod::Spawn)
        } else if let Some(spec) = server {
            crate::forkserver::serve(&spec)
        }
    });
    if result.is_err() {
        crate::sys::exit_now(70);
    }
    crate::sys::exit_now(70);
}

/// A spawned or fork-served child: receive the bootstrap, become a node, run the target.
pub(crate) fn run_spawned(mut link: Connection, method: StartMethod) -> ! {
    crate::panics::install_hook();
    let bootstrap = match link.recv::<ToChild>() {
        Ok(ToChild::Bootstrap(bootstrap)) => *bootstrap,
        // The parent died (or is not procvisor) before sending anything.
        Err(_) => crate::sys::exit_now(1),
    };
    if let Some(tracker) = bootstrap.tracker {
        procvisor_sync::tracker::adopt(tracker);
    }
    let node = node::install_child(bootstrap.identity, method, link, bootstrap.log_level);
    crate::logging::forward_to_parent_globally(node.parent_log_level);
    let outcome = match crate::target::lookup(&bootstrap.target) {
        Some(registration) => (registration.run_process)(&bootstrap.args),
        None => ChildOutcome::failed(Failure::new(
            FailureKind::Unregistered,
            format!(
                "the target `{}` is not registered in this binary",
                bootstrap.target
            ),
            None,
        )),
    };
    finish(outcome)
}

/// Reports the outcome to the parent, deals with this process's own children, and exits.
pub(crate) fn finish(outcome: ChildOutcome) -> ! {
    if let Some(failure) = &outcome.failure {
        // Like the traceback Python prints for a failed Process (a panic was already printed by
        // the panic hook).
        if !failure.is_panic() {
            let name = node::node().identity().name;
            eprintln!("Process {name} (pid {}): {failure}", std::process::id());
        }
    }
    finish_quietly(outcome)
}

/// [`finish`] without printing the failure (its report goes elsewhere: an actor host's crash
/// reaches the caller and the supervisor).
pub(crate) fn finish_quietly(outcome: ChildOutcome) -> ! {
    let node = node::node();
    let code = outcome.exit_code;
    node.send_to_parent(&crate::link::ToParent::Outcome(outcome));
    crate::exit::shutdown_children();
    crate::sys::exit_now(code)
}
