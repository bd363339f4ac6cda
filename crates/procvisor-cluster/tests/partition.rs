//! A host cut off by the network: one agent in a network namespace of its own, behind a veth
//! pair, and an nftables rule that drops what it sends. Its running tasks fail with `HostLost`
//! within the host timeout plus a second, it fences itself (its workers are killed, which the
//! test sees by their pids), and it joins again once the link is back.
//!
//! Needs root, `ip` and `nft` (CI has them; elsewhere the test says so and passes without
//! running) and `nats-server`. The launcher here, starting one agent inside the namespace, is
//! the kind a user writes for their own machines.

mod common;

use common::{LIMIT, nats_or_skip, within};
use procvisor_cluster::{AgentCommand, Cluster, ClusterError, Launched, Launcher, current_host};
use procvisor_pool::{Pool, PoolError};
use procvisor_testing::netns::{Netns, unsupported};
use procvisor_testing::{KillOnDrop, alive};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const HOST_TIMEOUT: Duration = Duration::from_secs(2);

/// Writes `<host>-<pid>` into `dir`, works `ms`, says where it ran.
fn work(dir: String, ms: u64) -> String {
    let host = current_host().unwrap_or_default();
    let _ = std::fs::write(format!("{dir}/{host}-{}", std::process::id()), b"");
    std::thread::sleep(Duration::from_millis(ms));
    current_host().unwrap_or_default()
}
procvisor_runtime::register!(work);

/// Agent `inside` in the namespace, agent `outside` here.
struct SplitLauncher(Arc<Netns>);

struct Agent(Mutex<Child>);

impl Launched for Agent {
    fn pid(&self) -> Option<u32> {
        Some(self.0.lock().unwrap().id())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let child = self.0.get_mut().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Launcher for SplitLauncher {
    fn hosts(&self) -> Vec<String> {
        vec!["inside".into(), "outside".into()]
    }

    fn launch(&self, command: &AgentCommand) -> Result<Box<dyn Launched>, ClusterError> {
        let mut process = if command.host == "inside" {
            self.0.command(&command.program)
        } else {
            Command::new(&command.program)
        };
        let child = process
            .env(command.env, &command.value)
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| ClusterError::Launch(e.to_string()))?;
        Ok(Box::new(Agent(Mutex::new(child))))
    }
}

#[test]
fn a_host_cut_off_by_the_network_is_lost_fences_itself_and_comes_back() {
    if let Some(why) = unsupported() {
        eprintln!("skipped: the partition test needs root, ip and nft ({why})");
        return;
    }
    if !nats_or_skip("partition") {
        return;
    }
    within(LIMIT * 2, "a partitioned host", || {
        let netns = Arc::new(Netns::new("clu", 9).expect("a namespace and a veth pair"));
        let port = 42_000 + (std::process::id() % 1000) as u16;
        let _server = KillOnDrop(
            Command::new("nats-server")
                .args(["-a", &netns.outside, "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let listening = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect((netns.outside.as_str(), port)).is_err() {
            assert!(Instant::now() < listening, "nats-server did not listen");
            std::thread::sleep(Duration::from_millis(10));
        }
        let cluster = Cluster::builder()
            .servers([format!("nats://{}:{port}", netns.outside)])
            .insecure()
            .host_timeout(HOST_TIMEOUT)
            .workers_per_host(2)
            .launcher(SplitLauncher(netns.clone()))
            .min_hosts(2)
            .join_timeout(Duration::from_secs(20))
            .join()
            .unwrap();
        let pool = Pool::builder().cluster(&cluster).build().unwrap();
        let dir = std::env::temp_dir().join(format!("pv-partition-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dir_name = dir.to_string_lossy().to_string();
        let tasks: Vec<_> = (0..8)
            .map(|_| pool.apply_async(work, (dir_name.clone(), 6000u64)).unwrap())
            .collect();
        // Both hosts' workers have started their first tasks (each writes its pid first).
        let listed = || -> Vec<String> {
            std::fs::read_dir(&dir)
                .unwrap()
                .filter_map(|e| Some(e.ok()?.file_name().to_str()?.to_string()))
                .collect()
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while listed().len() < 4 {
            assert!(
                Instant::now() < deadline,
                "the tasks did not start: {:?}",
                listed()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Each host said which tasks it runs when it acknowledged them, before they started.
        let started = listed();
        assert_eq!(started.len(), 4, "{started:?}");
        let inside: Vec<u32> = started
            .iter()
            .filter_map(|name| name.strip_prefix("inside-")?.parse().ok())
            .collect();
        assert_eq!(inside.len(), 2, "{started:?}");
        // And the router has heard that they run (the hosts' answers may be slower than the
        // tasks' files): only what it knows runs on the cut-off host is lost with it.
        while pool.stats().running < 4 {
            assert!(
                Instant::now() < deadline,
                "the router did not hear that the tasks run"
            );
            std::thread::sleep(Duration::from_millis(20));
        }

        let cut = Instant::now();
        assert!(netns.cut(), "cannot add the nftables drop rule");
        while pool.stats().failed == 0 {
            assert!(cut.elapsed() < Duration::from_secs(30), "no task was lost");
            std::thread::sleep(Duration::from_millis(10));
        }
        let reported = cut.elapsed();
        assert!(
            reported <= HOST_TIMEOUT + Duration::from_secs(1),
            "the loss was reported after {reported:?}"
        );
        let mut lost = 0;
        for task in &tasks {
            match task.get_timeout(Duration::from_secs(30)) {
                Ok(host) => assert_eq!(host, "outside"),
                Err(PoolError::HostLost { host, .. }) => {
                    assert_eq!(host, "inside");
                    lost += 1;
                }
                Err(other) => panic!("{other}"),
            }
        }
        assert_eq!(lost, 2);
        // Cut off for the host timeout, the agent killed its workers itself.
        let deadline = cut + HOST_TIMEOUT * 4;
        while inside.iter().any(|&p| alive(p)) {
            assert!(
                Instant::now() < deadline,
                "the cut-off host's workers still run"
            );
            std::thread::sleep(Duration::from_millis(50));
        }

        assert!(netns.heal(), "cannot remove the drop rule");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let hosts = pool
                .tasks()
                .chunksize(1)
                .starmap(work, (0..8).map(|_| (dir_name.clone(), 100u64)))
                .unwrap();
            if hosts.iter().any(|h| h == "inside") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the healed host did not come back"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = std::fs::remove_dir_all(PathBuf::from(&dir_name));
    });
}
