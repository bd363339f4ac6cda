//! A pool across hosts as a supervisor's child: started with the supervisor, found by its id,
//! and the same hosts serve it.

mod common;

use common::{LIMIT, local_cluster, nats_or_skip, within};
use procvisor_cluster::current_host;
use procvisor_pool::Pool;
use procvisor_runtime::Supervisor;
use std::time::Duration;

fn placed_on(x: u64) -> (u64, String) {
    (x, current_host().unwrap_or_default())
}
procvisor_runtime::register!(placed_on);

#[test]
fn a_supervised_pool_runs_on_the_cluster() {
    if !nats_or_skip("supervised pool across hosts") {
        return;
    }
    within(LIMIT, "a supervised pool across hosts", || {
        let cluster = local_cluster(2);
        let supervisor = Supervisor::builder("cluster-work")
            .child(Pool::builder().cluster(&cluster).child_spec("crunch"))
            .start()
            .unwrap();
        let pool = Pool::supervised_timeout("crunch", Duration::from_secs(10)).unwrap();
        assert_eq!(pool.processes(), 4);
        let placed = pool.tasks().chunksize(1).map(placed_on, 0..40u64).unwrap();
        let hosts: std::collections::BTreeSet<String> =
            placed.into_iter().map(|(_, h)| h).collect();
        assert_eq!(hosts.into_iter().collect::<Vec<_>>(), ["node-1", "node-2"]);
        drop(pool);
        supervisor.shutdown().unwrap();
    });
}
