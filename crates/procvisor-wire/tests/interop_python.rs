//! Interoperability with CPython's `multiprocessing.connection`: the same framing, the same
//! Python 3.12+ authkey handshake. Needs `python3` on the PATH (CI installs nothing for it:
//! the machine has it).

use procvisor_wire::{Address, AuthenticationError, Client, Listener, ListenerError};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod common;

const DEADLINE: Duration = Duration::from_secs(30);

fn python(mode: &str, address: &Address, key: &str) -> Child {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/peer.py");
    Command::new("python3")
        .arg(script)
        .args([mode, &address.to_string(), key])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be installed for the interop tests")
}

fn python_version() -> (u32, u32) {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys; print(sys.version_info[0], sys.version_info[1])",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut parts = text.split_whitespace().map(|p| p.parse().unwrap());
    (parts.next().unwrap(), parts.next().unwrap())
}

fn finish(child: Child, step: &str) -> (String, String) {
    let out = common::wait_with_deadline(child, DEADLINE, step);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "step `{step}`: python failed: {stderr}"
    );
    (stdout, stderr)
}

/// `listener.accept()` on a thread, bounded by the deadline.
fn accept(
    listener: &std::sync::Arc<Listener>,
    step: &str,
) -> Result<procvisor_wire::Connection, ListenerError> {
    let (tx, rx) = mpsc::channel();
    let listener = listener.clone();
    std::thread::spawn(move || {
        let _ = tx.send(listener.accept());
    });
    rx.recv_timeout(DEADLINE)
        .unwrap_or_else(|_| panic!("step `{step}`: accept did not return within {DEADLINE:?}"))
}

fn rust_side_of_exchange(conn: &mut procvisor_wire::Connection) {
    assert_eq!(conn.recv_bytes(None).unwrap(), b"hello from python");
    let big = conn.recv_bytes(None).unwrap();
    assert_eq!(big.len(), 1 << 20);
    assert!(big.chunks(256).all(|c| c.iter().copied().eq(0..=255)));
    conn.send_bytes(b"hello from rust").unwrap();
    conn.send_bytes(&vec![7; 3 << 20]).unwrap();
}

#[test]
fn a_python_client_authenticates_to_a_rust_listener() {
    for (key, listener_key) in [("s3cret", Some(&b"s3cret"[..])), ("-", None)] {
        let mut builder = Listener::builder().address(Address::arbitrary().unwrap());
        if let Some(k) = listener_key {
            builder = builder.authkey(k);
        }
        let listener = std::sync::Arc::new(builder.bind().unwrap());
        let peer = python("client", listener.address(), key);
        let mut conn = accept(&listener, "accept the python client").unwrap();
        rust_side_of_exchange(&mut conn);
        let (stdout, _) = finish(peer, "python client exchange");
        assert_eq!(stdout, format!("hello from rust\n{}\n", 3 << 20));
    }
}

#[test]
fn a_rust_client_authenticates_to_a_python_listener() {
    let address = Address::arbitrary().unwrap();
    let mut peer = python("listener", &address, "s3cret");
    let mut ready = String::new();
    BufReader::new(peer.stdout.as_mut().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "READY");
    let mut conn = Client::new(address).authkey(b"s3cret").connect().unwrap();
    rust_side_of_exchange(&mut conn);
    let (stdout, _) = finish(peer, "python listener exchange");
    assert_eq!(stdout, format!("hello from rust\n{}\n", 3 << 20));
}

#[test]
fn a_python_client_with_the_wrong_key_is_refused() {
    let listener = std::sync::Arc::new(
        Listener::builder()
            .address(Address::arbitrary().unwrap())
            .authkey(b"right")
            .bind()
            .unwrap(),
    );
    let peer = python("client", listener.address(), "wrong");
    let err = accept(&listener, "accept the python client").unwrap_err();
    assert!(
        matches!(
            err,
            ListenerError::Authentication(AuthenticationError::DigestReceivedWasWrong)
        ),
        "{err}"
    );
    let out = common::wait_with_deadline(peer, DEADLINE, "python client with the wrong key");
    assert!(
        !out.status.success(),
        "python must not believe it authenticated"
    );
}

#[test]
fn python_3_11_legacy_md5_clients_are_refused_clearly() {
    if python_version() >= (3, 12) {
        eprintln!("python >= 3.12 speaks the modern handshake natively; nothing legacy to refuse");
        return;
    }
    let listener = std::sync::Arc::new(
        Listener::builder()
            .address(Address::arbitrary().unwrap())
            .authkey(b"k")
            .bind()
            .unwrap(),
    );
    let peer = python("legacy-client", listener.address(), "k");
    let err = accept(&listener, "accept the legacy client").unwrap_err();
    assert!(
        matches!(
            err,
            ListenerError::Authentication(AuthenticationError::LegacyPeer)
        ),
        "{err}"
    );
    let (stdout, _) = finish(peer, "legacy client");
    assert!(stdout.starts_with("refused:"), "{stdout}");
}
