//! User-defined worker actors: state built once per worker process, then a handler per task,
//! under the same supervision as a function pool.

mod common;

use common::{LIMIT, within};
use procvisor_pool::{InitError, Pool, PoolError, Worker, WorkerPool, register_worker};
use procvisor_runtime::RestartIntensity;
use procvisor_sync::Value;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

/// Counts how often it has seen each word; reports per-worker totals.
struct WordCounter {
    seen: HashMap<String, u32>,
    handled: u32,
    builds: Value<u32>,
}

#[derive(Debug, Serialize, Deserialize)]
enum Command {
    Count(String),
    Explode,
    Die,
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Counted {
    word: String,
    times: u32,
    handled_here: u32,
    pid: u32,
}

impl Worker for WordCounter {
    type Init = Value<u32>;
    type Task = Command;
    type Output = Counted;

    fn init(builds: Value<u32>) -> Result<Self, InitError> {
        builds.update(|n| n + 1);
        Ok(WordCounter {
            seen: HashMap::new(),
            handled: 0,
            builds,
        })
    }

    fn handle(&mut self, command: Command) -> Counted {
        self.handled += 1;
        match command {
            Command::Count(word) => {
                let times = self.seen.entry(word.clone()).or_default();
                *times += 1;
                Counted {
                    word,
                    times: *times,
                    handled_here: self.handled,
                    pid: std::process::id(),
                }
            }
            Command::Explode => panic!("exploded after {} tasks", self.handled),
            Command::Die => {
                let _ = self.builds.get();
                std::process::abort()
            }
        }
    }
}

/// Cannot be built.
struct Unbuildable;

impl Worker for Unbuildable {
    type Init = String;
    type Task = ();
    type Output = ();

    fn init(reason: String) -> Result<Self, InitError> {
        Err(reason.into())
    }

    fn handle(&mut self, (): ()) {}
}

/// Not registered.
struct Forgotten;

impl Worker for Forgotten {
    type Init = ();
    type Task = ();
    type Output = ();

    fn init((): ()) -> Result<Self, InitError> {
        Ok(Forgotten)
    }

    fn handle(&mut self, (): ()) {}
}

register_worker!(WordCounter, Unbuildable);

fn count(word: &str) -> Command {
    Command::Count(word.to_string())
}

#[test]
fn each_worker_builds_its_state_once_and_keeps_it_across_tasks() {
    within(LIMIT, "state", || {
        let builds = Value::new(0_u32).unwrap();
        let pool: WorkerPool<WordCounter> = WorkerPool::new(1, builds.clone()).unwrap();
        let first = pool.call(count("apple")).unwrap();
        let second = pool.call(count("apple")).unwrap();
        assert_eq!((first.times, second.times), (1, 2), "the state persists");
        assert_eq!(second.handled_here, 2);
        let all = pool.map((0..10).map(|_| count("pear"))).unwrap();
        assert_eq!(all.last().unwrap().times, 10);
        assert_eq!(builds.get(), 1, "built once");
    });
}

#[test]
fn a_panic_fails_one_task_and_the_state_survives() {
    within(LIMIT, "panic", || {
        let builds = Value::new(0_u32).unwrap();
        let pool = WorkerPool::<WordCounter>::new(1, builds.clone()).unwrap();
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
        assert_eq!(builds.get(), 1);
    });
}

#[test]
fn a_crashed_worker_is_rebuilt_and_its_task_reported() {
    within(LIMIT, "crash", || {
        let builds = Value::new(0_u32).unwrap();
        let pool = WorkerPool::<WordCounter>::new(2, builds.clone()).unwrap();
        let pending = pool.submit(count("plum")).unwrap();
        match pool.call(Command::Die) {
            Err(PoolError::WorkerLost { exit, task, .. }) => {
                assert_eq!(exit.0, procvisor_runtime::ExitReason::Signal(libc::SIGABRT));
                assert_eq!(task.target(), "WordCounter");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(pending.get(None).unwrap().word, "plum");
        let outputs = pool.map((0..20).map(|_| count("fig"))).unwrap();
        assert_eq!(outputs.len(), 20);
        common::wait_until(LIMIT, "the worker rebuilt", || builds.get() == 3);
    });
}

#[test]
fn a_worker_that_cannot_be_built_breaks_the_pool_with_its_error() {
    within(LIMIT, "init error", || {
        let pool = Pool::builder()
            .processes(1)
            .restart_intensity(RestartIntensity::new(2, Duration::from_secs(60)))
            .build_workers::<Unbuildable>("no GPU found".into())
            .unwrap();
        match pool.call(()) {
            Err(PoolError::Broken { cause }) => assert!(cause.contains("no GPU found"), "{cause}"),
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn an_unregistered_worker_type_is_refused_with_the_fix() {
    match WorkerPool::<Forgotten>::new(1, ()) {
        Err(e @ PoolError::UnregisteredWorker { .. }) => {
            assert!(e.to_string().contains("register_worker!(Forgotten)"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_worker_pool_streams_and_spreads_its_tasks() {
    within(LIMIT, "imap", || {
        let builds = Value::new(0_u32).unwrap();
        let pool = Pool::builder()
            .processes(2)
            .build_workers::<WordCounter>(builds.clone())
            .unwrap()
            .with_chunksize(1);
        let words: Vec<Command> = (0..200).map(|i| count(&format!("w{}", i % 7))).collect();
        let outputs: Vec<Counted> = pool.imap(words).unwrap().map(Result::unwrap).collect();
        assert_eq!(outputs.len(), 200);
        assert_eq!(outputs[13].word, "w6");
        let pids: std::collections::HashSet<u32> = outputs.iter().map(|o| o.pid).collect();
        assert_eq!(pids.len(), 2, "both workers took tasks");
        let unordered = pool
            .imap_unordered((0..50).map(|_| count("x")))
            .unwrap()
            .count();
        assert_eq!(unordered, 50);
    });
}
