//! The worker process: set up, then run tasks in the order they arrive, answering each one as
//! soon as it is done.
//!
//! Two threads. The main thread runs tasks. A reader thread takes messages off the link into a
//! local queue, so that the router can take back tasks that have not started (a revoke) while
//! a long task runs, and so that the worker exits at once when the router is gone.

use crate::protocol::{TargetRef, TaskMessage, ToRouter, ToWorker, WorkerMode};
use crate::worker_trait::{self, ErasedWorker};
use procvisor_runtime::__private::Registration;
use procvisor_runtime::__private::pool_support;
use procvisor_runtime::{ExitCode, Failure, FailureKind};
use procvisor_wire::{Connection, ConnectionError, Payload};
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// What the pool starts in each worker process.
pub(crate) fn pool_worker(mut link: Connection, mode: WorkerMode) -> ExitCode {
    pool_support::quiet_panics(true);
    // The reader thread waits for work; spinning would take a core from the tasks.
    link.set_receive_spin(std::time::Duration::ZERO);
    // Tasks arrive in batches; take each batch in with one receive.
    let _ = link.set_read_ahead(64 * 1024);
    ignore_interrupts();
    let Ok(writer) = link.try_clone() else {
        return ExitCode(1);
    };
    let writer = Arc::new(Mutex::new(writer));
    let actor_mode = matches!(mode, WorkerMode::Actor { .. });
    let _worker =
        tracing::debug_span!(target: "procvisor::pool", "worker", pid = std::process::id())
            .entered();
    let mut handler = match Handler::set_up(mode) {
        Ok(handler) => handler,
        Err(failure) => {
            let _ = send(&writer, &ToRouter::InitFailed(failure));
            return ExitCode(1);
        }
    };
    if send(&writer, &ToRouter::Ready).is_err() {
        return ExitCode(0);
    }

    let inbox = Arc::new(Inbox::default());
    {
        let inbox = inbox.clone();
        let writer = writer.clone();
        let spawned = std::thread::Builder::new()
            .name("procvisor-pool-reader".into())
            .spawn(move || read_link(link, &inbox, &writer, actor_mode));
        if spawned.is_err() {
            return ExitCode(1);
        }
    }

    while let Some(task) = inbox.next() {
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
        match send(
            &writer,
            &ToRouter::Done {
                id: task.id,
                result,
            },
        ) {
            Ok(()) => {}
            Err(Unsendable(reason)) => {
                // The result cannot travel (too large, or its descriptors): say so instead.
                let failure = pool_support::failure(
                    FailureKind::Codec,
                    format!("cannot send the result back: {reason}"),
                );
                let done = ToRouter::Done {
                    id: task.id,
                    result: Err(failure),
                };
                if send(&writer, &done).is_err() {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    ExitCode(0)
}

procvisor_runtime::register!(pool_worker);

/// A Ctrl-C in the terminal reaches the whole process group; the parent decides what it means
/// (Python's workers each raise `KeyboardInterrupt` instead, the classic hung-pool report).
fn ignore_interrupts() {
    // SAFETY: installing SIG_IGN has no handler code to run; nothing else in this process
    // depends on SIGINT's disposition.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
}

/// Why a message was not sent.
enum SendError {
    /// The router is gone.
    Gone,
    /// This message cannot be sent (too large, unencodable); the link is fine.
    Unsendable(String),
}
use SendError::Unsendable;

fn send(writer: &Mutex<Connection>, message: &ToRouter) -> Result<(), SendError> {
    match writer
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send(message)
    {
        Ok(()) => Ok(()),
        Err(e @ (ConnectionError::FrameTooLarge { .. } | ConnectionError::Codec(_))) => {
            Err(Unsendable(e.to_string()))
        }
        Err(_) => Err(SendError::Gone),
    }
}

/// What runs the tasks.
enum Handler {
    Functions,
    Actor(Box<dyn ErasedWorker>),
}

impl Handler {
    fn set_up(mode: WorkerMode) -> Result<Handler, Failure> {
        match mode {
            WorkerMode::Functions { initializer } => {
                if let Some((name, args)) = initializer {
                    let registration =
                        pool_support::registration(&name).ok_or_else(|| unregistered(&name))?;
                    pool_support::run_initializer(registration, &args)?;
                }
                Ok(Handler::Functions)
            }
            WorkerMode::Actor { worker, init } => {
                let registration = worker_trait::lookup(&worker).ok_or_else(|| {
                    pool_support::failure(
                        FailureKind::Unregistered,
                        format!("the worker type `{worker}` is not registered in this binary"),
                    )
                })?;
                Ok(Handler::Actor((registration.start)(&init)?))
            }
        }
    }

    fn run(&mut self, task: &Queued) -> Result<Payload, Failure> {
        match (&task.run, self) {
            (Run::Function(registration), _) => (registration.run_chunk)(&task.args),
            (Run::Actor, Handler::Actor(worker)) => worker.run_chunk(&task.args),
            (Run::Actor, Handler::Functions) => Err(pool_support::failure(
                FailureKind::Unregistered,
                "a worker task reached a function pool",
            )),
            (Run::Missing(name), _) => Err(unregistered(name)),
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

#[derive(Default)]
struct InboxState {
    queue: VecDeque<Queued>,
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

    /// The next task; `None` after a stop, once the queue is empty.
    fn next(&self) -> Option<Queued> {
        let mut state = self.lock();
        loop {
            if let Some(task) = state.queue.pop_front() {
                return Some(task);
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

/// The reader thread.
fn read_link(mut link: Connection, inbox: &Inbox, writer: &Mutex<Connection>, actor_mode: bool) {
    let mut targets: HashMap<u32, Result<&'static Registration, String>> = HashMap::new();
    loop {
        match link.recv::<ToWorker>() {
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
                let _ = send(writer, &ToRouter::Revoked(given_back));
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
    }
}
