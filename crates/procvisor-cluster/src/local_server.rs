//! A `nats-server` on this machine for `Cluster::local`: found on `PATH`, bound to 127.0.0.1
//! on a free port, with a generated configuration that gives routers and agents their own
//! credentials and permissions (and nobody else anything).

use crate::error::ClusterError;
use crate::launch::spawn_tied;
use crate::protocol::Subjects;
use std::io::Read;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take to listen.
const START_LIMIT: Duration = Duration::from_secs(10);

/// A user of the server.
#[derive(Debug, Clone)]
pub(crate) struct Login {
    pub(crate) user: String,
    pub(crate) password: String,
}

/// A running local server; stopped when dropped.
#[derive(Debug)]
pub(crate) struct LocalServer {
    child: Child,
    binary: PathBuf,
    port: u16,
    dir: PathBuf,
    pub(crate) url: String,
    pub(crate) router: Login,
    pub(crate) agent: Login,
}

/// Where `nats-server` is, if on `PATH`.
pub(crate) fn find() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn secret() -> String {
    let mut bytes = [0u8; 16];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The server's configuration: routers may do anything in the cluster; agents may only hear
/// their requests and send heartbeats, results and replies.
fn config(port: u16, subjects: &Subjects, router: &Login, agent: &Login) -> String {
    format!(
        r#"listen: "127.0.0.1:{port}"
ping_interval: "1s"
ping_max: 3
max_payload: 8MB
authorization {{
  users: [
    {{ user: "{ru}", password: "{rp}", permissions: {{ publish: ">", subscribe: ">" }} }}
    {{ user: "{au}", password: "{ap}", permissions: {{
        publish: {{ allow: ["{beats}", "{pools}"] }},
        subscribe: {{ allow: ["{agents}", "_INBOX.>"] }},
        allow_responses: true
    }} }}
  ]
}}
"#,
        ru = router.user,
        rp = router.password,
        au = agent.user,
        ap = agent.password,
        beats = subjects.beats(),
        pools = subjects.pool("*"),
        agents = subjects.any_agent(),
    )
}

fn free_port() -> Result<u16, ClusterError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| ClusterError::ServerStart(format!("no free port: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| ClusterError::ServerStart(e.to_string()))
}

impl LocalServer {
    /// Starts a server for cluster `subjects`.
    pub(crate) fn start(subjects: &Subjects) -> Result<LocalServer, ClusterError> {
        let binary = find().ok_or(ClusterError::ServerNotFound)?;
        let mut suffix = [0u8; 4];
        let _ = getrandom::fill(&mut suffix);
        let dir = std::env::temp_dir().join(format!(
            "procvisor-nats-{}-{:08x}",
            std::process::id(),
            u32::from_le_bytes(suffix)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| ClusterError::ServerStart(e.to_string()))?;
        let router = Login {
            user: "router".into(),
            password: secret(),
        };
        let agent = Login {
            user: "agent".into(),
            password: secret(),
        };
        let port = free_port()?;
        let conf = dir.join("nats.conf");
        std::fs::write(&conf, config(port, subjects, &router, &agent))
            .map_err(|e| ClusterError::ServerStart(e.to_string()))?;
        let child = launch(&binary, &dir)?;
        let mut server = LocalServer {
            child,
            binary,
            port,
            dir,
            url: format!("nats://127.0.0.1:{port}"),
            router,
            agent,
        };
        server.wait_listening(port)?;
        Ok(server)
    }

    /// Kills the server and starts it again, same address and configuration (clients
    /// reconnect by themselves).
    pub(crate) fn restart(&mut self) -> Result<(), ClusterError> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = launch(&self.binary, &self.dir)?;
        self.wait_listening(self.port)
    }

    fn wait_listening(&mut self, port: u16) -> Result<(), ClusterError> {
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(ClusterError::ServerStart(format!(
                    "it exited ({status}): {}",
                    self.log()
                )));
            }
            if Instant::now() > deadline {
                return Err(ClusterError::ServerStart(format!(
                    "it did not listen within {START_LIMIT:?}: {}",
                    self.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(self.dir.join("nats.log")) {
            let _ = file.read_to_string(&mut text);
        }
        text.lines().rev().take(5).collect::<Vec<_>>().join(" / ")
    }

    /// The server's process id (a test stops or kills it).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Starts the server of `dir`'s configuration, its log in `dir`.
fn launch(binary: &Path, dir: &Path) -> Result<Child, ClusterError> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("nats.log"))
        .map_err(|e| ClusterError::ServerStart(e.to_string()))?;
    let mut command = Command::new(binary);
    command
        .arg("-c")
        .arg(dir.join("nats.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    spawn_tied(command).map_err(|e| ClusterError::ServerStart(format!("{}: {e}", binary.display())))
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
