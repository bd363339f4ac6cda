//! Launchers: how a cluster's host agents get started. An agent is the program's own binary,
//! run again with [`AGENT_ENV`] set to its configuration, so that what it runs is registered
//! exactly as in the program that sends the work.

use crate::agent::{AGENT_ENV, AgentConfig};
use crate::error::ClusterError;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;

/// How to start one agent: the program, and the environment variable that makes it an agent.
///
/// The variable's value is the agent's configuration, credentials included: keep it private.
/// It may be given as it is, as `@path` (a file holding it, readable by its owner only), or as
/// `-` (the agent reads it from its standard input), so that it appears on no command line.
#[derive(Clone)]
pub struct AgentCommand {
    /// The program (this program's binary, unless the launcher was told another path).
    pub program: std::path::PathBuf,
    /// The variable's name.
    pub env: &'static str,
    /// The configuration.
    pub value: String,
    /// The host name the agent takes.
    pub host: String,
}

impl std::fmt::Debug for AgentCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentCommand")
            .field("program", &self.program)
            .field("env", &self.env)
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl AgentCommand {
    /// Writes the configuration to `path`, readable by its owner only, for an agent started
    /// with `<env>=@<path>`.
    ///
    /// # Errors
    ///
    /// When the file cannot be written.
    pub fn write_config(&self, path: &std::path::Path) -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        file.write_all(self.value.as_bytes())
    }

    /// The shell command line that starts the agent with its configuration in `path` (see
    /// [`write_config`](Self::write_config)).
    pub fn shell_line(&self, path: &std::path::Path) -> String {
        format!(
            "{}=@{} {}",
            self.env,
            shell_quote(&path.to_string_lossy()),
            shell_quote(&self.program.to_string_lossy())
        )
    }
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Starts a cluster's host agents. [`Cluster::builder`](crate::Cluster::builder) takes one;
/// write your own to start agents with Slurm, Kubernetes or anything else.
pub trait Launcher: Send + Sync {
    /// The hosts this launcher starts agents for (their names in the cluster).
    fn hosts(&self) -> Vec<String>;

    /// Starts the agent `command` describes; what it returns is kept while the cluster lives
    /// and dropped (stopping the agent, if it can) with it.
    ///
    /// # Errors
    ///
    /// When the agent cannot be started.
    fn launch(&self, command: &AgentCommand) -> Result<Box<dyn Launched>, ClusterError>;
}

/// A started agent, as its launcher keeps it.
pub trait Launched: Send + Sync {
    /// Its process id on this machine, when it runs here.
    fn pid(&self) -> Option<u32>;
}

/// `n` agents on this machine, children of this process (they end with it): what
/// [`Cluster::local`](crate::Cluster::local) uses.
///
/// ```
/// use procvisor_cluster::{Launcher, LocalLauncher};
///
/// assert_eq!(LocalLauncher::new(2).hosts(), ["node-1", "node-2"]);
/// ```
#[derive(Debug, Clone)]
pub struct LocalLauncher {
    hosts: usize,
}

impl LocalLauncher {
    /// `hosts` agents, named `node-1`, `node-2`, ...
    pub fn new(hosts: usize) -> LocalLauncher {
        LocalLauncher { hosts }
    }
}

struct LocalAgent(Mutex<Child>);

impl Launched for LocalAgent {
    fn pid(&self) -> Option<u32> {
        Some(self.0.lock().unwrap_or_else(|p| p.into_inner()).id())
    }
}

impl Drop for LocalAgent {
    fn drop(&mut self) {
        let child = self.0.get_mut().unwrap_or_else(|p| p.into_inner());
        // SAFETY: kill(2) with a pid of our own child and a signal number.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while std::time::Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Launcher for LocalLauncher {
    fn hosts(&self) -> Vec<String> {
        (1..=self.hosts).map(|i| format!("node-{i}")).collect()
    }

    fn launch(&self, command: &AgentCommand) -> Result<Box<dyn Launched>, ClusterError> {
        let mut process = Command::new(&command.program);
        process
            .env(command.env, &command.value)
            .stdin(Stdio::null());
        let child = spawn_tied(process).map_err(|e| ClusterError::Launch(e.to_string()))?;
        Ok(Box::new(LocalAgent(Mutex::new(child))))
    }
}

/// Agents started by hand: for each host, the launcher writes the agent's configuration to
/// `<dir>/<host>.agent` (readable by its owner only: copy it to the host as privately) and
/// logs (with `tracing`, at info level) the command line to run there. It starts nothing.
///
/// ```
/// use procvisor_cluster::{AgentCommand, Launcher, ManualLauncher};
///
/// let dir = std::env::temp_dir();
/// let manual = ManualLauncher::new(["n1"]).config_dir(&dir);
/// let agent = AgentCommand {
///     program: "/opt/sim/bin/sim".into(),
///     env: procvisor_cluster::AGENT_ENV,
///     value: "(the configuration)".into(),
///     host: "n1".into(),
/// };
/// manual.launch(&agent)?;
/// let written = dir.join("n1.agent");
/// assert_eq!(std::fs::read_to_string(&written)?, "(the configuration)");
/// assert!(agent.shell_line(&written).starts_with("PROCVISOR_CLUSTER_AGENT=@"));
/// # std::fs::remove_file(written)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ManualLauncher {
    hosts: Vec<String>,
    dir: std::path::PathBuf,
}

impl ManualLauncher {
    /// One agent per host name; configurations in the current directory.
    pub fn new(hosts: impl IntoIterator<Item = impl Into<String>>) -> ManualLauncher {
        ManualLauncher {
            hosts: hosts.into_iter().map(Into::into).collect(),
            dir: std::path::PathBuf::from("."),
        }
    }

    /// Where the configurations are written.
    pub fn config_dir(mut self, dir: impl Into<std::path::PathBuf>) -> ManualLauncher {
        self.dir = dir.into();
        self
    }
}

struct NotOurs;

impl Launched for NotOurs {
    fn pid(&self) -> Option<u32> {
        None
    }
}

impl Launcher for ManualLauncher {
    fn hosts(&self) -> Vec<String> {
        self.hosts.clone()
    }

    fn launch(&self, command: &AgentCommand) -> Result<Box<dyn Launched>, ClusterError> {
        let path = self.dir.join(format!("{}.agent", command.host));
        command
            .write_config(&path)
            .map_err(|e| ClusterError::Launch(format!("cannot write {}: {e}", path.display())))?;
        tracing::info!(target: "procvisor::cluster", host = %command.host, "start this host's agent with: {}", command.shell_line(&path));
        Ok(Box::new(NotOurs))
    }
}

/// Agents started over SSH: `ssh <host> env PROCVISOR_CLUSTER_AGENT=- <binary>`, with the
/// binary at the same path on every host (a shared file system, or a copy). The configuration
/// goes through the connection (the agent's standard input), never on a command line.
///
/// ```
/// use procvisor_cluster::{AgentCommand, Launcher, SshLauncher};
///
/// let ssh = SshLauncher::new(["n1", "deploy@n2"]).binary("/opt/sim/bin/sim");
/// assert_eq!(ssh.hosts(), ["n1", "deploy@n2"]);
/// let agent = AgentCommand {
///     program: "/home/me/sim".into(),
///     env: procvisor_cluster::AGENT_ENV,
///     value: "(the configuration)".into(),
///     host: "n1".into(),
/// };
/// let command = ssh.command(&agent);
/// let args: Vec<_> = command.get_args().map(|a| a.to_string_lossy()).collect();
/// assert_eq!(
///     args,
///     ["-o", "BatchMode=yes", "n1", "env", "PROCVISOR_CLUSTER_AGENT=-", "'/opt/sim/bin/sim'"]
/// );
/// ```
#[derive(Debug, Clone)]
pub struct SshLauncher {
    hosts: Vec<String>,
    binary: Option<std::path::PathBuf>,
}

impl SshLauncher {
    /// One agent per host (as `ssh` names it: `user@host`, an alias of `~/.ssh/config`).
    pub fn new(hosts: impl IntoIterator<Item = impl Into<String>>) -> SshLauncher {
        SshLauncher {
            hosts: hosts.into_iter().map(Into::into).collect(),
            binary: None,
        }
    }

    /// Where the program's binary is on the hosts (default: where it is here).
    pub fn binary(mut self, path: impl Into<std::path::PathBuf>) -> SshLauncher {
        self.binary = Some(path.into());
        self
    }

    /// The `ssh` command that starts `command`'s agent (its configuration is to be written to
    /// the command's standard input).
    pub fn command(&self, command: &AgentCommand) -> Command {
        let program = self.binary.clone().unwrap_or(command.program.clone());
        let mut ssh = Command::new("ssh");
        ssh.arg("-o")
            .arg("BatchMode=yes")
            .arg(&command.host)
            .arg("env")
            .arg(format!("{}=-", command.env))
            .arg(shell_quote(&program.to_string_lossy()));
        ssh
    }
}

impl Launcher for SshLauncher {
    fn hosts(&self) -> Vec<String> {
        self.hosts.clone()
    }

    fn launch(&self, command: &AgentCommand) -> Result<Box<dyn Launched>, ClusterError> {
        use std::io::Write;
        let mut ssh = self.command(command);
        ssh.stdin(Stdio::piped());
        let mut child = spawn_tied(ssh).map_err(|e| ClusterError::Launch(format!("ssh: {e}")))?;
        let sent = child
            .stdin
            .take()
            .map(|mut stdin| writeln!(stdin, "{}", command.value));
        if let Some(Err(e)) = sent {
            let _ = child.kill();
            return Err(ClusterError::Launch(format!(
                "ssh: cannot send the configuration: {e}"
            )));
        }
        Ok(Box::new(LocalAgent(Mutex::new(child))))
    }
}

/// The command that starts the agent of `host` with `config`.
pub(crate) fn agent_command(
    host: &str,
    config: &AgentConfig,
) -> Result<AgentCommand, ClusterError> {
    let program = std::env::current_exe()
        .map_err(|e| ClusterError::Launch(format!("cannot find this program's binary: {e}")))?;
    Ok(AgentCommand {
        program,
        env: AGENT_ENV,
        value: config.to_env(),
        host: host.to_string(),
    })
}

type Spawn = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Starts `command` as a child that the kernel kills when this process ends (a server or an
/// agent must not outlive the program that started it for development).
///
/// The children are started by one thread that lives as long as the process: the kernel's
/// "parent died" signal fires when the *thread* that started a child ends.
pub(crate) fn spawn_tied(mut command: Command) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    static SPAWNER: Mutex<Option<mpsc::Sender<Spawn>>> = Mutex::new(None);
    // SAFETY: only async-signal-safe calls between fork and exec (prctl, getppid).
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (reply, answer) = mpsc::channel();
    {
        let mut spawner = SPAWNER.lock().unwrap_or_else(|p| p.into_inner());
        let sender = match spawner.as_ref() {
            Some(sender) => sender.clone(),
            None => {
                let (tx, rx) = mpsc::channel::<Spawn>();
                std::thread::Builder::new()
                    .name("procvisor-cluster-spawner".into())
                    .spawn(move || {
                        for (mut command, reply) in rx {
                            let _ = reply.send(command.spawn());
                        }
                    })?;
                *spawner = Some(tx.clone());
                tx
            }
        };
        sender
            .send((command, reply))
            .map_err(|_| std::io::Error::other("the spawner thread is gone"))?;
    }
    answer
        .recv()
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?
}
