//! An actor of our own, served by a manager: a visitor book that children started with each
//! start method sign, and that another client, knowing only the manager's TCP address and its
//! authkey, finds by name and reads.
//!
//! Python's `BaseManager.register` serves a class whose methods run on the manager's threads,
//! all at once; an actor here handles one message at a time, so it needs no lock of its own.

// ANCHOR: example
use procvisor::{
    Actor, ActorContext, ActorProxy, Address, InitError, Manager, ManagerError, Process,
    StartMethod, get_context, register, register_actor,
};
use serde::{Deserialize, Serialize};

/// A book of names, in the order they signed.
struct VisitorBook {
    names: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
enum Visit {
    Sign(String),
    Read,
}

impl Actor for VisitorBook {
    type Args = ();
    type Msg = Visit;
    type Reply = Vec<String>;

    async fn start((): (), _: &ActorContext<Self>) -> Result<Self, InitError> {
        Ok(VisitorBook { names: Vec::new() })
    }

    async fn handle(&mut self, visit: Visit, _: &ActorContext<Self>) -> Vec<String> {
        if let Visit::Sign(name) = visit {
            self.names.push(name);
        }
        self.names.clone()
    }
}
register_actor!(VisitorBook);

/// Runs in a child process: signs the book it was given.
fn sign(book: ActorProxy<VisitorBook>, name: String) -> Result<usize, ManagerError> {
    Ok(book.call(Visit::Sign(name))?.len())
}
register!(sign);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manager = Manager::builder()
        .address(Address::tcp_loopback(0))
        .authkey(b"guests only")
        .start()?;
    // Started in the manager process, and published there under its name.
    let book = manager.spawn_named::<VisitorBook>("visitor-book", ())?;

    for method in [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::Forkserver,
    ] {
        let mut child = Process::new(sign, (book.clone(), format!("a {method:?} child")))?
            .with_context(get_context(method));
        child.start()?;
        let signed: usize = child.result()?;
        println!("a {method:?} child signed: {signed} names now");
    }

    // Another client: the address and the key are all it knows.
    let guest = Manager::connect(manager.address().clone(), b"guests only")?;
    let found: ActorProxy<VisitorBook> = guest
        .lookup("visitor-book")?
        .ok_or("nothing published as visitor-book")?;
    println!("read over TCP: {:?}", found.call(Visit::Read)?);
    match Manager::connect(manager.address().clone(), b"let me in") {
        Ok(_) => println!("a wrong key was let in"),
        Err(e) => println!("a wrong key: {e}"),
    }
    Ok(())
}
// ANCHOR_END: example
