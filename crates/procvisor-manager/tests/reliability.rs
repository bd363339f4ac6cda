//! What a manager guarantees when its clients misbehave or die: silent peers never lock other
//! clients out, a dead client's locks are released, a manager per batch of work leaks nothing,
//! and a manager that goes silent fails its callers within a bound.

mod common;

use common::{LIMIT, within};
use procvisor_manager::{
    Address, ConditionProxy, EventProxy, LockProxy, Manager, ManagerError, SemaphoreProxy,
};
use procvisor_runtime::{Process, StartMethod, get_context, register};
use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

/// Takes `lock` `depth` times (an RLock re-entered), says so, and waits to be killed.
fn hold_lock(lock: LockProxy, depth: u32, held: EventProxy) -> Result<(), ManagerError> {
    for _ in 0..depth {
        lock.acquire()?.leak();
    }
    held.set()?;
    std::thread::sleep(Duration::from_secs(600));
    Ok(())
}

/// Takes `permits` of `semaphore`, says so, and waits to be killed.
fn hold_permits(
    semaphore: SemaphoreProxy,
    permits: u32,
    held: EventProxy,
) -> Result<(), ManagerError> {
    for _ in 0..permits {
        semaphore.acquire()?.leak();
    }
    held.set()?;
    std::thread::sleep(Duration::from_secs(600));
    Ok(())
}

/// Takes the condition's lock, says so, and waits to be killed.
fn hold_condition(condition: ConditionProxy, held: EventProxy) -> Result<(), ManagerError> {
    condition.acquire()?.leak();
    held.set()?;
    std::thread::sleep(Duration::from_secs(600));
    Ok(())
}
register!(hold_lock, hold_permits, hold_condition);

const METHODS: [StartMethod; 3] = [
    StartMethod::Fork,
    StartMethod::Spawn,
    StartMethod::Forkserver,
];

/// Starts `target(args)` under `method`, waits until it says it holds, and kills it.
fn kill_once_held<F, A>(method: StartMethod, target: F, args: A, held: &EventProxy)
where
    F: procvisor_runtime::Target<A>,
    A: serde::Serialize,
{
    let mut holder = Process::new(target, args)
        .unwrap()
        .with_context(get_context(method));
    holder.start().unwrap();
    assert!(
        held.wait_timeout(LIMIT).unwrap(),
        "{method:?}: the holder never said it held"
    );
    holder.kill().unwrap();
    holder.join().unwrap();
}

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
        // A burst is let in whole (honest clients connecting at once must not be cut off), and
        // the silent ones are cut off in time: past 64 at once, the oldest after a second, and
        // every one at the handshake timeout.
        procvisor_testing::wait_until(LIMIT, "the silent peers to be cut off", || {
            silent.iter().all(|s| !still_connected(s))
        });
        drop(silent);
        // The manager serves on.
        assert_eq!(l.len().unwrap(), 3);
    });
}

#[test]
fn a_lock_or_rlock_held_by_a_dead_client_is_released() {
    within(LIMIT, "dead lock holders", || {
        for method in METHODS {
            let manager = Manager::start().unwrap();
            for (lock, depth) in [(manager.lock().unwrap(), 1), (manager.rlock().unwrap(), 3)] {
                let held = manager.event().unwrap();
                kill_once_held(
                    method,
                    hold_lock,
                    (lock.clone(), depth, held.clone()),
                    &held,
                );
                // Python's manager would keep it held for ever.
                let again = lock.acquire_timeout(LIMIT).unwrap_or_else(|e| {
                    panic!("{method:?}: a lock held {depth} deep by a dead client stayed held: {e}")
                });
                drop(again);
                assert!(
                    !lock.locked().unwrap(),
                    "{method:?}: released at every depth"
                );
            }
        }
    });
}

#[test]
fn semaphore_permits_held_by_a_dead_client_come_back() {
    within(LIMIT, "dead permit holders", || {
        for method in METHODS {
            let manager = Manager::start().unwrap();
            for semaphore in [
                manager.semaphore(3).unwrap(),
                manager.bounded_semaphore(3).unwrap(),
            ] {
                let held = manager.event().unwrap();
                kill_once_held(
                    method,
                    hold_permits,
                    (semaphore.clone(), 2, held.clone()),
                    &held,
                );
                for permit in 0..3 {
                    let taken = semaphore.acquire_timeout(LIMIT).unwrap_or_else(|e| {
                        panic!("{method:?}: permit {permit} did not come back: {e}")
                    });
                    taken.leak();
                }
                assert_eq!(semaphore.value().unwrap(), 0, "{method:?}");
            }
        }
    });
}

#[test]
fn a_condition_lock_held_by_a_dead_client_is_released() {
    within(LIMIT, "dead condition holder", || {
        for method in METHODS {
            let manager = Manager::start().unwrap();
            let condition = manager.condition().unwrap();
            let held = manager.event().unwrap();
            kill_once_held(
                method,
                hold_condition,
                (condition.clone(), held.clone()),
                &held,
            );
            let held = condition
                .lock()
                .acquire_timeout(LIMIT)
                .unwrap_or_else(|e| panic!("{method:?}: the condition's lock stayed held: {e}"));
            condition.notify_all().unwrap();
            drop(held);
        }
    });
}

/// Sends `signal` to `pid`.
fn signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) has no memory effects.
    unsafe { libc::kill(pid as i32, signal) };
}

/// Resumes a stopped manager when dropped, so that a failed assertion leaves nothing stopped.
struct Resume(u32);

impl Drop for Resume {
    fn drop(&mut self) {
        signal(self.0, libc::SIGCONT);
    }
}

/// How long past the liveness bound a call may take to fail (a loaded machine's scheduling).
const SLACK: Duration = Duration::from_secs(5);

#[test]
fn a_stopped_manager_fails_waiting_and_new_calls_within_the_liveness_bound() {
    within(LIMIT, "stopped manager", || {
        let liveness = Duration::from_secs(3);
        let manager = Manager::builder()
            .address(Address::tcp_loopback(0))
            .authkey(b"k")
            .liveness_timeout(liveness)
            .start()
            .unwrap();
        let queue = manager.queue::<u32>(0).unwrap();
        let d = manager.dict::<u32, u32>().unwrap();
        d.set(1, 1).unwrap();
        let waiting = {
            let queue = queue.clone();
            std::thread::spawn(move || {
                let started = std::time::Instant::now();
                (queue.get(), started.elapsed())
            })
        };
        // The getter is waiting in the manager once its heartbeats have kept it past the bound.
        let pid = manager.pid().unwrap();
        std::thread::sleep(liveness + Duration::from_secs(1));
        assert!(
            !waiting.is_finished(),
            "a legitimate wait must outlive the bound"
        );
        signal(pid, libc::SIGSTOP);
        let _resume = Resume(pid);
        let (got, took) = waiting.join().unwrap();
        assert!(
            matches!(got, Err(ManagerError::Unreachable { .. })),
            "{got:?}"
        );
        // It waited through the bound while the manager lived, then failed within one bound.
        assert!(
            took < liveness * 2 + Duration::from_secs(1) + SLACK,
            "{took:?}"
        );

        // A new call (over a pooled connection or a new one) fails within the bound too.
        let started = std::time::Instant::now();
        let err = d.item(&1).unwrap_err();
        assert!(matches!(err, ManagerError::Unreachable { .. }), "{err}");
        assert!(
            started.elapsed() < liveness + SLACK,
            "{:?}",
            started.elapsed()
        );
        // So does connecting afresh.
        let started = std::time::Instant::now();
        let err = Manager::builder()
            .address(manager.address().clone())
            .authkey(b"k")
            .liveness_timeout(liveness)
            .connect()
            .unwrap_err();
        assert!(matches!(err, ManagerError::Unreachable { .. }), "{err}");
        assert!(
            started.elapsed() < liveness + SLACK,
            "{:?}",
            started.elapsed()
        );

        // Resumed, it serves again.
        drop(_resume);
        assert_eq!(d.item(&1).unwrap(), 1);
    });
}
