//! A supervision tree across three processes: a supervisor here, a "logger" actor and a
//! "counter" actor each in a child process of its own. The counter tells the logger about
//! every increment. We crash the counter twice (a panic, then SIGKILL of its whole process)
//! and watch the supervisor restart it while the logger carries on.
//!
//! Python's `multiprocessing` has no counterpart: a dead `Process` stays dead, and a `Pool`
//! loses the task of a dead worker. This is Erlang/OTP's supervisor, over OS processes.

// ANCHOR: example
use procvisor::{
    Actor, ActorContext, ChildSpec, InitError, RemoteRef, Strategy, Supervisor, register_actor,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Counts the lines it is told.
struct Logger {
    lines: u64,
}

impl Actor for Logger {
    type Args = ();
    type Msg = Option<String>; // a line to log, or `None` to ask how many
    type Reply = u64;

    async fn start((): (), _: &ActorContext<Self>) -> Result<Self, InitError> {
        Ok(Logger { lines: 0 })
    }

    async fn handle(&mut self, line: Option<String>, _: &ActorContext<Self>) -> u64 {
        if line.is_some() {
            self.lines += 1;
        }
        self.lines
    }
}

/// A counter that logs every increment to the logger.
struct Counter {
    count: u64,
    logger: RemoteRef<Logger>,
}

#[derive(Debug, Serialize, Deserialize)]
enum CounterMsg {
    Increment,
    Crash,
    Pid,
}

impl Actor for Counter {
    type Args = ();
    type Msg = CounterMsg;
    type Reply = u64;

    async fn start((): (), _: &ActorContext<Self>) -> Result<Self, InitError> {
        // The logger by name: it finds the logger wherever it runs, restarted or not.
        Ok(Counter {
            count: 0,
            logger: RemoteRef::named("logger"),
        })
    }

    async fn handle(&mut self, msg: CounterMsg, _: &ActorContext<Self>) -> u64 {
        match msg {
            CounterMsg::Increment => {
                self.count += 1;
                let _ = self.logger.cast(Some(format!("count is {}", self.count)));
                self.count
            }
            CounterMsg::Crash => panic!("the counter was told to crash at {}", self.count),
            CounterMsg::Pid => std::process::id() as u64,
        }
    }
}

register_actor!(Logger, Counter);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let supervisor = Supervisor::builder("demo")
        .strategy(Strategy::OneForOne)
        .child(ChildSpec::actor::<Logger>("logger", ()))
        .child(ChildSpec::actor::<Counter>("counter", ()))
        .start()?;
    let counter: RemoteRef<Counter> = supervisor.child("counter");
    let logger: RemoteRef<Logger> = supervisor.child("logger");
    let timeout = Some(Duration::from_secs(10));

    let first_pid = counter.call(CounterMsg::Pid, timeout)?;
    println!("counter started in process {first_pid}");
    for _ in 0..2 {
        println!("count: {}", counter.call(CounterMsg::Increment, timeout)?);
    }

    // Crash 1: a panic inside the actor. The call that caused it gets the panic.
    let error = counter.call(CounterMsg::Crash, timeout).unwrap_err();
    println!("crash 1: {error}");
    let second_pid = wait_for_restart(&counter, first_pid)?;
    println!(
        "count: {} (a fresh counter)",
        counter.call(CounterMsg::Increment, timeout)?
    );

    // Crash 2: the counter's whole process is killed.
    // SAFETY: kill(2) with a pid and a signal number has no memory effects.
    unsafe { libc::kill(second_pid as i32, libc::SIGKILL) };
    println!("crash 2: killed process {second_pid}");
    wait_for_restart(&counter, second_pid)?;
    println!(
        "count: {} (a fresh counter)",
        counter.call(CounterMsg::Increment, timeout)?
    );

    // The logger never stopped: it saw every increment of every incarnation.
    println!("the logger saw {} lines", logger.call(None, timeout)?);
    println!("{}", supervisor.tree()?);
    supervisor.shutdown()?;
    Ok(())
}

/// Asks the counter for its pid until a new incarnation answers.
fn wait_for_restart(
    counter: &RemoteRef<Counter>,
    old_pid: u64,
) -> Result<u64, Box<dyn std::error::Error>> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(pid) = counter.call(CounterMsg::Pid, Some(Duration::from_secs(1))) {
            if pid != old_pid {
                println!("counter restarted in process {pid}");
                return Ok(pid);
            }
        }
        if std::time::Instant::now() > deadline {
            return Err("the counter was not restarted".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
// ANCHOR_END: example
