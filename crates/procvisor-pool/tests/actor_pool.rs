//! Pools of actors: each worker process starts its actor once, then handles the pool's tasks
//! as its messages, under the same supervision as a pool of functions; every worker's actor is
//! addressable, and a broadcast reaches all of them.

mod common;

use common::{LIMIT, within};
use procvisor_pool::{ActorPool, Pool, PoolError};
use procvisor_runtime::{
    Actor, ActorContext, ActorError, ExitReason, InitError, RestartIntensity, register_actor,
};
use procvisor_sync::Value;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Counts how often it has seen each word; reports per-worker totals.
struct WordCounter {
    seen: HashMap<String, u32>,
    handled: u32,
    starts: Value<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Command {
    Count(String),
    Explode,
    Die,
    Forget,
    Leave,
    Fail,
    Sleep(u64),
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Counted {
    word: String,
    times: u32,
    handled_here: u32,
    pid: u32,
}

impl Actor for WordCounter {
    type Args = Value<u32>;
    type Msg = Command;
    type Reply = Counted;

    async fn start(starts: Value<u32>, _: &ActorContext<Self>) -> Result<Self, InitError> {
        starts.update(|n| n + 1);
        Ok(WordCounter {
            seen: HashMap::new(),
            handled: 0,
            starts,
        })
    }

    async fn handle(&mut self, command: Command, ctx: &ActorContext<Self>) -> Counted {
        self.handled += 1;
        let word = match command {
            Command::Count(word) => word,
            Command::Explode => panic!("exploded after {} tasks", self.handled),
            Command::Die => {
                let _ = self.starts.get();
                std::process::abort()
            }
            Command::Forget => {
                self.seen.clear();
                String::new()
            }
            Command::Leave => {
                ctx.stop();
                String::new()
            }
            Command::Fail => {
                ctx.fail("the model is corrupt");
                String::new()
            }
            Command::Sleep(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                String::new()
            }
        };
        let times = self.seen.entry(word.clone()).or_default();
        *times += 1;
        Counted {
            word,
            times: *times,
            handled_here: self.handled,
            pid: std::process::id(),
        }
    }
}

/// Cannot start.
struct Unstartable;

impl Actor for Unstartable {
    type Args = String;
    type Msg = ();
    type Reply = ();

    async fn start(reason: String, _: &ActorContext<Self>) -> Result<Self, InitError> {
        Err(reason.into())
    }

    async fn handle(&mut self, (): (), _: &ActorContext<Self>) {}
}

/// Not registered.
struct Forgotten;

impl Actor for Forgotten {
    type Args = ();
    type Msg = ();
    type Reply = ();

    async fn start((): (), _: &ActorContext<Self>) -> Result<Self, InitError> {
        Ok(Forgotten)
    }

    async fn handle(&mut self, (): (), _: &ActorContext<Self>) {}
}

register_actor!(WordCounter, Unstartable);

fn count(word: &str) -> Command {
    Command::Count(word.to_string())
}

#[test]
fn each_worker_starts_its_actor_once_and_keeps_its_state_across_tasks() {
    within(LIMIT, "state", || {
        let starts = Value::new(0_u32).unwrap();
        let pool = ActorPool::<WordCounter>::new(1, starts.clone()).unwrap();
        let first = pool.call(count("apple")).unwrap();
        let second = pool.call(count("apple")).unwrap();
        assert_eq!((first.times, second.times), (1, 2), "the state persists");
        assert_eq!(second.handled_here, 2);
        let all = pool.map((0..10).map(|_| count("pear"))).unwrap();
        assert_eq!(all.last().unwrap().times, 10);
        assert_eq!(starts.get(), 1, "started once");
    });
}

#[test]
fn a_panic_fails_one_task_and_the_state_survives() {
    within(LIMIT, "panic", || {
        let starts = Value::new(0_u32).unwrap();
        let pool = ActorPool::<WordCounter>::new(1, starts.clone()).unwrap();
        pool.call(count("kiwi")).unwrap();
        let error = pool.call(Command::Explode).unwrap_err();
        assert!(error.is_panic(), "{error}");
        assert!(
            error.to_string().contains("exploded after 2 tasks"),
            "{error}"
        );
        assert_eq!(
            pool.call(count("kiwi")).unwrap().times,
            2,
            "same worker, same state"
        );
        assert_eq!(starts.get(), 1);
    });
}

#[test]
fn a_worker_killed_mid_task_fails_exactly_that_task_and_is_replaced() {
    within(LIMIT, "crash", || {
        let starts = Value::new(0_u32).unwrap();
        let pool = ActorPool::<WordCounter>::new(2, starts.clone()).unwrap();
        let pending = pool.submit(count("plum")).unwrap();
        match pool.call(Command::Die) {
            Err(PoolError::WorkerLost { exit, task, .. }) => {
                assert_eq!(exit.0, ExitReason::Signal(libc::SIGABRT));
                assert_eq!(task.target(), "WordCounter");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(pending.get().unwrap().word, "plum");
        let outputs = pool.map((0..20).map(|_| count("fig"))).unwrap();
        assert_eq!(outputs.len(), 20);
        common::wait_until(LIMIT, "the worker replaced", || starts.get() == 3);
    });
}

#[test]
fn every_worker_is_addressable_and_a_broadcast_reaches_them_all() {
    within(LIMIT, "workers and broadcast", || {
        let starts = Value::new(0_u32).unwrap();
        let pool = ActorPool::<WordCounter>::new(3, starts.clone()).unwrap();
        common::wait_until(LIMIT, "three workers ready", || pool.workers().len() == 3);
        // Each worker counts "apple" once, through the pool, round robin or not.
        for worker in pool.workers() {
            assert_eq!(worker.call(count("apple")).unwrap().times, 1);
        }
        let pids: HashSet<u32> = pool
            .workers()
            .iter()
            .map(|w| w.call(count("x")).unwrap().pid)
            .collect();
        assert_eq!(
            pids,
            pool.worker_pids().into_iter().collect(),
            "one actor per worker"
        );
        // A broadcast clears every worker's memory.
        let cleared = pool.broadcast(Command::Forget);
        assert_eq!(cleared.len(), 3);
        assert!(cleared.iter().all(Result::is_ok), "{cleared:?}");
        for worker in pool.workers() {
            assert_eq!(worker.call(count("apple")).unwrap().times, 1, "forgotten");
        }
    });
}

#[test]
fn an_actor_that_stops_or_fails_is_replaced_and_its_queued_tasks_go_elsewhere() {
    within(LIMIT, "leaving", || {
        let starts = Value::new(0_u32).unwrap();
        let pool = ActorPool::<WordCounter>::new(2, starts.clone())
            .unwrap()
            .with_chunksize(1);
        // A stop is a planned end: the pool replaces the worker and counts no crash.
        pool.call(Command::Leave).unwrap();
        let words = pool.map((0..40).map(|i| count(&format!("w{i}")))).unwrap();
        assert_eq!(words.len(), 40, "no task was lost");
        common::wait_until(LIMIT, "the leaver replaced", || starts.get() == 3);
        assert_eq!(pool.stats().crashes, 0);
        // A failure is a crash.
        pool.call(Command::Fail).unwrap();
        common::wait_until(LIMIT, "the failed one replaced", || starts.get() == 4);
        common::wait_until(LIMIT, "the crash counted", || pool.stats().crashes == 1);
        assert_eq!(pool.map((0..10).map(|_| count("y"))).unwrap().len(), 10);
    });
}

#[test]
fn time_limits_and_recycling_hold_for_actors() {
    within(LIMIT, "time limits", || {
        let starts = Value::new(0_u32).unwrap();
        let pool = Pool::builder()
            .processes(1)
            .maxtasksperchild(5)
            .build_actors::<WordCounter>(starts.clone())
            .unwrap()
            .with_time_limit(Duration::from_millis(300))
            .with_chunksize(1);
        match pool.call(Command::Sleep(60_000)) {
            Err(PoolError::TimeLimitExceeded { .. }) => {}
            other => panic!("{other:?}"),
        }
        let outputs = pool.map((0..12).map(|_| count("z"))).unwrap();
        let pids: HashSet<u32> = outputs.iter().map(|o| o.pid).collect();
        assert!(pids.len() >= 3, "recycled every 5 tasks: {pids:?}");
    });
}

#[test]
fn an_actor_that_cannot_start_breaks_the_pool_with_its_error() {
    within(LIMIT, "start error", || {
        // The pool is built once every worker's actor has started: one that never can is the
        // build's own error.
        let built = Pool::builder()
            .processes(1)
            .restart_intensity(RestartIntensity::new(2, Duration::from_secs(60)))
            .build_actors::<Unstartable>("no GPU found".into());
        match built {
            Err(PoolError::Broken { cause }) => assert!(cause.contains("no GPU found"), "{cause}"),
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn an_unregistered_actor_type_is_refused_with_the_fix() {
    match ActorPool::<Forgotten>::new(1, ()) {
        Err(e @ PoolError::UnregisteredActor { .. }) => {
            assert!(e.to_string().contains("register_actor!(Forgotten)"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_pool_of_actors_streams_and_spreads_its_tasks() {
    within(LIMIT, "imap", || {
        let starts = Value::new(0_u32).unwrap();
        let pool = Pool::builder()
            .processes(2)
            .build_actors::<WordCounter>(starts.clone())
            .unwrap()
            .with_chunksize(1);
        let words: Vec<Command> = (0..200).map(|i| count(&format!("w{}", i % 7))).collect();
        let outputs: Vec<Counted> = pool.imap(words).unwrap().map(Result::unwrap).collect();
        assert_eq!(outputs.len(), 200);
        assert_eq!(outputs[13].word, "w6");
        let pids: HashSet<u32> = outputs.iter().map(|o| o.pid).collect();
        assert_eq!(pids.len(), 2, "both workers took tasks");
        let unordered = pool
            .imap_unordered((0..50).map(|_| count("x")))
            .unwrap()
            .count();
        assert_eq!(unordered, 50);
    });
}

#[test]
fn a_reference_to_a_dead_worker_fails_and_never_hangs() {
    within(LIMIT, "dead worker reference", || {
        let starts = Value::new(0_u32).unwrap();
        let pool = ActorPool::<WordCounter>::new(1, starts.clone()).unwrap();
        common::wait_until(LIMIT, "the worker ready", || pool.workers().len() == 1);
        let worker = pool.workers().remove(0);
        let _ = pool.call(Command::Die);
        match worker.call_timeout(count("after"), Duration::from_secs(30)) {
            Err(ActorError::Unreachable(_) | ActorError::NoSuchActor(_) | ActorError::Stopped) => {}
            other => panic!("{other:?}"),
        }
        common::wait_until(LIMIT, "a new worker", || {
            pool.workers().first().is_some_and(|w| *w != worker)
        });
        assert_eq!(pool.workers()[0].call(count("new")).unwrap().times, 1);
    });
}

#[test]
fn an_executor_over_a_pool_of_actors_submits_maps_and_cancels() {
    within(LIMIT, "executor over actors", || {
        use procvisor_pool::futures::{Executor, ReturnWhen, wait};
        let starts = Value::new(0_u32).unwrap();
        let pool: ActorPool<WordCounter> =
            Pool::builder().processes(1).build_actors(starts).unwrap();
        let executor = Executor::<ActorPool<WordCounter>>::from_pool(pool);
        let slow = executor.submit(Command::Sleep(300)).unwrap();
        let queued = executor.submit(count("later")).unwrap();
        common::wait_until(LIMIT, "the sleep to reach the worker", || slow.running());
        assert!(queued.cancel(), "a message no worker has is taken back");
        let replies: Vec<String> = executor
            .map([count("a"), count("b"), count("a")])
            .unwrap()
            .map(|reply| reply.unwrap().word)
            .collect();
        assert_eq!(replies, ["a", "b", "a"]);
        let done = wait([&slow], ReturnWhen::AllCompleted);
        assert_eq!(done.done.len(), 1);
        let later = executor.submit(count("later")).unwrap().result().unwrap();
        assert_eq!(
            later.times, 1,
            "the cancelled message never reached the actor"
        );
        executor.shutdown().unwrap();
    });
}
