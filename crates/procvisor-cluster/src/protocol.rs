//! What routers and agents say to each other, and on which NATS subjects.
//!
//! Under `pv.<cluster>.`:
//!
//! | subject | from → to | what |
//! |---|---|---|
//! | `agent.<host>` | router → agent (request) | [`ToAgent`]: open a pool, its commands |
//! | `hb` | agent → every router | [`Beat`], every heartbeat |
//! | `pool.<pool>` | agent → the pool's router (request) | [`ToRouter`]: results |
//!
//! Agents may publish only heartbeats, results and replies (the generated server
//! configuration enforces it): an agent cannot start work anywhere.

use procvisor_pool::remote::{HostCommand, RemoteOutcome, RemoteWorkers};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The subjects of cluster `name`.
#[derive(Debug, Clone)]
pub(crate) struct Subjects {
    prefix: String,
}

impl Subjects {
    pub(crate) fn new(cluster: &str) -> Subjects {
        Subjects {
            prefix: format!("pv.{cluster}"),
        }
    }

    /// A host's subject: one token, whatever its name (`n1.example.org` becomes
    /// `n1_example_org`; a dot would make it several, and wildcards would match it).
    pub(crate) fn agent(&self, host: &str) -> String {
        let token: String = host
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{}.agent.{token}", self.prefix)
    }

    /// Every host's subject (for permissions).
    pub(crate) fn any_agent(&self) -> String {
        format!("{}.agent.*", self.prefix)
    }

    pub(crate) fn beats(&self) -> String {
        format!("{}.hb", self.prefix)
    }

    pub(crate) fn pool(&self, pool: &str) -> String {
        format!("{}.pool.{pool}", self.prefix)
    }
}

/// A router's request to an agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum ToAgent {
    /// Start workers for pool `pool`; answered by [`FromAgent::Joined`].
    Open {
        pool: String,
        /// What its workers are.
        workers: RemoteWorkers,
        /// The router's build (see `build_fingerprint`): an agent of another build refuses.
        build: u64,
        /// A signature of the request with the cluster's authkey.
        mac: [u8; 32],
    },
    /// A command for pool `pool`: `Run` is answered by [`FromAgent::Accepted`].
    Command { pool: String, command: HostCommand },
}

/// An agent's answer to a [`ToAgent`] request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum FromAgent {
    Joined {
        incarnation: u64,
        slots: usize,
    },
    /// The tasks taken, and those running now.
    Accepted {
        ids: Vec<u64>,
        running: Vec<u64>,
    },
    Done,
    Refused(String),
}

/// An agent's message to a pool's router (a request: the router acknowledges it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum ToRouter {
    /// Is the pool's router still there? (Acknowledged, nothing more; no answer at all means
    /// it is gone.)
    Ping,
    /// Tasks ended.
    Results {
        host: String,
        incarnation: u64,
        results: Vec<(u64, RemoteOutcome)>,
        /// The tasks running now.
        running: Vec<u64>,
    },
}

/// An agent's heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Beat {
    pub(crate) host: String,
    /// The agent's life (a restarted agent has a new one).
    pub(crate) agent: u64,
    pub(crate) cpus: usize,
    pub(crate) build: u64,
    /// The pools it runs: each one's incarnation and running tasks.
    pub(crate) pools: Vec<PoolBeat>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PoolBeat {
    pub(crate) pool: String,
    pub(crate) incarnation: u64,
    pub(crate) running: Vec<u64>,
}

/// What a message carries besides its tasks or results (the rest of its encoding), kept free
/// under the servers' payload limit.
pub(crate) const ENVELOPE: usize = 4096;

/// The largest payload the servers `client` is connected to accept.
pub(crate) fn max_payload(client: &async_nats::Client) -> usize {
    match client.server_info().max_payload {
        0 => 1024 * 1024,
        bytes => bytes,
    }
}

/// Cuts `items` into groups whose sizes (by `size`) add up to at most `limit` each (an item
/// larger than `limit` goes alone).
pub(crate) fn groups<T>(items: Vec<T>, limit: usize, size: impl Fn(&T) -> usize) -> Vec<Vec<T>> {
    let mut groups: Vec<Vec<T>> = Vec::new();
    let mut current = Vec::new();
    let mut used = 0;
    for item in items {
        let bytes = size(&item) + 16;
        if !current.is_empty() && used + bytes > limit {
            groups.push(std::mem::take(&mut current));
            used = 0;
        }
        used += bytes;
        current.push(item);
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    procvisor_wire::codec::encode(value).expect("protocol messages always encode")
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    procvisor_wire::codec::decode(bytes).ok()
}

/// The signature of an `Open` of `pool` with `authkey` (HMAC-SHA256 over the pool's name).
pub(crate) fn sign(authkey: &[u8], pool: &str) -> [u8; 32] {
    procvisor_wire::hmac_sha256(authkey, pool.as_bytes())
}
