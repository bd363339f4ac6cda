//! The `forkserver` start method.
//!
//! On first use a node starts a fork server: this program's binary executed again and diverted
//! before `main`, so it is single-threaded and has done nothing else. For each child the node
//! sends it the child's end of the link; the server forks, the copy becomes the child, and the
//! server answers with the pid and a pidfd. The server is the children's parent, so it reaps
//! them and reports every exit status back over a second channel.
//!
//! The channels are socketpairs: they have no address, so no other process can reach them
//! (Python's fork server listens on a filesystem path, which is why Python 3.14 had to add
//! authentication). On top of that, node and server authenticate each other with the authkey
//! handshake, the key passed through a third inherited descriptor, so a descriptor leaked by
//! mistake is still useless. Forked children close all of them.

use crate::child_record::ChildRecord;
use crate::node::{FORKSERVER_ENV, node};
use crate::outcome::ExitReason;
use crate::parent_only::ParentOnly;
use crate::start::Launched;
use procvisor_wire::{Connection, SharedFd, pipe};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Serialize, Deserialize)]
struct ForkRequest {
    link: Connection,
}

#[derive(Serialize, Deserialize)]
struct ForkReply {
    pid: u32,
    pidfd: SharedFd,
}

#[derive(Debug, Serialize, Deserialize)]
struct ExitNotice {
    pid: u32,
    reason: ExitReason,
}

/// A node's connection to its fork server.
#[derive(Debug)]
pub(crate) struct ForkserverClient {
    control: Mutex<ParentOnly>,
    /// Exit statuses that arrived before the parent recorded the child.
    early_exits: Mutex<HashMap<u32, ExitReason>>,
    alive: std::sync::atomic::AtomicBool,
}

/// The node's fork server client, starting the server on first use (or again if it died).
pub(crate) fn client() -> io::Result<Arc<ForkserverClient>> {
    let node = node();
    let mut slot = node.forkserver.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(client) = slot
        .as_ref()
        .filter(|c| c.alive.load(std::sync::atomic::Ordering::Acquire))
    {
        return Ok(client.clone());
    }
    let client = node.launcher().run(start_server)?;
    *slot = Some(client.clone());
    Ok(client)
}

/// Delivers an exit status that arrived before the record existed.
pub(crate) fn attach(record: &ChildRecord) {
    let node = node();
    let slot = node.forkserver.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(client) = slot.as_ref() {
        if let Some(reason) = client
            .early_exits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&record.pid)
        {
            record.set_exit(reason);
        }
    }
}

impl ForkserverClient {
    /// Asks the server for a child whose link end is `link`.
    pub(crate) fn fork(&self, link: Connection) -> io::Result<Launched> {
        let mut control = self.control.lock().unwrap_or_else(|p| p.into_inner());
        let sent = control
            .send(&ForkRequest { link })
            .and_then(|()| control.recv::<Result<ForkReply, String>>());
        match sent {
            Ok(Ok(reply)) => Ok(Launched {
                pid: reply.pid,
                pidfd: reply.pidfd.try_clone_owned()?,
            }),
            Ok(Err(message)) => Err(io::Error::other(format!(
                "the fork server could not fork: {message}"
            ))),
            Err(e) => {
                self.alive
                    .store(false, std::sync::atomic::Ordering::Release);
                Err(io::Error::other(format!(
                    "the fork server is gone ({e}); the next start launches a new one"
                )))
            }
        }
    }
}

fn start_server() -> io::Result<Arc<ForkserverClient>> {
    let (mut control, control_server) = pipe(true)?;
    let (status, status_server) = pipe(true)?;
    let (key_server, mut key_writer) = pipe(false)?;
    let mut key = [0_u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut key))?;

    let fds = [
        control_server.as_raw_fd(),
        status_server.as_raw_fd(),
        key_server.as_raw_fd(),
    ];
    let parent_pid = std::process::id() as i32;
    let (mut command, path) = crate::executable::command();
    command
        .env(FORKSERVER_ENV, format!("{},{},{}", fds[0], fds[1], fds[2]))
        .stdin(Stdio::null());
    // SAFETY: the hook runs between fork and exec and calls only async-signal-safe functions
    // (fcntl, prctl, getppid, _exit).
    unsafe {
        command.pre_exec(move || {
            for fd in fds {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(io::Error::last_os_error());
                }
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
    let server = command
        .spawn()
        .map_err(|e| crate::executable::explain(e, &path))?;
    let server_pid = server.id();
    drop(server);
    drop((control_server, status_server, key_server));
    let pidfd = crate::sys::pidfd_open(server_pid as i32)?;
    spawn_reaper_of_server(pidfd);

    key_writer.send_bytes(&key).map_err(io::Error::other)?;
    drop(key_writer);
    procvisor_wire::authenticate_as_client(&mut control, &key, Some(HANDSHAKE_TIMEOUT)).map_err(
        |e| {
            io::Error::other(format!(
                "the fork server ({}) did not answer: {e}; a binary set with set_executable must be a build of this program",
                path.display()
            ))
        },
    )?;
    // The server runs the preload functions before it forks anything, and says how it went.
    control
        .send(&crate::preload::names())
        .and_then(|()| control.recv::<Result<(), String>>())
        .map_err(|e| io::Error::other(format!("the fork server died while preloading: {e}")))?
        .map_err(|message| io::Error::other(format!("fork server preload: {message}")))?;

    let node = node();
    let mut status = ParentOnly::new(status);
    let client = Arc::new(ForkserverClient {
        control: Mutex::new(ParentOnly::new(control)),
        early_exits: Mutex::new(HashMap::new()),
        alive: std::sync::atomic::AtomicBool::new(true),
    });
    let reader_client = client.clone();
    node.runtime().spawn(async move {
        while let Ok(notice) = status.recv_async::<ExitNotice>().await {
            deliver(&reader_client, notice);
        }
        // The server is gone, and with it (parent-death signal) its children: they were killed.
        reader_client
            .alive
            .store(false, std::sync::atomic::Ordering::Release);
        let node = crate::node::node();
        for record in node.children.all() {
            if record.reaper == crate::child_record::Reaper::Forkserver
                && record.exit().is_none()
                && crate::sys::poll_readable(record.pidfd.as_fd(), Some(Duration::from_secs(5)))
            {
                record.set_exit(ExitReason::Signal(libc::SIGKILL));
            }
        }
    });
    Ok(client)
}

/// The fork server is our own child: reap it when it exits so it never lingers as a zombie.
fn spawn_reaper_of_server(pidfd: OwnedFd) {
    node().runtime().spawn(async move {
        // SAFETY: the AsyncFd owns the pidfd, so it stays open for its whole life; this runs on
        // the node's runtime, so registration cannot panic.
        if let Ok(registered) = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE)
        } {
            let _ = registered.readable().await;
            let _ = crate::sys::try_reap(registered.get_ref().as_fd());
        }
    });
}

fn deliver(client: &ForkserverClient, notice: ExitNotice) {
    let mut early = client.early_exits.lock().unwrap_or_else(|p| p.into_inner());
    match node().children.get(notice.pid) {
        Some(record) => record.set_exit(notice.reason),
        None => {
            early.insert(notice.pid, notice.reason);
        }
    }
}

/// The fork server's main loop. Runs in the re-executed binary, before `main`.
pub(crate) fn serve(spec: &str) -> ! {
    let fds: Vec<i32> = spec.split(',').filter_map(|f| f.parse().ok()).collect();
    let [control, status, key] = fds[..] else {
        crate::sys::exit_now(2)
    };
    // SAFETY: the parent made exactly these three descriptors inheritable for us.
    let (mut control, mut status, mut key) = unsafe {
        (
            Connection::from_fd(OwnedFd::from_raw_fd(control), true, true),
            Connection::from_fd(OwnedFd::from_raw_fd(status), true, true),
            Connection::from_fd(OwnedFd::from_raw_fd(key), true, false),
        )
    };
    // Ctrl-C in a terminal goes to the whole process group; the server ends with its parent, so
    // it keeps SIGINT blocked (pending for ever). Blocked, not ignored: a child inherits the
    // mask, and a SIGINT sent to it before it unblocks stays pending instead of being lost
    // (an ignored signal is discarded, so an early `interrupt()` would do nothing).
    let mut interrupts = nix::sys::signal::SigSet::empty();
    interrupts.add(nix::sys::signal::Signal::SIGINT);
    let _ = interrupts.thread_block();
    let Ok(secret) = key.recv_bytes(Some(64)) else {
        crate::sys::exit_now(2)
    };
    drop(key);
    if procvisor_wire::authenticate_as_listener(&mut control, &secret, Some(HANDSHAKE_TIMEOUT))
        .is_err()
    {
        crate::sys::exit_now(2);
    }
    let Ok(preload) = control.recv::<Vec<String>>() else {
        crate::sys::exit_now(2)
    };
    // Made here once, so that no child has to make them (see `target::index` and
    // `stack_overflow::prepare`).
    crate::target::index_lookups();
    crate::stack_overflow::prepare();
    let preloaded = crate::preload::run(&preload);
    let failed = preloaded.is_err();
    if control.send(&preloaded).is_err() || failed {
        crate::sys::exit_now(2);
    }
    let server_pid = std::process::id() as i32;
    let mut mask = nix::sys::signal::SigSet::empty();
    mask.add(nix::sys::signal::Signal::SIGCHLD);
    let _ = mask.thread_block();
    let Ok(signals) = nix::sys::signalfd::SignalFd::with_flags(
        &mask,
        nix::sys::signalfd::SfdFlags::SFD_CLOEXEC | nix::sys::signalfd::SfdFlags::SFD_NONBLOCK,
    ) else {
        crate::sys::exit_now(2)
    };
    loop {
        let ready = procvisor_wire::wait(&[control.as_fd(), signals.as_fd()]).unwrap_or_default();
        if ready.contains(&1) {
            while let Ok(Some(_)) = signals.read_signal() {}
            reap_children(&mut status);
        }
        if ready.contains(&0) {
            let Ok(request) = control.recv::<ForkRequest>() else {
                // The node is gone; the children follow through their parent-death signal.
                crate::sys::exit_now(0);
            };
            // SAFETY: the server is single-threaded (it never started a runtime or a thread), so
            // the child may do anything after the fork.
            match unsafe { nix::unistd::fork() } {
                Ok(nix::unistd::ForkResult::Child) => {
                    // SAFETY: closing the server's copies of its own descriptors in the child.
                    unsafe {
                        libc::close(control.as_raw_fd());
                        libc::close(status.as_raw_fd());
                        libc::close(signals.as_raw_fd());
                    }
                    std::mem::forget((control, status, signals));
                    let _ = mask.thread_unblock();
                    let _ = interrupts.thread_unblock();
                    if crate::sys::die_with_parent(server_pid).is_err() {
                        crate::sys::exit_now(1);
                    }
                    crate::bootstrap::run_spawned(
                        request.link,
                        crate::context::StartMethod::Forkserver,
                    )
                }
                Ok(nix::unistd::ForkResult::Parent { child }) => {
                    let reply = crate::sys::pidfd_open(child.as_raw())
                        .map(|pidfd| ForkReply {
                            pid: child.as_raw() as u32,
                            pidfd: SharedFd::new(pidfd),
                        })
                        .map_err(|e| e.to_string());
                    drop(request);
                    if control.send(&reply).is_err() {
                        crate::sys::exit_now(0);
                    }
                }
                Err(e) => {
                    let reply: Result<ForkReply, String> = Err(e.to_string());
                    if control.send(&reply).is_err() {
                        crate::sys::exit_now(0);
                    }
                }
            }
        }
    }
}

fn reap_children(status: &mut Connection) {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    loop {
        let notice = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => ExitNotice {
                pid: pid.as_raw() as u32,
                reason: ExitReason::Code(code),
            },
            Ok(WaitStatus::Signaled(pid, signal, _)) => ExitNotice {
                pid: pid.as_raw() as u32,
                reason: ExitReason::Signal(signal as i32),
            },
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => continue,
        };
        if status.send(&notice).is_err() {
            crate::sys::exit_now(0);
        }
    }
}
