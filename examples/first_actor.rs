//! The book's first actor: a counter that adds what it is told, started in this process, sent
//! a cast and a call.

// ANCHOR: example
use procvisor::{Actor, ActorContext, ActorError, InitError, register_actor, spawn_local};

/// Adds what it is told to a running total.
struct Counter {
    count: i64,
}

impl Actor for Counter {
    type Args = i64; // what it starts from
    type Msg = i64; // what it receives
    type Reply = i64; // what it answers to a call

    async fn start(start: i64, _: &ActorContext<Self>) -> Result<Self, InitError> {
        Ok(Counter { count: start })
    }

    async fn handle(&mut self, add: i64, _: &ActorContext<Self>) -> i64 {
        self.count += add;
        self.count
    }
}
register_actor!(Counter);

fn main() -> Result<(), ActorError> {
    let counter = spawn_local::<Counter>(10)?;
    counter.cast(5)?; // sends, and does not wait
    println!("the count is {}", counter.call(1)?); // sends, and waits for the reply
    Ok(())
}
// ANCHOR_END: example
