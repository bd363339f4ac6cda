//! Managers as children of a supervisor: started with a setup function, found by id from any
//! process, restarted at the same address when their process dies, with proxies to the dead
//! manager failing instead of hanging. Every test has a deadline that names the step that hung.

mod common;

use common::{LIMIT, within};
use procvisor_manager::{Address, DictProxy, Manager, ManagerError};
use procvisor_runtime::{
    EventKind, Process, StartMethod, Supervisor, SupervisorEvents, get_context, register,
};
use std::time::Duration;

fn setup(manager: Manager) -> Result<(), ManagerError> {
    let scores = manager.dict::<String, u32>()?;
    scores.set("start".into(), 1)?;
    manager.publish("scores", &scores)
}

fn failing_setup(_: Manager) -> Result<(), ManagerError> {
    Err(ManagerError::Remote("ValueError: no database".into()))
}

/// In another process: finds the manager by id, adds to the published dict.
fn add_score(id: String, name: String, score: u32) -> Result<u32, ManagerError> {
    let manager = Manager::supervised_timeout(&id, Duration::from_secs(10))?;
    let scores = scores(&manager)?;
    scores.set(name, score)?;
    scores.len().map(|n| n as u32)
}
register!(setup, failing_setup, add_score);

fn scores(manager: &Manager) -> Result<DictProxy<String, u32>, ManagerError> {
    manager
        .lookup::<DictProxy<String, u32>>("scores")?
        .ok_or_else(|| ManagerError::Remote("KeyError: scores".into()))
}

/// The next event about `child` that `matches`, skipping the others.
fn next_event(
    events: &mut SupervisorEvents,
    child: &str,
    what: &str,
    matches: impl Fn(&EventKind) -> bool,
) -> EventKind {
    loop {
        let event = events
            .next_timeout(LIMIT)
            .unwrap_or_else(|| panic!("no event \"{what}\" for {child} within {LIMIT:?}"));
        if event.child == child && matches(&event.kind) {
            return event.kind;
        }
    }
}

fn manager_pid(supervisor: &Supervisor, id: &str) -> u32 {
    let tree = supervisor.tree().unwrap();
    let node = tree.find(id).expect("the manager is in the tree");
    let service = node.service.as_ref().expect("the manager describes itself");
    service.processes[0].pid
}

#[test]
fn a_manager_child_runs_its_setup_and_is_reached_by_its_id() {
    within(LIMIT, "start and use", || {
        let supervisor = Supervisor::builder("managers-a")
            .child(Manager::builder().setup(setup).child_spec("state-a"))
            .start()
            .unwrap();
        let manager = Manager::supervised("state-a").unwrap();
        let scores = scores(&manager).unwrap();
        assert_eq!(scores.get(&"start".to_string()).unwrap(), Some(1));

        let tree = supervisor.tree().unwrap();
        let node = tree.find("state-a").unwrap();
        assert_eq!(node.kind, "manager");
        let service = node.service.as_ref().unwrap();
        assert_eq!(service.processes.len(), 1);
        assert!(
            service.processes[0]
                .state
                .contains(&manager.address().to_string()),
            "{tree}"
        );
        assert!(service.summary.starts_with("1 object, "), "{tree}");

        let pid = manager_pid(&supervisor, "state-a");
        supervisor.shutdown().unwrap();
        assert!(!alive(pid), "the manager process ended with its supervisor");
        assert!(scores.len().is_err(), "its proxies fail after the shutdown");
        assert!(matches!(
            Manager::supervised("state-a"),
            Err(ManagerError::NotSupervised { .. })
        ));
    });
}

#[test]
fn kill_child_restarts_the_manager_with_its_setup() {
    within(LIMIT, "kill_child", || {
        let supervisor = Supervisor::builder("managers-b")
            .child(Manager::builder().setup(setup).child_spec("state-b"))
            .start()
            .unwrap();
        let mut events = supervisor.events().unwrap();
        let manager = Manager::supervised("state-b").unwrap();
        scores(&manager).unwrap().set("ada".into(), 3).unwrap();
        let pid = manager_pid(&supervisor, "state-b");

        supervisor.kill_child("state-b").unwrap();
        next_event(&mut events, "state-b", "restarted", |k| {
            matches!(k, EventKind::Restarted { .. })
        });
        let again = Manager::supervised_timeout("state-b", LIMIT).unwrap();
        assert_eq!(again.address(), manager.address());
        assert_eq!(scores(&again).unwrap().len().unwrap(), 1, "a fresh setup");
        assert_ne!(manager_pid(&supervisor, "state-b"), pid);
        supervisor.shutdown().unwrap();
    });
}

#[test]
fn the_manager_process_dying_restarts_the_child() {
    within(LIMIT, "manager killed", || {
        let supervisor = Supervisor::builder("managers-c")
            .child(Manager::builder().setup(setup).child_spec("state-c"))
            .start()
            .unwrap();
        let mut events = supervisor.events().unwrap();
        let manager = Manager::supervised("state-c").unwrap();
        let old = scores(&manager).unwrap();
        old.set("ada".into(), 3).unwrap();
        let address = manager.address().clone();
        let pid = manager_pid(&supervisor, "state-c");

        // SAFETY: kills the manager process the test started.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        let EventKind::Ended(exit) = next_event(&mut events, "state-c", "ended", |k| {
            matches!(k, EventKind::Ended(_))
        }) else {
            unreachable!()
        };
        assert!(
            exit.to_string()
                .contains("the manager process was killed by signal 9 (SIGKILL)"),
            "{exit}"
        );
        next_event(&mut events, "state-c", "restarted", |k| {
            matches!(k, EventKind::Restarted { .. })
        });

        let err = old.get(&"ada".to_string()).unwrap_err();
        assert!(
            matches!(err, ManagerError::Unreachable { .. }) || err.is_remote("ReferenceError"),
            "a proxy of the dead manager fails clearly: {err}"
        );
        let manager = Manager::supervised_timeout("state-c", LIMIT).unwrap();
        assert_eq!(manager.address(), &address, "the same address");
        let scores = scores(&manager).unwrap();
        assert_eq!(
            scores.items().unwrap(),
            vec![("start".to_string(), 1)],
            "the setup ran again; the dead manager's data is gone"
        );
        assert_ne!(manager_pid(&supervisor, "state-c"), pid);
        supervisor.shutdown().unwrap();
    });
}

#[test]
fn a_tcp_manager_is_restarted_on_the_port_it_first_had() {
    within(LIMIT, "tcp restart", || {
        let supervisor = Supervisor::builder("managers-d")
            .child(
                Manager::builder()
                    .address(Address::tcp_loopback(0))
                    .authkey(b"secret")
                    .setup(setup)
                    .child_spec("state-d"),
            )
            .start()
            .unwrap();
        let mut events = supervisor.events().unwrap();
        let first = Manager::supervised("state-d").unwrap();
        let Address::Tcp(bound) = first.address().clone() else {
            panic!("a TCP address: {}", first.address())
        };
        assert_ne!(bound.port(), 0);
        let pid = manager_pid(&supervisor, "state-d");
        // SAFETY: kills the manager process the test started.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        next_event(&mut events, "state-d", "restarted", |k| {
            matches!(k, EventKind::Restarted { .. })
        });
        let again = Manager::supervised_timeout("state-d", LIMIT).unwrap();
        assert_eq!(again.address(), &Address::Tcp(bound));
        // A client that only knows the address and the key reaches the new manager.
        let remote = Manager::connect(Address::Tcp(bound), b"secret").unwrap();
        assert_eq!(scores(&remote).unwrap().len().unwrap(), 1);
        supervisor.shutdown().unwrap();
    });
}

#[test]
fn other_processes_find_the_manager_by_id_under_every_start_method() {
    within(LIMIT, "from children", || {
        let supervisor = Supervisor::builder("managers-e")
            .child(Manager::builder().setup(setup).child_spec("state-e"))
            .start()
            .unwrap();
        for (i, method) in [
            StartMethod::Fork,
            StartMethod::Spawn,
            StartMethod::Forkserver,
        ]
        .into_iter()
        .enumerate()
        {
            let mut p = Process::new(add_score, ("state-e".to_string(), format!("p{i}"), 7))
                .unwrap()
                .with_context(get_context(method));
            p.start().unwrap();
            let len: u32 = p.result_timeout(LIMIT).unwrap();
            assert_eq!(len, i as u32 + 2, "under {method:?}");
        }
        supervisor.shutdown().unwrap();
    });
}

#[test]
fn a_failing_setup_fails_the_start_with_its_error() {
    within(LIMIT, "bad setup", || {
        let err = Supervisor::builder("managers-f")
            .child(
                Manager::builder()
                    .setup(failing_setup)
                    .child_spec("state-f"),
            )
            .start()
            .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("failing_setup"), "{message}");
        assert!(message.contains("ValueError: no database"), "{message}");
    });
}

#[test]
fn a_setup_outside_a_supervisor_is_refused() {
    let err = Manager::builder().setup(setup).start().unwrap_err();
    assert!(err.to_string().contains("child_spec"), "{err}");
    assert!(matches!(
        Manager::supervised_timeout("no-such-manager", Duration::from_millis(50)),
        Err(ManagerError::NotSupervised { .. })
    ));
}

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

#[test]
fn a_shutdown_through_a_handle_is_a_normal_end() {
    within(LIMIT, "normal end", || {
        let supervisor = Supervisor::builder("managers-g")
            .child(
                Manager::builder()
                    .setup(setup)
                    .child_spec("state-g")
                    .restart(procvisor_runtime::Restart::Transient),
            )
            .start()
            .unwrap();
        let mut events = supervisor.events().unwrap();
        Manager::supervised("state-g").unwrap().shutdown().unwrap();
        let EventKind::Ended(exit) = next_event(&mut events, "state-g", "ended", |k| {
            matches!(k, EventKind::Ended(_))
        }) else {
            unreachable!()
        };
        assert!(exit.is_normal(), "{exit}");
        let counts = supervisor.count_children().unwrap();
        assert_eq!(
            counts.active, 0,
            "a transient child that ended normally stays down"
        );
        supervisor.shutdown().unwrap();
    });
}
