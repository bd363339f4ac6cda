//! Managers across processes: proxies passed to children under every start method, eight
//! processes updating one dict under a manager lock, remote managers over TCP with an authkey,
//! a manager killed under a waiting client, and a manager restarted on its address.

mod common;

use common::{LIMIT, within};
use procvisor_manager::{
    Address, DictProxy, ListProxy, LockProxy, Manager, ManagerError, QueueProxy,
};
use procvisor_runtime::{Process, StartMethod, get_context, register};
use std::time::{Duration, Instant};

fn fill(d: DictProxy<String, u32>, l: ListProxy<u32>) -> Result<(), ManagerError> {
    d.set("pid".into(), std::process::id())?;
    l.reverse()
}

fn hammer(d: DictProxy<String, i64>, lock: LockProxy, rounds: u32) -> Result<(), ManagerError> {
    for _ in 0..rounds {
        let _held = lock.acquire()?;
        let n = d.item(&"n".to_string())?;
        d.set("n".into(), n + 1)?;
    }
    Ok(())
}

fn produce(q: QueueProxy<u32>) -> Result<(), ManagerError> {
    q.put(std::process::id())
}

fn wait_for_lock(lock: LockProxy, started: QueueProxy<u32>) -> Result<(), ManagerError> {
    started.put(std::process::id())?;
    lock.acquire().map(drop)
}
register!(fill, hammer, produce, wait_for_lock);

#[test]
fn a_client_killed_while_waiting_is_never_handed_the_lock() {
    within(LIMIT, "dead waiter", || {
        let manager = Manager::start().unwrap();
        let lock = manager.lock().unwrap();
        let started = manager.queue::<u32>(0).unwrap();
        lock.acquire().unwrap().leak();
        let mut waiter = Process::new(wait_for_lock, (lock.clone(), started.clone())).unwrap();
        waiter.start().unwrap();
        started.get_timeout(LIMIT).unwrap();
        waiter.kill().unwrap();
        waiter.join().unwrap();
        lock.release().unwrap();
        // Had the dead waiter been given the lock, nobody could take it now.
        assert!(lock.acquire_timeout(Duration::from_secs(10)).is_ok());
    });
}

#[test]
fn proxies_reach_the_same_objects_from_children_under_every_start_method() {
    within(LIMIT, "children", || {
        for method in [
            StartMethod::Fork,
            StartMethod::Spawn,
            StartMethod::Forkserver,
        ] {
            let manager = Manager::builder()
                .context(get_context(method))
                .start()
                .unwrap();
            let d = manager.dict::<String, u32>().unwrap();
            let l = manager.list_from(0..3).unwrap();
            let mut p = Process::new(fill, (d.clone(), l.clone()))
                .unwrap()
                .with_context(get_context(method));
            p.start().unwrap();
            p.join().unwrap();
            assert_eq!(p.exitcode(), Some(0), "{method:?}");
            assert_eq!(d.get(&"pid".to_string()).unwrap(), p.pid(), "{method:?}");
            assert_eq!(l.to_vec().unwrap(), vec![2, 1, 0], "{method:?}");
            let q = manager.queue::<u32>(0).unwrap();
            let mut p = Process::new(produce, (q.clone(),))
                .unwrap()
                .with_context(get_context(method));
            p.start().unwrap();
            assert_eq!(Some(q.get_timeout(LIMIT).unwrap()), p.pid(), "{method:?}");
            p.join().unwrap();
        }
    });
}

#[test]
fn eight_processes_lose_no_update_under_a_manager_lock() {
    within(LIMIT, "eight processes", || {
        let manager = Manager::start().unwrap();
        let d = manager.dict_from([("n".to_string(), 0_i64)]).unwrap();
        let lock = manager.lock().unwrap();
        let rounds = 100;
        let mut children: Vec<Process> = (0..8)
            .map(|_| {
                let mut p = Process::new(hammer, (d.clone(), lock.clone(), rounds)).unwrap();
                p.start().unwrap();
                p
            })
            .collect();
        for p in &mut children {
            p.join().unwrap();
            assert_eq!(p.exitcode(), Some(0));
        }
        assert_eq!(d.item(&"n".to_string()).unwrap(), 8 * i64::from(rounds));
        assert!(!lock.locked().unwrap());
    });
}

fn loopback() -> Address {
    Address::tcp_loopback(0)
}

#[test]
fn a_remote_manager_serves_clients_with_the_key_and_refuses_the_rest() {
    within(LIMIT, "remote manager", || {
        let manager = Manager::builder()
            .address(loopback())
            .authkey(b"secret")
            .start()
            .unwrap();
        let address = manager.address().clone();
        assert!(matches!(address, Address::Tcp(a) if a.port() != 0));
        let tasks = manager.queue::<String>(0).unwrap();
        manager.publish("tasks", &tasks).unwrap();

        // Another client, knowing only the address and the key.
        let client = Manager::connect(address.clone(), b"secret").unwrap();
        assert_eq!(client.pid(), None);
        let found: QueueProxy<String> = client.lookup("tasks").unwrap().unwrap();
        found.put("job 1".into()).unwrap();
        assert_eq!(tasks.get().unwrap(), "job 1");
        assert!(
            client
                .lookup::<QueueProxy<String>>("nothing")
                .unwrap()
                .is_none()
        );

        // A wrong key is refused before anything is touched.
        match Manager::connect(address.clone(), b"wrong") {
            Err(ManagerError::Authentication { .. }) => {}
            other => panic!("{other:?}"),
        }
        assert!(tasks.empty().unwrap());
        // A method's error comes back, and the manager serves on.
        let d = client.dict::<i32, i32>().unwrap();
        assert!(d.item(&1).unwrap_err().is_remote("KeyError"));
        d.set(1, 2).unwrap();
        assert_eq!(d.item(&1).unwrap(), 2);
    });
}

#[test]
fn a_killed_manager_fails_its_waiting_clients_at_once() {
    within(LIMIT, "killed manager", || {
        let manager = Manager::start().unwrap();
        let q = manager.queue::<i32>(0).unwrap();
        let cond = manager.condition().unwrap();
        // A waiter that is provably waiting in the manager: its wait gives the condition's
        // lock up only there, so the lock becoming free says it is waiting.
        let held = std::sync::Arc::new(std::sync::Barrier::new(2));
        let (waiting_cond, lock_held) = (cond.clone(), held.clone());
        let waiter = std::thread::spawn(move || {
            waiting_cond.acquire().unwrap().leak();
            lock_held.wait();
            waiting_cond.wait()
        });
        held.wait();
        let deadline = Instant::now() + LIMIT;
        while cond.lock().try_acquire().is_err() {
            assert!(
                Instant::now() < deadline,
                "the waiter never waited in the manager"
            );
            std::thread::yield_now();
        }
        // And one that may or may not have reached the manager yet: it must fail at once too.
        let waiting_q = q.clone();
        let getter = std::thread::spawn(move || waiting_q.get());
        let pid = manager.pid().unwrap();
        // SAFETY: kill(2) has no memory effects.
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
        let killed = Instant::now();
        assert!(matches!(
            getter.join().unwrap(),
            Err(ManagerError::Unreachable { .. })
        ));
        assert!(matches!(
            waiter.join().unwrap(),
            Err(ManagerError::Unreachable { .. })
        ));
        assert!(
            killed.elapsed() < Duration::from_secs(5),
            "{:?}",
            killed.elapsed()
        );
        // Later calls fail at once too, and so does the shutdown.
        let put = q.put(1);
        assert!(
            matches!(put, Err(ManagerError::Unreachable { .. })),
            "{put:?}"
        );
        assert!(matches!(
            manager.shutdown(),
            Err(ManagerError::Unreachable { .. })
        ));
    });
}

#[test]
fn a_manager_restarts_on_its_address_at_once_with_fresh_objects() {
    within(LIMIT, "restart", || {
        let first = Manager::builder()
            .address(loopback())
            .authkey(b"k")
            .start()
            .unwrap();
        let address = first.address().clone();
        let old = first.dict::<i32, i32>().unwrap();
        old.set(1, 1).unwrap();
        first.shutdown().unwrap();
        assert!(matches!(old.len(), Err(ManagerError::Unreachable { .. })));
        // CPython's test_rapid_restart: the same address, straight away.
        let second = Manager::builder()
            .address(address.clone())
            .authkey(b"k")
            .start()
            .unwrap();
        assert_eq!(second.address(), &address);
        let fresh = second.dict::<i32, i32>().unwrap();
        assert!(fresh.is_empty().unwrap());
        // The old proxy's object did not survive: a restart is a new manager.
        assert!(old.len().unwrap_err().is_remote("ReferenceError"));
    });
}

#[test]
fn a_taken_address_is_a_start_error() {
    within(LIMIT, "address taken", || {
        let first = Manager::builder().address(loopback()).start().unwrap();
        match Manager::builder().address(first.address().clone()).start() {
            Err(ManagerError::Start(reason)) => assert!(reason.contains("bind"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Manager::connect(Address::tcp_loopback(1), b"k"),
            Err(ManagerError::Unreachable { .. })
        ));
    });
}
