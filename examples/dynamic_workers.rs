//! One actor per job, each in a process of its own, started on demand by a dynamic supervisor
//! (Elixir's `DynamicSupervisor`), at most three at a time. Some jobs crash on their first
//! try: under the "retrying" supervisor (transient children) they are restarted and finish;
//! under the "best-effort" one (temporary children) they are dropped.
//!
//! Python has no counterpart: a `Pool` has no per-job identity, and nothing restarts a crashed
//! job. This is the "one process per connection, per request, per job" pattern of Erlang.

// ANCHOR: example
use procvisor::{
    Actor, ActorContext, DynamicSupervisor, EventKind, InitError, RemoteRef, Restart,
    SupervisorError, SupervisorEvents, Value, register_actor, spawn_local_named,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// A job: square `n`, crashing on the first try when `flaky`.
#[derive(Clone, Serialize, Deserialize)]
struct JobArgs {
    group: String,
    n: u64,
    flaky: bool,
    tries: Value<u32>, // shared memory: it survives the job's crash
}

struct Job {
    args: JobArgs,
}

impl Actor for Job {
    type Args = JobArgs;
    type Msg = ();
    type Reply = ();

    async fn start(args: JobArgs, ctx: &ActorContext<Self>) -> Result<Self, InitError> {
        // The job starts working as soon as it exists (again, after a restart).
        ctx.myself().cast(())?;
        Ok(Job { args })
    }

    async fn handle(&mut self, (): (), ctx: &ActorContext<Self>) {
        let try_number = self.args.tries.update(|t| t + 1);
        if self.args.flaky && try_number == 1 {
            panic!("job {} crashed on its first try", self.args.n);
        }
        tokio::time::sleep(Duration::from_millis(200)).await; // the work
        let results = RemoteRef::<Results>::named("results");
        let (group, n) = (self.args.group.clone(), self.args.n);
        let _ = results.cast(Some(((group, n), n * n, try_number)));
        ctx.stop(); // done: a normal end, which neither kind of child restarts
    }
}

/// Collects what the jobs report: (supervisor, job number) → (square, tries).
struct Results(BTreeMap<(String, u64), (u64, u32)>);

impl Actor for Results {
    type Args = ();
    type Msg = Option<((String, u64), u64, u32)>; // a result, or `None` to ask for them all
    type Reply = BTreeMap<(String, u64), (u64, u32)>;

    async fn start((): (), _: &ActorContext<Self>) -> Result<Self, InitError> {
        Ok(Results(BTreeMap::new()))
    }

    async fn handle(&mut self, msg: Self::Msg, _: &ActorContext<Self>) -> Self::Reply {
        if let Some((job, square, tries)) = msg {
            self.0.insert(job, (square, tries));
        }
        self.0.clone()
    }
}

register_actor!(Job, Results);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let results = spawn_local_named::<Results>("results", ())?;

    for (name, restart) in [
        ("retrying", Restart::Transient),
        ("best-effort", Restart::Temporary),
    ] {
        let jobs = DynamicSupervisor::<Job>::builder(name)
            .restart(restart)
            .max_children(3)
            .start()?;
        let mut events = jobs.events()?;
        let (mut ended, mut waited) = (0, 0);
        for n in 1..=6 {
            let args = JobArgs {
                group: name.to_string(),
                n,
                flaky: n % 3 == 0,
                tries: Value::new(0)?,
            };
            // At most three at once: when the supervisor is full, wait for a job to end.
            loop {
                match jobs.start_child(args.clone()) {
                    Ok(_) => break,
                    Err(SupervisorError::MaxChildren(_)) => {
                        waited += 1;
                        ended += wait_for_end(&mut events, restart)?;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        while ended < 6 {
            ended += wait_for_end(&mut events, restart)?;
        }
        let left = jobs.count_children()?.specs;
        println!("{name}: 6 jobs ended, {left} left; the supervisor was full {waited} times");
        jobs.shutdown()?;
    }

    for ((group, n), (square, tries)) in results.call(None)? {
        println!("{group} job {n}: {n}² = {square} (try {tries})");
    }
    Ok(())
}

/// Waits until a job ends for good: normally, or crashed under a supervisor that does not
/// restart it. Prints the crashes and restarts on the way. Returns how many ended (1).
fn wait_for_end(
    events: &mut SupervisorEvents,
    restart: Restart,
) -> Result<usize, Box<dyn std::error::Error>> {
    loop {
        let event = events
            .next_timeout(Duration::from_secs(30))
            .ok_or("no job ended within 30 s")?;
        match &event.kind {
            EventKind::Ended(exit) if exit.is_normal() => return Ok(1),
            EventKind::Ended(exit) => {
                println!("{}: {exit}", event.supervisor);
                if restart == Restart::Temporary {
                    println!("{}: dropped the job", event.supervisor);
                    return Ok(1);
                }
            }
            EventKind::Restarted { .. } => println!("{}: restarted the job", event.supervisor),
            _ => {}
        }
    }
}
// ANCHOR_END: example
