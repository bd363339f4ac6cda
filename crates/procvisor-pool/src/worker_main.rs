//! The worker process: set up, then run tasks in the order they arrive, answering each one as
//! soon as it is done.
//!
//! Two threads. The main thread runs tasks. A reader thread takes messages off the link into a
//! local queue, so that the router can take back tasks that have not started (a revoke) while
//! a long task runs, and so that the worker exits at once when the router is gone. A worker of
//! a pool of actors also hosts its actor on the main thread: what the actor net delivers to it
//! (a `RemoteRef`'s calls, a broadcast) joins the same queue, between tasks.

use crate::protocol::{TargetRef, TaskMessage, ToRouter, ToWorker, WorkerMode};
use procvisor_runtime::__private::Registration;
use procvisor_runtime::__private::pool_support::{self, Flow, NetMessage, ThreadActor};
use procvisor_runtime::{ExitCode, Failure, FailureKind};
use procvisor_wire::{Connection, ConnectionError, Payload};
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

mod outbox;
use outbox::Outbox;

/// What the pool starts in each worker process.
pub(crate) fn pool_worker(
    mut link: Connection,
    mode: WorkerMode,
    actor_link: Option<Connection>,
) -> ExitCode {
    pool_support::quiet_panics(true);
    // The reader thread waits for work; spinning would take a core from the tasks.
    link.set_receive_spin(std::time::Duration::ZERO);
    // Tasks arrive in batches; take each batch in with one receive.
    let _ = link.set_read_ahead(64 * 1024);
    ignore_interrupts();
    let Ok(writer) = link.try_clone() else {
        return ExitCode(1);
    };
    let outbox = Arc::new(Outbox::new(writer));
    let actor_mode = matches!(mode, WorkerMode::Actor { .. });
    let _worker =
        tracing::debug_span!(target: "procvisor::pool", "worker", pid = std::process::id())
            .entered();
    let inbox = Arc::new(Inbox::default());
    if let Some(actor_link) = actor_link {
        if let Err(e) = pool_support::adopt_actor_link(actor_link) {
            let failure = pool_support::failure(
                FailureKind::Error,
                format!("cannot join the actor net: {e}"),
            );
            let _ = outbox.send(&ToRouter::InitFailed(failure));
            return ExitCode(1);
        }
    }
    let mut handler = match Handler::set_up(mode, &inbox) {
        Ok(handler) => handler,
        Err(failure) => {
            let _ = outbox.send(&ToRouter::InitFailed(failure));
            return ExitCode(1);
        }
    };
    if outbox
        .send(&ToRouter::Ready(handler.actor_address()))
        .is_err()
    {
        return ExitCode(0);
    }
    {
        let inbox = inbox.clone();
        let outbox = outbox.clone();
        let spawned = std::thread::Builder::new()
            .name("procvisor-pool-reader".into())
            .spawn(move || read_link(link, &inbox, &outbox, actor_mode));
        if spawned.is_err() {
            return ExitCode(1);
        }
    }

    while let Some(next) = inbox.next() {
        let task = match next {
            Next::Task(task) => task,
            Next::Net(message) => {
                let flow = handler.run_message(message);
                if leave(&mut handler, flow, &outbox, &inbox) {
                    break;
                }
                continue;
            }
        };
        let started = Instant::now();
        let result = {
            let _span = tracing::debug_span!(
                target: "procvisor::pool",
                "task",
                id = task.id,
                target = task.run.name()
            )
            .entered();
            handler.run(&task)
        };
        let may_wait = task.answer_may_wait && inbox.has_task();
        if outbox
            .answer(task.id, result, started.elapsed(), may_wait)
            .is_err()
        {
            break;
        }
        let flow = handler.flow();
        if leave(&mut handler, flow, &outbox, &inbox) {
            break;
        }
    }
    // Nothing is held when no task waits, but a stop can take the tasks that did.
    let _ = outbox.flush();
    handler.exit_code()
}

/// Acts on what the worker's actor asked for; `true` when the worker leaves.
fn leave(handler: &mut Handler, flow: Flow, outbox: &Outbox, inbox: &Inbox) -> bool {
    let failure = match flow {
        Flow::Continue => return false,
        Flow::Stop => None,
        Flow::Fail(failure) => {
            handler.crashed(failure.clone());
            Some(failure)
        }
    };
    // The tasks it was sent go to other workers; messages from the net are refused.
    let _ = outbox.send(&ToRouter::Leaving(failure));
    inbox.close();
    true
}

procvisor_runtime::register!(pool_worker);

/// A Ctrl-C in the terminal reaches the whole process group; the parent decides what it means
/// (Python's workers each raise `KeyboardInterrupt` instead, the classic hung-pool report).
fn ignore_interrupts() {
    // SAFETY: installing SIG_IGN has no handler code to run; nothing else in this process
    // depends on SIGINT's disposition.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
}

/// What runs the tasks.
enum Handler {
    Functions,
    Actor { actor: ThreadActor, failed: bool },
}

impl Handler {
    fn set_up(mode: WorkerMode, inbox: &Arc<Inbox>) -> Result<Handler, Failure> {
        match mode {
            WorkerMode::Functions { initializer } => {
                if let Some((name, args)) = initializer {
                    let registration =
                        pool_support::registration(&name).ok_or_else(|| unregistered(&name))?;
                    pool_support::run_initializer(registration, &args)?;
                }
                Ok(Handler::Functions)
            }
            WorkerMode::Actor { actor, args } => {
                let deliver = {
                    let inbox = inbox.clone();
                    Arc::new(move |message: NetMessage| inbox.push_net(message))
                };
                let actor = pool_support::start_actor_on_thread(&actor, &args, deliver)?;
                Ok(Handler::Actor {
                    actor,
                    failed: false,
                })
            }
        }
    }

    fn actor_address(&self) -> Option<crate::protocol::ActorAt> {
        match self {
            Handler::Functions => None,
            Handler::Actor { actor, .. } => Some(actor.address()),
        }
    }

    fn run(&mut self, task: &Queued) -> Result<Payload, Failure> {
        match (&task.run, self) {
            (Run::Function(registration), _) => (registration.run_chunk)(&task.args),
            (Run::Actor, Handler::Actor { actor, .. }) => actor.run_batch(&task.args),
            (Run::Actor, Handler::Functions) => Err(pool_support::failure(
                FailureKind::Unregistered,
                "an actor's task reached a pool of functions",
            )),
            (Run::Missing(name), _) => Err(unregistered(name)),
        }
    }

    fn run_message(&mut self, message: NetMessage) -> Flow {
        match self {
            Handler::Actor { actor, .. } => actor.run_message(message),
            Handler::Functions => {
                pool_support::refuse_message(message);
                Flow::Continue
            }
        }
    }

    fn flow(&self) -> Flow {
        match self {
            Handler::Actor { actor, .. } => actor.flow(),
            Handler::Functions => Flow::Continue,
        }
    }

    fn crashed(&mut self, failure: Failure) {
        if let Handler::Actor { actor, failed } = self {
            actor.crashed(failure);
            *failed = true;
        }
    }

    /// 1 after the actor failed (a crash), 0 otherwise.
    fn exit_code(&self) -> ExitCode {
        match self {
            Handler::Actor { failed: true, .. } => ExitCode(1),
            _ => ExitCode(0),
        }
    }
}

fn unregistered(name: &str) -> Failure {
    pool_support::failure(
        FailureKind::Unregistered,
        format!("`{name}` is not registered in the worker's binary"),
    )
}

/// A task taken off the link, its function resolved.
struct Queued {
    id: u64,
    run: Run,
    args: Payload,
    answer_may_wait: bool,
}

enum Run {
    Function(&'static Registration),
    Actor,
    Missing(String),
}

impl Run {
    fn name(&self) -> &str {
        match self {
            Run::Function(registration) => (registration.name)(),
            Run::Actor => "worker",
            Run::Missing(name) => name,
        }
    }
}

/// What the main thread does next.
enum Next {
    Task(Queued),
    Net(NetMessage),
}

#[derive(Default)]
struct InboxState {
    queue: VecDeque<Queued>,
    /// Messages the actor net delivered to the worker's actor.
    net: VecDeque<NetMessage>,
    /// The worker is leaving: net messages are refused.
    closed: bool,
    stop: bool,
    /// The executor sleeps on `more` (a notification costs a system call; skip it otherwise).
    waiting: bool,
}

/// The tasks received and not yet started.
#[derive(Default)]
struct Inbox {
    state: Mutex<InboxState>,
    more: Condvar,
}

impl Inbox {
    fn lock(&self) -> MutexGuard<'_, InboxState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next task or net message (in the order they came, tasks first when both wait);
    /// `None` after a stop, once the tasks are done.
    fn next(&self) -> Option<Next> {
        let mut state = self.lock();
        loop {
            if let Some(task) = state.queue.pop_front() {
                return Some(Next::Task(task));
            }
            if let Some(message) = state.net.pop_front() {
                return Some(Next::Net(message));
            }
            if state.stop {
                return None;
            }
            state.waiting = true;
            state = self.more.wait(state).unwrap_or_else(|p| p.into_inner());
            state.waiting = false;
        }
    }
}

impl Inbox {
    /// Whether a task waits here.
    fn has_task(&self) -> bool {
        !self.lock().queue.is_empty()
    }

    /// Queues a message from the actor net (refused once the worker is leaving).
    fn push_net(&self, message: NetMessage) {
        let mut state = self.lock();
        if state.closed {
            drop(state);
            pool_support::refuse_message(message);
            return;
        }
        state.net.push_back(message);
        if std::mem::replace(&mut state.waiting, false) {
            self.more.notify_one();
        }
    }

    /// The worker is leaving: what waits from the net is refused (its callers hear `Stopped`).
    fn close(&self) {
        let waiting: Vec<NetMessage> = {
            let mut state = self.lock();
            state.closed = true;
            state.net.drain(..).collect()
        };
        for message in waiting {
            pool_support::refuse_message(message);
        }
    }
}

/// The reader thread.
fn read_link(mut link: Connection, inbox: &Inbox, outbox: &Outbox, actor_mode: bool) {
    let mut targets: HashMap<u32, Result<&'static Registration, String>> = HashMap::new();
    loop {
        // While answers are held, or may be (a task waits behind the one running), look at them
        // every so often: the task after them may turn out long. (The queue is looked at first:
        // an answer is held before the task behind it leaves the queue.)
        let received = if inbox.has_task() || outbox.holding() {
            match link.recv_timeout::<ToWorker>(outbox::HOLD_AT_MOST) {
                Err(ConnectionError::Timeout) => {
                    if outbox.flush_if_due().is_err() {
                        return;
                    }
                    continue;
                }
                received => received,
            }
        } else {
            link.recv::<ToWorker>()
        };
        match received {
            Ok(ToWorker::Tasks(tasks)) => {
                let resolved: Vec<Queued> = tasks
                    .into_iter()
                    .map(|task| resolve(task, &mut targets, actor_mode))
                    .collect();
                let mut state = inbox.lock();
                state.queue.extend(resolved);
                if std::mem::replace(&mut state.waiting, false) {
                    inbox.more.notify_one();
                }
            }
            Ok(ToWorker::Revoke(ids)) => {
                // Answered with the inbox held: a task started after this point cannot be
                // answered before the revoke is.
                let mut state = inbox.lock();
                let mut given_back = Vec::new();
                state.queue.retain(|task| {
                    let revoked = ids.contains(&task.id);
                    if revoked {
                        given_back.push(task.id);
                    }
                    !revoked
                });
                let _ = outbox.send(&ToRouter::Revoked(given_back));
            }
            Ok(ToWorker::Stop) => {
                let mut state = inbox.lock();
                state.stop = true;
                if state.waiting {
                    inbox.more.notify_one();
                }
                return;
            }
            Err(_) => {
                // The router is gone (its pool was dropped, or its process died): nobody can
                // use what this worker would compute.
                let _ = std::io::stdout().flush();
                let _ = std::io::stderr().flush();
                // SAFETY: `_exit` ends the process without running the parent's atexit
                // handlers, which a forked worker inherited and must not run.
                unsafe { libc::_exit(0) };
            }
        }
    }
}

fn resolve(
    task: TaskMessage,
    targets: &mut HashMap<u32, Result<&'static Registration, String>>,
    actor_mode: bool,
) -> Queued {
    let run = if actor_mode {
        Run::Actor
    } else {
        let entry = match task.target {
            TargetRef::Named(number, name) => targets
                .entry(number)
                .or_insert_with(|| pool_support::registration(&name).ok_or(name)),
            TargetRef::Known(number) => targets
                .entry(number)
                .or_insert_with(|| Err(format!("function number {number}"))),
        };
        match entry {
            Ok(registration) => Run::Function(registration),
            Err(name) => Run::Missing(name.clone()),
        }
    };
    Queued {
        id: task.id,
        run,
        args: task.args,
        answer_may_wait: task.answer_may_wait,
    }
}
