//! A pool under a supervisor, next to an actor that hands it work. A task whose worker is
//! killed (as the kernel's out-of-memory killer would) fails alone, and the pool carries on.
//! Then a crash storm breaks the pool: its supervisor restarts it as a whole, and the
//! dispatcher reaches the new pool by its id, without being told.
//!
//! Python's `multiprocessing.Pool` hangs for ever on a task whose worker died, and nothing
//! restarts a pool; here a pool is one more child of a supervision tree.

// ANCHOR: example
use procvisor::{
    Actor, ActorContext, ChildSpec, EventKind, InitError, Placement, Pool, PoolError, RemoteRef,
    RestartIntensity, Supervisor, SupervisorEvents, register, register_actor,
};
use std::time::Duration;

/// The pool's work: a square, unless the kernel kills the worker first.
fn square(x: i64, killed: bool) -> i64 {
    if killed {
        // `kill -9` on this very worker: SIGKILL, as the out-of-memory killer sends.
        let _ = std::process::Command::new("kill")
            .args(["-9", &std::process::id().to_string()])
            .status();
        std::thread::sleep(Duration::from_secs(10));
    }
    x * x
}
register!(square);

/// Takes jobs and runs each in the pool the supervisor keeps under the id "crunch".
struct Dispatcher;

impl Actor for Dispatcher {
    type Args = ();
    type Msg = (i64, bool); // a number, and whether its worker gets killed
    type Reply = Result<i64, String>;

    async fn start((): (), _: &ActorContext<Self>) -> Result<Self, InitError> {
        Ok(Dispatcher)
    }

    async fn handle(&mut self, (x, killed): (i64, bool), _: &ActorContext<Self>) -> Self::Reply {
        // Looked up for every job: after a restart, this is the new pool.
        let pool = Pool::supervised_timeout("crunch", Duration::from_secs(10))
            .map_err(|e| e.to_string())?;
        let result = pool
            .apply_async(square, (x, killed))
            .map_err(|e| e.to_string())?;
        result.await.map_err(|e: PoolError| e.to_string())
    }
}
register_actor!(Dispatcher);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let supervisor = Supervisor::builder("jobs")
        .child(
            Pool::builder()
                .processes(2)
                // Two lost workers a minute are bad luck; a third means something is wrong.
                .restart_intensity(RestartIntensity::new(2, Duration::from_secs(60)))
                .child_spec("crunch"),
        )
        .child(ChildSpec::actor::<Dispatcher>("dispatcher", ()).placed(Placement::Local))
        .start()?;
    let mut events = supervisor.events()?;
    let dispatcher: RemoteRef<Dispatcher> = supervisor.child("dispatcher");

    println!("square(7) = {}", dispatcher.call((7, false))??);
    match dispatcher.call((8, true))? {
        Ok(_) => println!("square(8) survived"),
        Err(lost) => println!("square(8) failed: {lost}"),
    }
    println!(
        "square(9) = {} (the pool carried on)",
        dispatcher.call((9, false))??
    );

    // Two more lost workers within the minute: more than the pool bears.
    for x in [10, 11] {
        let _ = dispatcher.call((x, true))?;
    }
    watch_restart(&mut events)?;
    println!(
        "square(12) = {} (through the restarted pool)",
        dispatcher.call((12, false))??
    );
    println!("{}", supervisor.tree()?);
    supervisor.shutdown()?;
    Ok(())
}

/// Prints how the pool ended and how it came back.
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
