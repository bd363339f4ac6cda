//! The remote router's rules, step by step, with the clock in the test's hands: dispatch
//! windows, acknowledgements, duplicates, leases, fencing, retries, disconnection.

use super::table::{Commands, Table};
use super::{HostCommand, HostEvent, RemoteFailure};
use crate::core::{Shared, Target};
use crate::error::{PoolError, TaskInfo};
use crate::router::Job;
use crate::sink::Sink;
use procvisor_wire::Payload;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(2);

/// A task's id and what it was answered.
type Answer = (u64, Result<Vec<u8>, PoolError>);

/// What each task was answered.
#[derive(Default)]
struct Answers(Mutex<Vec<Answer>>);

impl Sink for Answers {
    fn deliver(self: Arc<Self>, part: u64, outcome: Result<Payload, PoolError>) {
        let outcome = outcome.map(|p| p.bytes().to_vec());
        self.0.lock().unwrap().push((part, outcome));
    }
}

impl Answers {
    fn taken(&self) -> Vec<Answer> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

struct Fixture {
    table: Table,
    answers: Arc<Answers>,
    t0: Instant,
}

impl Fixture {
    fn new() -> Fixture {
        let shared = Arc::new(Shared::new(2, 0, None));
        Fixture {
            table: Table::new(shared, TIMEOUT),
            answers: Arc::default(),
            t0: Instant::now(),
        }
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    /// Jobs `ids` (their part is their id), with `retries` each.
    fn jobs(&self, ids: std::ops::Range<u64>, retries: u32) -> Vec<Job> {
        ids.map(|id| Job {
            target: Target {
                number: 0,
                name: "tests::work",
                short: "work".into(),
            },
            args: Arc::new(Payload::from_bytes(vec![id as u8])),
            sink: Some(self.answers.clone()),
            part: id,
            info: TaskInfo {
                id,
                target: "work".into(),
                items: None,
                attempts: 1,
            },
            retries_left: retries,
            time_limit: None,
            claim: None,
        })
        .collect()
    }

    fn join(&mut self, host: &str, incarnation: u64, slots: usize, ms: u64) -> Commands {
        let now = self.at(ms);
        self.table.on_event(
            HostEvent::Joined {
                host: host.into(),
                incarnation,
                slots,
            },
            now,
        )
    }

    fn event(&mut self, event: HostEvent, ms: u64) -> Commands {
        let now = self.at(ms);
        self.table.on_event(event, now)
    }
}

/// The task ids each `Run` command carries, by host.
fn runs(commands: &Commands) -> Vec<(String, Vec<u64>)> {
    commands
        .iter()
        .filter_map(|(host, command)| match command {
            HostCommand::Run(tasks) => Some((host.clone(), tasks.iter().map(|t| t.id).collect())),
            _ => None,
        })
        .collect()
}

fn fences(commands: &Commands) -> Vec<String> {
    commands
        .iter()
        .filter(|(_, c)| matches!(c, HostCommand::Fence { .. }))
        .map(|(h, _)| h.clone())
        .collect()
}

fn beat(host: &str, incarnation: u64, running: &[u64]) -> HostEvent {
    HostEvent::Beat {
        host: host.into(),
        incarnation,
        running: running.to_vec(),
    }
}

fn results(host: &str, incarnation: u64, ids: &[u64]) -> HostEvent {
    HostEvent::Results {
        host: host.into(),
        incarnation,
        results: ids
            .iter()
            .map(|&id| (id, Ok(Payload::from_bytes(vec![id as u8 * 10]))))
            .collect(),
        running: Vec::new(),
    }
}

#[test]
fn hosts_hold_two_tasks_per_worker_until_tasks_prove_short_then_sixteen() {
    let mut f = Fixture::new();
    f.join("a", 1, 1, 0);
    f.join("b", 1, 2, 0);
    let jobs = f.jobs(1..61, 0);
    let sent = runs(&f.table.submit(jobs, f.at(0)));
    // Nothing is known of the tasks yet: two per worker, spread in order, b with twice a's.
    assert_eq!(
        sent,
        vec![("a".into(), vec![1, 4]), ("b".into(), vec![2, 3, 5, 6])]
    );
    // Task 1 came back in 5 ms: tasks are short, and hosts take sixteen per worker.
    let more = runs(&f.event(results("a", 1, &[1]), 5));
    assert!(matches!(&f.answers.taken()[..], [(1, Ok(v))] if v == &[10]));
    let to_a = more
        .iter()
        .find(|(h, _)| h == "a")
        .map_or(0, |(_, ids)| ids.len());
    let to_b = more
        .iter()
        .find(|(h, _)| h == "b")
        .map_or(0, |(_, ids)| ids.len());
    assert_eq!((to_a, to_b), (15, 28), "{more:?}");
}

#[test]
fn long_tasks_keep_the_window_small() {
    let mut f = Fixture::new();
    f.join("a", 1, 1, 0);
    let jobs = f.jobs(1..11, 0);
    f.table.submit(jobs, f.at(0));
    // Task 1 took two seconds: still two per worker.
    let more = runs(&f.event(results("a", 1, &[1]), 2000));
    assert_eq!(more, vec![("a".into(), vec![3])]);
}

#[test]
fn a_result_is_delivered_once_however_often_it_comes() {
    let mut f = Fixture::new();
    f.join("a", 1, 1, 0);
    let jobs = f.jobs(1..2, 0);
    f.table.submit(jobs, f.at(0));
    f.event(results("a", 1, &[1]), 10);
    f.event(results("a", 1, &[1]), 20);
    assert!(matches!(&f.answers.taken()[..], [(1, Ok(v))] if v == &[10]));
}

#[test]
fn a_silent_host_fails_its_running_tasks_and_its_others_go_elsewhere() {
    let mut f = Fixture::new();
    f.join("a", 1, 1, 0);
    let jobs = f.jobs(1..3, 0);
    f.table.submit(jobs, f.at(0));
    f.event(beat("a", 1, &[1]), 500);
    f.join("b", 7, 1, 600);
    // Within the timeout of its last word, nothing happens.
    assert!(f.table.tick(f.at(2400)).is_empty());
    assert!(f.answers.taken().is_empty());
    let after = f.table.tick(f.at(2600));
    assert_eq!(fences(&after), vec!["a".to_string()]);
    assert_eq!(runs(&after), vec![("b".into(), vec![2])]);
    let answers = f.answers.taken();
    assert_eq!(answers.len(), 1);
    match &answers[0] {
        (
            1,
            Err(PoolError::HostLost {
                host,
                last_seen,
                task,
            }),
        ) => {
            assert_eq!(host, "a");
            assert_eq!(*last_seen, Duration::from_millis(2100));
            assert_eq!(task.id(), 1);
        }
        other => panic!("expected task 1 lost with a, got {other:?}"),
    }
}

#[test]
fn a_lost_host_is_fenced_its_late_word_dropped_and_its_new_life_welcome() {
    let mut f = Fixture::new();
    f.join("a", 1, 1, 0);
    let jobs = f.jobs(1..2, 0);
    f.table.submit(jobs, f.at(0));
    f.event(beat("a", 1, &[1]), 100);
    f.table.tick(f.at(2200));
    assert!(matches!(
        f.answers.taken()[..],
        [(1, Err(PoolError::HostLost { .. }))]
    ));
    // It wakes and reports task 1 done: not believed, and told again that it is fenced.
    let late = f.event(results("a", 1, &[1]), 3000);
    assert_eq!(fences(&late), vec!["a".to_string()]);
    assert!(f.answers.taken().is_empty());
    assert_eq!(
        fences(&f.event(beat("a", 1, &[]), 3100)),
        vec!["a".to_string()]
    );
    // Once it has killed its workers, it joins again as a new life, and takes work.
    f.join("a", 2, 1, 3200);
    let jobs = f.jobs(2..3, 0);
    let sent = f.table.submit(jobs, f.at(3300));
    assert_eq!(runs(&sent), vec![("a".into(), vec![2])]);
}

#[test]
fn a_lost_task_with_retries_left_runs_again() {
    let mut f = Fixture::new();
    f.join("a", 1, 1, 0);
    f.join("b", 1, 1, 0);
    let jobs = f.jobs(1..2, 1);
    let sent = f.table.submit(jobs, f.at(0));
    let (host, _) = runs(&sent)[0].clone();
    let other = if host == "a" { "b" } else { "a" };
    f.event(beat(&host, 1, &[1]), 100);
    f.event(beat(other, 1, &[]), 2000);
    let after = f.table.tick(f.at(2200));
    assert_eq!(runs(&after), vec![(other.to_string(), vec![1])]);
    assert!(f.answers.taken().is_empty());
}

#[test]
fn refused_tasks_go_back_to_the_queue_in_order() {
    let mut f = Fixture::new();
    f.join("a", 1, 2, 0);
    let jobs = f.jobs(1..4, 0);
    f.table.submit(jobs, f.at(0));
    f.join("b", 1, 2, 10);
    let sent = f.event(
        HostEvent::Refused {
            host: "a".into(),
            ids: vec![1, 2, 3],
            reason: "no responders".into(),
        },
        20,
    );
    // Sent again, spread over both hosts, each batch in the queue's order.
    let sent = runs(&sent);
    assert!(sent.iter().all(|(_, ids)| ids.is_sorted()), "{sent:?}");
    let mut all: Vec<u64> = sent.into_iter().flat_map(|(_, ids)| ids).collect();
    all.sort_unstable();
    assert_eq!(all, vec![1, 2, 3]);
}

#[test]
fn a_router_cut_off_for_the_timeout_fails_its_work() {
    let mut f = Fixture::new();
    f.join("a", 1, 1, 0);
    let jobs = f.jobs(1..4, 0);
    f.table.submit(jobs, f.at(0));
    f.event(HostEvent::Disconnected("down".into()), 100);
    // Back in time: nothing is lost, and the hosts' silence meanwhile is forgiven.
    f.event(HostEvent::Reconnected, 1500);
    assert!(fences(&f.table.tick(f.at(3000))).is_empty());
    f.event(HostEvent::Disconnected("down again".into()), 3100);
    assert!(f.table.tick(f.at(5000)).is_empty());
    let after = f.table.tick(f.at(5200));
    assert_eq!(fences(&after), vec!["a".to_string()]);
    let answers = f.answers.taken();
    assert_eq!(answers.len(), 3);
    assert!(
        answers
            .iter()
            .all(|(_, a)| matches!(a, Err(PoolError::ClusterUnreachable { .. }))),
        "{answers:?}"
    );
}

#[test]
fn work_with_no_host_fails_after_the_timeout() {
    let mut f = Fixture::new();
    let jobs = f.jobs(1..3, 0);
    f.table.submit(jobs, f.at(0));
    f.table.tick(f.at(100));
    assert!(f.answers.taken().is_empty());
    f.table.tick(f.at(2200));
    assert_eq!(f.answers.taken().len(), 2);
}

#[test]
fn a_worker_lost_on_a_host_names_the_host() {
    let mut f = Fixture::new();
    f.join("a", 1, 1, 0);
    let jobs = f.jobs(1..2, 0);
    f.table.submit(jobs, f.at(0));
    f.event(
        HostEvent::Results {
            host: "a".into(),
            incarnation: 1,
            results: vec![(
                1,
                Err(RemoteFailure::WorkerLost {
                    worker: "ForkServerPoolWorker-1".into(),
                    pid: 42,
                    exit: procvisor_runtime::ExitReason::Signal(9),
                    cause: None,
                }),
            )],
            running: Vec::new(),
        },
        10,
    );
    match &f.answers.taken()[..] {
        [(1, Err(PoolError::WorkerLost { worker, pid, .. }))] => {
            assert_eq!(worker, "ForkServerPoolWorker-1 on a");
            assert_eq!(*pid, 42);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_closing_pool_finishes_when_its_work_is_done() {
    let mut f = Fixture::new();
    f.join("a", 1, 1, 0);
    let jobs = f.jobs(1..2, 0);
    f.table.submit(jobs, f.at(0));
    assert!(f.table.close().is_empty());
    assert!(!f.table.finished());
    f.event(results("a", 1, &[1]), 10);
    let closing = f.table.tick(f.at(20));
    assert!(
        matches!(&closing[..], [(host, HostCommand::Close)] if host == "a"),
        "{closing:?}"
    );
    assert!(f.table.finished());
}

#[test]
fn what_a_host_runs_is_known_from_its_acknowledgement_not_only_its_heartbeat() {
    let mut f = Fixture::new();
    f.join("a", 1, 1, 0);
    let jobs = f.jobs(1..3, 0);
    f.table.submit(jobs, f.at(0));
    f.event(
        HostEvent::Accepted {
            host: "a".into(),
            ids: vec![1, 2],
            running: vec![1],
        },
        10,
    );
    // No heartbeat ever came: task 1 is still known to run, task 2 to wait.
    f.table.tick(f.at(2100));
    let answers = f.answers.taken();
    assert!(
        matches!(&answers[..], [(1, Err(PoolError::HostLost { .. }))]),
        "{answers:?}"
    );
}

#[test]
fn a_host_lost_more_often_than_the_intensity_allows_is_given_up() {
    let mut f = Fixture::new();
    f.table = Table::new(Arc::new(Shared::new(2, 0, None)), TIMEOUT).intensity(
        procvisor_runtime::RestartIntensity::new(2, Duration::from_secs(60)),
    );
    f.join("b", 1, 1, 0);
    // a is lost three times within the period: twice is allowed, the third gives it up.
    let mut t = 0;
    for incarnation in 1..=3 {
        assert!(fences(&f.join("a", incarnation, 1, t)).is_empty());
        f.event(beat("b", 1, &[]), t + 2100);
        assert_eq!(fences(&f.table.tick(f.at(t + 2200))), vec!["a".to_string()]);
        t += 3000;
    }
    // It comes back: it is told to stop, and gets no work.
    assert_eq!(fences(&f.join("a", 4, 1, t)), vec!["a".to_string()]);
    let jobs = f.jobs(1..5, 0);
    let sent = runs(&f.table.submit(jobs, f.at(t)));
    assert!(sent.iter().all(|(host, _)| host == "b"), "{sent:?}");
}

#[test]
fn hosts_lost_around_a_server_outage_are_not_counted_against_them() {
    let mut f = Fixture::new();
    f.table = Table::new(Arc::new(Shared::new(2, 0, None)), TIMEOUT).intensity(
        procvisor_runtime::RestartIntensity::new(2, Duration::from_secs(60)),
    );
    // The servers restart: the router is cut off, then back.
    f.join("a", 1, 1, 0);
    f.event(HostEvent::Disconnected("server restart".into()), 100);
    f.event(HostEvent::Reconnected, 300);
    // Meanwhile the host restarted its pool, again and again, as hosts do while they
    // reconnect: each new life fences the last one, and none counts.
    let mut t = 400;
    for incarnation in 2..=5 {
        f.join("a", incarnation, 1, t);
        t += 100;
    }
    // After the outage, a is used as any host.
    t += 3 * TIMEOUT.as_millis() as u64;
    f.event(beat("a", 5, &[]), t);
    let sent = runs(&f.table.submit(f.jobs(1..3, 0), f.at(t)));
    assert!(
        sent.iter().any(|(host, _)| host == "a"),
        "a host restarted during an outage was given up: {sent:?}"
    );
}

#[test]
fn a_host_given_up_by_a_restart_gets_no_work_in_its_new_life() {
    let mut f = Fixture::new();
    f.table = Table::new(Arc::new(Shared::new(2, 0, None)), TIMEOUT).intensity(
        procvisor_runtime::RestartIntensity::new(2, Duration::from_secs(60)),
    );
    f.join("b", 1, 1, 0);
    for incarnation in 1..=4 {
        f.join("a", incarnation, 1, incarnation * 10);
    }
    let sent = runs(&f.table.submit(f.jobs(1..5, 0), f.at(100)));
    assert!(sent.iter().all(|(host, _)| host == "b"), "{sent:?}");
}

/// The incarnations each `Fence` command is for, by host.
fn fenced_lives(commands: &Commands) -> Vec<(String, u64)> {
    commands
        .iter()
        .filter_map(|(host, command)| match command {
            HostCommand::Fence { incarnation } => Some((host.clone(), *incarnation)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_host_that_restarted_is_fenced_in_its_old_life_only() {
    let mut f = Fixture::new();
    f.join("a", 1, 2, 0);
    // It comes back as a new life (its agent restarted the pool, say after an outage).
    let commands = f.join("a", 2, 2, 100);
    assert_eq!(fenced_lives(&commands), vec![("a".to_string(), 1)]);
    // A late word of the old life fences nothing of the new one, which gets work.
    let commands = f.event(beat("a", 1, &[]), 200);
    assert!(fenced_lives(&commands).iter().all(|(_, life)| *life == 1));
    let jobs = f.jobs(0..2, 0);
    let commands = f.table.submit(jobs, f.at(300));
    assert_eq!(runs(&commands), vec![("a".to_string(), vec![0, 1])]);
}
