//! The `spawn` start method: execute this program's binary again, with the link as the one
//! inherited descriptor. The bootstrap constructor diverts the new process before `main`.

use super::Launched;
use crate::node::CHILD_ENV;
use procvisor_wire::Connection;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::Stdio;

pub(super) fn spawn_child(child_end: Connection) -> io::Result<Launched> {
    let fd = child_end.fileno().map_err(io::Error::other)?;
    let parent_pid = std::process::id() as i32;
    let (mut command, path) = crate::executable::command();
    command.env(CHILD_ENV, fd.to_string()).stdin(Stdio::null());
    // SAFETY: the hook runs in the child between fork and exec, where only async-signal-safe
    // functions may be called: fcntl, prctl, getppid and _exit are.
    unsafe {
        command.pre_exec(move || {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) < 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent_pid {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let child = command
        .spawn()
        .map_err(|e| crate::executable::explain(e, &path))?;
    let pid = child.id();
    // Dropping std's handle neither waits nor kills; the pidfd is how we track the child now.
    drop(child);
    let pidfd = crate::sys::pidfd_open(pid as i32)?;
    drop(child_end);
    Ok(Launched { pid, pidfd })
}
