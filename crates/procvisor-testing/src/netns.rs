//! A network namespace joined to this one by a veth pair, for tests of what a partition does:
//! [`Netns::cut`] drops every packet the namespace sends (an nftables rule: no reset, like a
//! pulled cable), [`Netns::heal`] lets them through again. Needs root, `ip` and `nft`
//! ([`unsupported`] says which is missing); everything is removed when dropped.

use std::process::{Command, Stdio};

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

/// Why this machine cannot run a partition test, if it cannot.
pub fn unsupported() -> Option<String> {
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

/// A namespace, its veth pair and its nftables table.
#[derive(Debug)]
pub struct Netns {
    /// The namespace's name (for `ip netns exec`).
    pub name: String,
    /// This side's address on the pair.
    pub outside: String,
    /// The namespace's address on the pair.
    pub inside: String,
    host_side: String,
    table: String,
}

impl Netns {
    /// A namespace named after `tag` and this process, on the /30 `10.231.<subnet>.0`.
    pub fn new(tag: &str, subnet: u8) -> Option<Netns> {
        let id = std::process::id() % 100_000;
        let netns = Netns {
            name: format!("pv{tag}{id}"),
            outside: format!("10.231.{subnet}.1"),
            inside: format!("10.231.{subnet}.2"),
            host_side: format!("pvh{tag}{id}"),
            table: format!("pv{tag}{id}"),
        };
        let peer = format!("pvn{tag}{id}");
        let (outside, inside) = (
            format!("{}/30", netns.outside),
            format!("{}/30", netns.inside),
        );
        let inner = |args: &[&str]| -> Vec<String> {
            ["ip", "netns", "exec", &netns.name]
                .iter()
                .chain(args)
                .map(|s| s.to_string())
                .collect()
        };
        let strs = |v: &[String]| -> bool {
            let args: Vec<&str> = v.iter().map(String::as_str).collect();
            run("inner", &args)
        };
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
                &["ip", "addr", "add", &outside, "dev", &netns.host_side],
            )
            && run("up", &["ip", "link", "set", &netns.host_side, "up"])
            && strs(&inner(&["ip", "addr", "add", &inside, "dev", &peer]))
            && strs(&inner(&["ip", "link", "set", &peer, "up"]))
            && strs(&inner(&["ip", "link", "set", "lo", "up"]));
        ok.then_some(netns)
    }

    /// Drops every packet from the namespace, in this one.
    pub fn cut(&self) -> bool {
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
                    &self.inside,
                    "drop",
                ],
            )
    }

    /// Lets the namespace's packets through again.
    pub fn heal(&self) -> bool {
        run("heal", &["nft", "delete", "table", "inet", &self.table])
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &std::path::Path) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", &self.table])
            .stderr(Stdio::null())
            .status();
        let _ = run("cleanup", &["ip", "link", "del", &self.host_side]);
        let _ = run("cleanup", &["ip", "netns", "del", &self.name]);
    }
}
