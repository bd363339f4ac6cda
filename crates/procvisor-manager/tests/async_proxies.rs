//! The async twins of the proxies: every kind used from a single-threaded runtime, waits in the
//! manager that hold up no other task, and cancellation that loses nothing (an item a dropped
//! `get_async` took goes back to the front, a lock a dropped `acquire_async` got is released).
//! Every test has a deadline that names the step that hung.

mod common;

use common::{LIMIT, within};
use procvisor_manager::{Manager, ManagerError};
use std::time::Duration;

fn single_threaded() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Long enough for a call to reach the manager and wait there.
const SETTLE: Duration = Duration::from_millis(100);

#[test]
fn every_proxy_kind_answers_its_twins_on_a_single_threaded_runtime() {
    within(LIMIT, "async twins of every kind", || {
        let manager = Manager::start().unwrap();
        single_threaded()
            .block_on(async {
                let d = manager.dict::<String, i64>()?;
                d.set_async("a".into(), 1).await?;
                d.update_async([("b".to_string(), 2)]).await?;
                assert_eq!(d.get_async(&"a".into()).await?, Some(1));
                assert_eq!(d.len_async().await?, 2);
                assert!(
                    d.item_async(&"zz".into())
                        .await
                        .unwrap_err()
                        .is_remote("KeyError")
                );
                assert_eq!(d.pop_async(&"a".into()).await?, 1);
                assert_eq!(d.items_async().await?, vec![("b".to_string(), 2)]);

                let l = manager.list_from(vec![3, 1, 2])?;
                l.append_async(0).await?;
                l.sort_async().await?;
                assert_eq!(l.to_vec_async().await?, vec![0, 1, 2, 3]);
                assert_eq!(l.index_async(&2).await?, 2);

                let ns = manager.namespace()?;
                ns.set_async("x", 10).await?;
                assert_eq!(ns.get_async::<i32>("x").await?, 10);
                assert_eq!(ns.names_async().await?, vec!["x".to_string()]);

                let v = manager.value(1.5f64)?;
                v.set_async(2.5).await?;
                assert_eq!(v.get_async().await?, 2.5);

                let a = manager.array(vec![0u8; 4])?;
                a.set_async(1, 9).await?;
                assert_eq!(a.to_vec_async().await?, vec![0, 9, 0, 0]);

                let e = manager.event()?;
                assert!(!e.wait_timeout_async(Duration::from_millis(10)).await?);
                e.set_async().await?;
                e.wait_async().await?;

                let s = manager.bounded_semaphore(1)?;
                {
                    let _permit = s.acquire_async().await?;
                    assert_eq!(s.value_async().await?, 0);
                    assert!(matches!(
                        s.try_acquire_async().await,
                        Err(ManagerError::Timeout)
                    ));
                }
                assert_eq!(s.value_async().await?, 1);

                let q = manager.joinable_queue::<String>(0)?;
                q.put_async("job".into()).await?;
                assert_eq!(q.qsize_async().await?, 1);
                assert_eq!(q.get_async().await?, "job");
                q.task_done_async().await?;
                q.join_async().await?;
                Ok::<(), ManagerError>(())
            })
            .unwrap();
    });
}

#[test]
fn a_wait_in_the_manager_holds_up_no_other_task() {
    within(LIMIT, "tasks waiting on each other", || {
        let manager = Manager::start().unwrap();
        let barrier = manager.barrier(2).unwrap();
        let cond = manager.condition().unwrap();
        let ready = manager.value(false).unwrap();
        single_threaded()
            .block_on(async {
                // Both parties are tasks of one thread: a wait that blocked the thread would
                // never let the other arrive.
                let (first, second) = tokio::join!(barrier.wait_async(), barrier.wait_async());
                let mut arrivals = vec![first?, second?];
                arrivals.sort_unstable();
                assert_eq!(arrivals, vec![0, 1]);

                let waiter = async {
                    let _held = cond.acquire_async().await?;
                    while !ready.get_async().await? {
                        cond.wait_async().await?;
                    }
                    Ok::<(), ManagerError>(())
                };
                let notifier = async {
                    tokio::time::sleep(SETTLE).await;
                    let _held = cond.acquire_async().await?;
                    ready.set_async(true).await?;
                    cond.notify_all_async().await
                };
                let (waited, notified) = tokio::join!(waiter, notifier);
                waited?;
                notified?;
                Ok::<(), ManagerError>(())
            })
            .unwrap();
    });
}

#[test]
fn a_cancelled_get_async_puts_its_item_back() {
    within(LIMIT, "cancelled get", || {
        let manager = Manager::start().unwrap();
        let q = manager.queue::<u32>(0).unwrap();
        let runtime = single_threaded();
        // The get waits in the manager and is cancelled there: it takes nothing put after.
        for _ in 0..20 {
            let waited =
                runtime.block_on(async { tokio::time::timeout(SETTLE, q.get_async()).await });
            assert!(waited.is_err(), "nothing was put, yet the get returned");
        }
        q.put(1).unwrap();
        q.put(2).unwrap();
        assert_eq!(q.get_timeout(Duration::from_secs(10)).unwrap(), 1);
        assert_eq!(q.get_timeout(Duration::from_secs(10)).unwrap(), 2);
        assert_eq!(q.qsize().unwrap(), 0);
        // Cancelled just as the item arrives: whichever side wins, the item is not lost.
        for round in 0..50u32 {
            let put = std::thread::spawn({
                let q = q.clone();
                move || q.put(round)
            });
            let got = runtime.block_on(async {
                tokio::time::timeout(Duration::from_micros(u64::from(round) * 40), q.get_async())
                    .await
            });
            put.join().unwrap().unwrap();
            match got {
                Ok(item) => assert_eq!(item.unwrap(), round),
                Err(_) => assert_eq!(q.get_timeout(Duration::from_secs(10)).unwrap(), round),
            }
        }
    });
}

#[test]
fn a_cancelled_acquire_async_leaves_the_lock_free() {
    within(LIMIT, "cancelled acquire", || {
        let manager = Manager::start().unwrap();
        let lock = manager.lock().unwrap();
        let held = lock.acquire().unwrap();
        let runtime = single_threaded();
        let waited =
            runtime.block_on(async { tokio::time::timeout(SETTLE, lock.acquire_async()).await });
        assert!(
            waited.is_err(),
            "the lock is held, yet the acquire returned"
        );
        drop(held);
        // The cancelled acquire gets the lock, finds nobody to take it, and releases it.
        let again = lock.acquire_timeout(Duration::from_secs(10));
        assert!(again.is_ok(), "the lock stayed held: {again:?}");
    });
}

#[test]
fn an_rlock_belongs_to_a_task_not_to_its_thread() {
    within(LIMIT, "rlock across tasks", || {
        let manager = Manager::start().unwrap();
        let rlock = manager.rlock().unwrap();
        single_threaded()
            .block_on(async {
                let held = rlock.acquire_async().await?;
                // Same thread, another task: not the owner, so no re-entry.
                let other = tokio::spawn({
                    let rlock = rlock.clone();
                    async move { rlock.try_acquire_async().await.map(drop) }
                });
                assert_eq!(other.await.unwrap(), Err(ManagerError::Timeout));
                // The owner re-enters.
                let inner = rlock.try_acquire_async().await?;
                drop(inner);
                drop(held);
                assert!(!rlock.locked_async().await?);
                Ok::<(), ManagerError>(())
            })
            .unwrap();
        // A task that moves between threads while it holds the lock still releases it.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime
            .block_on(async {
                let rlock = rlock.clone();
                tokio::spawn(async move {
                    let held = rlock.acquire_async().await?;
                    for _ in 0..20 {
                        tokio::task::yield_now().await;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    let inner = rlock.try_acquire_async().await?;
                    drop(inner);
                    drop(held);
                    rlock.locked_async().await
                })
                .await
                .unwrap()
            })
            .map(|locked| assert!(!locked, "the task's release did not reach the lock"))
            .unwrap();
    });
}

#[test]
fn many_tasks_waiting_on_one_queue_each_get_one_item() {
    within(LIMIT, "many waiters", || {
        let manager = Manager::start().unwrap();
        let q = manager.queue::<u32>(0).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let got = runtime.block_on(async {
            let waiters: Vec<_> = (0..100)
                .map(|_| {
                    let q = q.clone();
                    tokio::spawn(async move { q.get_async().await })
                })
                .collect();
            for i in 0..100 {
                q.put_async(i).await?;
            }
            let mut got = Vec::new();
            for waiter in waiters {
                got.push(waiter.await.unwrap()?);
            }
            Ok::<_, ManagerError>(got)
        });
        let mut got = got.unwrap();
        got.sort_unstable();
        assert_eq!(got, (0..100).collect::<Vec<u32>>());
        assert_eq!(q.qsize().unwrap(), 0);
    });
}
