//! A supervision tree across three processes: a supervisor here, a "logger" actor and a
//! "counter" actor each in a child process of its own. The counter tells the logger about
//! every increment. We crash the counter twice (a panic, then SIGKILL of its whole process)
//! and watch the supervisor's events as it restarts the counter while the logger carries on.
//!
//! Python's `multiprocessing` has no counterpart: a dead `Process` stays dead, and a `Pool`
//! loses the task of a dead worker. This is Erlang/OTP's supervisor, over OS processes.

// ANCHOR: example
use procvisor::{
    Actor, ActorContext, ChildSpec, EventKind, InitError, RemoteRef, Strategy, Supervisor,
    SupervisorEvents, register_actor,
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
    // Everything that happens under the supervisor from now on.
    let mut events = supervisor.events()?;
    let counter: RemoteRef<Counter> = supervisor.child("counter");
    let logger: RemoteRef<Logger> = supervisor.child("logger");

    let first_pid = counter.call(CounterMsg::Pid)?;
    println!("counter started in process {first_pid}");
    for _ in 0..2 {
        println!("count: {}", counter.call(CounterMsg::Increment)?);
    }

    // Crash 1: a panic inside the actor. The call that caused it gets the panic.
    let error = counter.call(CounterMsg::Crash).unwrap_err();
    println!("crash 1: {error}");
    watch_restart(&mut events)?;
    println!(
        "count: {} (a fresh counter)",
        counter.call(CounterMsg::Increment)?
    );

    // Crash 2: the counter's whole process is killed (SIGKILL, by its supervisor).
    supervisor.kill_child("counter")?;
    println!("crash 2: killed the counter's process");
    watch_restart(&mut events)?;
    println!(
        "count: {} (a fresh counter)",
        counter.call(CounterMsg::Increment)?
    );

    // The logger never stopped: it saw every increment of every incarnation.
    println!("the logger saw {} lines", logger.call(None)?);
    println!("{}", supervisor.tree()?);
    supervisor.shutdown()?;
    Ok(())
}

/// Prints how the counter ended and how it came back.
fn watch_restart(events: &mut SupervisorEvents) -> Result<(), Box<dyn std::error::Error>> {
    loop {
        let event = events
            .next_timeout(Duration::from_secs(10))
            .ok_or("the supervisor said nothing for 10 s")?;
        match event.kind {
            EventKind::Ended(_) => println!("event: {event}"),
            EventKind::Restarted { .. } => {
                println!("event: {event}");
                return Ok(());
            }
            _ => {}
        }
    }
}
// ANCHOR_END: example
