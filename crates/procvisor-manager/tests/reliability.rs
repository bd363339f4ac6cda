//! What a manager guarantees when its clients misbehave or die: silent peers never lock other
//! clients out, a dead client's locks are released, a manager per batch of work leaks nothing,
//! and a manager that goes silent fails its callers within a bound.

mod common;

use common::{LIMIT, within};
use procvisor_manager::{Address, Manager};
use std::io::Read;
use std::net::TcpStream;

fn tcp(address: &Address) -> std::net::SocketAddr {
    match address {
        Address::Tcp(a) => *a,
        other => panic!("a TCP address, not {other}"),
    }
}

/// Whether a peer that never wrote anything still has its connection: everything the manager
/// sent (its handshake challenge) is read, and no end of file follows.
fn still_connected(mut stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut bytes = [0u8; 256];
    loop {
        match stream.read(&mut bytes) {
            Ok(0) => return false,
            Ok(_) => continue,
            Err(e) => return e.kind() == std::io::ErrorKind::WouldBlock,
        }
    }
}

#[test]
fn silent_connections_never_lock_other_clients_out() {
    within(LIMIT, "silent peers", || {
        let manager = Manager::builder()
            .address(Address::tcp_loopback(0))
            .authkey(b"secret")
            .start()
            .unwrap();
        let address = manager.address().clone();
        // Ten peers connect and never say a word (they need no key to do so).
        let silent: Vec<TcpStream> = (0..10)
            .map(|_| TcpStream::connect(tcp(&address)).unwrap())
            .collect();
        // A real client is served while every one of them is still connected: it waited for
        // none of their handshakes to time out.
        let client = Manager::connect(address, b"secret").unwrap();
        let d = client.dict::<String, u32>().unwrap();
        d.set("served".into(), 1).unwrap();
        assert_eq!(d.item(&"served".to_string()).unwrap(), 1);
        for (i, peer) in silent.iter().enumerate() {
            assert!(
                still_connected(peer),
                "silent peer {i} was already cut off: the client waited for it"
            );
        }
    });
}

#[test]
fn a_flood_of_silent_connections_is_bounded_and_clients_still_get_in() {
    within(LIMIT, "silent flood", || {
        let manager = Manager::builder()
            .address(Address::tcp_loopback(0))
            .authkey(b"secret")
            .start()
            .unwrap();
        let address = manager.address().clone();
        let silent: Vec<TcpStream> = (0..100)
            .map(|_| TcpStream::connect(tcp(&address)).unwrap())
            .collect();
        let client = Manager::connect(address, b"secret").unwrap();
        let l = client.list_from([1, 2, 3]).unwrap();
        assert_eq!(l.to_vec().unwrap(), vec![1, 2, 3]);
        // At most 64 handshakes wait at once: the oldest silent ones were cut off to make room,
        // the newest are still waiting.
        let waiting = silent.iter().filter(|s| still_connected(s)).count();
        assert!(
            (1..=64).contains(&waiting),
            "{waiting} silent peers are still in their handshake"
        );
        drop(silent);
        // The manager serves on.
        assert_eq!(l.len().unwrap(), 3);
    });
}
