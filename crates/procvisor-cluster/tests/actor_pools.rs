//! A pool of actors across hosts: each host's workers start the actor from the pool's
//! arguments, the tasks are its messages, and its state lives on in each worker.

mod common;

use common::{LIMIT, local_cluster, nats_or_skip, within};
use procvisor_cluster::current_host;
use procvisor_pool::{Pool, PoolError};
use procvisor_runtime::{Actor, ActorContext, InitError, register_actor};

/// Scales numbers by a factor loaded at start, and counts what it handled.
struct Scaler {
    factor: u64,
    handled: u64,
}

impl Actor for Scaler {
    type Args = u64;
    type Msg = u64;
    type Reply = (u64, u64, String);

    async fn start(factor: u64, _: &ActorContext<Self>) -> Result<Self, InitError> {
        Ok(Scaler { factor, handled: 0 })
    }

    async fn handle(&mut self, x: u64, _: &ActorContext<Self>) -> Self::Reply {
        self.handled += 1;
        (
            x * self.factor,
            self.handled,
            current_host().unwrap_or_default(),
        )
    }
}
register_actor!(Scaler);

#[test]
fn a_pool_of_actors_runs_on_every_host_and_keeps_each_workers_state() {
    if !nats_or_skip("actor pool across hosts") {
        return;
    }
    within(LIMIT, "an actor pool across hosts", || {
        let cluster = local_cluster(2);
        let pool = Pool::builder()
            .cluster(&cluster)
            .build_actors::<Scaler>(3)
            .unwrap()
            .with_chunksize(1);
        assert_eq!(pool.processes(), 4);
        assert_eq!(pool.call(5).unwrap().0, 15);
        let replies = pool.map(0..200u64).unwrap();
        assert!(replies.iter().enumerate().all(|(i, r)| r.0 == 3 * i as u64));
        let hosts: std::collections::BTreeSet<&str> =
            replies.iter().map(|r| r.2.as_str()).collect();
        assert_eq!(
            hosts.into_iter().collect::<Vec<_>>(),
            vec!["node-1", "node-2"]
        );
        // Each worker kept its count: the largest count seen is above one.
        assert!(replies.iter().any(|r| r.1 > 1));
        assert_eq!(pool.submit(7).unwrap().get().unwrap().0, 21);
        // What reaches workers directly is for pools on this machine.
        assert!(pool.workers().is_empty());
        let broadcast = pool.broadcast(1);
        assert_eq!(broadcast.len(), 4);
        assert!(broadcast.iter().all(|r| r.is_err()));
    });
}

#[test]
fn an_unregistered_actor_type_is_refused_before_anything_is_sent() {
    if !nats_or_skip("unregistered actor") {
        return;
    }
    struct Stranger;
    impl Actor for Stranger {
        type Args = ();
        type Msg = ();
        type Reply = ();
        async fn start((): (), _: &ActorContext<Self>) -> Result<Self, InitError> {
            Ok(Stranger)
        }
        async fn handle(&mut self, (): (), _: &ActorContext<Self>) {}
    }
    within(LIMIT, "unregistered actor", || {
        let cluster = local_cluster(1);
        let err = Pool::builder()
            .cluster(&cluster)
            .build_actors::<Stranger>(())
            .unwrap_err();
        assert!(matches!(err, PoolError::UnregisteredActor { .. }), "{err}");
    });
}
