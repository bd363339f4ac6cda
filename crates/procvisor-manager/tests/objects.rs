//! CPython's manager behaviours (`_TestContainers`, `_TestLock`, `_TestEvent`, ...), each
//! against a real manager process: dict, list, Namespace, Value, Array, nested proxies, the
//! synchronisation objects, queues and registered custom types, with Python's errors.

mod common;

use common::{LIMIT, within};
use procvisor_manager::{DictProxy, ListProxy, Manager, ManagerError, Object, object};
use std::time::{Duration, Instant};

#[test]
fn a_dict_does_what_pythons_does() {
    within(LIMIT, "dict", || {
        let manager = Manager::start().unwrap();
        let d = manager.dict::<i64, i64>().unwrap();
        for i in 0..10 {
            d.set(i, i * i).unwrap();
        }
        let expected: Vec<(i64, i64)> = (0..10).map(|i| (i, i * i)).collect();
        assert_eq!(d.copy().unwrap(), expected);
        assert_eq!(d.keys().unwrap(), (0..10).collect::<Vec<_>>());
        assert_eq!(
            d.values().unwrap(),
            (0..10).map(|i| i * i).collect::<Vec<_>>()
        );
        assert_eq!(d.len().unwrap(), 10);
        assert!(d.contains(&3).unwrap());
        assert!(!d.contains(&10).unwrap());
        assert_eq!(d.get(&3).unwrap(), Some(9));
        assert_eq!(d.get(&30).unwrap(), None);
        assert!(d.item(&30).unwrap_err().is_remote("KeyError"));
        assert_eq!(d.pop(&0).unwrap(), 0);
        assert!(d.pop(&0).unwrap_err().is_remote("KeyError"));
        assert_eq!(d.pop_or(&0, -1).unwrap(), -1);
        assert_eq!(d.setdefault(5, 0).unwrap(), 25);
        assert_eq!(d.setdefault(50, 7).unwrap(), 7);
        assert_eq!(d.popitem().unwrap(), (50, 7));
        d.del(&1).unwrap();
        assert!(d.del(&1).unwrap_err().is_remote("KeyError"));
        d.update([(2, 0), (100, 1)]).unwrap();
        assert_eq!(d.item(&2).unwrap(), 0);
        // Updating keeps a key's place; a new key goes last.
        assert_eq!(d.keys().unwrap(), vec![2, 3, 4, 5, 6, 7, 8, 9, 100]);
        d.clear().unwrap();
        assert!(d.is_empty().unwrap());
        // The seed's heterogeneous dict.
        let h = manager.dict::<Object, Object>().unwrap();
        h.set(Object::Float(0.25), Object::None).unwrap();
        h.set(Object::Int(1), Object::from("1")).unwrap();
        h.set(Object::from("2"), Object::Int(2)).unwrap();
        assert_eq!(
            h.to_object().unwrap(),
            object!({0.25: None, 1: "1", "2": 2})
        );
        let from = manager.dict_from([("a".to_string(), 1)]).unwrap();
        assert_eq!(from.items().unwrap(), vec![("a".to_string(), 1)]);
    });
}

#[test]
fn a_list_does_what_pythons_does() {
    within(LIMIT, "list", || {
        let manager = Manager::start().unwrap();
        let a = manager.list_from(0..10).unwrap();
        assert_eq!(a.to_vec().unwrap(), (0..10).collect::<Vec<i64>>());
        let b = manager.list::<i64>().unwrap();
        assert!(b.is_empty().unwrap());
        b.extend(0..5).unwrap();
        assert_eq!(b.to_vec().unwrap(), vec![0, 1, 2, 3, 4]);
        assert_eq!(b.at(2).unwrap(), 2);
        assert_eq!(b.at(-1).unwrap(), 4);
        assert!(b.at(5).unwrap_err().is_remote("IndexError"));
        assert_eq!(b.slice(Some(2), Some(-1)).unwrap(), vec![2, 3]);
        b.set_slice(Some(1), Some(3), [7, 7, 7]).unwrap();
        assert_eq!(b.to_vec().unwrap(), vec![0, 7, 7, 7, 3, 4]);
        assert_eq!(b.count(&7).unwrap(), 3);
        assert_eq!(b.index(&3).unwrap(), 4);
        assert!(b.index(&42).unwrap_err().is_remote("ValueError"));
        b.remove(&7).unwrap();
        assert!(b.remove(&42).unwrap_err().is_remote("ValueError"));
        b.insert(0, -1).unwrap();
        b.insert(100, 100).unwrap();
        assert_eq!(b.to_vec().unwrap(), vec![-1, 0, 7, 7, 3, 4, 100]);
        assert_eq!(b.pop().unwrap(), 100);
        assert_eq!(b.pop_at(0).unwrap(), -1);
        b.reverse().unwrap();
        assert_eq!(b.to_vec().unwrap(), vec![4, 3, 7, 7, 0]);
        b.sort().unwrap();
        assert_eq!(b.to_vec().unwrap(), vec![0, 3, 4, 7, 7]);
        b.sort_by_key(|v| std::cmp::Reverse(*v)).unwrap();
        assert_eq!(b.to_vec().unwrap(), vec![7, 7, 4, 3, 0]);
        b.del(0).unwrap();
        b.set(0, 70).unwrap();
        assert_eq!(b.to_vec().unwrap(), vec![70, 4, 3, 0]);
        b.clear().unwrap();
        assert!(b.pop().unwrap_err().is_remote("IndexError"));
        let e = manager.list_from(["a".to_string()]).unwrap();
        assert_eq!(e.to_object().unwrap().to_string(), "['a']");
    });
}

#[test]
fn proxies_nest_inside_other_objects() {
    within(LIMIT, "nested proxies", || {
        let manager = Manager::start().unwrap();
        // CPython's test_list_proxy_in_list.
        let inner: Vec<ListProxy<i64>> = (0..3).map(|_| manager.list_from(0..3).unwrap()).collect();
        let a = manager.list_from(inner).unwrap();
        a.at(0).unwrap().set(-1, 55).unwrap();
        assert_eq!(a.at(0).unwrap().to_vec().unwrap(), vec![0, 1, 55]);
        for i in 1..3 {
            assert_eq!(a.at(i).unwrap().to_vec().unwrap(), vec![0, 1, 2]);
        }
        // CPython's test_dict_proxy_nested.
        let pets = manager
            .dict_from([("ferrets".to_string(), 2), ("hamsters".to_string(), 4)])
            .unwrap();
        let supplies = manager
            .dict_from([("water".to_string(), 10), ("feed".to_string(), 3)])
            .unwrap();
        let store: DictProxy<String, DictProxy<String, i64>> = manager
            .dict_from([
                ("pets".to_string(), pets),
                ("supplies".to_string(), supplies),
            ])
            .unwrap();
        store
            .item(&"pets".to_string())
            .unwrap()
            .set("marmots".into(), 5)
            .unwrap();
        let pets = store.item(&"pets".to_string()).unwrap();
        assert_eq!(pets.get(&"marmots".to_string()).unwrap(), Some(5));
        assert_eq!(pets.len().unwrap(), 3);
    });
}

#[test]
fn namespace_value_and_array() {
    within(LIMIT, "namespace, value, array", || {
        let manager = Manager::start().unwrap();
        let n = manager.namespace().unwrap();
        n.set("name", "Bob").unwrap();
        n.set("job", "Builder").unwrap();
        n.set("_hidden", "hidden").unwrap();
        assert_eq!(n.get::<String>("name").unwrap(), "Bob");
        assert_eq!(n.names().unwrap(), vec!["name", "job", "_hidden"]);
        n.del("job").unwrap();
        assert!(!n.has("job").unwrap());
        assert!(
            n.get::<String>("job")
                .unwrap_err()
                .is_remote("AttributeError")
        );

        let v = manager.value(1.5_f64).unwrap();
        assert_eq!(v.get().unwrap(), 1.5);
        v.set(3.25).unwrap();
        assert_eq!(v.get().unwrap(), 3.25);

        let arr = manager.array([1_i32, 2, 3]).unwrap();
        arr.set(-1, 30).unwrap();
        assert_eq!(arr.to_vec().unwrap(), vec![1, 2, 30]);
        assert_eq!(arr.len().unwrap(), 3);
        assert!(arr.get(3).unwrap_err().is_remote("IndexError"));
        assert!(
            arr.set_slice(None, None, [1])
                .unwrap_err()
                .is_remote("ValueError")
        );
        arr.set_slice(Some(0), Some(2), [10, 20]).unwrap();
        assert_eq!(arr.slice(None, None).unwrap(), vec![10, 20, 30]);
    });
}

#[test]
fn locks_semaphores_and_events_behave_like_pythons() {
    within(LIMIT, "locks", || {
        let manager = Manager::start().unwrap();
        let lock = manager.lock().unwrap();
        let held = lock.try_acquire().unwrap();
        assert!(
            matches!(lock.try_acquire(), Err(ManagerError::Timeout)),
            "a Lock is not re-entrant"
        );
        drop(held);
        assert!(lock.release().unwrap_err().is_remote("RuntimeError"));
        // Python's acquire() here, release() there.
        lock.acquire().unwrap().leak();
        assert!(lock.locked().unwrap());
        lock.release().unwrap();

        let rlock = manager.rlock().unwrap();
        let outer = rlock.acquire().unwrap();
        let inner = rlock.acquire().unwrap();
        let other = rlock.clone();
        let from_another_thread = std::thread::spawn(move || {
            (
                other
                    .acquire_timeout(Duration::from_millis(50))
                    .map(drop)
                    .unwrap_err(),
                other.release().unwrap_err(),
            )
        })
        .join()
        .unwrap();
        assert!(
            matches!(from_another_thread.0, ManagerError::Timeout),
            "held by the first thread"
        );
        assert!(from_another_thread.1.is_remote("RuntimeError"));
        drop(inner);
        assert!(rlock.locked().unwrap(), "still held once");
        drop(outer);
        assert!(!rlock.locked().unwrap());

        let sem = manager.bounded_semaphore(2).unwrap();
        let one = sem.acquire().unwrap();
        let two = sem.acquire().unwrap();
        let started = Instant::now();
        assert!(matches!(
            sem.acquire_timeout(Duration::from_millis(100)),
            Err(ManagerError::Timeout)
        ));
        assert!(started.elapsed() >= Duration::from_millis(100));
        drop((one, two));
        assert!(sem.release().unwrap_err().is_remote("ValueError"));
        assert_eq!(sem.value().unwrap(), 2);
        let unbounded = manager.semaphore(0).unwrap();
        unbounded.release().unwrap();
        assert_eq!(unbounded.value().unwrap(), 1);

        let event = manager.event().unwrap();
        assert!(!event.wait_timeout(Duration::from_millis(20)).unwrap());
        let setter = event.clone();
        let t = std::thread::spawn(move || setter.set().unwrap());
        event.wait().unwrap();
        t.join().unwrap();
        assert!(event.is_set().unwrap());
        event.clear().unwrap();
        assert!(!event.is_set().unwrap());
    });
}

#[test]
fn conditions_and_barriers_coordinate_threads() {
    within(LIMIT, "condition and barrier", || {
        let manager = Manager::start().unwrap();
        let cond = manager.condition().unwrap();
        let ready = manager.value(false).unwrap();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let (cond, ready) = (cond.clone(), ready.clone());
                std::thread::spawn(move || {
                    let _held = cond.acquire().unwrap();
                    cond.wait_for(|| ready.get().unwrap()).unwrap();
                    ready.get().unwrap()
                })
            })
            .collect();
        {
            let _held = cond.acquire().unwrap();
            ready.set(true).unwrap();
            cond.notify_all().unwrap();
        }
        for w in waiters {
            assert!(w.join().unwrap());
        }
        assert!(
            cond.wait().unwrap_err().is_remote("RuntimeError"),
            "wait needs the lock"
        );
        assert!(
            cond.notify(1).unwrap_err().is_remote("RuntimeError"),
            "notify needs the lock"
        );
        {
            let _held = cond.acquire().unwrap();
            assert!(
                !cond.wait_timeout(Duration::from_millis(20)).unwrap(),
                "nobody notified"
            );
        }

        let barrier = manager.barrier(3).unwrap();
        let arrivals: Vec<_> = (0..3)
            .map(|_| {
                let b = barrier.clone();
                std::thread::spawn(move || b.wait().unwrap())
            })
            .collect();
        let mut indexes: Vec<u64> = arrivals.into_iter().map(|t| t.join().unwrap()).collect();
        indexes.sort_unstable();
        assert_eq!(indexes, vec![0, 1, 2]);
        assert_eq!(barrier.parties().unwrap(), 3);
        // A timeout breaks the barrier for everyone, as in Python.
        assert!(
            barrier
                .wait_timeout(Duration::from_millis(20))
                .unwrap_err()
                .is_remote("BrokenBarrierError")
        );
        assert!(barrier.broken().unwrap());
        assert!(barrier.wait().unwrap_err().is_remote("BrokenBarrierError"));
        barrier.reset().unwrap();
        assert!(!barrier.broken().unwrap());
        assert!(manager.barrier(0).is_err());
    });
}

#[test]
fn queues_block_time_out_and_join() {
    within(LIMIT, "queues", || {
        let manager = Manager::start().unwrap();
        let q = manager.queue::<String>(2).unwrap();
        q.put("a".into()).unwrap();
        q.put("b".into()).unwrap();
        assert!(q.full().unwrap());
        assert_eq!(
            q.put_timeout("c".into(), Duration::from_millis(20)),
            Err(ManagerError::Timeout),
            "queue.Full"
        );
        assert_eq!(q.qsize().unwrap(), 2);
        assert_eq!(q.get().unwrap(), "a");
        assert_eq!(q.get().unwrap(), "b");
        assert!(q.empty().unwrap());
        assert_eq!(q.get_nowait(), Err(ManagerError::Timeout), "queue.Empty");
        let consumer = q.clone();
        let t = std::thread::spawn(move || consumer.get().unwrap());
        q.put("late".into()).unwrap();
        assert_eq!(t.join().unwrap(), "late");
        // Python's manager queues are `queue.Queue`s: a plain one counts tasks too.
        for _ in 0..3 {
            q.task_done().unwrap();
        }
        q.join().unwrap();

        let jq = manager.joinable_queue::<i32>(0).unwrap();
        for i in 0..5 {
            jq.put(i).unwrap();
        }
        let worker = jq.clone();
        let t = std::thread::spawn(move || {
            for _ in 0..5 {
                worker.get().unwrap();
                worker.task_done().unwrap();
            }
        });
        jq.join().unwrap();
        t.join().unwrap();
        assert!(jq.task_done().unwrap_err().is_remote("ValueError"));
        assert_eq!(jq.join_timeout(Duration::ZERO), Ok(()));
    });
}

#[test]
fn a_proxy_of_the_wrong_type_gets_a_codec_error_not_garbage() {
    within(LIMIT, "wrong proxy type", || {
        let manager = Manager::start().unwrap();
        let v = manager.value("text".to_string()).unwrap();
        let bytes = procvisor_wire::codec::encode(&v).unwrap();
        let wrong: procvisor_manager::ListProxy<i64> =
            procvisor_wire::codec::decode(&bytes).unwrap();
        assert!(wrong.len().unwrap_err().is_remote("AttributeError"));
    });
}
