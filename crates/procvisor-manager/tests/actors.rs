//! Actors served by a manager: started in the manager process, called by any client (child
//! processes under every start method, another client over TCP with the authkey), found by
//! name; a crash and a stop are clear errors, never hangs. Every test has a deadline that names
//! the step that hung.

mod common;

use common::{LIMIT, within};
use procvisor_manager::{ActorProxy, Address, Manager, ManagerError};
use procvisor_runtime::{
    Actor, ActorContext, InitError, Process, RemoteRef, StartMethod, get_context, register,
    register_actor,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A bank account.
struct Account {
    balance: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Op {
    Deposit(i64),
    Balance,
    SlowBalance(u64),
    Crash,
}

impl Actor for Account {
    type Args = i64;
    type Msg = Op;
    type Reply = i64;

    async fn start(balance: i64, _: &ActorContext<Self>) -> Result<Self, InitError> {
        if balance < 0 {
            return Err("an account cannot open in debt".into());
        }
        Ok(Account { balance })
    }

    async fn handle(&mut self, op: Op, _: &ActorContext<Self>) -> i64 {
        match op {
            Op::Deposit(n) => self.balance += n,
            Op::Balance => {}
            Op::SlowBalance(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            Op::Crash => panic!("the account was told to crash"),
        }
        self.balance
    }
}

/// Not registered: the manager cannot start it.
struct Unregistered;

impl Actor for Unregistered {
    type Args = ();
    type Msg = ();
    type Reply = ();
    async fn start((): (), _: &ActorContext<Self>) -> Result<Self, InitError> {
        Ok(Unregistered)
    }
    async fn handle(&mut self, (): (), _: &ActorContext<Self>) {}
}
register_actor!(Account);

fn deposit(account: ActorProxy<Account>, n: i64) -> Result<i64, ManagerError> {
    account.call(Op::Deposit(n))
}
register!(deposit);

#[test]
fn an_actor_in_a_manager_answers_calls_and_casts() {
    within(LIMIT, "calls", || {
        let manager = Manager::start().unwrap();
        let account = manager.spawn::<Account>(100).unwrap();
        account.cast(Op::Deposit(5)).unwrap();
        assert_eq!(account.call(Op::Deposit(10)).unwrap(), 115);
        assert_eq!(
            account
                .call_timeout(Op::Balance, Duration::from_secs(5))
                .unwrap(),
            115
        );
        let err = account
            .call_timeout(Op::SlowBalance(2_000), Duration::from_millis(100))
            .unwrap_err();
        assert_eq!(err, ManagerError::Timeout);
        account.stop().unwrap();
        let err = account.call(Op::Balance).unwrap_err();
        assert!(
            err.is_remote("ReferenceError") || err.is_remote("ActorError"),
            "{err}"
        );
        assert!(
            account
                .cast(Op::Balance)
                .unwrap_err()
                .is_remote("ReferenceError")
        );
    });
}

#[test]
fn its_async_twins_answer_on_a_single_threaded_runtime() {
    within(LIMIT, "async calls", || {
        let manager = Manager::start().unwrap();
        let account = manager.spawn::<Account>(1).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            account.cast_async(Op::Deposit(1)).await.unwrap();
            // Two slow calls at once: neither holds up the runtime's one thread.
            let (a, b) = tokio::join!(
                account.call_async(Op::SlowBalance(50)),
                account.call_timeout_async(Op::Deposit(3), Duration::from_secs(5)),
            );
            let (a, b) = (a.unwrap(), b.unwrap());
            assert!((a, b) == (2, 5) || (a, b) == (5, 5), "{a} {b}");
            account.stop_async().await.unwrap();
            let err = account.call_async(Op::Balance).await.unwrap_err();
            assert!(
                err.is_remote("ReferenceError") || err.is_remote("ActorError"),
                "{err}"
            );
        });
    });
}

#[test]
fn a_crash_and_a_failed_start_are_clear_errors() {
    within(LIMIT, "errors", || {
        let manager = Manager::start().unwrap();
        let err = manager.spawn::<Account>(-1).unwrap_err();
        assert!(err.to_string().contains("cannot open in debt"), "{err}");
        let err = manager.spawn::<Unregistered>(()).unwrap_err();
        assert!(
            err.to_string().contains("register_actor!(Unregistered)"),
            "{err}"
        );

        let account = manager.spawn::<Account>(1).unwrap();
        let err = account.call(Op::Crash).unwrap_err();
        assert!(err.is_remote("ActorError"), "{err}");
        assert!(
            err.to_string().contains("the account was told to crash"),
            "{err}"
        );
        let err = account.call(Op::Balance).unwrap_err();
        assert!(
            err.is_remote("ReferenceError") || err.is_remote("ActorError"),
            "{err}"
        );
        // The manager serves on.
        let other = manager.spawn::<Account>(7).unwrap();
        assert_eq!(other.call(Op::Balance).unwrap(), 7);
    });
}

#[test]
fn child_processes_call_it_under_every_start_method() {
    within(LIMIT, "children", || {
        let manager = Manager::start().unwrap();
        let account = manager.spawn::<Account>(0).unwrap();
        for method in [
            StartMethod::Fork,
            StartMethod::Spawn,
            StartMethod::Forkserver,
        ] {
            let mut p = Process::new(deposit, (account.clone(), 1_i64))
                .unwrap()
                .with_context(get_context(method));
            p.start().unwrap();
            let _: i64 = p.result_timeout(LIMIT).unwrap();
        }
        assert_eq!(account.call(Op::Balance).unwrap(), 3);
    });
}

#[test]
fn a_named_actor_is_found_by_name_over_tcp_and_in_the_program() {
    within(LIMIT, "names", || {
        let manager = Manager::builder()
            .address(Address::tcp_loopback(0))
            .authkey(b"bank")
            .start()
            .unwrap();
        let account = manager
            .spawn_named::<Account>("the-bank-account", 50)
            .unwrap();
        // Another client, which knows only the address and the key.
        let remote = Manager::connect(manager.address().clone(), b"bank").unwrap();
        let found: ActorProxy<Account> = remote.lookup("the-bank-account").unwrap().unwrap();
        assert_eq!(found.call(Op::Deposit(1)).unwrap(), 51);
        // The program's own actor net reaches it by name, and by reference.
        let named = RemoteRef::<Account>::named("the-bank-account");
        assert_eq!(named.call(Op::Balance).unwrap(), 51);
        assert_eq!(account.remote_ref().call(Op::Balance).unwrap(), 51);
        // The wrong key reaches nothing.
        assert!(matches!(
            Manager::connect(manager.address().clone(), b"wrong"),
            Err(ManagerError::Authentication { .. })
        ));
        // A second actor under the name is refused.
        let err = manager
            .spawn_named::<Account>("the-bank-account", 0)
            .unwrap_err();
        assert!(err.to_string().contains("the-bank-account"), "{err}");
    });
}

#[test]
fn a_long_call_outlasts_the_liveness_bound() {
    within(LIMIT, "long call", || {
        let manager = Manager::builder()
            .liveness_timeout(Duration::from_secs(2))
            .start()
            .unwrap();
        let account = manager.spawn::<Account>(9).unwrap();
        // The manager says it is still there while the actor works.
        assert_eq!(account.call(Op::SlowBalance(3_500)).unwrap(), 9);
    });
}
