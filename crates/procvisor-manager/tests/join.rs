//! Waiting for a manager process to end: Python's `BaseManager.join(timeout)`
//! (`Lib/multiprocessing/managers.py`), which CPython's tests only use after a shutdown
//! (`_TestMyManager.common`). Here `join_timeout` also says when the time ran out, and a
//! handle that did not start the manager has nothing to join.

mod common;

use common::{LIMIT, within};
use procvisor_manager::{Manager, ManagerError};
use std::time::Duration;

#[test]
fn join_timeout_on_a_serving_manager_times_out_and_the_manager_keeps_serving() {
    within(LIMIT, "join a serving manager", || {
        let mut manager = Manager::start().unwrap();
        let d = manager.dict::<u8, u8>().unwrap();
        assert_eq!(
            manager.join_timeout(Duration::from_millis(100)),
            Err(ManagerError::Timeout)
        );
        assert_eq!(manager.is_alive(), Some(true));
        assert_eq!(manager.exitcode(), None);
        d.set(1, 2).unwrap();
        assert_eq!(d.get(&1).unwrap(), Some(2));
    });
}

#[test]
fn join_returns_once_a_client_shuts_the_manager_down() {
    within(LIMIT, "join after a client's shutdown", || {
        let mut manager = Manager::start().unwrap();
        let client = Manager::connect(manager.address().clone(), manager.authkey()).unwrap();
        let stopper = std::thread::spawn(move || client.shutdown());
        manager.join().unwrap();
        stopper.join().unwrap().unwrap();
        assert_eq!(manager.is_alive(), Some(false));
        assert_eq!(manager.exitcode(), Some(0));
        // Joining an ended manager returns at once.
        manager.join_timeout(Duration::ZERO).unwrap();
    });
}

#[test]
fn join_reports_a_killed_manager_with_its_signal() {
    within(LIMIT, "join a killed manager", || {
        let mut manager = Manager::start().unwrap();
        let pid = manager.pid().unwrap();
        // SAFETY: kill(2) on the manager process this test started.
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
        manager.join_timeout(LIMIT).unwrap();
        assert_eq!(manager.exitcode(), Some(-libc::SIGKILL));
    });
}

#[test]
fn a_connected_handle_has_no_process_to_join() {
    within(LIMIT, "join a connected handle", || {
        let manager = Manager::start().unwrap();
        let mut client = Manager::connect(manager.address().clone(), manager.authkey()).unwrap();
        let error = client.join_timeout(Duration::from_secs(1)).unwrap_err();
        assert!(matches!(error, ManagerError::NotStarted(_)), "{error:?}");
        assert!(error.to_string().contains("did not start"), "{error}");
        assert_eq!(client.exitcode(), None);
    });
}

#[test]
fn join_async_waits_for_the_end_and_a_tokio_timeout_bounds_it() {
    within(LIMIT, "join_async", || {
        let mut manager = Manager::start().unwrap();
        let address = manager.address().clone();
        let key = manager.authkey().to_vec();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let waited =
                tokio::time::timeout(Duration::from_millis(100), manager.join_async()).await;
            assert!(waited.is_err(), "the manager ended unasked");
            Manager::connect(address, &key).unwrap().shutdown().unwrap();
            manager.join_async().await.unwrap();
        });
        assert_eq!(manager.exitcode(), Some(0));
    });
}
