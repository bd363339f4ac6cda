//! The router's side of the cluster: the hosts as their heartbeats show them, and each pool's
//! bus to them ([`HostBus`]), on NATS.

use crate::connect::Link;
use crate::protocol::{self, Beat, FromAgent, Subjects, ToAgent, ToRouter};
use futures_util::StreamExt;
use procvisor_pool::PoolError;
use procvisor_pool::remote::{HostBus, HostCommand, HostEvent, HostSender, RemoteWorkers};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// How often a pool asks a host that does not run it yet to open it.
const REOPEN_EVERY: Duration = Duration::from_millis(500);

/// A host as its heartbeats show it.
#[derive(Debug, Clone)]
pub(crate) struct SeenHost {
    pub(crate) cpus: usize,
    pub(crate) build: u64,
    pub(crate) last_seen: Instant,
}

/// One open pool: where its events go, and when each host was last asked to open it.
struct OpenPool {
    events: UnboundedSender<HostEvent>,
    workers: RemoteWorkers,
    asked: HashMap<String, Instant>,
    /// The task that hears the pool's results (stopped with the pool).
    listener: Option<tokio::task::AbortHandle>,
}

impl Drop for OpenPool {
    fn drop(&mut self) {
        if let Some(listener) = self.listener.take() {
            listener.abort();
        }
    }
}

pub(crate) struct Bus {
    pub(crate) client: async_nats::Client,
    pub(crate) runtime: tokio::runtime::Handle,
    pub(crate) subjects: Subjects,
    pub(crate) host_timeout: Duration,
    pub(crate) authkey: Vec<u8>,
    pub(crate) build: u64,
    hosts: Mutex<BTreeMap<String, SeenHost>>,
    pools: Mutex<HashMap<String, OpenPool>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Bus {
    pub(crate) fn new(
        client: async_nats::Client,
        runtime: tokio::runtime::Handle,
        subjects: Subjects,
        host_timeout: Duration,
        authkey: Vec<u8>,
    ) -> Arc<Bus> {
        Arc::new(Bus {
            client,
            runtime,
            subjects,
            host_timeout,
            authkey,
            build: procvisor_runtime::__private::pool_support::build_fingerprint(),
            hosts: Mutex::default(),
            pools: Mutex::default(),
        })
    }

    /// Hosts heard from within the host timeout.
    pub(crate) fn live_hosts(&self) -> BTreeMap<String, SeenHost> {
        let timeout = self.host_timeout;
        lock(&self.hosts)
            .iter()
            .filter(|(_, h)| h.last_seen.elapsed() <= timeout)
            .map(|(name, h)| (name.clone(), h.clone()))
            .collect()
    }

    /// Listens to the heartbeats (for the cluster's whole life).
    pub(crate) async fn listen(self: Arc<Self>) -> Result<(), async_nats::SubscribeError> {
        let mut beats = self.client.subscribe(self.subjects.beats()).await?;
        let bus = self.clone();
        self.runtime.spawn(async move {
            while let Some(message) = beats.next().await {
                if let Some(beat) = protocol::decode::<Beat>(&message.payload) {
                    bus.heard(beat);
                }
            }
        });
        Ok(())
    }

    /// The connection to the servers dropped or came back: every pool hears it.
    pub(crate) fn link_changed(&self, link: Link) {
        let event = match link {
            Link::Down => {
                HostEvent::Disconnected("the connection to the NATS servers dropped".into())
            }
            Link::Up => HostEvent::Reconnected,
        };
        lock(&self.pools).retain(|_, pool| pool.events.send(event.clone()).is_ok());
    }

    fn heard(self: &Arc<Self>, beat: Beat) {
        lock(&self.hosts).insert(
            beat.host.clone(),
            SeenHost {
                cpus: beat.cpus,
                build: beat.build,
                last_seen: Instant::now(),
            },
        );
        let mut to_open = Vec::new();
        {
            let mut pools = lock(&self.pools);
            // A pool whose router is gone is forgotten (and never opened again anywhere).
            pools.retain(|_, pool| !pool.events.is_closed());
            pools.retain(
                |name, pool| match beat.pools.iter().find(|p| &p.pool == name) {
                    Some(p) => pool
                        .events
                        .send(HostEvent::Beat {
                            host: beat.host.clone(),
                            incarnation: p.incarnation,
                            running: p.running.clone(),
                        })
                        .is_ok(),
                    None => {
                        let due = pool
                            .asked
                            .get(&beat.host)
                            .is_none_or(|at| at.elapsed() >= REOPEN_EVERY);
                        if due && beat.build == self.build {
                            pool.asked.insert(beat.host.clone(), Instant::now());
                            to_open.push((name.clone(), pool.workers.clone()));
                        }
                        !pool.events.is_closed()
                    }
                },
            );
        }
        for (pool, workers) in to_open {
            let open = self.clone().open_on(beat.host.clone(), pool, workers);
            self.runtime.spawn(open);
        }
    }

    /// Asks `host` to run pool `pool`; its answer is the pool's `Joined` event.
    async fn open_on(self: Arc<Self>, host: String, pool: String, workers: RemoteWorkers) -> bool {
        let request = ToAgent::Open {
            mac: protocol::sign(&self.authkey, &pool),
            pool: pool.clone(),
            workers,
            build: self.build,
        };
        let answer = self
            .ask(
                &host,
                &request,
                self.host_timeout.max(Duration::from_secs(5)),
            )
            .await;
        let event = match answer {
            Ok(FromAgent::Joined { incarnation, slots }) => HostEvent::Joined {
                host: host.clone(),
                incarnation,
                slots,
            },
            Ok(FromAgent::Refused(reason)) => {
                tracing::warn!(target: "procvisor::cluster", %host, %pool, %reason, "a host refused the pool");
                return false;
            }
            Ok(_) | Err(_) => return false,
        };
        match lock(&self.pools).get(&pool) {
            Some(open) => open.events.send(event).is_ok(),
            None => false,
        }
    }

    async fn ask(
        &self,
        host: &str,
        request: &ToAgent,
        timeout: Duration,
    ) -> Result<FromAgent, String> {
        let request = async_nats::Request::new()
            .payload(protocol::encode(request).into())
            .timeout(Some(timeout));
        let reply = self
            .client
            .send_request(self.subjects.agent(host), request)
            .await
            .map_err(|e| e.to_string())?;
        protocol::decode(&reply.payload).ok_or_else(|| "an unreadable answer".to_string())
    }

    fn events_of(&self, pool: &str) -> Option<UnboundedSender<HostEvent>> {
        lock(&self.pools).get(pool).map(|p| p.events.clone())
    }
}

/// One pool's view of the bus.
pub(crate) struct PoolBus {
    pub(crate) bus: Arc<Bus>,
}

impl HostBus for PoolBus {
    fn open_pool(
        &self,
        pool: &str,
        workers: &RemoteWorkers,
    ) -> Result<(Arc<dyn HostSender>, UnboundedReceiver<HostEvent>), PoolError> {
        let bus = self.bus.clone();
        let (events, receiver) = unbounded_channel();
        lock(&bus.pools).insert(
            pool.to_string(),
            OpenPool {
                events: events.clone(),
                workers: workers.clone(),
                asked: HashMap::new(),
                listener: None,
            },
        );
        let hosts: Vec<String> = bus
            .live_hosts()
            .into_iter()
            .filter(|(_, h)| h.build == bus.build)
            .map(|(name, _)| name)
            .collect();
        let name = pool.to_string();
        let (ready, started) = std::sync::mpsc::channel();
        let listener = bus.runtime.spawn({
            let bus = bus.clone();
            async move {
                // Results come as requests to the pool's subject; each is acknowledged.
                let subscribed = bus.client.subscribe(bus.subjects.pool(&name)).await;
                let mut results = match subscribed {
                    Ok(results) => results,
                    Err(e) => {
                        let _ = ready.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = bus.client.flush().await;
                let _ = ready.send(Ok(()));
                while let Some(message) = results.next().await {
                    let delivered = match protocol::decode::<ToRouter>(&message.payload) {
                        Some(ToRouter::Results {
                            host,
                            incarnation,
                            results,
                            running,
                        }) => events
                            .send(HostEvent::Results {
                                host,
                                incarnation,
                                results,
                                running,
                            })
                            .is_ok(),
                        Some(ToRouter::Ping) | None => !events.is_closed(),
                    };
                    // Acknowledged: the results are ours now (or the agent knows we are here).
                    if let Some(reply) = message.reply {
                        let _ = bus.client.publish(reply, Vec::new().into()).await;
                    }
                    if !delivered {
                        break;
                    }
                }
                lock(&bus.pools).remove(&name);
            }
        });
        if let Some(open) = lock(&bus.pools).get_mut(pool) {
            open.listener = Some(listener.abort_handle());
        }
        let unreachable = |reason: String| PoolError::ClusterUnreachable { reason };
        started
            .recv_timeout(self.bus.host_timeout.max(Duration::from_secs(5)))
            .map_err(|_| unreachable("the cluster did not answer".into()))?
            .map_err(unreachable)?;
        // Every host there now runs the pool before it is handed out, as a local pool's
        // workers all start before it is.
        let opened: Vec<bool> = {
            let bus = bus.clone();
            let (pool, workers) = (pool.to_string(), workers.clone());
            run_here(&bus.runtime.clone(), async move {
                let asks = hosts
                    .into_iter()
                    .map(|host| bus.clone().open_on(host, pool.clone(), workers.clone()));
                futures_util::future::join_all(asks).await
            })
        };
        if opened.is_empty() {
            lock(&self.bus.pools).remove(pool);
            return Err(unreachable(
                "no host of the cluster is there (none has sent a heartbeat within the host timeout)"
                    .into(),
            ));
        }
        if !opened.contains(&true) {
            lock(&self.bus.pools).remove(pool);
            return Err(unreachable(
                "no host of the cluster would run the pool".into(),
            ));
        }
        let sender: Arc<dyn HostSender> = Arc::new(PoolSender {
            bus: self.bus.clone(),
            pool: pool.to_string(),
        });
        Ok((sender, receiver))
    }

    fn host_timeout(&self) -> Duration {
        self.bus.host_timeout
    }

    fn identity(&self) -> usize {
        Arc::as_ptr(&self.bus) as usize
    }

    fn max_task_size(&self) -> usize {
        protocol::max_payload(&self.bus.client).saturating_sub(protocol::ENVELOPE)
    }

    fn slots(&self) -> usize {
        self.bus
            .live_hosts()
            .values()
            .filter(|h| h.build == self.bus.build)
            .map(|h| h.cpus)
            .sum()
    }
}

/// Runs `future` on `runtime` and waits for it here (this thread is not one of the runtime's).
fn run_here<T: Send + 'static>(
    runtime: &tokio::runtime::Handle,
    future: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    runtime.spawn(async move {
        let _ = tx.send(future.await);
    });
    rx.recv()
        .expect("the cluster's runtime runs while the cluster lives")
}

struct PoolSender {
    bus: Arc<Bus>,
    pool: String,
}

impl HostSender for PoolSender {
    fn send(&self, host: &str, command: HostCommand) {
        let limit = protocol::max_payload(&self.bus.client).saturating_sub(protocol::ENVELOPE);
        let commands = match command {
            // One message each, under the servers' limit (each task alone fits: the router
            // refused larger ones).
            HostCommand::Run(tasks) => {
                protocol::groups(tasks, limit, |t| t.args.bytes().len() + t.target.len())
                    .into_iter()
                    .map(HostCommand::Run)
                    .collect()
            }
            other => vec![other],
        };
        for command in commands {
            self.send_one(host, command);
        }
    }
}

impl PoolSender {
    fn send_one(&self, host: &str, command: HostCommand) {
        let bus = self.bus.clone();
        let (host, pool) = (host.to_string(), self.pool.clone());
        self.bus.runtime.spawn(async move {
            let ids: Vec<u64> = match &command {
                HostCommand::Run(tasks) => tasks.iter().map(|t| t.id).collect(),
                _ => Vec::new(),
            };
            let is_run = matches!(command, HostCommand::Run(_));
            let request = ToAgent::Command {
                pool: pool.clone(),
                command,
            };
            let answer = bus
                .ask(
                    &host,
                    &request,
                    bus.host_timeout.max(Duration::from_secs(1)),
                )
                .await;
            if !is_run {
                return;
            }
            let event = match answer {
                Ok(FromAgent::Accepted { ids, running }) => {
                    HostEvent::Accepted { host, ids, running }
                }
                Ok(FromAgent::Refused(reason)) => HostEvent::Refused { host, ids, reason },
                Ok(other) => HostEvent::Refused {
                    host,
                    ids,
                    reason: format!("an unexpected answer {other:?}"),
                },
                Err(reason) => HostEvent::Refused { host, ids, reason },
            };
            if let Some(events) = bus.events_of(&pool) {
                let _ = events.send(event);
            }
        });
    }
}
