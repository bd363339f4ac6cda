//! A shared-memory manager's segments: made in the manager process on a client's request,
//! remembered, and unlinked when the manager stops, however it is told to: a shutdown, its
//! owner's exit (which terminates it), or its owner's death (the parent-death signal, made
//! SIGTERM here so that it can be caught). Python's `SharedMemoryServer`.

use crate::error::remote;
use procvisor_sync::{ShareableList, SharedMemory, SharedMemoryError};
use procvisor_wire::Object;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};

/// What a manager process that serves segments is told at its start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SegmentPlan {}

/// The names of the segments this manager process made and has not unlinked.
static TRACKED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

fn tracked() -> std::sync::MutexGuard<'static, BTreeSet<String>> {
    TRACKED.lock().unwrap_or_else(|p| p.into_inner())
}

fn describe(e: &SharedMemoryError) -> String {
    match e {
        SharedMemoryError::InvalidSize => remote("ValueError", e),
        _ => remote("OSError", e),
    }
}

/// A new segment of `size` bytes: its name.
pub(crate) fn create(size: usize) -> Result<String, String> {
    let shm = SharedMemory::create(size).map_err(|e| describe(&e))?;
    tracked().insert(shm.name().to_string());
    Ok(shm.name().to_string())
}

/// A new shareable list holding `items`: its segment's name.
pub(crate) fn create_list(items: &[Object]) -> Result<String, String> {
    let list = ShareableList::new(items).map_err(|e| match e {
        procvisor_sync::ShareableListError::Unsupported(_) => remote("TypeError", e),
        other => remote("OSError", other),
    })?;
    let name = list.shm().name().to_string();
    tracked().insert(name.clone());
    Ok(name)
}

/// The segments made here that are still linked.
pub(crate) fn names() -> Vec<String> {
    tracked().iter().cloned().collect()
}

/// Unlinks every segment made here (one a client unlinked already is simply gone).
pub(crate) fn unlink_all() {
    let names = std::mem::take(&mut *tracked());
    for name in names {
        match SharedMemory::attach(&name).map(|shm| shm.unlink()) {
            Ok(Ok(()) | Err(SharedMemoryError::NotFound(_)))
            | Err(SharedMemoryError::NotFound(_)) => {}
            Ok(Err(e)) | Err(e) => {
                tracing::warn!(target: "procvisor::manager", %name, %e, "cannot unlink a shared memory segment");
            }
        }
    }
}

/// The write end of the pipe the SIGTERM handler wakes the stopper with.
static WAKE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sigterm(_: libc::c_int) {
    let fd = WAKE.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; one byte from a static to a pipe we own.
        unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) };
    }
}

/// Makes this manager process unlink its segments before it ends on SIGTERM, which it now
/// also receives when its parent dies (instead of SIGKILL, which no one can catch), and
/// makes it ignore SIGINT, as Python's does (bpo-36368): a Ctrl-C stops the program, whose
/// end stops the manager.
///
/// # Errors
///
/// When the pipe, the thread or the signal disposition cannot be set up.
pub(crate) fn unlink_when_stopped() -> std::io::Result<()> {
    let mut fds = [-1; 2];
    // SAFETY: pipe2 writes two descriptors into the array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let [read, write] = fds;
    WAKE.store(write, Ordering::Relaxed);
    std::thread::Builder::new()
        .name("procvisor-segments-stopper".into())
        .spawn(move || {
            let mut byte = 0u8;
            // Returns when the handler writes; a read interrupted by a signal is retried.
            // SAFETY: reads one byte into a local from the pipe this process made (never
            // closed: the handler may write at any time).
            while unsafe { libc::read(read, (&raw mut byte).cast(), 1) } < 0 {}
            unlink_all();
            std::process::exit(0);
        })?;
    // SAFETY: `on_sigterm` only does an async-signal-safe write; ignoring SIGINT has no
    // preconditions.
    unsafe {
        if libc::signal(libc::SIGTERM, on_sigterm as *const () as libc::sighandler_t)
            == libc::SIG_ERR
            || libc::signal(libc::SIGINT, libc::SIG_IGN) == libc::SIG_ERR
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    // SAFETY: getppid has no preconditions.
    let parent = unsafe { libc::getppid() };
    // SAFETY: prctl(PR_SET_PDEATHSIG) only changes this process's own setting.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // The parent may have died before the new signal was asked for (the old one, SIGKILL,
    // would have ended this process before `parent` was read).
    // SAFETY: getppid has no preconditions.
    if unsafe { libc::getppid() } != parent {
        on_sigterm(libc::SIGTERM);
    }
    Ok(())
}
