//! Dynamic children, significant children and events, after the cases of Erlang/OTP's
//! `lib/stdlib/test/supervisor_SUITE.erl` (Ericsson AB, Apache License 2.0,
//! <https://github.com/erlang/otp/blob/master/lib/stdlib/test/supervisor_SUITE.erl>): `child_adm`,
//! `child_specs`, `permanent_normal`, `transient_normal`, `temporary_normal`, the
//! `significant_*` and `auto_shutdown` cases, rewritten for procvisor's API. Tweaks: OTP's
//! `[Specs, Active, Supervisors, Workers]` lists are `ChildCounts`; a child's pid is a process's;
//! `{error, Reason}` tuples are `SupervisorError` variants. Added: duplicate names across the
//! program, `max_children`, events (Elixir has them as `:telemetry`), a supervisor reached
//! from another process.
//!
//! Every test has a deadline that names its step.

use procvisor_runtime::{
    Actor, ActorContext, ActorError, AutoShutdown, ChildCounts, ChildExit, ChildSpec, ChildState,
    EventKind, InitError, Placement, Process, RemoteRef, Restart, StartMethod, Strategy,
    Supervisor, SupervisorError, SupervisorEvent, SupervisorRef, get_context, register,
    register_actor, spawn_local_named,
};
use procvisor_testing::within;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(90);
const CALL: Duration = Duration::from_secs(20);

/// A worker that can be told to stop or crash, and says which process it runs in.
struct Worker;

#[derive(Debug, Serialize, Deserialize)]
enum Order {
    Pid,
    Stop,
    Panic,
}

impl Actor for Worker {
    type Args = ();
    type Msg = Order;
    type Reply = u32;

    async fn start((): (), _: &ActorContext<Self>) -> Result<Self, InitError> {
        Ok(Worker)
    }

    async fn handle(&mut self, order: Order, ctx: &ActorContext<Self>) -> u32 {
        match order {
            Order::Pid => std::process::id(),
            Order::Stop => {
                ctx.stop();
                0
            }
            Order::Panic => panic!("told to crash"),
        }
    }
}
register_actor!(Worker);

fn local(id: &str) -> ChildSpec {
    ChildSpec::actor::<Worker>(id, ()).placed(Placement::Local)
}

fn own_process(id: &str) -> ChildSpec {
    ChildSpec::actor::<Worker>(id, ()).placed(Placement::OwnProcess(Some(StartMethod::Forkserver)))
}

fn counts(sup: &SupervisorRef) -> [usize; 4] {
    let ChildCounts {
        specs,
        active,
        supervisors,
        workers,
        ..
    } = sup.count_children().unwrap();
    [specs, active, supervisors, workers]
}

fn pids(sup: &SupervisorRef) -> Vec<(String, Option<u32>)> {
    sup.which_children()
        .unwrap()
        .into_iter()
        .map(|c| (c.id, c.pid))
        .collect()
}

/// Waits until `check` gives a value, naming `what` if it never does.
fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The next event about `child`, skipping others.
fn next_for(events: &mut procvisor_runtime::SupervisorEvents, child: &str) -> SupervisorEvent {
    loop {
        let event = events
            .next_timeout(Duration::from_secs(30))
            .unwrap_or_else(|| panic!("no event about {child}"));
        if event.child == child {
            return event;
        }
    }
}

#[test]
fn child_adm_start_terminate_restart_delete_which_and_count() {
    within(LIMIT, "child_adm", || {
        let sup = Supervisor::builder("adm")
            .intensity(procvisor_runtime::RestartIntensity::new(
                10,
                Duration::from_secs(60),
            ))
            .child(own_process("adm-child1"))
            .start()
            .unwrap();
        let children = sup.which_children().unwrap();
        assert_eq!(children.len(), 1);
        assert_eq!(
            (
                children[0].id.as_str(),
                children[0].state,
                children[0].supervisor
            ),
            ("adm-child1", ChildState::Running, false)
        );
        let cpid = children[0].pid.expect("a running child has a pid");
        assert_eq!(counts(&sup), [1, 1, 0, 1]);

        // Start of an already running child.
        match sup.start_child(own_process("adm-child1")) {
            Err(SupervisorError::AlreadyStarted { id, pid }) => {
                assert_eq!((id.as_str(), pid), ("adm-child1", Some(cpid)))
            }
            other => panic!("{other:?}"),
        }

        // Termination.
        assert!(matches!(
            sup.terminate_child("hej"),
            Err(SupervisorError::NotFound(id)) if id == "hej"
        ));
        sup.terminate_child("adm-child1").unwrap();
        assert_eq!(pids(&sup), vec![("adm-child1".to_string(), None)]);
        assert_eq!(counts(&sup), [1, 0, 0, 1]);
        // Like terminating something that is not running: it succeeds.
        sup.terminate_child("adm-child1").unwrap();

        // Start of a child that is present but stopped.
        assert!(matches!(
            sup.start_child(own_process("adm-child1")),
            Err(SupervisorError::AlreadyPresent(id)) if id == "adm-child1"
        ));

        // Restart.
        let restarted = sup.restart_child("adm-child1").unwrap();
        let cpid2 = restarted.pid.unwrap();
        assert_ne!(cpid2, cpid);
        assert_eq!(pids(&sup), vec![("adm-child1".to_string(), Some(cpid2))]);
        assert_eq!(counts(&sup), [1, 1, 0, 1]);
        assert!(matches!(
            sup.restart_child("adm-child1"),
            Err(SupervisorError::Running(_))
        ));
        assert!(matches!(
            sup.restart_child("hej"),
            Err(SupervisorError::NotFound(_))
        ));

        // Deletion.
        assert!(matches!(
            sup.delete_child("adm-child1"),
            Err(SupervisorError::Running(_))
        ));
        assert!(matches!(
            sup.delete_child("hej"),
            Err(SupervisorError::NotFound(_))
        ));
        sup.terminate_child("adm-child1").unwrap();
        sup.delete_child("adm-child1").unwrap();
        assert!(matches!(
            sup.restart_child("adm-child1"),
            Err(SupervisorError::NotFound(_))
        ));
        assert!(sup.which_children().unwrap().is_empty());
        assert_eq!(counts(&sup), [0, 0, 0, 0]);

        // Start.
        let started = sup.start_child(own_process("adm-child1")).unwrap();
        let cpid3 = started.pid.unwrap();
        assert_eq!(pids(&sup), vec![("adm-child1".to_string(), Some(cpid3))]);
        assert_eq!(counts(&sup), [1, 1, 0, 1]);

        // A child added at run time is restarted like the others.
        sup.kill_child("adm-child1").unwrap();
        let cpid4 = eventually("the added child's restart", || match pids(&sup)[..] {
            [(_, Some(pid))] if pid != cpid3 => Some(pid),
            _ => None,
        });
        assert_eq!(
            RemoteRef::<Worker>::named("adm-child1")
                .call_timeout(Order::Pid, CALL)
                .unwrap(),
            cpid4
        );
    });
}

#[test]
fn child_specs_that_cannot_be_supervised_are_refused() {
    within(LIMIT, "child_specs", || {
        // Two children with one id.
        match Supervisor::builder("dup-ids")
            .child(local("twice"))
            .child(local("twice"))
            .start()
        {
            Err(SupervisorError::StartFailed(why)) => assert!(why.contains("\"twice\""), "{why}"),
            other => panic!("{other:?}"),
        }
        // A significant child needs an auto_shutdown, and may not be permanent.
        match Supervisor::builder("sig-never")
            .child(local("sig").restart(Restart::Transient).significant(true))
            .start()
        {
            Err(SupervisorError::StartFailed(why)) => {
                assert!(why.contains("auto_shutdown"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        let sup = Supervisor::builder("sig-checks")
            .auto_shutdown(AutoShutdown::AnySignificant)
            .start()
            .unwrap();
        match sup.start_child(local("perm-sig").significant(true)) {
            Err(SupervisorError::ChildStartFailed { id, reason }) => {
                assert_eq!(id, "perm-sig");
                assert!(reason.contains("permanent"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(counts(&sup), [0, 0, 0, 0], "a refused child is not added");
    });
}

#[test]
fn names_are_unique_in_the_program() {
    within(LIMIT, "unique names", || {
        let first = Supervisor::builder("names-a")
            .child(local("taken"))
            .start()
            .unwrap();
        match Supervisor::builder("names-b")
            .child(own_process("taken"))
            .start()
        {
            Err(SupervisorError::StartFailed(why)) => {
                assert!(why.contains("already registered"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        match spawn_local_named::<Worker>("taken", ()) {
            Err(ActorError::NameTaken { name, .. }) => assert_eq!(name, "taken"),
            other => panic!("{other:?}"),
        }
        // The first holder still answers under its name.
        let pid = RemoteRef::<Worker>::named("taken")
            .call_timeout(Order::Pid, CALL)
            .unwrap();
        assert_eq!(pid, std::process::id());
        drop(first);
        // Once it is gone, the name is free.
        let again = eventually("the name to be free", || {
            spawn_local_named::<Worker>("taken", ()).ok()
        });
        again.stop_timeout(CALL).unwrap();
    });
}

#[test]
fn permanent_transient_and_temporary_children_added_at_run_time() {
    within(LIMIT, "restart types", || {
        let sup = Supervisor::builder("types-dyn").start().unwrap();
        // permanent_normal: restarted even after a normal stop.
        sup.start_child(local("perm")).unwrap();
        let _ = RemoteRef::<Worker>::named("perm").call_timeout(Order::Stop, CALL);
        eventually("the permanent child's restart", || {
            let perm = sup
                .which_children()
                .unwrap()
                .into_iter()
                .find(|c| c.id == "perm")?;
            (perm.state == ChildState::Running && sup.tree().ok()?.find("perm")?.restarts == 1)
                .then_some(())
        });
        // transient_normal: stays stopped.
        sup.start_child(local("trans").restart(Restart::Transient))
            .unwrap();
        let _ = RemoteRef::<Worker>::named("trans").call_timeout(Order::Stop, CALL);
        eventually("the transient child to stop", || {
            let trans = sup
                .which_children()
                .unwrap()
                .into_iter()
                .find(|c| c.id == "trans")?;
            (trans.state == ChildState::Stopped && trans.pid.is_none()).then_some(())
        });
        // temporary_normal: gone.
        sup.start_child(local("temp").restart(Restart::Temporary))
            .unwrap();
        let _ = RemoteRef::<Worker>::named("temp").call_timeout(Order::Stop, CALL);
        eventually("the temporary child to go", || {
            (!sup.which_children().unwrap().iter().any(|c| c.id == "temp")).then_some(())
        });
        assert_eq!(counts(&sup), [2, 1, 0, 2]);
    });
}

#[test]
fn max_children_bounds_start_child() {
    within(LIMIT, "max_children", || {
        let sup = Supervisor::builder("bounded")
            .max_children(2)
            .start()
            .unwrap();
        sup.start_child(local("b1")).unwrap();
        sup.start_child(local("b2")).unwrap();
        assert!(matches!(
            sup.start_child(local("b3")),
            Err(SupervisorError::MaxChildren(2))
        ));
        sup.terminate_child("b1").unwrap();
        sup.delete_child("b1").unwrap();
        sup.start_child(local("b3")).unwrap();
    });
}

#[test]
fn a_significant_child_that_ends_shuts_its_supervisor_down() {
    within(LIMIT, "auto_shutdown", || {
        // any_significant: the job ends, the supervisor with it.
        let sup = Supervisor::builder("job")
            .auto_shutdown(AutoShutdown::AnySignificant)
            .child(local("job-helper"))
            .child(
                local("job-main")
                    .restart(Restart::Transient)
                    .significant(true),
            )
            .start()
            .unwrap();
        let mut events = sup.events().unwrap();
        assert!(sup.wait_timeout(Duration::from_millis(1)).is_none());
        let _ = RemoteRef::<Worker>::named("job-main").call_timeout(Order::Stop, CALL);
        assert!(matches!(sup.wait_timeout(LIMIT), Some(Ok(()))));
        let all: Vec<SupervisorEvent> = events.by_ref().collect();
        assert!(
            all.iter().any(|e| e.child == "job-helper"
                && matches!(e.kind, EventKind::Terminated(ChildExit::Normal))),
            "{all:?}"
        );
        assert!(
            matches!(all.last().map(|e| &e.kind), Some(EventKind::ShutDown)),
            "{all:?}"
        );

        // all_significant: only once every significant child has ended.
        let sup = Supervisor::builder("jobs")
            .auto_shutdown(AutoShutdown::AllSignificant)
            .child(
                local("jobs-1")
                    .restart(Restart::Temporary)
                    .significant(true),
            )
            .child(
                local("jobs-2")
                    .restart(Restart::Temporary)
                    .significant(true),
            )
            .start()
            .unwrap();
        let _ = RemoteRef::<Worker>::named("jobs-1").call_timeout(Order::Stop, CALL);
        eventually("jobs-1 to go", || {
            (sup.count_children().ok()?.active == 1).then_some(())
        });
        assert!(sup.wait_timeout(Duration::from_millis(1)).is_none());
        // A significant child that crashes ends too (temporary: not restarted).
        let _ = RemoteRef::<Worker>::named("jobs-2").call_timeout(Order::Panic, CALL);
        assert!(matches!(sup.wait_timeout(LIMIT), Some(Ok(()))));

        // Terminated by its supervisor, a significant child shuts nothing down.
        let sup = Supervisor::builder("kept")
            .auto_shutdown(AutoShutdown::AnySignificant)
            .child(
                local("kept-sig")
                    .restart(Restart::Transient)
                    .significant(true),
            )
            .start()
            .unwrap();
        sup.terminate_child("kept-sig").unwrap();
        assert!(sup.which_children().is_ok(), "the supervisor still runs");
        assert!(sup.wait_timeout(Duration::from_millis(50)).is_none());
    });
}

#[test]
fn events_tell_every_start_end_restart_and_termination_in_order() {
    within(LIMIT, "events", || {
        let sup = Supervisor::builder("watched")
            .child(own_process("watched-a"))
            .start()
            .unwrap();
        let mut events = sup.events().unwrap();
        let pid = sup.which_children().unwrap()[0].pid.unwrap();
        sup.kill_child("watched-a").unwrap();
        let ended = next_for(&mut events, "watched-a");
        assert_eq!(ended.supervisor, "watched");
        assert_eq!(
            ended.kind,
            EventKind::Ended(ChildExit::Signal {
                signal: libc::SIGKILL,
                failure: None
            })
        );
        assert!(matches!(
            next_for(&mut events, "watched-a").kind,
            EventKind::Restarting { delay } if delay.is_zero()
        ));
        match next_for(&mut events, "watched-a").kind {
            EventKind::Restarted {
                pid: Some(new),
                restarts: 1,
            } => assert_ne!(new, pid),
            other => panic!("{other:?}"),
        }

        // A crash by panic says so, with the panic's message.
        let _ = RemoteRef::<Worker>::named("watched-a").call_timeout(Order::Panic, CALL);
        match next_for(&mut events, "watched-a").kind {
            EventKind::Ended(ChildExit::Panicked(failure)) => {
                assert_eq!(failure.message(), "told to crash")
            }
            other => panic!("{other:?}"),
        }

        sup.start_child(local("watched-b")).unwrap();
        assert!(matches!(
            next_for(&mut events, "watched-b").kind,
            EventKind::Started { .. }
        ));
        sup.terminate_child("watched-b").unwrap();
        assert_eq!(
            next_for(&mut events, "watched-b").kind,
            EventKind::Terminated(ChildExit::Normal)
        );
        sup.shutdown().unwrap();
        let rest: Vec<SupervisorEvent> = events.collect();
        assert!(
            matches!(rest.last().map(|e| &e.kind), Some(EventKind::ShutDown)),
            "{rest:?}"
        );
    });
}

#[test]
fn events_of_a_nested_supervisor_in_another_process_reach_the_top() {
    within(LIMIT, "nested events", || {
        let sup = Supervisor::builder("top")
            .child(
                ChildSpec::supervisor(
                    "middle",
                    procvisor_runtime::SupervisorSpec::new("middle").child(local("leaf")),
                )
                .placed(Placement::OwnProcess(Some(StartMethod::Forkserver))),
            )
            .start()
            .unwrap();
        let mut events = sup.events().unwrap();
        let middle = sup.supervisor("middle");
        middle.kill_child("leaf").unwrap();
        let ended = next_for(&mut events, "leaf");
        assert_eq!(ended.supervisor, "middle");
        assert!(matches!(ended.kind, EventKind::Ended(_)), "{ended:?}");
        assert!(matches!(
            next_for(&mut events, "leaf").kind,
            EventKind::Restarting { .. }
        ));
        assert!(matches!(
            next_for(&mut events, "leaf").kind,
            EventKind::Restarted { .. }
        ));
        // The nested supervisor takes children at run time too, from here.
        middle.start_child(local("leaf-2")).unwrap();
        assert_eq!(
            sup.tree().unwrap().find("leaf-2").map(|c| c.state),
            Some(ChildState::Running)
        );
    });
}

/// Adds a child to the supervisor it is given: a supervisor is reached from any process.
fn add_child(sup: SupervisorRef, id: String) -> Result<u32, String> {
    let info = sup
        .start_child(ChildSpec::actor::<Worker>(&id, ()).placed(Placement::Local))
        .map_err(|e| e.to_string())?;
    info.pid.ok_or("no pid".into())
}
register!(add_child);

#[test]
fn a_supervisor_takes_children_from_another_process() {
    within(LIMIT, "remote start_child", || {
        let sup = Supervisor::builder("remote-adds").start().unwrap();
        let mut p = Process::new(add_child, (sup.to_ref(), "from-child".to_string()))
            .unwrap()
            .with_context(get_context(StartMethod::Spawn));
        p.start().unwrap();
        let pid: u32 = p.result_timeout(CALL).unwrap();
        // The child runs in the supervisor's process, not in the one that asked.
        assert_eq!(pid, std::process::id());
        assert_eq!(counts(&sup), [1, 1, 0, 1]);
        assert_eq!(
            RemoteRef::<Worker>::named("from-child")
                .call_timeout(Order::Pid, CALL)
                .unwrap(),
            std::process::id()
        );
    });
}

#[test]
fn strategies_apply_to_children_added_at_run_time() {
    within(LIMIT, "one_for_all with added children", || {
        let sup = Supervisor::builder("o4a-dyn")
            .strategy(Strategy::OneForAll)
            .child(own_process("o4a-dyn-1"))
            .start()
            .unwrap();
        sup.start_child(own_process("o4a-dyn-2")).unwrap();
        let before = pids(&sup);
        sup.kill_child("o4a-dyn-2").unwrap();
        eventually("both to restart", || {
            let now = pids(&sup);
            now.iter()
                .zip(&before)
                .all(|((_, a), (_, b))| a.is_some() && a != b)
                .then_some(())
        });
    });
}

/// An actor per job: answers its argument; crashes when told.
struct Job(u64);

impl Actor for Job {
    type Args = u64;
    type Msg = Order;
    type Reply = u64;

    async fn start(n: u64, _: &ActorContext<Self>) -> Result<Self, InitError> {
        Ok(Job(n))
    }

    async fn handle(&mut self, order: Order, ctx: &ActorContext<Self>) -> u64 {
        match order {
            Order::Pid => self.0,
            Order::Stop => {
                ctx.stop();
                self.0
            }
            Order::Panic => panic!("job {} crashed", self.0),
        }
    }
}
register_actor!(Job);

#[test]
fn a_dynamic_supervisor_runs_a_thousand_children_from_one_template() {
    within(LIMIT, "simple_one_for_one", || {
        let jobs = procvisor_runtime::DynamicSupervisor::<Job>::builder("thousand")
            .placed(Placement::Local)
            .restart(Restart::Transient)
            .max_children(1_000)
            .start()
            .unwrap();
        let refs: Vec<RemoteRef<Job>> = (0..1_000).map(|n| jobs.start_child(n).unwrap()).collect();
        assert!(matches!(
            jobs.start_child(1_000),
            Err(SupervisorError::MaxChildren(1_000))
        ));
        let counts = jobs.count_children().unwrap();
        assert_eq!((counts.specs, counts.active), (1_000, 1_000));
        for (n, job) in refs.iter().enumerate().step_by(97) {
            assert_eq!(job.call_timeout(Order::Pid, CALL).unwrap(), n as u64);
        }
        // A transient child that crashes is restarted with its own arguments; one that stops
        // normally is not.
        let _ = refs[5].call_timeout(Order::Panic, CALL);
        assert_eq!(
            eventually("job 5's restart", || refs[5]
                .call_timeout(Order::Pid, CALL)
                .ok()),
            5
        );
        let _ = refs[6].call_timeout(Order::Stop, CALL);
        eventually("job 6 to stop", || {
            (jobs.count_children().ok()?.active == 999).then_some(())
        });
        // Terminating takes the child out.
        jobs.terminate_child(&refs[7]).unwrap();
        assert!(matches!(
            jobs.terminate_child(&refs[7]),
            Err(SupervisorError::NotFound(_))
        ));
        assert!(refs[7].call_timeout(Order::Pid, CALL).is_err());
    });
}

#[test]
fn a_dynamic_supervisor_puts_each_child_in_a_process_of_its_own() {
    within(LIMIT, "dynamic children in processes", || {
        let jobs = procvisor_runtime::DynamicSupervisor::<Worker>::builder("procs")
            .restart(Restart::Temporary)
            .start()
            .unwrap();
        let a = jobs.start_child(()).unwrap();
        let b = jobs.start_child(()).unwrap();
        let (pa, pb) = (
            a.call_timeout(Order::Pid, CALL).unwrap(),
            b.call_timeout(Order::Pid, CALL).unwrap(),
        );
        assert!(pa != pb && pa != std::process::id());
        // A temporary child that crashes is gone, its sibling untouched.
        let _ = a.call_timeout(Order::Panic, CALL);
        eventually("the crashed temporary child to go", || {
            (jobs.count_children().ok()?.specs == 1).then_some(())
        });
        assert_eq!(b.call_timeout(Order::Pid, CALL).unwrap(), pb);
    });
}

/// The async twins of the child requests, from a single-threaded runtime as a
/// `#[tokio::test]` has: the same answers and errors as the blocking calls.
#[test]
fn child_requests_have_async_twins() {
    within(LIMIT, "async twins", || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let sup = Supervisor::builder("async-twins").start().unwrap();
            let started = sup.start_child_async(own_process("twin-a")).await.unwrap();
            assert!(started.pid.is_some());
            assert!(matches!(
                sup.start_child_async(own_process("twin-a")).await,
                Err(SupervisorError::AlreadyStarted { .. })
            ));
            sup.kill_child_async("twin-a").await.unwrap();
            let pid = RemoteRef::<Worker>::named("twin-a")
                .call_async(Order::Pid)
                .await;
            // Restarted (permanent) or still restarting: never the killed one's answer.
            assert_ne!(pid.ok(), started.pid);
            sup.terminate_child_async("twin-a").await.unwrap();
            assert_eq!(sup.count_children_async().await.unwrap().active, 0);
            sup.restart_child_async("twin-a").await.unwrap();
            assert_eq!(sup.which_children_async().await.unwrap().len(), 1);
            sup.terminate_child_async("twin-a").await.unwrap();
            sup.delete_child_async("twin-a").await.unwrap();
            assert!(matches!(
                sup.delete_child_async("twin-a").await,
                Err(SupervisorError::NotFound(_))
            ));
            assert!(sup.tree_async().await.unwrap().children.is_empty());
            sup.shutdown().unwrap();
        });
    });
}
