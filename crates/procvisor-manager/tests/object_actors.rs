//! Every object a manager holds is an actor of the program (`ManagedObject`): found by name
//! from children under every start method with nothing handed over, passed around as a
//! `RemoteRef`, refused when it is of another kind or not there, and safe to take locks
//! through (a process that dies holding one gives it back). Every test has a deadline that
//! names the step that hung.

mod common;

use common::{LIMIT, within};
use procvisor_manager::{
    DictProxy, LockProxy, ManagedObject, Manager, ManagerError, ObjectKind, ObjectMsg, Proxy,
    QueueProxy,
};
use procvisor_runtime::{Process, RemoteRef, StartMethod, get_context, register};
use std::time::Duration;

/// Finds the dict by name and writes this process's pid under `key`.
fn write_by_name(name: String, key: String) -> Result<(), ManagerError> {
    let d = DictProxy::<String, u32>::named(&name)?;
    d.set(key, std::process::id())
}

/// Turns the reference into a queue proxy and puts this process's pid on it.
fn put_by_reference(queue: RemoteRef<ManagedObject>) -> Result<(), ManagerError> {
    QueueProxy::<u32>::from_remote_ref(&queue)?.put(std::process::id())
}

/// Takes the lock found by name, says so, and ends without releasing it.
fn die_holding(name: String, taken: QueueProxy<u32>) -> Result<(), ManagerError> {
    LockProxy::named(&name)?.acquire()?.leak();
    taken.put(1)?;
    std::process::exit(3);
}
register!(write_by_name, put_by_reference, die_holding);

#[test]
fn children_find_an_object_by_name_under_every_start_method() {
    within(LIMIT, "by name", || {
        let manager = Manager::start().unwrap();
        let d = manager.dict::<String, u32>().unwrap();
        d.register("pids").unwrap();
        for method in [
            StartMethod::Fork,
            StartMethod::Spawn,
            StartMethod::Forkserver,
        ] {
            let key = format!("{method:?}");
            let mut p = Process::new(write_by_name, ("pids".to_string(), key.clone()))
                .unwrap()
                .with_context(get_context(method));
            p.start().unwrap();
            p.join().unwrap();
            assert_eq!(p.exitcode(), Some(0), "{method:?}");
            assert_eq!(d.get(&key).unwrap(), p.pid(), "{method:?}");
        }
    });
}

#[test]
fn a_reference_travels_to_a_child_and_becomes_a_proxy_there() {
    within(LIMIT, "by reference", || {
        let manager = Manager::start().unwrap();
        let q = manager.queue::<u32>(0).unwrap();
        let reference = q.remote_ref().unwrap();
        // Asked again, the object is the same actor.
        assert_eq!(q.remote_ref().unwrap().id(), reference.id());
        let info = reference.call(ObjectMsg::Describe).unwrap();
        assert_eq!(info.kind, ObjectKind::Queue);
        let mut p = Process::new(put_by_reference, (reference,))
            .unwrap()
            .with_context(get_context(StartMethod::Spawn));
        p.start().unwrap();
        p.join().unwrap();
        assert_eq!(p.exitcode(), Some(0));
        assert_eq!(q.get_timeout(LIMIT).unwrap(), p.pid().unwrap());
    });
}

#[test]
fn a_proxy_of_another_kind_or_a_missing_name_is_a_clear_error() {
    within(LIMIT, "refusals", || {
        let manager = Manager::start().unwrap();
        let d = manager.dict::<String, u32>().unwrap();
        d.register("scores-of-another-kind").unwrap();
        match QueueProxy::<u32>::named("scores-of-another-kind") {
            Err(ManagerError::Lookup(message)) => {
                assert!(
                    message.contains("Dict") && message.contains("Queue"),
                    "{message}"
                )
            }
            other => panic!("a dict found as a queue: {other:?}"),
        }
        match DictProxy::<String, u32>::named("nothing-is-called-this") {
            Err(ManagerError::Lookup(message)) => {
                assert!(message.contains("nothing-is-called-this"), "{message}")
            }
            other => panic!("a missing name: {other:?}"),
        }
        // Names are unique in the program.
        let other = manager.dict::<String, u32>().unwrap();
        match other.register("scores-of-another-kind") {
            Err(ManagerError::Lookup(message)) => assert!(message.contains("already"), "{message}"),
            other => panic!("a taken name: {other:?}"),
        }
    });
}

#[test]
fn a_process_that_dies_holding_a_lock_found_by_name_gives_it_back() {
    within(LIMIT, "dead holder", || {
        let manager = Manager::start().unwrap();
        let lock = manager.lock().unwrap();
        lock.register("the-lock").unwrap();
        let taken = manager.queue::<u32>(0).unwrap();
        let mut p = Process::new(die_holding, ("the-lock".to_string(), taken.clone())).unwrap();
        p.start().unwrap();
        taken.get_timeout(LIMIT).unwrap();
        p.join().unwrap();
        assert_eq!(p.exitcode(), Some(3));
        assert!(lock.acquire_timeout(Duration::from_secs(10)).is_ok());
    });
}

#[test]
fn names_die_with_their_manager() {
    within(LIMIT, "manager gone", || {
        let manager = Manager::start().unwrap();
        let d = manager.dict::<String, u32>().unwrap();
        d.register("short-lived").unwrap();
        assert!(DictProxy::<String, u32>::named("short-lived").is_ok());
        manager.shutdown().unwrap();
        assert!(matches!(
            DictProxy::<String, u32>::named("short-lived"),
            Err(ManagerError::Lookup(_))
        ));
    });
}

#[test]
fn async_code_finds_objects_by_name() {
    within(LIMIT, "async", || {
        let manager = Manager::start().unwrap();
        let d = manager.dict::<String, u32>().unwrap();
        d.register("async-scores").unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let found = DictProxy::<String, u32>::named_async("async-scores")
                .await
                .unwrap();
            found.set_async("ada".into(), 36).await.unwrap();
        });
        assert_eq!(d.get(&"ada".to_string()).unwrap(), Some(36));
    });
}
