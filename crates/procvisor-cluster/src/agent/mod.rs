//! A host's agent: this program's binary, started with [`AGENT_ENV`] set, serving the pools
//! of every router of its cluster. For each pool it keeps an ordinary local [`Pool`] of
//! worker processes (children of the agent, so a worker's death is reported exactly), and
//! hands them the tasks the router sends; the tasks it reports as running are those its
//! workers run (each worker's first), not those queued behind them.
//!
//! It fences itself: cut off from the servers for the host timeout, it kills its workers (its
//! routers have declared it lost by then, and will not believe it any more).

mod hosted;
mod results;

use crate::connect::{Endpoint, Link};
use crate::protocol::{self, Beat, FromAgent, Subjects, ToAgent, ToRouter};
use futures_util::StreamExt;
use hosted::HostedPool;
use procvisor_pool::Pool;
use procvisor_pool::remote::{HostCommand, RemoteWorkers};
use procvisor_runtime::__private::pool_support;
use procvisor_runtime::{StartMethod, get_context};
use results::send_results;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::unbounded_channel;

/// The environment variable that makes this program's binary a host agent.
pub const AGENT_ENV: &str = "PROCVISOR_CLUSTER_AGENT";

/// Set in an agent and its workers: the host's name in its cluster.
const HOST_ENV: &str = "PROCVISOR_CLUSTER_HOST";

/// The name of the cluster host this process runs on, in a worker of a pool across hosts (or
/// its agent); `None` elsewhere.
///
/// ```
/// assert_eq!(procvisor_cluster::current_host(), None);
/// ```
pub fn current_host() -> Option<String> {
    std::env::var(HOST_ENV).ok()
}

#[linkme::distributed_slice(procvisor_runtime::__private::ROLES)]
static AGENT_ROLE: procvisor_runtime::__private::Role = procvisor_runtime::__private::Role {
    env: AGENT_ENV,
    run: run_agent,
};

/// What an agent is told when it starts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AgentConfig {
    pub(crate) cluster: String,
    pub(crate) host: String,
    pub(crate) endpoint: Endpoint,
    /// Workers per pool (default: this host's CPUs).
    pub(crate) slots: Option<usize>,
    pub(crate) heartbeat: Duration,
    pub(crate) host_timeout: Duration,
    pub(crate) authkey: Vec<u8>,
}

impl AgentConfig {
    pub(crate) fn to_env(&self) -> String {
        protocol::encode(self)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn from_env(value: &str) -> Option<AgentConfig> {
        let bytes: Option<Vec<u8>> = (0..value.len())
            .step_by(2)
            .map(|i| {
                value
                    .get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect();
        protocol::decode(&bytes?)
    }
}

/// The configuration `value` holds, names (`@path`: a file's contents), or says to read from
/// standard input (`-`): a configuration holds credentials, which a command line or an
/// environment shows to every user of the machine, and a private file or a pipe does not.
fn read_config(value: &str) -> Result<String, String> {
    match value {
        "-" => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| format!("cannot read it from standard input: {e}"))?;
            Ok(line.trim().to_string())
        }
        _ => match value.strip_prefix('@') {
            Some(path) => std::fs::read_to_string(path)
                .map(|text| text.trim().to_string())
                .map_err(|e| format!("cannot read {path}: {e}")),
            None => Ok(value.to_string()),
        },
    }
}

fn run_agent(value: String) -> ! {
    let config = read_config(&value).and_then(|text| {
        AgentConfig::from_env(&text).ok_or_else(|| "it is not an agent's configuration".into())
    });
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            eprintln!("procvisor: {AGENT_ENV}: {e}");
            std::process::exit(2);
        }
    };
    // SAFETY: this runs before main (a role of the bootstrap), while the process has one
    // thread; the workers the agent starts inherit the variable.
    unsafe { std::env::set_var(HOST_ENV, &config.host) };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("procvisor-agent")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("procvisor agent: cannot start its runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(serve(config));
    std::process::exit(code)
}

struct Agent {
    config: AgentConfig,
    client: async_nats::Client,
    subjects: Subjects,
    incarnation: u64,
    build: u64,
    slots: usize,
    pools: Mutex<HashMap<String, Arc<HostedPool>>>,
    cut_off_since: Arc<Mutex<Option<Instant>>>,
    /// Pools whose router did not answer, since when.
    orphans: Mutex<HashMap<String, Instant>>,
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    u64::from_le_bytes(bytes)
}

async fn serve(config: AgentConfig) -> i32 {
    let cut_off_since: Arc<Mutex<Option<Instant>>> = Arc::default();
    let watch = cut_off_since.clone();
    let client = match config
        .endpoint
        .connect(
            &format!("procvisor agent {}", config.host),
            config.heartbeat.max(Duration::from_millis(200)),
            move |link| {
                let mut since = watch.lock().unwrap_or_else(|p| p.into_inner());
                match link {
                    Link::Down => {
                        since.get_or_insert_with(Instant::now);
                    }
                    Link::Up => *since = None,
                }
            },
        )
        .await
    {
        Ok(client) => client,
        Err(e) => {
            eprintln!("procvisor agent {}: {e}", config.host);
            return 1;
        }
    };
    let agent = Arc::new(Agent {
        subjects: Subjects::new(&config.cluster),
        slots: config
            .slots
            .unwrap_or_else(procvisor_runtime::cpu_count)
            .max(1),
        incarnation: random_u64(),
        build: pool_support::build_fingerprint(),
        client,
        config,
        pools: Mutex::default(),
        orphans: Mutex::default(),
        cut_off_since,
    });
    let mut requests = match agent
        .client
        .subscribe(agent.subjects.agent(&agent.config.host))
        .await
    {
        Ok(requests) => requests,
        Err(e) => {
            eprintln!(
                "procvisor agent {}: cannot subscribe: {e}",
                agent.config.host
            );
            return 1;
        }
    };
    tokio::spawn(heartbeats(agent.clone()));
    while let Some(message) = requests.next().await {
        let agent = agent.clone();
        tokio::spawn(async move {
            let answer = match protocol::decode::<ToAgent>(&message.payload) {
                Some(request) => agent.handle(request).await,
                None => FromAgent::Refused("an unreadable request".into()),
            };
            if let Some(reply) = message.reply {
                let _ = agent
                    .client
                    .publish(reply, protocol::encode(&answer).into())
                    .await;
            }
        });
    }
    0
}

async fn heartbeats(agent: Arc<Agent>) {
    let mut every = tokio::time::interval(agent.config.heartbeat);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut routers_checked = Instant::now();
    loop {
        every.tick().await;
        if routers_checked.elapsed() >= agent.config.host_timeout {
            routers_checked = Instant::now();
            tokio::spawn(drop_orphans(agent.clone()));
        }
        let cut_off = *agent
            .cut_off_since
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if cut_off.is_some_and(|since| since.elapsed() > agent.config.host_timeout) {
            // Our routers have declared us lost: kill what we run for them.
            let pools: Vec<Arc<HostedPool>> = agent.pools().drain().map(|(_, p)| p).collect();
            for pool in pools {
                tracing::warn!(target: "procvisor::cluster", pool = %pool.name, "cut off from the cluster: killing this pool's workers");
                pool.kill();
            }
            continue;
        }
        let beat = Beat {
            host: agent.config.host.clone(),
            agent: agent.incarnation,
            cpus: agent.slots,
            build: agent.build,
            pools: agent.pools().values().map(|p| p.beat()).collect(),
        };
        let _ = agent
            .client
            .publish(agent.subjects.beats(), protocol::encode(&beat).into())
            .await;
    }
}

/// Stops the pools whose router is gone without a word (its process died): nobody answers on
/// their subject, twice, a host timeout apart (a router that is only reconnecting is back by
/// then). A pool's workers must not outlive the program that asked for them.
async fn drop_orphans(agent: Arc<Agent>) {
    let pools: Vec<Arc<HostedPool>> = agent.pools().values().cloned().collect();
    for hosted in pools {
        let ping = async_nats::Request::new()
            .payload(protocol::encode(&ToRouter::Ping).into())
            .timeout(Some(agent.config.host_timeout));
        let asked = agent
            .client
            .send_request(agent.subjects.pool(&hosted.name), ping)
            .await;
        let unheard = asked
            .as_ref()
            .is_err_and(|e| e.kind() == async_nats::RequestErrorKind::NoResponders);
        let mut orphans = agent.orphans.lock().unwrap_or_else(|p| p.into_inner());
        if !unheard {
            orphans.remove(&hosted.name);
            continue;
        }
        let since = *orphans
            .entry(hosted.name.clone())
            .or_insert_with(Instant::now);
        if since.elapsed() >= agent.config.host_timeout {
            orphans.remove(&hosted.name);
            drop(orphans);
            tracing::warn!(target: "procvisor::cluster", pool = %hosted.name, "the pool's router is gone: stopping its workers");
            agent.pools().remove(&hosted.name);
            hosted.kill();
        }
    }
}

impl Agent {
    fn pools(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<HostedPool>>> {
        self.pools.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn handle(self: &Arc<Self>, request: ToAgent) -> FromAgent {
        match request {
            ToAgent::Open {
                pool,
                workers,
                build,
                mac,
            } => self.open(pool, workers, build, mac).await,
            ToAgent::Command { pool, command } => {
                let Some(hosted) = self.pools().get(&pool).cloned() else {
                    return FromAgent::Refused(format!("this host runs no pool {pool}"));
                };
                match command {
                    HostCommand::Run(tasks) => {
                        let ids = hosted.take(tasks);
                        FromAgent::Accepted {
                            ids,
                            running: hosted.running(),
                        }
                    }
                    HostCommand::Close => {
                        self.pools().remove(&pool);
                        hosted.close();
                        FromAgent::Done
                    }
                    HostCommand::Fence { incarnation } if incarnation != hosted.incarnation => {
                        // The fence of an earlier life of this pool here: this one was not lost.
                        FromAgent::Done
                    }
                    HostCommand::Terminate | HostCommand::Fence { .. } => {
                        // Only the life the command was for (another may have taken its place).
                        let mut pools = self.pools();
                        if pools
                            .get(&pool)
                            .is_some_and(|current| Arc::ptr_eq(current, &hosted))
                        {
                            pools.remove(&pool);
                        }
                        drop(pools);
                        hosted.kill();
                        FromAgent::Done
                    }
                }
            }
        }
    }

    async fn open(
        self: &Arc<Self>,
        name: String,
        workers: RemoteWorkers,
        build: u64,
        mac: [u8; 32],
    ) -> FromAgent {
        if !procvisor_wire::verify_hmac_sha256(&self.config.authkey, name.as_bytes(), &mac) {
            tracing::warn!(target: "procvisor::cluster", pool = %name, "refused a pool not signed with the cluster's authkey");
            return FromAgent::Refused(
                "the request is not signed with the cluster's authkey".into(),
            );
        }
        if build != self.build {
            return FromAgent::Refused(format!(
                "host {} runs another build of the program (its registered functions differ)",
                self.config.host
            ));
        }
        if let Some(hosted) = self.pools().get(&name) {
            return FromAgent::Joined {
                incarnation: hosted.incarnation,
                slots: hosted.slots,
            };
        }
        let slots = self.slots;
        let started = tokio::task::spawn_blocking(move || {
            Pool::builder()
                .processes(slots)
                .context(get_context(StartMethod::Forkserver))
                .build_for_remote(&workers)
        })
        .await;
        let pool = match started {
            Ok(Ok(pool)) => pool,
            Ok(Err(e)) => return FromAgent::Refused(format!("cannot start workers: {e}")),
            Err(e) => return FromAgent::Refused(format!("cannot start workers: {e}")),
        };
        let (done, results) = unbounded_channel();
        let hosted = Arc::new(HostedPool {
            name: name.clone(),
            incarnation: random_u64(),
            slots,
            pool: Mutex::new(Some(pool)),
            work: Mutex::default(),
            done,
        });
        {
            let mut pools = self.pools();
            if let Some(other) = pools.get(&name) {
                // Opened twice at once: keep the first.
                let other = other.clone();
                drop(pools);
                hosted.kill();
                return FromAgent::Joined {
                    incarnation: other.incarnation,
                    slots: other.slots,
                };
            }
            pools.insert(name, hosted.clone());
        }
        tokio::spawn(send_results(self.clone(), hosted.clone(), results));
        FromAgent::Joined {
            incarnation: hosted.incarnation,
            slots,
        }
    }
}
