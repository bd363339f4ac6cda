//! Actors across processes: spawning here, in new processes and in hosts; casts and calls by
//! id and by name, from the parent, from siblings and from plain processes; what a caller sees
//! when an actor crashes or its process dies. Every test has a deadline naming its step.

use procvisor_runtime::{
    Actor, ActorContext, ActorError, ActorHost, InitError, Process, RemoteRef, StartMethod,
    get_context, register, register_actor, spawn_in, spawn_local, spawn_local_named,
    spawn_named_in,
};
use procvisor_testing::within;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

struct Counter {
    count: i64,
}

#[derive(Debug, Serialize, Deserialize)]
enum CounterMsg {
    Add(i64),
    Get,
    Pid,
    Panic,
    Stop,
}

impl Actor for Counter {
    type Args = i64;
    type Msg = CounterMsg;
    type Reply = i64;

    async fn start(start: i64, _: &ActorContext<Self>) -> Result<Self, InitError> {
        if start < 0 {
            return Err("a counter cannot start below zero".into());
        }
        Ok(Counter { count: start })
    }

    async fn handle(&mut self, msg: CounterMsg, ctx: &ActorContext<Self>) -> i64 {
        match msg {
            CounterMsg::Add(n) => {
                self.count += n;
                self.count
            }
            CounterMsg::Get => self.count,
            CounterMsg::Pid => std::process::id() as i64,
            CounterMsg::Panic => panic!("counter exploded at {}", self.count),
            CounterMsg::Stop => {
                ctx.stop();
                self.count
            }
        }
    }
}

/// Calls another actor (given as a reference) and reports what it got.
struct Relay {
    target: RemoteRef<Counter>,
}

impl Actor for Relay {
    type Args = RemoteRef<Counter>;
    type Msg = i64;
    type Reply = Result<i64, String>;

    async fn start(target: RemoteRef<Counter>, _: &ActorContext<Self>) -> Result<Self, InitError> {
        Ok(Relay { target })
    }

    async fn handle(&mut self, add: i64, _: &ActorContext<Self>) -> Result<i64, String> {
        self.target
            .call_timeout_async(CounterMsg::Add(add), Duration::from_secs(10))
            .await
            .map_err(|e| e.to_string())
    }
}

/// Takes numbered items and checks that each came whole and in order.
#[derive(Default)]
struct Sink {
    next: u32,
    misplaced: u32,
    torn: u32,
}

#[derive(Debug, Serialize, Deserialize)]
enum SinkMsg {
    Item(u32, Vec<u8>),
    Report,
}

impl Actor for Sink {
    type Args = ();
    type Msg = SinkMsg;
    /// Items taken, items out of order, items not whole.
    type Reply = (u32, u32, u32);

    async fn start((): (), _: &ActorContext<Self>) -> Result<Self, InitError> {
        Ok(Sink::default())
    }

    async fn handle(&mut self, msg: SinkMsg, _: &ActorContext<Self>) -> (u32, u32, u32) {
        if let SinkMsg::Item(i, bytes) = msg {
            self.misplaced += u32::from(i != self.next);
            self.torn += u32::from(bytes.iter().any(|b| *b != i as u8));
            self.next = i + 1;
        }
        (self.next, self.misplaced, self.torn)
    }
}

/// Casts a burst of items to a sink from its own process's runtime.
struct Burst;

impl Actor for Burst {
    type Args = ();
    /// The sink, how many items, how large each.
    type Msg = (RemoteRef<Sink>, u32, usize);
    type Reply = ();

    async fn start((): (), _: &ActorContext<Self>) -> Result<Self, InitError> {
        Ok(Burst)
    }

    async fn handle(&mut self, (sink, n, size): Self::Msg, _: &ActorContext<Self>) {
        for i in 0..n {
            sink.cast(SinkMsg::Item(i, vec![i as u8; size])).unwrap();
        }
    }
}

register_actor!(Counter, Relay, Sink, Burst);

fn call_named_counter(add: i64) -> Result<i64, String> {
    RemoteRef::<Counter>::named("shared-counter")
        .call_timeout(CounterMsg::Add(add), Duration::from_secs(10))
        .map_err(|e| e.to_string())
}
register!(call_named_counter);

#[test]
fn a_local_actor_casts_and_calls() {
    within(LIMIT, "local", || {
        let counter = spawn_local::<Counter>(10).unwrap();
        counter.cast(CounterMsg::Add(5)).unwrap();
        assert_eq!(counter.call(CounterMsg::Add(1)).unwrap(), 16);
        assert_eq!(
            counter.call(CounterMsg::Pid).unwrap(),
            std::process::id() as i64
        );
    });
}

#[test]
fn blocking_calls_work_on_a_current_thread_runtime() {
    within(LIMIT, "current-thread runtime", || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            // As a `#[tokio::test]` would: spawn, call and stop with the blocking API, on the
            // runtime's only thread.
            let counter = spawn_local_named::<Counter>("on-current-thread", 1).unwrap();
            assert_eq!(counter.call(CounterMsg::Add(2)).unwrap(), 3);
            let other = spawn_in::<Counter>(StartMethod::Forkserver, 10).unwrap();
            assert_eq!(other.call(CounterMsg::Add(1)).unwrap(), 11);
            assert_eq!(
                RemoteRef::<Counter>::named("on-current-thread")
                    .call_async(CounterMsg::Add(0))
                    .await
                    .unwrap(),
                3
            );
            other.stop().unwrap();
            counter.stop().unwrap();
        });
    });
}

#[test]
fn an_actor_in_its_own_process_answers_from_there() {
    within(LIMIT, "own process", || {
        let counter = spawn_in::<Counter>(get_context(StartMethod::Forkserver), 1).unwrap();
        let pid = counter.call(CounterMsg::Pid).unwrap() as u32;
        assert_ne!(pid, std::process::id());
        for i in 0..100 {
            counter.cast(CounterMsg::Add(1)).unwrap();
            let _ = i;
        }
        assert_eq!(
            counter.call(CounterMsg::Get).unwrap(),
            101,
            "casts keep their order"
        );
        // Stopping the actor ends its process.
        assert_eq!(counter.call(CounterMsg::Stop).unwrap(), 101);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::path::Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z")
        {
            assert!(Instant::now() < deadline, "the host did not exit");
            std::thread::sleep(Duration::from_millis(5));
        }
    });
}

#[test]
fn a_burst_of_casts_from_a_child_arrives_whole_and_in_order() {
    // 3,000 casts of 3 KiB from the child's runtime outrun the parent's reading, so the child
    // finds its socket full and leaves the rest to its writer task: nothing may be lost,
    // reordered or torn on the way.
    const N: u32 = 3000;
    within(LIMIT, "burst", || {
        let sink = spawn_local::<Sink>(()).unwrap();
        let burst = spawn_in::<Burst>(get_context(StartMethod::Forkserver), ()).unwrap();
        burst.call((sink.clone(), N, 3 * 1024)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (taken, misplaced, torn) = sink.call(SinkMsg::Report).unwrap();
            assert_eq!((misplaced, torn), (0, 0), "after {taken} items");
            if taken == N {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "only {taken} of {N} items arrived"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    });
}

#[test]
fn actors_in_sibling_hosts_reach_each_other_through_the_parent() {
    within(LIMIT, "siblings", || {
        let left = ActorHost::start().unwrap();
        let right = ActorHost::start().unwrap();
        let counter = right.spawn::<Counter>(0).unwrap();
        let relay = left.spawn::<Relay>(counter.clone()).unwrap();
        assert_eq!(relay.call(5).unwrap(), Ok(5));
        assert_eq!(relay.call(2).unwrap(), Ok(7));
        assert_eq!(counter.call(CounterMsg::Get).unwrap(), 7);
        assert_ne!(left.pid(), right.pid());
    });
}

#[test]
fn names_reach_actors_from_anywhere_even_plain_processes() {
    within(LIMIT, "names", || {
        let host = ActorHost::start().unwrap();
        let _counter = spawn_named_in::<Counter>(&host, "shared-counter", 100).unwrap();
        let by_name = RemoteRef::<Counter>::named("shared-counter");
        assert_eq!(by_name.call(CounterMsg::Add(1)).unwrap(), 101);
        let mut p = Process::new(call_named_counter, (10,)).unwrap();
        p.start().unwrap();
        assert_eq!(
            p.result_timeout::<i64>(LIMIT).unwrap(),
            111,
            "a Process target reached the actor by name"
        );
        let missing = RemoteRef::<Counter>::named("nobody");
        assert!(matches!(
            missing.call(CounterMsg::Get),
            Err(ActorError::NoSuchName(name)) if name == "nobody"
        ));
    });
}

#[test]
fn a_panic_fails_its_call_and_the_actor_is_gone() {
    within(LIMIT, "panic", || {
        let host = ActorHost::start().unwrap();
        let counter = host.spawn::<Counter>(3).unwrap();
        match counter.call(CounterMsg::Panic) {
            Err(ActorError::Panicked(failure)) => {
                assert_eq!(failure.message(), "counter exploded at 3");
                assert!(failure.location().unwrap().contains("actors.rs"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            counter.call(CounterMsg::Get),
            Err(ActorError::NoSuchActor(_))
        ));
        // The host lives on: a new actor starts there.
        let other = host.spawn::<Counter>(1).unwrap();
        assert_eq!(other.call(CounterMsg::Get).unwrap(), 1);
    });
}

#[test]
fn a_call_to_a_dead_process_fails_at_once() {
    within(LIMIT, "dead process", || {
        let host = ActorHost::start().unwrap();
        let counter = host.spawn::<Counter>(0).unwrap();
        assert_eq!(counter.call(CounterMsg::Add(1)).unwrap(), 1);
        host.process().unwrap().kill().unwrap();
        let start = Instant::now();
        // Without a timeout: the caller must learn of the death, not wait for ever.
        let result = counter.call(CounterMsg::Get);
        assert!(
            matches!(result, Err(ActorError::Unreachable(_))),
            "{result:?}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    });
}

#[test]
fn a_failed_start_is_reported_by_the_spawn() {
    within(LIMIT, "start failure", || {
        let host = ActorHost::start().unwrap();
        match host.spawn::<Counter>(-1) {
            Err(ActorError::StartFailed(message)) => {
                assert!(message.contains("below zero"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        match spawn_in::<Counter>(get_context(StartMethod::Spawn), -1) {
            Err(ActorError::StartFailed(message)) => {
                assert!(message.contains("below zero"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn a_timeout_leaves_the_actor_running() {
    within(LIMIT, "timeout", || {
        struct Slow;
        impl Actor for Slow {
            type Args = ();
            type Msg = u64;
            type Reply = u64;
            async fn start((): (), _: &ActorContext<Self>) -> Result<Self, InitError> {
                Ok(Slow)
            }
            async fn handle(&mut self, ms: u64, _: &ActorContext<Self>) -> u64 {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                ms
            }
        }
        let slow = spawn_local::<Slow>(()).unwrap();
        assert!(matches!(
            slow.call_timeout(300, Duration::from_millis(20)),
            Err(ActorError::Timeout)
        ));
        assert_eq!(slow.call(1).unwrap(), 1);
    });
}
