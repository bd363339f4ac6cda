//! A caller on a plain thread reads its reply off the link itself, and the link's reader task
//! steps aside meanwhile: the node's runtime threads stay asleep through a run of calls, and
//! whatever no caller reads (a slow reply, an async caller's, the end of the other process)
//! still arrives. Every test has a deadline naming its step.

use procvisor_runtime::{
    Actor, ActorContext, ActorError, InitError, RemoteRef, StartMethod, get_context,
    register_actor, spawn_in,
};
use procvisor_testing::within;
use serde::{Deserialize, Serialize};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

struct Echo;

#[derive(Debug, Serialize, Deserialize)]
enum EchoMsg {
    Echo(u64),
    /// Answered after this many milliseconds.
    Slowly(u64),
    /// Ends the process at once, without answering.
    Exit,
}

impl Actor for Echo {
    type Args = ();
    type Msg = EchoMsg;
    type Reply = u64;

    async fn start((): (), _: &ActorContext<Self>) -> Result<Self, InitError> {
        Ok(Echo)
    }

    async fn handle(&mut self, msg: EchoMsg, _: &ActorContext<Self>) -> u64 {
        match msg {
            EchoMsg::Echo(n) => n,
            EchoMsg::Slowly(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                ms
            }
            EchoMsg::Exit => std::process::exit(3),
        }
    }
}
register_actor!(Echo);

fn echo_in_child() -> RemoteRef<Echo> {
    spawn_in::<Echo>(get_context(StartMethod::Forkserver), ()).expect("spawn the echo actor")
}

fn burst(echo: &RemoteRef<Echo>, calls: u64) {
    for n in 0..calls {
        assert_eq!(echo.call(EchoMsg::Echo(n)).expect("a call of the burst"), n);
    }
}

/// How many times the node's runtime threads in this process have been woken so far (their
/// voluntary context switches: each sleep ends in a wake).
fn runtime_wakes() -> u64 {
    let mut wakes = 0;
    for task in std::fs::read_dir("/proc/self/task").expect("list threads") {
        let task = task.expect("a thread").path();
        let name = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if name.trim() != "procvisor-node" {
            continue;
        }
        let status = std::fs::read_to_string(task.join("status")).unwrap_or_default();
        wakes += status
            .lines()
            .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    wakes
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "a debug build answers slower than a caller polls: run it with --release"
)]
fn the_runtime_threads_stay_asleep_while_a_caller_polls_for_its_replies() {
    within(LIMIT, "a run of calls", || {
        let echo = echo_in_child();
        burst(&echo, 2_000);
        let before = runtime_wakes();
        let calls = 20_000;
        burst(&echo, calls);
        let wakes = runtime_wakes() - before;
        // Before the reader task stepped aside, every reply woke a runtime thread as well as
        // its caller (more than one wake per call). While callers gave up polling after 50 µs,
        // the calls that took longer brought the reader task back often enough to wake the
        // runtime threads once every 3 to 20 calls on a 2-CPU virtual machine; now it is about
        // once every 150 calls (the bound leaves room for a busy machine).
        assert!(
            wakes * 10 < calls,
            "over {calls} calls the runtime threads were woken {wakes} times"
        );
    });
}

#[test]
fn a_reply_the_caller_stopped_polling_for_still_arrives() {
    within(LIMIT, "a slow call after a run of fast ones", || {
        let echo = echo_in_child();
        for _ in 0..3 {
            burst(&echo, 1_000);
            assert_eq!(echo.call(EchoMsg::Slowly(50)).expect("the slow call"), 50);
        }
    });
}

#[test]
fn an_async_caller_gets_its_reply_between_runs_of_polling_callers() {
    within(LIMIT, "async calls between runs of blocking ones", || {
        let echo = echo_in_child();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for round in 0..20 {
            burst(&echo, 200);
            let got = runtime
                .block_on(echo.call_async(EchoMsg::Echo(round)))
                .expect("the async call");
            assert_eq!(got, round);
        }
    });
}

#[test]
fn callers_polling_together_all_hear_that_the_other_process_ended() {
    within(LIMIT, "callers of a process that exits", || {
        let echo = echo_in_child();
        let callers: Vec<_> = (0..3)
            .map(|_| {
                let echo = echo.clone();
                std::thread::spawn(move || {
                    let mut n = 0;
                    loop {
                        match echo.call(EchoMsg::Echo(n)) {
                            Ok(got) => assert_eq!(got, n),
                            Err(e) => return (n, e),
                        }
                        n += 1;
                    }
                })
            })
            .collect();
        burst(&echo, 500);
        let exit = echo.call(EchoMsg::Exit);
        assert!(
            matches!(exit, Err(ActorError::Unreachable(_))),
            "the exiting call got {exit:?}"
        );
        for caller in callers {
            let (calls, error) = caller.join().expect("a caller thread");
            assert!(calls > 0, "a caller made no call before the end");
            assert!(
                matches!(error, ActorError::Unreachable(_)),
                "a caller got {error:?}"
            );
        }
    });
}
