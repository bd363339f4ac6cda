//! Calls answered later (`ActorContext::reply_later`, OTP's `noreply`): many callers wait on one
//! actor, in this process and across processes, while it goes on answering others; a reply kept
//! and dropped, or kept by an actor that crashes, is an error for its caller, never a hang.
//! Every test has a deadline naming its step.

use procvisor_runtime::{
    Actor, ActorContext, ActorError, InitError, RemoteRef, ReplyLater, StartMethod, get_context,
    register_actor, spawn_in, spawn_local,
};
use procvisor_testing::{wait_until, within};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::thread::JoinHandle;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// A counting semaphore: an `Acquire` that finds no permit waits in the actor, not in its
/// mailbox.
struct Permits {
    free: u64,
    granted: u64,
    waiting: VecDeque<ReplyLater<u64>>,
}

#[derive(Debug, Serialize, Deserialize)]
enum PermitMsg {
    /// Takes a permit; the answer is how many were granted so far, this one included.
    Acquire,
    Release,
    Waiting,
    /// Drops every waiting call without answering it.
    Forget,
    Panic,
    /// Answered after this many milliseconds, by a task of the actor's.
    After(u64),
}

impl Actor for Permits {
    type Args = u64;
    type Msg = PermitMsg;
    type Reply = u64;

    async fn start(free: u64, _: &ActorContext<Self>) -> Result<Self, InitError> {
        Ok(Permits {
            free,
            granted: 0,
            waiting: VecDeque::new(),
        })
    }

    async fn handle(&mut self, msg: PermitMsg, ctx: &ActorContext<Self>) -> u64 {
        match msg {
            PermitMsg::Acquire if self.free > 0 => {
                self.free -= 1;
                self.granted += 1;
                self.granted
            }
            PermitMsg::Acquire => match ctx.reply_later() {
                Some(reply) => {
                    self.waiting.push_back(reply);
                    0
                }
                // A cast cannot wait.
                None => 0,
            },
            PermitMsg::Release => {
                match self.waiting.pop_front() {
                    Some(next) => {
                        self.granted += 1;
                        next.send(self.granted);
                    }
                    None => self.free += 1,
                }
                self.free
            }
            PermitMsg::Waiting => self.waiting.len() as u64,
            PermitMsg::Forget => {
                let forgotten = self.waiting.len() as u64;
                self.waiting.clear();
                forgotten
            }
            PermitMsg::Panic => panic!("the permits were told to crash"),
            PermitMsg::After(ms) => {
                let reply = ctx.reply_later().expect("a call");
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    reply.send(ms);
                });
                0
            }
        }
    }
}
register_actor!(Permits);

fn acquire_in_thread(permits: &RemoteRef<Permits>) -> JoinHandle<Result<u64, ActorError>> {
    let permits = permits.clone();
    std::thread::spawn(move || permits.call(PermitMsg::Acquire))
}

fn wait_for_waiters(permits: &RemoteRef<Permits>, n: u64, step: &str) {
    wait_until(LIMIT, step, || {
        permits.call(PermitMsg::Waiting).expect("Waiting") == n
    });
}

/// Hands out the permits one release at a time, checking that each release answers exactly
/// one waiting call; the grant numbers the waiters got.
fn release_one_by_one(
    permits: &RemoteRef<Permits>,
    mut waiters: Vec<JoinHandle<Result<u64, ActorError>>>,
) -> Vec<u64> {
    let mut grants = Vec::new();
    while !waiters.is_empty() {
        let left = waiters.len() as u64;
        permits.call(PermitMsg::Release).expect("Release");
        wait_until(LIMIT, "a release answers a waiter", || {
            waiters.iter().any(|w| w.is_finished())
        });
        let done = waiters.iter().position(|w| w.is_finished()).unwrap();
        grants.push(waiters.remove(done).join().unwrap().expect("granted"));
        assert_eq!(
            permits.call(PermitMsg::Waiting).unwrap(),
            left - 1,
            "one release answered more than one waiter"
        );
    }
    grants.sort_unstable();
    grants
}

#[test]
fn many_callers_wait_in_one_actor_and_are_answered_one_release_at_a_time() {
    within(LIMIT, "local waiters", || {
        let permits = spawn_local::<Permits>(1).unwrap();
        assert_eq!(permits.call(PermitMsg::Acquire).unwrap(), 1);
        let waiters: Vec<_> = (0..4).map(|_| acquire_in_thread(&permits)).collect();
        wait_for_waiters(&permits, 4, "four callers wait in the actor");
        // The actor goes on answering while they wait.
        assert_eq!(permits.call(PermitMsg::Waiting).unwrap(), 4);
        assert_eq!(release_one_by_one(&permits, waiters), vec![2, 3, 4, 5]);
        assert_eq!(permits.call(PermitMsg::Release).unwrap(), 1);
    });
}

#[test]
fn callers_in_this_process_wait_on_an_actor_in_another() {
    for method in [StartMethod::Fork, StartMethod::Forkserver] {
        within(
            LIMIT,
            &format!("waiters across processes ({method:?})"),
            move || {
                let permits = spawn_in::<Permits>(get_context(method), 0).unwrap();
                let waiters: Vec<_> = (0..3).map(|_| acquire_in_thread(&permits)).collect();
                wait_for_waiters(&permits, 3, "three callers wait in the child's actor");
                assert_eq!(release_one_by_one(&permits, waiters), vec![1, 2, 3]);
                permits.stop().unwrap();
            },
        );
    }
}

#[test]
fn a_reply_kept_then_dropped_fails_its_caller() {
    within(LIMIT, "forgotten waiters", || {
        let permits = spawn_local::<Permits>(0).unwrap();
        let waiters: Vec<_> = (0..2).map(|_| acquire_in_thread(&permits)).collect();
        wait_for_waiters(&permits, 2, "two callers wait");
        assert_eq!(permits.call(PermitMsg::Forget).unwrap(), 2);
        for waiter in waiters {
            assert!(matches!(
                waiter.join().unwrap(),
                Err(ActorError::Unanswered)
            ));
        }
    });
}

#[test]
fn an_actor_that_crashes_fails_the_calls_it_kept() {
    within(LIMIT, "crash with waiters", || {
        let permits = spawn_in::<Permits>(get_context(StartMethod::Fork), 0).unwrap();
        let waiters: Vec<_> = (0..2).map(|_| acquire_in_thread(&permits)).collect();
        wait_for_waiters(&permits, 2, "two callers wait");
        match permits.call(PermitMsg::Panic) {
            Err(ActorError::Panicked(failure)) => {
                assert!(failure.to_string().contains("told to crash"), "{failure}")
            }
            other => panic!("the crashing call got {other:?}"),
        }
        for waiter in waiters {
            let got = waiter.join().unwrap();
            assert!(matches!(got, Err(ActorError::Unanswered)), "{got:?}");
        }
    });
}

#[test]
fn a_cast_has_no_reply_to_keep() {
    within(LIMIT, "cast", || {
        let permits = spawn_local::<Permits>(0).unwrap();
        permits.cast(PermitMsg::Acquire).unwrap();
        assert_eq!(permits.call(PermitMsg::Waiting).unwrap(), 0);
    });
}

#[test]
fn a_reply_can_be_sent_by_a_task_while_the_actor_answers_others() {
    within(LIMIT, "reply from a task", || {
        let permits = spawn_in::<Permits>(get_context(StartMethod::Forkserver), 1).unwrap();
        let slow = {
            let permits = permits.clone();
            std::thread::spawn(move || permits.call(PermitMsg::After(300)))
        };
        // Answered at once although a call is still open: the actor is not blocked.
        assert_eq!(permits.call(PermitMsg::Acquire).unwrap(), 1);
        assert_eq!(slow.join().unwrap().unwrap(), 300);
        // A caller that stops waiting first gets a timeout; the late reply is dropped.
        assert!(matches!(
            permits.call_timeout(PermitMsg::After(500), Duration::from_millis(50)),
            Err(ActorError::Timeout)
        ));
        assert_eq!(permits.call(PermitMsg::Waiting).unwrap(), 0);
        permits.stop().unwrap();
    });
}
