//! A router that dies without a word (its process SIGKILLed): the hosts find nobody answering
//! for its pool, twice a host timeout apart, and stop the pool's workers.

mod common;

use common::{LIMIT, nats_or_skip, within};
use procvisor_cluster::{Cluster, LocalLauncher, current_host};
use procvisor_pool::Pool;
use procvisor_runtime::Process;
use procvisor_testing::alive;
use std::time::{Duration, Instant};

const HOST_TIMEOUT: Duration = Duration::from_secs(1);
const KEY: &[u8] = b"the orphans test's key";

/// Notes `<host>-<pid>` in `dir`, then works for a minute.
fn long(dir: String) -> u64 {
    let host = current_host().unwrap_or_default();
    let _ = std::fs::write(format!("{dir}/{host}-{}", std::process::id()), b"");
    std::thread::sleep(Duration::from_secs(60));
    0
}

/// A second program's router: joins the cluster, starts two long tasks, and waits to be killed.
fn router(url: String, user: String, password: String, dir: String) {
    let cluster = Cluster::builder()
        .servers([url])
        .user_password(user, password)
        .authkey(KEY.to_vec())
        .host_timeout(HOST_TIMEOUT)
        .min_hosts(1)
        .join()
        .expect("the second router joins");
    let pool = Pool::builder().cluster(&cluster).build().expect("its pool");
    let _tasks: Vec<_> = (0..2)
        .map(|_| pool.apply_async(long, (dir.clone(),)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_secs(120));
}
procvisor_runtime::register!(long, router);

#[test]
fn the_workers_of_a_router_that_died_are_stopped() {
    if !nats_or_skip("orphans") {
        return;
    }
    within(LIMIT, "a router that died", || {
        let cluster = Cluster::builder()
            .launcher(LocalLauncher::new(1))
            .min_hosts(1)
            .workers_per_host(2)
            .host_timeout(HOST_TIMEOUT)
            .authkey(KEY.to_vec())
            .join()
            .unwrap();
        let login = cluster.local_credentials().unwrap();
        let dir = std::env::temp_dir().join(format!("pv-orphans-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let dir_name = dir.to_string_lossy().into_owned();
        let (user, password) = login.router.clone();
        let mut second =
            Process::new(router, (login.url.clone(), user, password, dir_name)).unwrap();
        second.start().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let workers = loop {
            let pids: Vec<u32> = std::fs::read_dir(&dir)
                .unwrap()
                .filter_map(|e| {
                    e.ok()?
                        .file_name()
                        .to_str()?
                        .rsplit('-')
                        .next()?
                        .parse()
                        .ok()
                })
                .collect();
            if pids.len() == 2 {
                break pids;
            }
            assert!(
                Instant::now() < deadline,
                "the second router's tasks did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        second.kill().unwrap();
        let _ = second.join_timeout(Duration::from_secs(10));
        let killed = Instant::now();
        while workers.iter().any(|&pid| alive(pid)) {
            assert!(
                killed.elapsed() < HOST_TIMEOUT * 5 + Duration::from_secs(5),
                "the dead router's workers still run"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_dir_all(&dir);
    });
}
