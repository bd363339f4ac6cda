use crate::{Address, AuthenticationError, Client, Listener, ListenerError};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(10);

/// Runs `f` on a thread; the returned receiver yields its result.
fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> mpsc::Receiver<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx
}

fn wait_for<T>(rx: &mpsc::Receiver<T>, step: &str) -> T {
    rx.recv_timeout(LIMIT)
        .unwrap_or_else(|_| panic!("step `{step}` did not finish within {LIMIT:?}"))
}

fn exchange(
    address: Address,
    listener_key: Option<&'static [u8]>,
    client_key: Option<&'static [u8]>,
) {
    let mut builder = Listener::builder().address(address);
    if let Some(key) = listener_key {
        builder = builder.authkey(key);
    }
    let listener = builder.bind().unwrap();
    let address = listener.address().clone();
    let client = spawn(move || {
        let mut client = Client::new(address);
        if let Some(key) = client_key {
            client = client.authkey(key);
        }
        let mut conn = client.connect().unwrap();
        conn.send(&1729).unwrap();
        conn.recv::<String>().unwrap()
    });
    let mut conn = listener.accept().unwrap();
    assert_eq!(conn.recv::<i32>().unwrap(), 1729);
    conn.send(&"welcome").unwrap();
    assert_eq!(wait_for(&client, "client exchange"), "welcome");
}

#[test]
fn every_family_connects_with_and_without_a_key() {
    let keys: [Option<&'static [u8]>; 3] = [None, Some(b"secret"), Some(b"")];
    for (i, key) in keys.into_iter().enumerate() {
        exchange(Address::arbitrary().unwrap(), key, key);
        exchange(Address::tcp_loopback(0), key, key);
        let name = format!("@procvisor-test-{}-{i}", std::process::id());
        exchange(name.parse().unwrap(), key, key);
    }
}

#[test]
fn a_wrong_key_fails_on_both_sides_and_carries_nothing() {
    let listener = Listener::builder()
        .address(Address::tcp_loopback(0))
        .authkey(b"right")
        .bind()
        .unwrap();
    let address = listener.address().clone();
    let client = spawn(move || Client::new(address).authkey(b"wrong").connect().map(drop));
    let server_err = listener.accept().unwrap_err();
    assert!(
        matches!(
            server_err,
            ListenerError::Authentication(AuthenticationError::DigestReceivedWasWrong)
        ),
        "{server_err}"
    );
    let client_err = wait_for(&client, "client handshake").unwrap_err();
    assert!(
        matches!(
            client_err,
            ListenerError::Authentication(AuthenticationError::DigestSentWasRejected)
        ),
        "{client_err}"
    );
}

#[test]
fn a_client_without_the_key_is_refused_before_its_data_is_read() {
    let listener = Listener::builder()
        .address(Address::tcp_loopback(0))
        .authkey(b"k")
        .bind()
        .unwrap();
    let address = listener.address().clone();
    let _client = spawn(move || {
        let mut conn = Client::new(address).connect().unwrap();
        let _ = conn.send(&"data meant for an authenticated peer");
        // Keep the socket open until the listener has given up on it.
        let _ = conn.recv_bytes(None);
        let _ = conn.recv_bytes(None);
    });
    assert!(matches!(
        listener.accept(),
        Err(ListenerError::Authentication(_))
    ));
}

#[test]
fn a_keyed_client_refuses_an_unkeyed_listener() {
    let listener = Listener::bind(Address::tcp_loopback(0)).unwrap();
    let address = listener.address().clone();
    let client = spawn(move || Client::new(address).authkey(b"k").connect().map(drop));
    let mut conn = listener.accept().unwrap();
    conn.send(&"not a challenge").unwrap();
    let err = wait_for(&client, "client handshake").unwrap_err();
    assert!(
        matches!(
            err,
            ListenerError::Authentication(AuthenticationError::Protocol(_))
        ),
        "{err}"
    );
}

#[test]
fn a_silent_peer_cannot_hold_the_listener() {
    let listener = Listener::builder()
        .address(Address::tcp_loopback(0))
        .authkey(b"k")
        .handshake_timeout(Some(Duration::from_millis(200)))
        .bind()
        .unwrap();
    let silent = std::net::TcpStream::connect(match listener.address() {
        Address::Tcp(a) => *a,
        _ => unreachable!(),
    })
    .unwrap();
    let start = Instant::now();
    let err = listener.accept().unwrap_err();
    assert!(
        matches!(
            err,
            ListenerError::Authentication(AuthenticationError::Timeout(_))
        ),
        "{err}"
    );
    assert!(start.elapsed() < LIMIT);
    drop(silent);
    // The listener is still usable for the next client.
    let address = listener.address().clone();
    let client = spawn(move || {
        Client::new(address)
            .authkey(b"k")
            .connect()
            .map(|mut c| c.send(&1).unwrap())
    });
    let mut conn = listener.accept().unwrap();
    assert_eq!(conn.recv::<i32>().unwrap(), 1);
    wait_for(&client, "second client").unwrap();
}

#[test]
fn close_wakes_a_blocked_accept_and_later_accepts_fail() {
    let listener = std::sync::Arc::new(Listener::bind(Address::arbitrary().unwrap()).unwrap());
    let (started_tx, started_rx) = mpsc::channel();
    let blocked = {
        let listener = listener.clone();
        spawn(move || {
            started_tx.send(()).unwrap();
            listener.accept().map(drop)
        })
    };
    // Whether the thread is already blocked in accept or just about to be, close must end it.
    wait_for(&started_rx, "accept thread start");
    listener.close();
    assert!(matches!(
        wait_for(&blocked, "blocked accept"),
        Err(ListenerError::Closed)
    ));
    assert!(matches!(listener.accept(), Err(ListenerError::Closed)));
    assert!(listener.closed());
}

#[test]
fn unix_socket_files_are_removed_and_addresses_in_use_are_errors() {
    let address = Address::arbitrary().unwrap();
    let Address::Unix(path) = &address else {
        unreachable!()
    };
    let listener = Listener::bind(address.clone()).unwrap();
    assert!(path.exists());
    assert!(matches!(
        Listener::bind(address.clone()),
        Err(ListenerError::Io { op: "bind", .. })
    ));
    drop(listener);
    assert!(!path.exists());
    Listener::bind(address).unwrap();
}

#[test]
fn connecting_to_nothing_is_an_io_error() {
    let address = Address::arbitrary().unwrap();
    assert!(matches!(
        Client::new(address).connect(),
        Err(ListenerError::Io { op: "connect", .. })
    ));
}

#[test]
fn tcp_accepts_record_the_peer_and_use_port_zero() {
    let listener = Listener::bind(Address::tcp_loopback(0)).unwrap();
    let Address::Tcp(bound) = listener.address() else {
        unreachable!()
    };
    assert_ne!(bound.port(), 0);
    assert!(listener.last_accepted().is_none());
    let address = listener.address().clone();
    let client = spawn(move || Client::new(address).connect().map(drop));
    listener.accept().unwrap();
    wait_for(&client, "connect").unwrap();
    assert!(
        matches!(listener.last_accepted(), Some(Address::Tcp(peer)) if peer.ip().is_loopback())
    );
}

#[test]
fn async_accept_and_connect_authenticate() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = Listener::builder()
            .address(Address::tcp_loopback(0))
            .authkey(b"async")
            .bind()
            .unwrap();
        let client = Client::new(listener.address().clone()).authkey(b"async");
        let (server, client) = tokio::join!(listener.accept_async(), client.connect_async());
        let (mut server, mut client) = (server.unwrap(), client.unwrap());
        client.send_async(&"over async").await.unwrap();
        assert_eq!(server.recv_async::<String>().await.unwrap(), "over async");

        let wrong = Client::new(listener.address().clone()).authkey(b"nope");
        let (server, client) = tokio::join!(listener.accept_async(), wrong.connect_async());
        assert!(matches!(server, Err(ListenerError::Authentication(_))));
        assert!(matches!(client, Err(ListenerError::Authentication(_))));
    });
}

#[test]
fn accept_incoming_lets_a_client_in_past_a_silent_one() {
    let listener = Listener::builder()
        .address(Address::tcp_loopback(0))
        .authkey(b"k")
        .bind()
        .unwrap();
    let Address::Tcp(tcp) = listener.address().clone() else {
        unreachable!()
    };
    let silent = std::net::TcpStream::connect(tcp).unwrap();
    let address = listener.address().clone();
    let client = spawn(move || {
        Client::new(address)
            .authkey(b"k")
            .connect()
            .map(|mut c| c.send(&2).unwrap())
    });
    // The silent peer's connection is handed over without waiting for it to speak.
    let first = listener.accept_incoming().unwrap();
    let second = listener.accept_incoming().unwrap();
    let mut conn = second.authenticate().unwrap();
    assert_eq!(conn.recv::<i32>().unwrap(), 2);
    wait_for(&client, "the client behind the silent peer").unwrap();
    // Cutting the silent one's handshake short fails it at once, as a hang-up.
    let interrupt = first.interrupt_handle().unwrap();
    interrupt.interrupt();
    assert!(matches!(
        first.authenticate(),
        Err(ListenerError::Authentication(_))
    ));
    drop(silent);
}
