//! The resource tracker: named shared-memory segments a program created and did not unlink are
//! unlinked when the program ends, even when it crashed; so are the private directories that
//! hold its default listener sockets.
//!
//! The tracker is this program's binary executed again and diverted before `main` (a
//! constructor below). It reads registrations from a pipe whose write end every process of the
//! program holds: the process that started it, its forked children (which inherit it) and its
//! spawned children (the runtime hands them a duplicate). When the last write end closes (every
//! process has exited, normally or not) the tracker sees end of file, unlinks what is still
//! registered, warns about it as Python's tracker does, and exits. It ignores SIGINT and
//! SIGTERM so that a Ctrl-C of the program does not stop the clean-up.
//!
//! Only creation registers: attaching to a segment someone else created never does, so a
//! process that merely uses a segment cannot cause it to be unlinked when it exits (CPython's
//! gh-82300). Registrations are single `write`s shorter than `PIPE_BUF`, so lines from many
//! processes never interleave.

use std::collections::BTreeSet;
use std::io::{self, BufRead, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;

const TRACKER_ENV: &str = "PROCVISOR_RESOURCE_TRACKER";

/// The tracker client of this process: the write end, and what this process registered.
struct Client {
    pipe: Option<std::fs::File>,
    registered: BTreeSet<String>,
}

static CLIENT: Mutex<Client> = Mutex::new(Client {
    pipe: None,
    registered: BTreeSet::new(),
});

fn client() -> std::sync::MutexGuard<'static, Client> {
    CLIENT.lock().unwrap_or_else(|p| p.into_inner())
}

/// Registers `name` (an shm name without the leading `/`) for clean-up at the program's end.
pub(crate) fn register(name: &str) -> io::Result<()> {
    let mut client = client();
    client.registered.insert(name.to_string());
    send(&mut client, 'R', name)
}

/// Registers `dir`, a private directory of listener sockets, for removal at the program's end
/// (quietly: a directory its process removed itself is simply gone by then).
fn register_directory(dir: &std::path::Path) {
    let Some(path) = dir.to_str().filter(|p| !p.contains('\n')) else {
        return;
    };
    let mut client = client();
    let entry = format!("{DIRECTORY}{path}");
    client.registered.insert(entry.clone());
    let _ = send(&mut client, 'R', &entry);
}

/// Marks a registration as a directory rather than a shared-memory name (which never holds a
/// `/`).
const DIRECTORY: &str = "dir:";

#[used]
#[unsafe(link_section = ".init_array")]
static WATCH_PRIVATE_DIRS: extern "C" fn() = watch_private_dirs;

/// Every process of a program that links this crate has its private directories tracked.
extern "C" fn watch_private_dirs() {
    procvisor_wire::watch_private_dirs(register_directory);
}

/// Forgets `name` (it was unlinked).
pub(crate) fn unregister(name: &str) {
    let mut client = client();
    if client.registered.remove(name) {
        let _ = send(&mut client, 'U', name);
    }
}

fn send(client: &mut Client, op: char, name: &str) -> io::Result<()> {
    let line = format!("{op} {name}\n");
    if line.len() > 512 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "shared memory name too long for the tracker",
        ));
    }
    for _ in 0..2 {
        let Some(pipe) = client.pipe.as_mut() else {
            if op == 'U' {
                // No tracker knows the name: nothing to take back.
                return Ok(());
            }
            // A new tracker (first use, or the old one died): tell it everything this process
            // holds, which includes `name`.
            let mut pipe = start()?;
            for registered in &client.registered {
                pipe.write_all(format!("R {registered}\n").as_bytes())?;
            }
            client.pipe = Some(pipe);
            return Ok(());
        };
        match pipe.write_all(line.as_bytes()) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => client.pipe = None,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("cannot reach the resource tracker"))
}

/// A duplicate of this process's tracker pipe, for a spawned child to adopt (`None` when this
/// process never started or inherited one).
pub fn inheritable() -> Option<procvisor_wire::SharedFd> {
    let client = client();
    let pipe = client.pipe.as_ref()?;
    procvisor_wire::SharedFd::duplicate(pipe.as_fd()).ok()
}

/// Makes `fd` (from [`inheritable`] in the parent) this process's tracker pipe.
pub fn adopt(fd: procvisor_wire::SharedFd) {
    if let Ok(owned) = fd.try_clone_owned() {
        client().pipe = Some(std::fs::File::from(owned));
    }
}

/// Starts a tracker and returns the write end of its pipe.
fn start() -> io::Result<std::fs::File> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let fd = read.as_raw_fd();
    let mut command = std::process::Command::new("/proc/self/exe");
    command
        .env(TRACKER_ENV, fd.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    use std::os::unix::process::CommandExt;
    // SAFETY: the hook runs between fork and exec; fcntl and setsid are async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                return Err(io::Error::last_os_error());
            }
            // Its own session: a terminal's signals to the program's group do not reach it.
            libc::setsid();
            Ok(())
        });
    }
    let child = command.spawn()?;
    drop(read);
    // The tracker outlives this process on purpose; whoever survives reaps it (init, in the end).
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
    Ok(std::fs::File::from(write))
}

/// Removes a private socket directory and the sockets in it (nothing else lives there).
fn remove_directory(dir: &std::path::Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

#[used]
#[unsafe(link_section = ".init_array")]
static TRACKER_BOOTSTRAP: extern "C" fn() = tracker_bootstrap;

extern "C" fn tracker_bootstrap() {
    let Some(fd) = std::env::var(TRACKER_ENV)
        .ok()
        .and_then(|v| v.parse::<i32>().ok())
    else {
        return;
    };
    // SAFETY: constructors run single-threaded, before main; the marker must not leak on.
    unsafe { std::env::remove_var(TRACKER_ENV) };
    // SAFETY: ignoring signals has no preconditions.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    // SAFETY: the parent made this descriptor inheritable for us; we own it now.
    let pipe = unsafe { OwnedFd::from_raw_fd(fd) };
    let _ = std::panic::catch_unwind(|| serve(pipe));
    // SAFETY: exit without running anything of `main`'s world.
    unsafe { libc::_exit(0) };
}

fn serve(pipe: OwnedFd) {
    let mut names = BTreeSet::new();
    for line in io::BufReader::new(std::fs::File::from(pipe)).lines() {
        let Ok(line) = line else { break };
        match line.split_once(' ') {
            Some(("R", name)) => {
                names.insert(name.to_string());
            }
            Some(("U", name)) => {
                names.remove(name);
            }
            _ => {}
        }
    }
    let directories: Vec<String> = names
        .iter()
        .filter_map(|n| n.strip_prefix(DIRECTORY).map(str::to_string))
        .collect();
    names.retain(|n| !n.starts_with(DIRECTORY));
    for dir in directories {
        remove_directory(std::path::Path::new(&dir));
    }
    if names.is_empty() {
        return;
    }
    eprintln!(
        "procvisor resource tracker: there appear to be {} leaked shared_memory objects to clean up at shutdown",
        names.len()
    );
    for name in names {
        if let Err(e) = nix::sys::mman::shm_unlink(format!("/{name}").as_str()) {
            eprintln!("procvisor resource tracker: '{name}': {e}");
        }
    }
}
