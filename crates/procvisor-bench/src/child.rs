//! Child processes of the benchmarks: this binary re-executed with `--child ROLE FD`, the one
//! inherited socket on `FD`.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, Command, ExitCode};

/// The child role named on the command line, if this process is a benchmark child.
pub(crate) fn role(args: &[String]) -> Option<&str> {
    match args {
        [flag, role, ..] if flag == "--child" => Some(role.as_str()),
        _ => None,
    }
}

/// Runs the child role and exits.
pub(crate) fn run(role: &str) -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let fd: i32 = args
        .get(3)
        .and_then(|a| a.parse().ok())
        .expect("--child ROLE FD");
    // SAFETY: the parent cleared close-on-exec on exactly this descriptor for us and nothing else
    // in this process owns it.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let extra: Vec<u64> = args[4..]
        .iter()
        .map(|a| a.parse().expect("numeric argument"))
        .collect();
    match crate::workloads::child_role(role, socket, &extra) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench child {role}: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Starts this binary as a child in `role`, handing it `socket`.
pub(crate) fn spawn(role: &str, socket: OwnedFd, extra: &[u64]) -> std::io::Result<Child> {
    procvisor::wire::set_close_on_exec(socket.as_fd(), false)?;
    let mut command = Command::new(std::env::current_exe()?);
    command
        .arg("--child")
        .arg(role)
        .arg(socket.as_raw_fd().to_string());
    command.args(extra.iter().map(u64::to_string));
    let child = command.spawn();
    drop(socket);
    child
}

/// Waits for a child and turns a failure into an error message.
pub(crate) fn finish(mut child: Child, what: &str) -> Result<(), String> {
    let status = child.wait().map_err(|e| format!("{what}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what}: child exited with {status}"))
    }
}
