//! Sending a pool's results to its router: in order, grouped under the servers' payload limit,
//! repeated until acknowledged; a router gone for the host timeout gives the pool up.

use super::Agent;
use super::hosted::HostedPool;
use crate::protocol::{self, ToRouter};
use procvisor_pool::remote::{RemoteFailure, RemoteOutcome};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

/// Sends a pool's results to its router, in order, until acknowledged; gives the pool up when
/// its router has been gone for the host timeout.
pub(super) async fn send_results(
    agent: Arc<Agent>,
    hosted: Arc<HostedPool>,
    mut results: UnboundedReceiver<(u64, RemoteOutcome)>,
) {
    let subject = agent.subjects.pool(&hosted.name);
    let limit = protocol::max_payload(&agent.client).saturating_sub(protocol::ENVELOPE);
    while let Some(first) = results.recv().await {
        let mut batch = vec![first];
        while batch.len() < 4096 {
            match results.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        hosted.answered(&batch.iter().map(|(id, _)| *id).collect::<Vec<_>>());
        if hosted.work().closed {
            continue;
        }
        for (_, outcome) in &mut batch {
            if let Ok(bytes) = outcome
                && bytes.bytes().len() > limit
            {
                *outcome = Err(RemoteFailure::Refused(format!(
                    "its result is {} bytes, more than the cluster's servers carry in one \
                     message ({limit} bytes): return a path or a key instead of the data",
                    bytes.bytes().len()
                )));
            }
        }
        for group in protocol::groups(batch, limit, |(_, outcome)| match outcome {
            Ok(bytes) => bytes.bytes().len(),
            Err(_) => 1024,
        }) {
            if !deliver(&agent, &hosted, &subject, group).await {
                return;
            }
        }
    }
}

/// Sends one group of results until the router acknowledges it; false when the router is gone
/// (the pool is then given up) or the pool was closed.
async fn deliver(
    agent: &Arc<Agent>,
    hosted: &Arc<HostedPool>,
    subject: &str,
    results: Vec<(u64, RemoteOutcome)>,
) -> bool {
    {
        let running = hosted.running();
        let message = protocol::encode(&ToRouter::Results {
            host: agent.config.host.clone(),
            incarnation: hosted.incarnation,
            results,
            running,
        });
        let first_failure = Instant::now();
        loop {
            let request = async_nats::Request::new()
                .payload(message.clone().into())
                .timeout(Some(Duration::from_secs(1)));
            match agent
                .client
                .send_request(subject.to_string(), request)
                .await
            {
                Ok(_) => return true,
                Err(e) => {
                    if hosted.work().closed {
                        return false;
                    }
                    if first_failure.elapsed() > agent.config.host_timeout {
                        tracing::warn!(target: "procvisor::cluster", pool = %hosted.name, %e, "the pool's router is gone: stopping its workers");
                        agent.pools().remove(&hosted.name);
                        hosted.kill();
                        return false;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}
