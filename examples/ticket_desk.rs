//! A ticket desk served by a manager. Customers in child processes ask for a ticket while the
//! desk is closed: each call waits in the desk, which keeps its reply to answer later and goes
//! on serving. When the desk opens, every waiting customer gets a ticket, and records it in a
//! dict that each child finds by its name, with nothing handed over.
//!
//! Python's `BaseManager.register` would block one manager thread per waiting customer inside
//! the method; an actor that answers later blocks nothing.

// ANCHOR: example
use procvisor::{
    Actor, ActorContext, ActorProxy, DictProxy, InitError, Manager, ManagerError, Process, Proxy,
    ReplyLater, register, register_actor,
};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::Duration;

struct TicketDesk {
    open: bool,
    next: u32,
    waiting: VecDeque<ReplyLater<u32>>,
}

#[derive(Debug, Serialize, Deserialize)]
enum Desk {
    /// A ticket: at once when the desk is open, when it opens otherwise.
    Take,
    /// Opens the desk; the answer is how many waiting customers it served.
    Open,
    /// How many customers wait.
    Waiting,
}

impl Actor for TicketDesk {
    type Args = ();
    type Msg = Desk;
    type Reply = u32;

    async fn start((): (), _: &ActorContext<Self>) -> Result<Self, InitError> {
        Ok(TicketDesk {
            open: false,
            next: 1,
            waiting: VecDeque::new(),
        })
    }

    async fn handle(&mut self, msg: Desk, ctx: &ActorContext<Self>) -> u32 {
        match msg {
            Desk::Take if self.open => self.ticket(),
            Desk::Take => {
                // Closed: keep the reply, answer when the desk opens.
                if let Some(reply) = ctx.reply_later() {
                    self.waiting.push_back(reply);
                }
                0
            }
            Desk::Open => {
                self.open = true;
                let served = self.waiting.len() as u32;
                while let Some(customer) = self.waiting.pop_front() {
                    let ticket = self.ticket();
                    customer.send(ticket);
                }
                served
            }
            Desk::Waiting => self.waiting.len() as u32,
        }
    }
}

impl TicketDesk {
    fn ticket(&mut self) -> u32 {
        self.next += 1;
        self.next - 1
    }
}
register_actor!(TicketDesk);

/// Runs in a child process: waits for a ticket, then records it under its own number.
fn customer(desk: ActorProxy<TicketDesk>, number: u32) -> Result<(), ManagerError> {
    let ticket = desk.call(Desk::Take)?;
    let tickets = DictProxy::<u32, u32>::named("tickets")?;
    tickets.set(number, ticket)
}
register!(customer);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manager = Manager::start()?;
    let desk = manager.spawn::<TicketDesk>(())?;
    let tickets = manager.dict::<u32, u32>()?;
    tickets.register("tickets")?;

    let mut customers = Vec::new();
    for number in 1..=4 {
        let mut child = Process::new(customer, (desk.clone(), number))?;
        child.start()?;
        customers.push(child);
    }
    // The desk answers at once while the customers wait in it.
    while desk.call(Desk::Waiting)? < 4 {
        std::thread::sleep(Duration::from_millis(1));
    }
    println!("4 customers wait at the closed desk");
    println!("the desk opens and serves {}", desk.call(Desk::Open)?);
    for mut child in customers {
        child.join()?;
    }
    let mut handed: Vec<u32> = tickets.values()?;
    handed.sort_unstable();
    println!("tickets handed out: {handed:?}");
    println!("a late customer gets ticket {}", desk.call(Desk::Take)?);
    Ok(())
}
// ANCHOR_END: example
