//! TLS to servers of your own: a certificate authority made for the test, a nats-server that
//! requires TLS and a login per role, agents that log in as agents. With the authority, the
//! pool works; without it, nothing connects.
//!
//! Needs `openssl` (to make the certificates) and `nats-server`; skipped with a message
//! where `openssl` is missing (CI installs it).

mod common;

use common::{LIMIT, nats_or_skip, within};
use procvisor_cluster::{Cluster, ClusterError, LocalLauncher};
use procvisor_pool::Pool;
use procvisor_testing::KillOnDrop;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn square(x: u64) -> u64 {
    x * x
}
procvisor_runtime::register!(square);

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl {args:?} failed");
}

/// A certificate authority, and a certificate for 127.0.0.1 signed by it.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=procvisor test CA",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server-key.pem",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "san.ext",
            "-out",
            "server.pem",
        ],
    );
}

#[test]
fn with_tls_and_a_login_per_role_the_pool_works_and_without_the_authority_nothing_connects() {
    if !nats_or_skip("tls") {
        return;
    }
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("tls: skipped, openssl is not installed");
        return;
    }
    within(LIMIT, "tls", || {
        let dir = std::env::temp_dir().join(format!("pv-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        certificates(&dir);
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        std::fs::write(
            dir.join("nats.conf"),
            format!(
                r#"listen: "127.0.0.1:{port}"
tls {{ cert_file: "server.pem", key_file: "server-key.pem" }}
authorization {{
  users: [
    {{ user: "router", password: "r-secret", permissions: {{ publish: ">", subscribe: ">" }} }}
    {{ user: "agent", password: "a-secret", permissions: {{
        publish: {{ allow: ["pv.tls.hb", "pv.tls.pool.*"] }},
        subscribe: {{ allow: ["pv.tls.agent.*", "_INBOX.>"] }},
        allow_responses: true }} }}
  ]
}}
"#
            ),
        )
        .unwrap();
        let _server = KillOnDrop(
            Command::new("nats-server")
                .args(["-c", "nats.conf"])
                .current_dir(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen");
            std::thread::sleep(Duration::from_millis(10));
        }
        let url = format!("tls://127.0.0.1:{port}");

        let without = Cluster::builder()
            .servers([url.clone()])
            .user_password("router", "r-secret")
            .name("tls")
            .join()
            .unwrap_err();
        assert!(matches!(without, ClusterError::Connect { .. }), "{without}");

        let cluster = Cluster::builder()
            .servers([url])
            .tls_ca(dir.join("ca.pem"))
            .user_password("router", "r-secret")
            .agent_user_password("agent", "a-secret")
            .name("tls")
            .launcher(LocalLauncher::new(1))
            .workers_per_host(2)
            .min_hosts(1)
            .join()
            .unwrap();
        let pool = Pool::builder().cluster(&cluster).build().unwrap();
        assert_eq!(pool.map(square, 0..1000u64).unwrap()[999], 999 * 999);
        drop(pool);
        drop(cluster);
        let _ = std::fs::remove_dir_all(&dir);
    });
}
