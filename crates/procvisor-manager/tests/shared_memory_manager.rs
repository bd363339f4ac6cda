//! `SharedMemoryManager`, after CPython's `test_shared_memory_SharedMemoryManager_basics`
//! and `..._ignores_sigint` (`Lib/test/_test_multiprocessing.py`, `_TestSharedMemory`): making
//! anything before `start()` is an error (Python's `ValueError`); segments and shareable lists
//! made through it can be attached by name; after `shutdown()`, or leaving its scope,
//! attaching fails (`FileNotFoundError`); SIGINT to the manager process does not stop it.
//! Beyond Python: the segments are unlinked too when the owning program exits without a
//! shutdown, or is SIGKILLed.

mod common;

use common::{LIMIT, within};
use procvisor_manager::{ManagerError, SharedMemoryManager, object};
use procvisor_runtime::{Process, register};
use procvisor_sync::{ShareableList, SharedMemory, SharedMemoryError};
use procvisor_testing::{alive, wait_until};
use procvisor_wire::Connection;

fn gone(name: &str) -> bool {
    matches!(
        SharedMemory::attach(name),
        Err(SharedMemoryError::NotFound(_))
    )
}

/// Makes two segments through a manager of its own, says their names and the manager's pid,
/// then either waits to be killed or exits without shutting the manager down.
fn own_segments(mut report: Connection, wait_to_be_killed: bool) -> Result<(), String> {
    let mut smm = SharedMemoryManager::new();
    smm.start().map_err(|e| e.to_string())?;
    let shm = smm.shared_memory(64).map_err(|e| e.to_string())?;
    let list = smm
        .shareable_list(&[object!(1), object!("x")])
        .map_err(|e| e.to_string())?;
    let pid = smm.manager().and_then(|m| m.pid()).unwrap_or(0);
    let names = vec![shm.name().to_string(), list.shm().name().to_string()];
    report.send(&(names, pid)).map_err(|e| e.to_string())?;
    if wait_to_be_killed {
        loop {
            std::thread::park();
        }
    }
    // No shutdown, no drop: the program's exit terminates the manager process.
    std::mem::forget(smm);
    Ok(())
}
register!(own_segments);

/// Starts `own_segments` in a child: the child, the segments' names, the manager's pid.
fn owner(wait_to_be_killed: bool) -> (Process, Vec<String>, u32) {
    // This process starts the program's resource tracker, which the child and its manager
    // then share: it unlinks nothing while this process lives, so whatever is unlinked is
    // the manager's doing.
    SharedMemory::create(8).unwrap().unlink().unwrap();
    let (mut ours, theirs) = procvisor_wire::pipe(true).unwrap();
    let mut child = Process::new(own_segments, (theirs, wait_to_be_killed)).unwrap();
    child.start().unwrap();
    assert!(
        ours.poll_timeout(LIMIT).unwrap(),
        "the owner never reported"
    );
    let (names, pid): (Vec<String>, u32) = ours.recv().unwrap();
    if wait_to_be_killed {
        for name in &names {
            assert!(!gone(name), "{name} is not there while its owner lives");
        }
    }
    (child, names, pid)
}

#[test]
fn test_shared_memory_shared_memory_manager_basics() {
    within(LIMIT, "basics", || {
        let mut smm = SharedMemoryManager::new();
        let early = smm.shared_memory(9).unwrap_err();
        assert!(matches!(early, ManagerError::NotStarted(_)), "{early:?}");
        assert!(smm.shareable_list(&[object!(1)]).is_err());
        smm.start().unwrap();
        let lol = [
            smm.shareable_list(&[object!("howdy")]).unwrap(),
            smm.shareable_list(&[object!(1), object!(2)]).unwrap(),
        ];
        let lom = [smm.shared_memory(9).unwrap(), smm.shared_memory(9).unwrap()];
        let doppleganger = ShareableList::attach(lol[0].shm().name()).unwrap();
        assert_eq!(doppleganger.get(0).unwrap(), object!("howdy"));
        lom[0].write(0, b"abc").unwrap();
        let mut read = [0; 3];
        SharedMemory::attach(lom[0].name())
            .unwrap()
            .read(0, &mut read)
            .unwrap();
        assert_eq!(&read, b"abc");
        let mut tracked = smm.segments().unwrap();
        tracked.sort();
        let mut made: Vec<String> = lol
            .iter()
            .map(|l| l.shm().name().to_string())
            .chain(lom.iter().map(|s| s.name().to_string()))
            .collect();
        made.sort();
        assert_eq!(tracked, made);
        smm.shutdown().unwrap();
        for name in &made {
            assert!(gone(name), "{name} survived the shutdown");
        }
        // What was made stays mapped in the handles.
        assert_eq!(lol[1].get(1).unwrap(), object!(2));
        assert!(matches!(
            smm.shared_memory(9),
            Err(ManagerError::NotStarted(_))
        ));
        assert!(smm.start().is_err(), "restarted after a shutdown");

        // Leaving the scope is a shutdown too.
        let name = {
            let mut smm = SharedMemoryManager::new();
            smm.start().unwrap();
            let shm = smm.shared_memory(9).unwrap();
            shm.name().to_string()
        };
        assert!(gone(&name), "{name} survived the drop");
    });
}

#[test]
fn bad_requests_are_clear_errors_and_starting_twice_is_refused() {
    within(LIMIT, "bad requests", || {
        let mut smm = SharedMemoryManager::new();
        smm.start().unwrap();
        let twice = smm.start().unwrap_err();
        assert!(matches!(twice, ManagerError::Start(_)), "{twice:?}");
        let zero = smm.shared_memory(0).unwrap_err();
        assert!(zero.is_remote("ValueError"), "{zero}");
        let nested = smm.shareable_list(&[object!([1, 2])]).unwrap_err();
        assert!(nested.is_remote("TypeError"), "{nested}");
        // Neither left a segment behind to track.
        assert!(smm.segments().unwrap().is_empty());
        // A segment a client unlinked itself is no trouble at shutdown.
        let shm = smm.shared_memory(8).unwrap();
        shm.unlink().unwrap();
        smm.shutdown().unwrap();
    });
}

#[test]
fn test_shared_memory_shared_memory_manager_ignores_sigint() {
    within(LIMIT, "SIGINT", || {
        let mut smm = SharedMemoryManager::new();
        smm.start().unwrap();
        let pid = smm.manager().unwrap().pid().unwrap();
        // SAFETY: kill(2) on the manager process this test started.
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGINT) }, 0);
        // Still serving after it had the signal (a request is served after it arrived).
        let shm = smm.shared_memory(16).unwrap();
        assert_eq!(smm.manager().unwrap().is_alive(), Some(true));
        smm.shutdown().unwrap();
        assert!(gone(shm.name()));
    });
}

#[test]
fn the_segments_are_unlinked_when_the_owning_program_is_killed() {
    within(LIMIT, "owner SIGKILLed", || {
        let (mut child, names, manager) = owner(true);
        child.kill().unwrap();
        child.join().unwrap();
        wait_until(LIMIT, "the segments to be unlinked", || {
            names.iter().all(|name| gone(name))
        });
        wait_until(LIMIT, "the manager process to end", || !alive(manager));
    });
}

#[test]
fn the_segments_are_unlinked_when_the_owning_program_exits_without_a_shutdown() {
    within(LIMIT, "owner exits", || {
        let (mut child, names, manager) = owner(false);
        child.join().unwrap();
        assert_eq!(child.exitcode(), Some(0));
        wait_until(LIMIT, "the segments to be unlinked", || {
            names.iter().all(|name| gone(name))
        });
        wait_until(LIMIT, "the manager process to end", || !alive(manager));
    });
}
