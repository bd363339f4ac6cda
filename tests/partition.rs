//! A network partition between a manager and its client: with the manager in a network
//! namespace of its own, behind a veth pair, an nftables rule drops everything it sends. A call
//! waiting in the manager and a new call both fail within the liveness bound (the kernel would
//! keep a silent TCP connection for about 15 minutes).
//!
//! Needs root, `ip` (iproute2) and `nft` (nftables): CI has them; elsewhere the test says so
//! and passes without running.

use procvisor::{Manager, ManagerError};
use procvisor_testing::KillOnDrop;
use procvisor_testing::netns::{Netns, unsupported};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn a_partition_fails_waiting_and_new_calls_within_the_liveness_bound() {
    if let Some(why) = unsupported() {
        eprintln!("skipped: the partition test needs root, ip and nft ({why})");
        return;
    }
    let netns = Netns::new("part", 7).expect("a network namespace and a veth pair");
    let mut server = KillOnDrop(
        netns
            .command(env!("CARGO_BIN_EXE_scenarios").as_ref())
            .args([
                "manager_server",
                &format!("{}:0", netns.inside),
                "partition-key",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut ready = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    let address = ready
        .strip_prefix("READY ")
        .unwrap_or_else(|| panic!("the manager did not start: {ready:?}"))
        .trim()
        .to_string();

    let liveness = Duration::from_secs(4);
    let (progress, step) = std::sync::mpsc::channel();
    let client = std::thread::spawn(move || {
        let manager = Manager::builder()
            .address(address.parse::<procvisor::Address>().unwrap())
            .authkey(b"partition-key")
            .liveness_timeout(liveness)
            .connect()
            .unwrap();
        let queue = manager.queue::<u32>(0).unwrap();
        let d = manager.dict::<u32, u32>().unwrap();
        d.set(1, 1).unwrap();
        let waiting = std::thread::spawn(move || queue.get());
        progress.send("connected").unwrap();
        let started = Instant::now();
        let waited = waiting.join().unwrap();
        let new_call = d.item(&1);
        progress.send("done").unwrap();
        (waited, new_call, started.elapsed())
    });
    let reached = |expected: &str| {
        let got = step
            .recv_timeout(LIMIT)
            .unwrap_or_else(|_| panic!("step `{expected}` hung"));
        assert_eq!(got, expected);
    };
    reached("connected");
    assert!(netns.cut(), "cannot add the nftables drop rule");
    reached("done");
    let (waited, new_call, took) = client.join().unwrap();
    assert!(
        matches!(waited, Err(ManagerError::Unreachable { .. })),
        "{waited:?}"
    );
    assert!(
        matches!(new_call, Err(ManagerError::Unreachable { .. })),
        "{new_call:?}"
    );
    // Each within one bound (and some slack for a loaded machine).
    assert!(took < liveness * 2 + Duration::from_secs(10), "{took:?}");
}
