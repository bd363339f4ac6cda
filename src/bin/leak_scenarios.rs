//! Leak scenarios for `tests/leaks.rs`: `leak_scenarios KIND CYCLES`.
//!
//! Starts and stops one kind of thing CYCLES times and counts what this process holds before
//! and after: descriptors, threads, children, zombies, `/dev/shm` entries and entries of its
//! TMPDIR (the test gives it a fresh one). Anything that grows beyond a small constant is a
//! leak: the scenario fails naming it. A few warm-up cycles first start what lives once per
//! program (the node's runtime, the fork server, the resource tracker, the private socket
//! directory).

use procvisor::{
    Actor, ActorContext, ActorHost, ChildSpec, InitError, Manager, Pool, Process, StartMethod,
    Supervisor, get_context, register, register_actor,
};
use procvisor_suite::step;
use std::time::{Duration, Instant};

fn succeed() -> u32 {
    std::process::id()
}
fn sqr(x: i64) -> i64 {
    x * x
}
register!(succeed, sqr);

struct Echo;

impl Actor for Echo {
    type Args = ();
    type Msg = u32;
    type Reply = u32;
    async fn start((): (), _: &ActorContext<Self>) -> Result<Self, InitError> {
        Ok(Echo)
    }
    async fn handle(&mut self, n: u32, _: &ActorContext<Self>) -> u32 {
        n
    }
}
register_actor!(Echo);

const CALL: Duration = Duration::from_secs(30);

fn process(method: StartMethod) {
    let mut p = Process::new(succeed, ())
        .unwrap()
        .with_context(get_context(method));
    p.start().unwrap();
    let pid: u32 = p.result_timeout(CALL).unwrap();
    assert_eq!(Some(pid), p.pid());
}

fn pool() {
    let pool = Pool::new(2).unwrap();
    assert_eq!(pool.map(sqr, 0..10).unwrap()[3], 9);
    pool.close();
    pool.join().unwrap();
}

fn manager() {
    let manager = Manager::start().unwrap();
    let d = manager.dict::<u32, u32>().unwrap();
    d.set(1, 2).unwrap();
    assert_eq!(d.item(&1).unwrap(), 2);
    manager.shutdown().unwrap();
}

fn actor_host() {
    let host = ActorHost::start().unwrap();
    let echo = host.spawn::<Echo>(()).unwrap();
    assert_eq!(echo.call_timeout(7, CALL).unwrap(), 7);
    host.shutdown(Duration::from_secs(5));
}

fn supervisor() {
    let sup = Supervisor::builder("leaks")
        .child(ChildSpec::actor::<Echo>("leak-a", ()))
        .child(ChildSpec::actor::<Echo>("leak-b", ()))
        .start()
        .unwrap();
    assert_eq!(
        sup.child::<Echo>("leak-b").call_timeout(3, CALL).unwrap(),
        3
    );
    sup.shutdown().unwrap();
}

/// What this process holds, counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Holdings {
    descriptors: usize,
    threads: usize,
    children: usize,
    zombies: usize,
    shm: usize,
    tmp: usize,
}

fn entries(dir: &str) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

fn holdings() -> Holdings {
    let me = std::process::id().to_string();
    let (mut children, mut zombies) = (0, 0);
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: the comm may hold spaces, so split after its ')'.
        let mut fields = stat
            .rsplit_once(") ")
            .map_or("", |(_, rest)| rest)
            .split(' ');
        let (state, ppid) = (fields.next(), fields.next());
        if ppid == Some(me.as_str()) {
            if state == Some("Z") {
                zombies += 1;
            } else {
                children += 1;
            }
        }
    }
    Holdings {
        descriptors: entries("/proc/self/fd"),
        threads: entries("/proc/self/task"),
        children,
        zombies,
        shm: entries("/dev/shm"),
        tmp: entries(&std::env::temp_dir().to_string_lossy()),
    }
}

/// How much each count may grow: a few descriptors and threads that a runtime keeps around;
/// `/dev/shm` is shared with whatever else runs on the machine.
fn within_slack(before: Holdings, after: Holdings) -> bool {
    after.descriptors <= before.descriptors + 4
        && after.threads <= before.threads + 2
        && after.children <= before.children
        && after.zombies == 0
        && after.shm <= before.shm + 5
        && after.tmp <= before.tmp
}

/// Starts a manager, says so, and waits to be killed outright.
fn killed_with_a_manager() -> ! {
    let manager = Manager::start().unwrap();
    let d = manager.dict::<u32, u32>().unwrap();
    d.set(1, 1).unwrap();
    println!("READY {}", manager.pid().expect("an owned manager"));
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args[1] == "killed_with_a_manager" {
        killed_with_a_manager();
    }
    let (kind, cycles) = (args[1].as_str(), args[2].parse::<usize>().expect("cycles"));
    let cycle: Box<dyn Fn()> = match kind {
        "process_fork" => Box::new(|| process(StartMethod::Fork)),
        "process_spawn" => Box::new(|| process(StartMethod::Spawn)),
        "process_forkserver" => Box::new(|| process(StartMethod::Forkserver)),
        "pool" => Box::new(pool),
        "manager" => Box::new(manager),
        "actor_host" => Box::new(actor_host),
        "supervisor" => Box::new(supervisor),
        other => panic!("unknown kind {other}"),
    };
    step("warm-up");
    for _ in 0..3 {
        cycle();
    }
    // What a cycle leaves for a moment (a child being reaped) settles first.
    let settle = |what: &str, until: &dyn Fn(Holdings) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let now = holdings();
            if until(now) {
                return now;
            }
            if Instant::now() > deadline {
                panic!("{what}: still holding {now:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let before = settle("after the warm-up", &|h| h.zombies == 0);
    for i in 0..cycles {
        step(&format!("cycle {i}"));
        cycle();
    }
    step("settle");
    let after = settle(&format!("{cycles} cycles of {kind} leaked"), &|h| {
        within_slack(before, h)
    });
    println!("BEFORE {before:?}");
    println!("AFTER {after:?}");
    println!("PASS");
}
