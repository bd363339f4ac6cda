//! Pools as children of a supervisor: started with it (or at run time), shown in its tree,
//! restarted as a whole when they break, stopped with it. Every test has a deadline that names
//! the step that hung.

mod common;

use common::{LIMIT, wait_until, within};
use procvisor_pool::{ActorPool, Pool, PoolError};
use procvisor_runtime::{
    Actor, ActorContext, EventKind, InitError, Restart, RestartIntensity, Strategy, Supervisor,
    SupervisorEvents, register, register_actor,
};
use std::time::Duration;

fn sqr(x: i64) -> i64 {
    x * x
}

fn sleep_ms(ms: u64) -> u32 {
    std::thread::sleep(Duration::from_millis(ms));
    std::process::id()
}

fn kill_self() {
    // SAFETY: sends a signal to this very process, which is what the test is about.
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
}

register!(sqr, sleep_ms, kill_self);

/// Adds its start value to what it is sent.
struct Adder {
    base: i64,
}

impl Actor for Adder {
    type Args = i64;
    type Msg = i64;
    type Reply = i64;

    async fn start(base: i64, _: &ActorContext<Self>) -> Result<Self, InitError> {
        Ok(Adder { base })
    }

    async fn handle(&mut self, x: i64, _: &ActorContext<Self>) -> i64 {
        self.base + x
    }
}
register_actor!(Adder);

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

#[test]
fn a_pool_child_starts_with_its_supervisor_and_is_reached_by_its_id() {
    within(LIMIT, "start and use", || {
        let supervisor = Supervisor::builder("pools-a")
            .child(Pool::builder().processes(2).child_spec("squares-a"))
            .start()
            .unwrap();
        let pool = Pool::supervised("squares-a").unwrap();
        assert_eq!(pool.map(sqr, 1..=4).unwrap(), vec![1, 4, 9, 16]);
        assert_eq!(pool.processes(), 2);
        wait_until(LIMIT, "both workers ready", || {
            pool.stats().workers_ready == 2
        });

        let tree = supervisor.tree().unwrap();
        let node = tree.find("squares-a").expect("the pool is in the tree");
        assert_eq!(node.kind, "pool of 2 workers (functions)");
        let service = node.service.as_ref().expect("the pool describes itself");
        let mut shown: Vec<u32> = service.processes.iter().map(|p| p.pid).collect();
        let mut pids = pool.worker_pids();
        shown.sort_unstable();
        pids.sort_unstable();
        assert_eq!(shown, pids, "the tree shows the workers");
        let drawn = tree.to_string();
        assert!(
            drawn.contains("squares-a — pool of 2 workers (functions)"),
            "{drawn}"
        );
        assert!(drawn.contains("4 done"), "{drawn}");
        assert_eq!(drawn.matches(", idle").count(), 2, "{drawn}");

        supervisor.shutdown().unwrap();
        wait_until(LIMIT, "the workers gone after the shutdown", || {
            pids.iter().all(|pid| !alive(*pid))
        });
        assert!(matches!(
            pool.apply(sqr, (1,)),
            Err(PoolError::SupervisedEnded { .. })
        ));
        assert!(matches!(
            Pool::supervised("squares-a"),
            Err(PoolError::NotSupervised { .. })
        ));
    });
}

#[test]
fn a_killed_worker_fails_its_task_and_the_child_carries_on() {
    within(LIMIT, "one worker killed", || {
        let supervisor = Supervisor::builder("pools-b")
            .child(Pool::builder().processes(2).child_spec("squares-b"))
            .start()
            .unwrap();
        let pool = Pool::supervised("squares-b").unwrap();
        let err = pool.apply(kill_self, ()).unwrap_err();
        assert!(matches!(err, PoolError::WorkerLost { .. }), "{err}");
        assert_eq!(pool.apply(sqr, (7,)).unwrap(), 49);
        let tree = supervisor.tree().unwrap();
        let node = tree.find("squares-b").unwrap();
        assert_eq!(node.restarts, 0, "a pool absorbs a worker's death: {tree}");
        supervisor.shutdown().unwrap();
    });
}

#[test]
fn a_broken_pool_is_a_crashed_child_and_is_restarted() {
    within(LIMIT, "crash storm", || {
        let supervisor = Supervisor::builder("pools-c")
            .child(
                Pool::builder()
                    .processes(2)
                    .restart_intensity(RestartIntensity::new(1, Duration::from_secs(60)))
                    .child_spec("squares-c"),
            )
            .start()
            .unwrap();
        let mut events = supervisor.events().unwrap();
        let old = Pool::supervised("squares-c").unwrap();
        let old_pids = old.worker_pids();
        // Two crashes where one is allowed: the pool breaks.
        for _ in 0..2 {
            let _ = old.apply(kill_self, ());
        }
        let ended = next_event(&mut events, "squares-c", "ended", |k| {
            matches!(k, EventKind::Ended { .. })
        });
        let EventKind::Ended(exit) = ended else {
            unreachable!()
        };
        assert!(exit.to_string().contains("the pool broke"), "{exit}");
        next_event(&mut events, "squares-c", "restarted", |k| {
            matches!(k, EventKind::Restarted { .. })
        });

        let err = old.apply(sqr, (2,)).unwrap_err();
        assert!(matches!(err, PoolError::SupervisedEnded { .. }), "{err}");
        assert!(
            err.to_string().contains("Pool::supervised(\"squares-c\")"),
            "says how to reach the new one: {err}"
        );
        let new = Pool::supervised_timeout("squares-c", LIMIT).unwrap();
        assert_eq!(new.apply(sqr, (3,)).unwrap(), 9);
        assert!(
            new.worker_pids().iter().all(|p| !old_pids.contains(p)),
            "new workers"
        );
        assert_eq!(
            supervisor
                .tree()
                .unwrap()
                .find("squares-c")
                .unwrap()
                .restarts,
            1
        );
        supervisor.shutdown().unwrap();
    });
}

#[test]
fn a_pool_that_keeps_breaking_escalates_to_its_supervisor() {
    within(LIMIT, "escalation", || {
        let supervisor = Supervisor::builder("pools-d")
            .intensity(RestartIntensity::new(0, Duration::from_secs(60)))
            .child(
                Pool::builder()
                    .processes(1)
                    .restart_intensity(RestartIntensity::new(0, Duration::from_secs(60)))
                    .child_spec("squares-d"),
            )
            .start()
            .unwrap();
        let pool = Pool::supervised("squares-d").unwrap();
        let _ = pool.apply(kill_self, ());
        let ended = supervisor
            .wait_timeout(LIMIT)
            .expect("the supervisor ended");
        let err = ended.expect_err("it gave up");
        assert!(err.to_string().contains("the pool broke"), "{err}");
    });
}

#[test]
fn pools_of_actors_are_children_too() {
    within(LIMIT, "actor pool child", || {
        let supervisor = Supervisor::builder("pools-e")
            .child(
                Pool::builder()
                    .processes(2)
                    .actors_child_spec::<Adder>("adders-e", 100),
            )
            .start()
            .unwrap();
        let pool = ActorPool::<Adder>::supervised("adders-e").unwrap();
        assert_eq!(pool.map([1, 2, 3]).unwrap(), vec![101, 102, 103]);
        let err = Pool::supervised("adders-e").unwrap_err();
        assert!(
            err.to_string().contains("ActorPool::<Adder>::supervised"),
            "{err}"
        );
        let tree = supervisor.tree().unwrap();
        assert_eq!(
            tree.find("adders-e").unwrap().kind,
            "pool of 2 workers (actors Adder)"
        );
        supervisor.shutdown().unwrap();
    });
}

#[test]
fn pools_are_started_and_stopped_at_run_time() {
    within(LIMIT, "dynamic pool", || {
        let supervisor = Supervisor::builder("pools-f")
            .strategy(Strategy::OneForOne)
            .start()
            .unwrap();
        supervisor
            .start_child(
                Pool::builder()
                    .processes(1)
                    .child_spec("squares-f")
                    .restart(Restart::Transient),
            )
            .unwrap();
        let pool = Pool::supervised("squares-f").unwrap();
        let pids = pool.worker_pids();
        assert_eq!(pool.apply(sqr, (5,)).unwrap(), 25);
        supervisor.terminate_child("squares-f").unwrap();
        wait_until(LIMIT, "the worker gone", || pids.iter().all(|p| !alive(*p)));
        assert!(matches!(
            pool.apply(sqr, (1,)),
            Err(PoolError::SupervisedEnded { .. })
        ));
        supervisor.restart_child("squares-f").unwrap();
        let pool = Pool::supervised("squares-f").unwrap();
        assert_eq!(pool.apply(sqr, (6,)).unwrap(), 36);
        supervisor.shutdown().unwrap();
    });
}

#[test]
fn a_pool_the_supervisor_cannot_build_fails_the_start_with_the_pools_error() {
    within(LIMIT, "bad spec", || {
        let err = Supervisor::builder("pools-g")
            .child(Pool::builder().processes(0).child_spec("none-g"))
            .start()
            .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("none-g"), "{message}");
        assert!(
            message.contains("Number of processes must be at least 1"),
            "{message}"
        );
    });
}

#[test]
fn a_handle_of_the_wrong_kind_or_id_is_refused() {
    within(LIMIT, "lookups", || {
        assert!(matches!(
            Pool::supervised("no-such-pool"),
            Err(PoolError::NotSupervised { .. })
        ));
        let supervisor = Supervisor::builder("pools-h")
            .child(Pool::builder().processes(1).child_spec("squares-h"))
            .start()
            .unwrap();
        let err = ActorPool::<Adder>::supervised("squares-h").unwrap_err();
        assert!(err.to_string().contains("runs functions"), "{err}");
        supervisor.shutdown().unwrap();
    });
}

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

#[test]
fn which_children_names_a_pool_child_a_pool() {
    within(LIMIT, "which_children", || {
        let supervisor = Supervisor::builder("pools-i")
            .child(Pool::builder().processes(1).child_spec("squares-i"))
            .start()
            .unwrap();
        let children = supervisor.which_children().unwrap();
        assert_eq!(children.len(), 1);
        assert_eq!(children[0].kind, "pool");
        supervisor.shutdown().unwrap();
    });
}
