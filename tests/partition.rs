//! A network partition between a manager and its client: with the manager in a network
//! namespace of its own, behind a veth pair, an nftables rule drops everything it sends. A call
//! waiting in the manager and a new call both fail within the liveness bound (the kernel would
//! keep a silent TCP connection for about 15 minutes).
//!
//! Needs root, `ip` (iproute2) and `nft` (nftables): CI has them; elsewhere the test says so
//! and passes without running.

use procvisor::{Manager, ManagerError};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(120);

fn run(what: &str, args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        || {
            eprintln!("`{}` failed ({what})", args.join(" "));
            false
        }
}

/// Why this machine cannot run the test, if it cannot.
fn unsupported() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    for tool in ["ip", "nft"] {
        let found = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !found {
            return Some(format!("`{tool}` is not installed"));
        }
    }
    None
}

/// A network namespace joined to this one by a veth pair, and an nftables table; all removed
/// when dropped.
struct Netns {
    name: String,
    host_side: String,
    table: String,
    server: Option<Child>,
}

impl Netns {
    fn new() -> Option<Netns> {
        let id = std::process::id() % 100_000;
        let netns = Netns {
            name: format!("pvpart{id}"),
            host_side: format!("pvh{id}"),
            table: format!("pvpart{id}"),
            server: None,
        };
        let peer = format!("pvn{id}");
        let ok = run("namespace", &["ip", "netns", "add", &netns.name])
            && run(
                "veth",
                &[
                    "ip",
                    "link",
                    "add",
                    &netns.host_side,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    &peer,
                ],
            )
            && run("move", &["ip", "link", "set", &peer, "netns", &netns.name])
            && run(
                "address",
                &[
                    "ip",
                    "addr",
                    "add",
                    "10.231.7.1/30",
                    "dev",
                    &netns.host_side,
                ],
            )
            && run("up", &["ip", "link", "set", &netns.host_side, "up"])
            && run(
                "inner address",
                &[
                    "ip",
                    "netns",
                    "exec",
                    &netns.name,
                    "ip",
                    "addr",
                    "add",
                    "10.231.7.2/30",
                    "dev",
                    &peer,
                ],
            )
            && run(
                "inner up",
                &[
                    "ip",
                    "netns",
                    "exec",
                    &netns.name,
                    "ip",
                    "link",
                    "set",
                    &peer,
                    "up",
                ],
            )
            && run(
                "inner lo",
                &[
                    "ip",
                    "netns",
                    "exec",
                    &netns.name,
                    "ip",
                    "link",
                    "set",
                    "lo",
                    "up",
                ],
            );
        ok.then_some(netns)
    }

    /// Drops every packet from the namespace, in this one.
    fn cut(&self) -> bool {
        run("table", &["nft", "add", "table", "inet", &self.table])
            && run(
                "chain",
                &[
                    "nft",
                    "add",
                    "chain",
                    "inet",
                    &self.table,
                    "input",
                    "{ type filter hook input priority 0 ; }",
                ],
            )
            && run(
                "rule",
                &[
                    "nft",
                    "add",
                    "rule",
                    "inet",
                    &self.table,
                    "input",
                    "ip",
                    "saddr",
                    "10.231.7.2",
                    "drop",
                ],
            )
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
        let _ = run("cleanup", &["nft", "delete", "table", "inet", &self.table]);
        let _ = run("cleanup", &["ip", "link", "del", &self.host_side]);
        let _ = run("cleanup", &["ip", "netns", "del", &self.name]);
    }
}

#[test]
fn a_partition_fails_waiting_and_new_calls_within_the_liveness_bound() {
    if let Some(why) = unsupported() {
        eprintln!("skipped: the partition test needs root, ip and nft ({why})");
        return;
    }
    let mut netns = Netns::new().expect("a network namespace and a veth pair");
    let mut server = Command::new("ip")
        .args([
            "netns",
            "exec",
            &netns.name,
            env!("CARGO_BIN_EXE_scenarios"),
        ])
        .args(["manager_server", "10.231.7.2:0", "partition-key"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    netns.server = Some(server);
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
