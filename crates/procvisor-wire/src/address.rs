//! [`Address`]: where a [`Listener`](crate::Listener) listens and a [`Client`](crate::Client)
//! connects.

use crate::error::ListenerError;
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

/// A listening address: Python's `AF_UNIX` path, Linux abstract name, or `AF_INET(6)` pair.
///
/// Parsed from text by [`FromStr`]: `"@name"` is an abstract Unix name, anything containing `/`
/// (or starting with `unix:`) a Unix socket path, and anything else `host:port`.
///
/// ```
/// use procvisor_wire::Address;
///
/// assert!(matches!("127.0.0.1:0".parse::<Address>()?, Address::Tcp(_)));
/// assert!(matches!("/tmp/app.sock".parse::<Address>()?, Address::Unix(_)));
/// assert!(matches!("@app".parse::<Address>()?, Address::Abstract(_)));
/// # Ok::<(), procvisor_wire::ListenerError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Address {
    /// A Unix socket file. A [`Listener`](crate::Listener) removes the file when it closes.
    Unix(PathBuf),
    /// A Linux abstract Unix socket name (no file; visible to every process in the network
    /// namespace, so use an authkey).
    Abstract(Vec<u8>),
    /// A TCP address.
    Tcp(SocketAddr),
}

impl Address {
    /// A fresh Unix socket path in a directory private to this process (mode 0700), like
    /// Python's default listener address. The directory is removed at process exit, and, in a
    /// procvisor program, by the resource tracker after a crash.
    ///
    /// # Errors
    ///
    /// When the private directory cannot be created.
    pub fn arbitrary() -> std::io::Result<Address> {
        let dir = private_dir()?;
        let mut random = [0_u8; 8];
        getrandom::fill(&mut random).map_err(std::io::Error::other)?;
        Ok(Address::Unix(
            dir.join(format!("listener-{}.sock", hex(&random))),
        ))
    }

    /// The loopback TCP address with the given port (0: any free port).
    pub fn tcp_loopback(port: u16) -> Address {
        Address::Tcp(SocketAddr::from(([127, 0, 0, 1], port)))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(path) => write!(f, "{}", path.display()),
            Address::Abstract(name) => write!(f, "@{}", String::from_utf8_lossy(name)),
            Address::Tcp(addr) => write!(f, "{addr}"),
        }
    }
}

impl FromStr for Address {
    type Err = ListenerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| ListenerError::InvalidAddress {
            address: s.to_string(),
            reason,
        };
        if let Some(name) = s.strip_prefix('@').or_else(|| s.strip_prefix('\0')) {
            if name.is_empty() {
                return Err(invalid("an abstract socket name must not be empty"));
            }
            return Ok(Address::Abstract(name.as_bytes().to_vec()));
        }
        if let Some(path) = s.strip_prefix("unix:") {
            return Ok(Address::Unix(PathBuf::from(path)));
        }
        if s.contains('/') {
            return Ok(Address::Unix(PathBuf::from(s)));
        }
        if s.starts_with("\\\\") {
            return Err(invalid(
                "Windows named pipes (AF_PIPE) are not available on this platform",
            ));
        }
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return Ok(Address::Tcp(addr));
        }
        s.to_socket_addrs()
            .map_err(|_| invalid("expected host:port, a path containing '/', or @abstract-name"))?
            .next()
            .map(Address::Tcp)
            .ok_or_else(|| invalid("the host name resolved to no address"))
    }
}

impl From<SocketAddr> for Address {
    fn from(addr: SocketAddr) -> Self {
        Address::Tcp(addr)
    }
}

impl From<PathBuf> for Address {
    fn from(path: PathBuf) -> Self {
        Address::Unix(path)
    }
}

impl From<&Path> for Address {
    fn from(path: &Path) -> Self {
        Address::Unix(path.to_path_buf())
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

static PRIVATE_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Who is told of each private directory this process creates.
static PRIVATE_DIR_WATCHER: OnceLock<fn(&Path)> = OnceLock::new();

/// Has `watcher` told of every private directory this process creates from now on, so that
/// something outliving the process can remove them after a crash (procvisor's resource tracker
/// does). The first watcher set stays.
pub fn watch_private_dirs(watcher: fn(&Path)) {
    let _ = PRIVATE_DIR_WATCHER.set(watcher);
}

/// The per-process directory for default listener sockets.
fn private_dir() -> std::io::Result<PathBuf> {
    if let Some(dir) = PRIVATE_DIR.get() {
        return Ok(dir.clone());
    }
    use std::os::unix::fs::DirBuilderExt;
    let mut random = [0_u8; 6];
    getrandom::fill(&mut random).map_err(std::io::Error::other)?;
    let dir =
        std::env::temp_dir().join(format!("procvisor-{}-{}", std::process::id(), hex(&random)));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    if PRIVATE_DIR.set(dir.clone()).is_ok() {
        // SAFETY: `remove_private_dir` is a plain `extern "C" fn()` that is valid for the whole
        // life of the process; registering it has no other precondition.
        unsafe { libc::atexit(remove_private_dir) };
        if let Some(watcher) = PRIVATE_DIR_WATCHER.get() {
            watcher(&dir);
        }
        Ok(dir)
    } else {
        // Another thread won the race; use its directory and drop ours.
        let _ = std::fs::remove_dir(&dir);
        Ok(PRIVATE_DIR.get().expect("set by the winner").clone())
    }
}

extern "C" fn remove_private_dir() {
    // Only the process that created the directory removes it (a forked child inherits the
    // static but not the ownership).
    let Some(dir) = PRIVATE_DIR.get() else { return };
    let owner = format!("procvisor-{}-", std::process::id());
    if !dir
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(&owner))
    {
        return;
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_family() {
        assert_eq!(
            "127.0.0.1:80".parse::<Address>().unwrap(),
            Address::tcp_loopback(80)
        );
        assert_eq!(
            "unix:rel.sock".parse::<Address>().unwrap(),
            Address::Unix("rel.sock".into())
        );
        assert_eq!(
            "./a.sock".parse::<Address>().unwrap(),
            Address::Unix("./a.sock".into())
        );
        assert_eq!(
            "@svc".parse::<Address>().unwrap(),
            Address::Abstract(b"svc".to_vec())
        );
        assert_eq!(
            "\0svc".parse::<Address>().unwrap(),
            Address::Abstract(b"svc".to_vec())
        );
    }

    #[test]
    fn rejects_what_it_cannot_use() {
        for bad in ["", "@", "no-port", r"\\.\pipe\name"] {
            assert!(
                matches!(
                    bad.parse::<Address>(),
                    Err(ListenerError::InvalidAddress { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn arbitrary_addresses_are_private_and_distinct() {
        use std::os::unix::fs::PermissionsExt;
        let (Address::Unix(a), Address::Unix(b)) =
            (Address::arbitrary().unwrap(), Address::arbitrary().unwrap())
        else {
            panic!("arbitrary addresses are Unix paths");
        };
        assert_ne!(a, b);
        let mode = std::fs::metadata(a.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
