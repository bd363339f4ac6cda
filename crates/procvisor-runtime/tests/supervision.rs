//! OTP supervision over actors and processes: strategies, restart types, intensity and
//! escalation, shutdown order, backoff, names across restarts, a tree across three processes.
//! Every test has a deadline that names its step.

use procvisor_runtime::{
    Actor, ActorContext, ActorError, ChildSpec, ChildState, InitError, Placement, RemoteRef,
    Restart, RestartIntensity, Shutdown, StartMethod, Strategy, Supervisor, SupervisorError,
    SupervisorSpec, register, register_actor,
};
use procvisor_sync::Queue;
use procvisor_testing::within;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(90);

/// A worker that can be told to crash, exit or report; it logs its stop to a queue.
struct Worker {
    name: String,
    log: Option<Queue<String>>,
}

#[derive(Debug, Serialize, Deserialize)]
enum Order {
    Pid,
    Panic,
    Stop,
    Ping,
}

impl Actor for Worker {
    type Args = (String, Option<Queue<String>>);
    type Msg = Order;
    type Reply = u32;

    async fn start(
        (name, log): (String, Option<Queue<String>>),
        _: &ActorContext<Self>,
    ) -> Result<Self, InitError> {
        Ok(Worker { name, log })
    }

    async fn handle(&mut self, order: Order, ctx: &ActorContext<Self>) -> u32 {
        match order {
            Order::Pid => std::process::id(),
            Order::Panic => panic!("{} was told to crash", self.name),
            Order::Stop => {
                ctx.stop();
                0
            }
            Order::Ping => 1,
        }
    }

    async fn stopping(&mut self) {
        if let Some(log) = &self.log {
            let _ = log.put(format!("stopped {}", self.name));
        }
    }
}

/// Cannot start.
struct Broken;

impl Actor for Broken {
    type Args = ();
    type Msg = ();
    type Reply = ();
    async fn start((): (), _: &ActorContext<Self>) -> Result<Self, InitError> {
        Err("no database".into())
    }
    async fn handle(&mut self, (): (), _: &ActorContext<Self>) {}
}

register_actor!(Worker, Broken);

fn sleeper(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}
register!(sleeper);

fn worker(id: &str) -> ChildSpec {
    ChildSpec::actor::<Worker>(id, (id.to_string(), None))
}

fn pid_of(id: &str) -> u32 {
    RemoteRef::<Worker>::named(id)
        .call_timeout(Order::Pid, Duration::from_secs(20))
        .unwrap()
}

/// Waits until the child's pid differs from `old` (restarted) and answers.
fn restarted(id: &str, old: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(pid) =
            RemoteRef::<Worker>::named(id).call_timeout(Order::Pid, Duration::from_secs(5))
        {
            if pid != old {
                return pid;
            }
        }
        assert!(Instant::now() < deadline, "{id} was not restarted");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn kill(pid: u32) {
    // SAFETY: kill(2) has no memory effects.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
}

#[test]
fn one_for_one_restarts_only_the_crashed_child_by_panic_kill_or_exit() {
    within(LIMIT, "one_for_one", || {
        let sup = Supervisor::builder("o4o")
            .intensity(RestartIntensity::new(10, Duration::from_secs(10)))
            .child(worker("o4o-a"))
            .child(worker("o4o-b"))
            .start()
            .unwrap();
        let (a, b) = (pid_of("o4o-a"), pid_of("o4o-b"));
        assert_ne!(a, b, "each actor in a process of its own");

        // By panic: the call fails with the panic, and the actor comes back.
        let error = RemoteRef::<Worker>::named("o4o-a")
            .call(Order::Panic)
            .unwrap_err();
        assert!(
            matches!(error, ActorError::Panicked(ref f) if f.message() == "o4o-a was told to crash"),
            "{error}"
        );
        let a2 = restarted("o4o-a", a);
        assert_eq!(pid_of("o4o-b"), b, "the other child is untouched");

        // By SIGKILL of its process.
        kill(a2);
        let a3 = restarted("o4o-a", a2);

        // By a normal stop: a permanent child restarts even so.
        let _ = RemoteRef::<Worker>::named("o4o-a").call(Order::Stop);
        restarted("o4o-a", a3);

        let tree = sup.tree().unwrap();
        let child = tree.find("o4o-a").unwrap();
        assert_eq!(
            (child.restarts, child.state),
            (3, ChildState::Running),
            "{tree}"
        );
        assert_eq!(tree.find("o4o-b").unwrap().restarts, 0);
    });
}

#[test]
fn transient_children_stay_stopped_after_a_normal_exit_and_temporary_ones_never_return() {
    within(LIMIT, "restart types", || {
        let sup = Supervisor::builder("types")
            .child(worker("t-transient").restart(Restart::Transient))
            .child(worker("t-temporary").restart(Restart::Temporary))
            .start()
            .unwrap();
        let transient = pid_of("t-transient");
        kill(transient);
        restarted("t-transient", transient);
        let _ = RemoteRef::<Worker>::named("t-transient").call(Order::Stop);
        let _ = RemoteRef::<Worker>::named("t-temporary").call(Order::Panic);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let tree = sup.tree().unwrap();
            // A transient child that stopped normally stays stopped; a temporary child that
            // ended is gone from its supervisor (OTP deletes its spec).
            let t = tree.find("t-transient").unwrap();
            if t.state == ChildState::Stopped && tree.find("t-temporary").is_none() {
                break;
            }
            assert!(Instant::now() < deadline, "{tree}");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(matches!(
            RemoteRef::<Worker>::named("t-temporary")
                .call_timeout(Order::Ping, Duration::from_secs(5)),
            Err(ActorError::NoSuchName(_))
        ));
    });
}

#[test]
fn one_for_all_restarts_everyone_and_rest_for_one_the_later_ones() {
    within(LIMIT, "one_for_all and rest_for_one", || {
        let all = Supervisor::builder("o4a")
            .strategy(Strategy::OneForAll)
            .child(worker("all-a"))
            .child(worker("all-b"))
            .child(worker("all-c"))
            .child(worker("all-temp").restart(Restart::Temporary))
            .start()
            .unwrap();
        let before: Vec<u32> = ["all-a", "all-b", "all-c"]
            .iter()
            .map(|id| pid_of(id))
            .collect();
        kill(before[1]);
        for (id, old) in ["all-a", "all-b", "all-c"].iter().zip(&before) {
            restarted(id, *old);
        }
        // As in OTP, a temporary child stopped with the group is not brought back: it is gone.
        let tree = all.tree().unwrap();
        assert!(tree.find("all-temp").is_none(), "{tree}");
        // Each child shows how it actually ended: the killed one by its signal, its siblings
        // stopped by the supervisor; the group's cause is shown apart.
        let b = tree.find("all-b").unwrap();
        assert_eq!(
            b.last_exit.as_deref(),
            Some("it ended with signal 9 (SIGKILL)"),
            "{tree}"
        );
        assert_eq!(b.restarted_with, None, "{tree}");
        for sibling in ["all-a", "all-c"] {
            let child = tree.find(sibling).unwrap();
            assert_eq!(
                child.last_exit.as_deref(),
                Some("stopped by its supervisor"),
                "{tree}"
            );
            assert_eq!(
                child.restarted_with.as_deref(),
                Some(
                    "one_for_all restart after \"all-b\" crashed: it ended with signal 9 (SIGKILL)"
                ),
                "{tree}"
            );
        }
        drop(all);

        let rest = Supervisor::builder("r4o")
            .strategy(Strategy::RestForOne)
            .child(worker("rest-a"))
            .child(worker("rest-b"))
            .child(worker("rest-c"))
            .start()
            .unwrap();
        let before: Vec<u32> = ["rest-a", "rest-b", "rest-c"]
            .iter()
            .map(|id| pid_of(id))
            .collect();
        kill(before[1]);
        restarted("rest-b", before[1]);
        restarted("rest-c", before[2]);
        assert_eq!(
            pid_of("rest-a"),
            before[0],
            "the child started before stays"
        );
        drop(rest);
    });
}

#[test]
fn too_many_restarts_make_the_supervisor_give_up_and_escalate() {
    within(LIMIT, "intensity", || {
        let sup = Supervisor::builder("fragile")
            .intensity(RestartIntensity::new(2, Duration::from_secs(60)))
            .child(worker("fragile-a"))
            .child(worker("fragile-b"))
            .start()
            .unwrap();
        let mut pid = pid_of("fragile-a");
        let b = pid_of("fragile-b");
        for _ in 0..2 {
            kill(pid);
            pid = restarted("fragile-a", pid);
        }
        kill(pid);
        match sup.wait_timeout(Duration::from_secs(30)) {
            Some(Err(SupervisorError::GaveUp(cause))) => {
                assert!(cause.contains("more than 2 restarts"), "{cause}");
                assert!(cause.contains("fragile-a"), "{cause}");
            }
            other => panic!("{other:?}"),
        }
        // It stopped its other children on the way out.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::path::Path::new(&format!("/proc/{b}/stat")).exists()
            && !std::fs::read_to_string(format!("/proc/{b}/stat"))
                .unwrap_or_default()
                .contains(") Z")
        {
            assert!(
                Instant::now() < deadline,
                "fragile-b outlived its supervisor"
            );
            std::thread::sleep(Duration::from_millis(10));
        }

        // Nested: the inner supervisor gives up, the outer one sees a crash and restarts it.
        let outer = Supervisor::builder("outer")
            .intensity(RestartIntensity::new(5, Duration::from_secs(60)))
            .child(ChildSpec::supervisor(
                "inner",
                SupervisorSpec::new("inner")
                    .intensity(RestartIntensity::new(0, Duration::from_secs(60)))
                    .child(worker("inner-a")),
            ))
            .start()
            .unwrap();
        let a = pid_of("inner-a");
        kill(a);
        restarted("inner-a", a);
        let tree = outer.tree().unwrap();
        let inner = tree.find("inner").unwrap();
        assert_eq!(
            inner.restarts, 1,
            "the outer supervisor restarted the inner one\n{tree}"
        );
        assert!(
            inner.last_exit.as_deref().unwrap_or("").contains("gave up"),
            "{tree}"
        );
    });
}

#[test]
fn children_start_in_order_and_stop_in_reverse() {
    within(LIMIT, "shutdown order", || {
        let log: Queue<String> = Queue::new(0).unwrap();
        let spec = |id: &str| ChildSpec::actor::<Worker>(id, (id.to_string(), Some(log.clone())));
        let sup = Supervisor::builder("ordered")
            .child(spec("first"))
            .child(spec("second"))
            .child(spec("third").placed(Placement::Local))
            .start()
            .unwrap();
        let tree = sup.tree().unwrap();
        let ids: Vec<&str> = tree.children.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["first", "second", "third"]);
        sup.shutdown().unwrap();
        let stops: Vec<String> = (0..3).map(|_| log.get().unwrap()).collect();
        assert_eq!(stops, ["stopped third", "stopped second", "stopped first"]);
        assert!(matches!(
            sup.wait_timeout(Duration::from_secs(10)),
            Some(Ok(()))
        ));
    });
}

#[test]
fn a_child_that_cannot_start_stops_the_supervisor_from_starting() {
    within(LIMIT, "start failure", || {
        let log: Queue<String> = Queue::new(0).unwrap();
        let result = Supervisor::builder("doomed")
            .child(ChildSpec::actor::<Worker>(
                "d-first",
                ("d-first".into(), Some(log.clone())),
            ))
            .child(ChildSpec::actor::<Broken>("d-broken", ()))
            .start();
        match result {
            Err(SupervisorError::StartFailed(message)) => {
                assert!(
                    message.contains("d-broken") && message.contains("no database"),
                    "{message}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            log.get().unwrap(),
            "stopped d-first",
            "the started child was stopped"
        );
    });
}

#[test]
fn a_call_to_a_crashed_actor_fails_within_a_deadline_and_the_name_finds_the_new_one() {
    within(LIMIT, "names", || {
        let _sup = Supervisor::builder("named")
            .child(worker("svc"))
            .start()
            .unwrap();
        let by_id_pid = pid_of("svc");
        // A reference to this incarnation by id (through the tree from the name's answer).
        kill(by_id_pid);
        let start = Instant::now();
        let _ =
            RemoteRef::<Worker>::named("svc").call_timeout(Order::Ping, Duration::from_secs(20));
        assert!(start.elapsed() < Duration::from_secs(20));
        let new = restarted("svc", by_id_pid);
        assert_ne!(new, by_id_pid);
    });
}

#[test]
fn backoff_delays_restarts() {
    within(LIMIT, "backoff", || {
        let _sup = Supervisor::builder("slow-restarts")
            .backoff(procvisor_runtime::Backoff::exponential(
                Duration::from_millis(300),
                Duration::from_secs(2),
            ))
            .child(worker("backoff-a"))
            .start()
            .unwrap();
        let pid = pid_of("backoff-a");
        let killed = Instant::now();
        kill(pid);
        restarted("backoff-a", pid);
        assert!(
            killed.elapsed() >= Duration::from_millis(240),
            "{:?}",
            killed.elapsed()
        );
    });
}

#[test]
fn whole_processes_are_supervised_too() {
    within(LIMIT, "process children", || {
        let sup = Supervisor::builder("procs")
            .intensity(RestartIntensity::new(100, Duration::from_secs(60)))
            .child(ChildSpec::process("napper", sleeper, (50_u64,)).shutdown(Shutdown::BrutalKill))
            .start()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let tree = sup.tree().unwrap();
            if tree.find("napper").unwrap().restarts >= 3 {
                break;
            }
            assert!(Instant::now() < deadline, "{tree}");
            std::thread::sleep(Duration::from_millis(20));
        }
    });
}

#[test]
fn a_tree_spans_three_processes() {
    within(LIMIT, "three processes", || {
        let sup = Supervisor::builder("top")
            .child(
                ChildSpec::supervisor(
                    "middle",
                    SupervisorSpec::new("middle").child(
                        ChildSpec::supervisor(
                            "bottom",
                            SupervisorSpec::new("bottom").child(worker("leaf")),
                        )
                        .placed(Placement::OwnProcess(Some(StartMethod::Forkserver))),
                    ),
                )
                .placed(Placement::OwnProcess(None)),
            )
            .start()
            .unwrap();
        let leaf = pid_of("leaf");
        let tree = sup.tree().unwrap();
        let middle = tree.find("middle").unwrap();
        let bottom = tree.find("bottom").unwrap();
        let pids = [tree.pid, middle.pid.unwrap(), bottom.pid.unwrap(), leaf];
        let distinct: std::collections::HashSet<u32> = pids.iter().copied().collect();
        assert_eq!(distinct.len(), 4, "{tree}");
        // A crash at the bottom is handled at the bottom.
        kill(leaf);
        restarted("leaf", leaf);
        let tree = sup.tree().unwrap();
        assert_eq!(tree.find("leaf").unwrap().restarts, 1, "{tree}");
        assert_eq!(tree.find("bottom").unwrap().restarts, 0, "{tree}");
        println!("{tree}");
    });
}
