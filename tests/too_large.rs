//! A value too large for one message is refused where it is sent, naming its size and what to
//! do instead, for every way a value travels: a pool task's arguments and result, an actor's
//! message and reply, a manager's value, a process's arguments. Nothing else suffers: the
//! worker, the actor's link and the manager's connection serve the next call.

use procvisor::{
    Actor, ActorContext, ActorHost, InitError, MAX_VALUE_SIZE, Manager, Pool, Process, register,
    register_actor,
};
use procvisor_testing::within;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);
const CALL: Duration = Duration::from_secs(60);

/// Just over the limit.
fn too_large() -> Vec<u8> {
    vec![7; MAX_VALUE_SIZE + 1]
}

fn len(v: Vec<u8>) -> usize {
    v.len()
}
fn make(n: usize) -> Vec<u8> {
    vec![1; n]
}
fn pid() -> u32 {
    std::process::id()
}
register!(len, make, pid);

/// Answers a message's length, or a vector of the asked length.
struct Sizes;

impl Actor for Sizes {
    type Args = ();
    type Msg = (Vec<u8>, usize);
    type Reply = Vec<u8>;
    async fn start((): (), _: &ActorContext<Self>) -> Result<Self, InitError> {
        Ok(Sizes)
    }
    async fn handle(&mut self, (got, make): (Vec<u8>, usize), _: &ActorContext<Self>) -> Vec<u8> {
        vec![0; make.max(got.len().min(1))]
    }
}
register_actor!(Sizes);

/// The error says how large the value was and what to use instead.
fn explains(error: &str) {
    assert!(error.contains("255.0 MiB"), "{error}");
    assert!(error.contains("shared memory"), "{error}");
}

#[test]
fn pool_arguments_and_results_too_large_fail_their_task_alone() {
    within(LIMIT, "pool", || {
        let pool = Pool::new(1).unwrap();
        let worker = pool.apply(pid, ()).unwrap();
        explains(&pool.apply(len, (too_large(),)).unwrap_err().to_string());
        explains(
            &pool
                .apply(make, (MAX_VALUE_SIZE + 1,))
                .unwrap_err()
                .to_string(),
        );
        // The same worker serves on.
        assert_eq!(pool.apply(len, (vec![1, 2, 3],)).unwrap(), 3);
        assert_eq!(pool.apply(pid, ()).unwrap(), worker);
    });
}

#[test]
fn actor_messages_and_replies_too_large_fail_their_call_alone() {
    within(LIMIT, "actor", || {
        let host = ActorHost::start().unwrap();
        let actor = host.spawn::<Sizes>(()).unwrap();
        explains(
            &actor
                .call_timeout((too_large(), 0), CALL)
                .unwrap_err()
                .to_string(),
        );
        explains(
            &actor
                .call_timeout((Vec::new(), MAX_VALUE_SIZE + 1), CALL)
                .unwrap_err()
                .to_string(),
        );
        // The link to the host is intact.
        assert_eq!(actor.call_timeout((vec![1], 4), CALL).unwrap().len(), 4);
    });
}

#[test]
fn manager_values_too_large_fail_their_call_alone() {
    within(LIMIT, "manager", || {
        let manager = Manager::start().unwrap();
        let d = manager.dict::<u32, Vec<u8>>().unwrap();
        explains(&d.set(1, too_large()).unwrap_err().to_string());
        d.set(2, vec![2]).unwrap();
        assert_eq!(d.item(&2).unwrap(), vec![2]);
    });
}

#[test]
fn process_arguments_too_large_are_refused_before_it_starts() {
    within(LIMIT, "process", || {
        explains(&Process::new(len, (too_large(),)).unwrap_err().to_string());
    });
}
