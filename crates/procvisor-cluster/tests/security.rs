//! Who may do what: a client with wrong or no credentials reaches nothing, an agent's
//! credentials cannot start work, and a router without the cluster's authkey is refused by
//! every host.

mod common;

use common::{LIMIT, local_cluster, nats_or_skip, within};
use procvisor_cluster::{Cluster, ClusterError};
use procvisor_pool::{Pool, PoolError};
use std::time::Duration;

fn square(x: u64) -> u64 {
    x * x
}
procvisor_runtime::register!(square);

#[test]
fn wrong_or_missing_credentials_are_refused_at_connection() {
    if !nats_or_skip("credentials") {
        return;
    }
    within(LIMIT, "credentials", || {
        let cluster = local_cluster(1);
        let login = cluster.local_credentials().unwrap();
        let wrong = Cluster::builder()
            .servers([login.url.clone()])
            .user_password("router", "not-the-password")
            .join()
            .unwrap_err();
        assert!(matches!(wrong, ClusterError::Connect { .. }), "{wrong}");
        let none = Cluster::builder()
            .servers([login.url.clone()])
            .join()
            .unwrap_err();
        assert!(matches!(none, ClusterError::Connect { .. }), "{none}");
    });
}

#[test]
fn an_agents_credentials_cannot_start_work() {
    if !nats_or_skip("agent credentials") {
        return;
    }
    within(LIMIT, "agent credentials", || {
        let cluster = local_cluster(1);
        let login = cluster.local_credentials().unwrap();
        let (user, password) = login.agent.clone();
        let intruder = Cluster::builder()
            .servers([login.url.clone()])
            .user_password(user, password)
            .host_timeout(Duration::from_millis(500))
            .join()
            .unwrap();
        // It may not even hear the hosts: a pool it builds finds none.
        assert!(intruder.hosts().is_empty(), "{:?}", intruder.hosts());
        let err = Pool::builder().cluster(&intruder).build().unwrap_err();
        assert!(matches!(err, PoolError::ClusterUnreachable { .. }), "{err}");
        // The real router's pool is untouched.
        let pool = Pool::builder().cluster(&cluster).build().unwrap();
        assert_eq!(pool.apply(square, (3u64,)).unwrap(), 9);
    });
}

#[test]
fn a_router_without_the_clusters_authkey_is_refused_by_every_host() {
    if !nats_or_skip("authkey") {
        return;
    }
    within(LIMIT, "authkey", || {
        let cluster = local_cluster(2);
        let login = cluster.local_credentials().unwrap();
        let (user, password) = login.router.clone();
        let stranger = Cluster::builder()
            .servers([login.url.clone()])
            .user_password(user, password)
            .authkey(b"not the cluster's key".to_vec())
            .min_hosts(2)
            .join()
            .unwrap();
        match Pool::builder().cluster(&stranger).build() {
            Err(PoolError::ClusterUnreachable { reason }) => {
                assert!(reason.contains("no host"), "{reason}")
            }
            other => panic!("expected every host to refuse, got {other:?}"),
        }
    });
}

#[test]
fn plaintext_to_another_machine_is_refused_unless_allowed() {
    let refused = Cluster::builder()
        .servers(["nats://10.1.2.3:4222"])
        .join()
        .unwrap_err();
    assert_eq!(
        refused,
        ClusterError::Plaintext("nats://10.1.2.3:4222".into())
    );
    assert!(refused.to_string().contains("tls://"), "{refused}");
}

#[test]
fn bad_settings_are_clear_errors_before_anything_starts() {
    let invalid = |result: Result<Cluster, ClusterError>| match result {
        Err(ClusterError::InvalidArgument(message)) => message,
        other => panic!("expected an invalid argument, got {other:?}"),
    };
    assert!(invalid(Cluster::local(0)).contains("at least one host"));
    let zero_beat = Cluster::builder().heartbeat(Duration::ZERO).join();
    assert!(invalid(zero_beat).contains("heartbeat"));
    let slow_beat = Cluster::builder()
        .host_timeout(Duration::from_secs(1))
        .heartbeat(Duration::from_secs(2))
        .join();
    assert!(invalid(slow_beat).contains("less than the host timeout"));
    assert!(invalid(Cluster::builder().name("a.b").join()).contains("letters, digits"));
    assert!(invalid(Cluster::builder().workers_per_host(0).join()).contains("one worker"));
    let garbage = Cluster::builder().servers(["not an address"]).join();
    assert!(invalid(garbage).contains("not a server address"));
}
