//! Who a process is: name, identity numbers, authkey, parent; `current_process` and
//! `parent_process`.

use crate::node;
use serde::{Deserialize, Serialize};
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

/// A process's identity, handed to each child at start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Identity {
    pub(crate) name: String,
    /// Python's `_identity`: the child numbers from the main process down (`[1, 2]` is the
    /// second child of the first child; the main process has none).
    pub(crate) ident: Vec<u32>,
    pub(crate) daemon: bool,
    pub(crate) authkey: Vec<u8>,
    pub(crate) parent: Option<ParentInfo>,
}

/// What a child knows of its parent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ParentInfo {
    pub(crate) pid: u32,
    pub(crate) name: String,
}

impl Identity {
    /// The main process: named `MainProcess`, with a fresh random authkey.
    pub(crate) fn main() -> Identity {
        let mut authkey = vec![0; 32];
        let _ = getrandom_fill(&mut authkey);
        Identity {
            name: "MainProcess".into(),
            ident: Vec::new(),
            daemon: false,
            authkey,
            parent: None,
        }
    }

    /// The identity of this process's `n`th child.
    pub(crate) fn child(&self, n: u32, name: Option<String>, daemon: bool) -> Identity {
        let mut ident = self.ident.clone();
        ident.push(n);
        let name = name.unwrap_or_else(|| default_name(&ident));
        Identity {
            name,
            ident,
            daemon,
            authkey: self.authkey.clone(),
            parent: Some(ParentInfo {
                pid: std::process::id(),
                name: self.name.clone(),
            }),
        }
    }
}

fn getrandom_fill(buf: &mut [u8]) -> std::io::Result<()> {
    std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, buf))
}

/// Python's default name: `Process-1`, `Process-1:2`.
pub(crate) fn default_name(ident: &[u32]) -> String {
    let numbers: Vec<String> = ident.iter().map(u32::to_string).collect();
    format!("Process-{}", numbers.join(":"))
}

/// This process, as `current_process()` describes it.
#[derive(Debug, Clone)]
pub struct CurrentProcess {
    name: String,
    ident: Vec<u32>,
    daemon: bool,
    authkey: Vec<u8>,
}

impl CurrentProcess {
    /// Its name: `MainProcess` in the main process, the name it was started with in a child.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        std::process::id()
    }

    /// Whether it is daemonic.
    pub fn daemon(&self) -> bool {
        self.daemon
    }

    /// The authkey every process of this program shares (random in the main process,
    /// inherited by children), used by default for listeners and managers.
    pub fn authkey(&self) -> &[u8] {
        &self.authkey
    }

    /// Python's `_identity`: child numbers from the main process down.
    pub fn ident(&self) -> &[u32] {
        &self.ident
    }
}

/// Python's `current_process()`.
///
/// ```
/// assert_eq!(procvisor_runtime::current_process().name(), "MainProcess");
/// ```
pub fn current_process() -> CurrentProcess {
    let node = node::node();
    let identity = node.identity();
    CurrentProcess {
        name: identity.name,
        ident: identity.ident,
        daemon: identity.daemon,
        authkey: identity.authkey,
    }
}

/// The process that started this one, as `parent_process()` describes it.
#[derive(Debug)]
pub struct ParentProcess {
    name: String,
    pid: u32,
    pidfd: Option<OwnedFd>,
}

impl ParentProcess {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether it is still running.
    pub fn is_alive(&self) -> bool {
        match &self.pidfd {
            Some(fd) => !crate::sys::poll_readable(fd.as_fd(), Some(Duration::ZERO)),
            None => false,
        }
    }

    /// Waits until it exits.
    pub fn join(&self) {
        self.join_within(None);
    }

    /// Waits until it exits or `timeout` passes; returns whether it exited.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.join_within(Some(timeout))
    }

    fn join_within(&self, timeout: Option<Duration>) -> bool {
        match &self.pidfd {
            Some(fd) => crate::sys::poll_readable(fd.as_fd(), timeout),
            None => true,
        }
    }
}

/// Python's `parent_process()`: `None` in the main process.
pub fn parent_process() -> Option<ParentProcess> {
    let parent = node::node().identity().parent?;
    let pidfd = crate::sys::pidfd_open(parent.pid as i32).ok();
    Some(ParentProcess {
        name: parent.name,
        pid: parent.pid,
        pidfd,
    })
}
