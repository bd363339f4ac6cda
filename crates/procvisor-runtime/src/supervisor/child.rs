//! Starting, watching, stopping and killing one child of a supervisor, whatever it is: an actor
//! in a process of its own or in the supervisor's, a nested supervisor (either way), or a
//! process.

use super::actor::{SupervisorActor, SupervisorMsg};
use super::spec::{ChildKind, ChildSpec, Placement, Shutdown};
use crate::actor::{ActorHost, ActorId, Address, RemoteRef};
use crate::context::{default_context, get_context};
use crate::node::node;
use crate::outcome::{ExitReason, Failure, FailureKind};
use crate::process::Process;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How a child ended, as its supervisor saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ChildExit {
    /// It stopped normally: exit code 0, or an actor's normal stop.
    Normal,
    /// Its process exited with a code other than 0, after reporting `failure` if it could (an
    /// error returned by its target, say).
    Code {
        /// The exit code.
        code: i32,
        /// What it reported before it exited.
        failure: Option<Failure>,
    },
    /// Its process was killed by a signal, after reporting `failure` if it could (a stack
    /// overflow, say).
    Signal {
        /// The signal number.
        signal: i32,
        /// What it reported before it died.
        failure: Option<Failure>,
    },
    /// The actor panicked (with the panic's message and location).
    Panicked(Failure),
    /// An actor in the supervisor's process ended as crashed without a panic: it failed itself
    /// ([`ActorContext::fail`](crate::ActorContext::fail)), a service it ran ended (a pool
    /// that broke, a manager process that died), or its supervisor killed it.
    Failed(Failure),
    /// It could not start (or restart).
    StartFailed(String),
}

impl ChildExit {
    /// Whether it stopped normally (what a transient child is not restarted after).
    pub fn is_normal(&self) -> bool {
        *self == ChildExit::Normal
    }

    /// How a process that ended with `reason`, after reporting `failure`, ended.
    pub(crate) fn of_process(reason: ExitReason, failure: Option<Failure>) -> ChildExit {
        match (reason, failure) {
            (ExitReason::Code(0), None) => ChildExit::Normal,
            // An actor's own process reports its actor's panic: the panic is what happened.
            (_, Some(failure)) if failure.is_panic() => ChildExit::Panicked(failure),
            (ExitReason::Code(code), failure) => ChildExit::Code { code, failure },
            (ExitReason::Signal(signal), failure) => ChildExit::Signal { signal, failure },
        }
    }
}

impl fmt::Display for ChildExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChildExit::Normal => f.write_str("stopped normally"),
            ChildExit::Code {
                code,
                failure: Some(failure),
            } => write!(f, "{failure} ({})", ExitReason::Code(*code)),
            ChildExit::Code {
                code,
                failure: None,
            } => write!(f, "it ended with {}", ExitReason::Code(*code)),
            ChildExit::Signal {
                signal,
                failure: Some(failure),
            } => write!(f, "{failure} ({})", ExitReason::Signal(*signal)),
            ChildExit::Signal {
                signal,
                failure: None,
            } => write!(f, "it ended with {}", ExitReason::Signal(*signal)),
            ChildExit::Panicked(failure) | ChildExit::Failed(failure) => failure.fmt(f),
            ChildExit::StartFailed(why) => write!(f, "it could not start: {why}"),
        }
    }
}

/// Set once a child has ended (with how it ended), for whoever waits to stop it.
#[derive(Debug, Default)]
pub(crate) struct ExitSignal {
    ended: AtomicBool,
    exit: std::sync::Mutex<Option<ChildExit>>,
    notify: tokio::sync::Notify,
}

impl ExitSignal {
    fn set(&self, exit: ChildExit) {
        *self.exit.lock().unwrap_or_else(|p| p.into_inner()) = Some(exit);
        self.ended.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    /// How the child ended, once it has.
    pub(crate) fn exit(&self) -> Option<ChildExit> {
        self.exit.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits until the child has ended, at most `timeout`; whether it has.
    pub(crate) async fn wait(&self, timeout: Option<Duration>) -> bool {
        let ended = async {
            loop {
                let notified = self.notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.ended.load(Ordering::Acquire) {
                    return;
                }
                notified.await;
            }
        };
        match timeout {
            None => {
                ended.await;
                true
            }
            Some(t) => tokio::time::timeout(t, ended).await.is_ok(),
        }
    }
}

/// How to reach a running child to stop it.
#[derive(Debug)]
enum Handle {
    /// In a process of its own: the actor (or supervisor) to ask, the pidfd to kill.
    Remote { actor: Address, pidfd: OwnedFd },
    /// In the supervisor's process.
    Local { id: ActorId },
    /// A plain process: the pidfd to signal.
    Process { pidfd: OwnedFd },
    /// Nothing runs (a start that failed).
    Nothing,
}

/// A child that is running.
#[derive(Debug)]
pub(crate) struct Running {
    handle: Handle,
    pub(crate) exited: Arc<ExitSignal>,
    pub(crate) pid: Option<u32>,
    /// For nested supervisors: where to ask for their tree.
    pub(crate) supervisor: Option<RemoteRef<SupervisorActor>>,
}

impl Running {
    /// The address of the actor (or nested supervisor) this child is, if it is one: the
    /// incarnation a restart takes the name over from.
    pub(crate) fn address(&self) -> Option<Address> {
        match &self.handle {
            Handle::Remote { actor, .. } => Some(actor.clone()),
            Handle::Local { id } => Some(node().actor_net().address_of(*id)),
            Handle::Process { .. } | Handle::Nothing => None,
        }
    }
}

/// A stand-in for a child whose restart failed, so that its failure is handled as an end.
pub(crate) fn failed_start(why: &str) -> Running {
    let exited = Arc::new(ExitSignal::default());
    exited.set(ChildExit::StartFailed(why.to_string()));
    Running {
        handle: Handle::Nothing,
        exited,
        pid: None,
        supervisor: None,
    }
}

/// Starts `spec` as the child with key `key` (generation `generation`) of `supervisor`, which
/// hears of its end through a [`SupervisorMsg::ChildExited`] cast. `replacing` is the address
/// of the incarnation it replaces, whose name it takes over.
pub(crate) async fn start(
    spec: &ChildSpec,
    key: u64,
    generation: u64,
    supervisor: &RemoteRef<SupervisorActor>,
    replacing: Option<Address>,
) -> Result<Running, String> {
    if let Some(invalid) = &spec.invalid {
        return Err(invalid.clone());
    }
    let exited = Arc::new(ExitSignal::default());
    let report = {
        let (supervisor, exited) = (supervisor.clone(), exited.clone());
        move |exit: ChildExit| {
            exited.set(exit.clone());
            let _ = supervisor.cast(SupervisorMsg::ChildExited {
                key,
                generation,
                exit,
            });
        }
    };
    match &spec.kind {
        ChildKind::Actor {
            actor,
            args,
            placement: Placement::OwnProcess(method),
        } => {
            let (actor, args, id, method) = (actor.clone(), args.clone(), spec.id.clone(), *method);
            let (address, process) =
                blocking(move || in_own_process(&actor, args, &id, method, replacing)).await?;
            let pidfd = process
                .signaller()
                .ok_or("cannot watch the child's process")?;
            let pid = process.pid();
            watch_process(process, report);
            Ok(Running {
                handle: Handle::Remote {
                    actor: address,
                    pidfd,
                },
                exited,
                pid,
                supervisor: None,
            })
        }
        ChildKind::Supervisor {
            spec: nested,
            placement: Placement::OwnProcess(method),
        } => {
            let nested = nested.with_parent(supervisor.clone());
            let payload = procvisor_wire::Payload::encode(&nested).map_err(|e| e.to_string())?;
            let (id, method) = (spec.id.clone(), *method);
            let name = std::any::type_name::<SupervisorActor>();
            let (address, process) =
                blocking(move || in_own_process(name, payload, &id, method, replacing)).await?;
            let pidfd = process
                .signaller()
                .ok_or("cannot watch the child's process")?;
            let pid = process.pid();
            watch_process(process, report);
            Ok(Running {
                supervisor: Some(RemoteRef::at(address.clone())),
                handle: Handle::Remote {
                    actor: address,
                    pidfd,
                },
                exited,
                pid,
            })
        }
        ChildKind::Actor {
            actor,
            args,
            placement: Placement::Local,
        } => {
            let registration = crate::actor::lookup(actor)
                .ok_or_else(|| format!("the actor type `{actor}` is not registered"))?;
            let id = (registration.start)(args.clone(), Some(spec.id.clone()), replacing)
                .await
                .map_err(|e| e.to_string())?;
            watch_local(id, report);
            Ok(Running {
                handle: Handle::Local { id },
                exited,
                pid: Some(std::process::id()),
                supervisor: None,
            })
        }
        ChildKind::Supervisor {
            spec: nested,
            placement: Placement::Local,
        } => {
            // Through the registry's type-erased start: a supervisor starting a supervisor.
            let registration = crate::actor::lookup(std::any::type_name::<SupervisorActor>())
                .ok_or("the supervisor actor is not registered")?;
            let nested = nested.with_parent(supervisor.clone());
            let payload = procvisor_wire::Payload::encode(&nested).map_err(|e| e.to_string())?;
            let id = (registration.start)(payload, Some(spec.id.clone()), replacing)
                .await
                .map_err(|e| e.to_string())?;
            watch_local(id, report);
            Ok(Running {
                supervisor: Some(RemoteRef::at(node().actor_net().address_of(id))),
                handle: Handle::Local { id },
                exited,
                pid: Some(std::process::id()),
            })
        }
        ChildKind::Process {
            target,
            args,
            method,
        } => {
            let (target, args, id, method) =
                (target.clone(), args.clone(), spec.id.clone(), *method);
            let process = blocking(move || {
                let context = method.map_or_else(default_context, get_context);
                let process = Process::from_registered(&target, args).map_err(|e| e.to_string())?;
                let mut process = crate::__private::pool_support::terminate_at_exit(
                    process.with_name(id).with_context(context),
                );
                process.start().map_err(|e| e.to_string())?;
                Ok(process)
            })
            .await?;
            let pidfd = process
                .signaller()
                .ok_or("cannot watch the child's process")?;
            let pid = process.pid();
            watch_process(process, report);
            Ok(Running {
                handle: Handle::Process { pidfd },
                exited,
                pid,
                supervisor: None,
            })
        }
    }
}

/// Runs blocking work (a fork, an exec, a wait for a spawn's reply) off the runtime's threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| format!("the start was abandoned: {e}"))?
}

/// Starts a dedicated host process and the registered actor `actor` in it, registered as `name`.
fn in_own_process(
    actor: &str,
    args: procvisor_wire::Payload,
    name: &str,
    method: Option<crate::context::StartMethod>,
    replacing: Option<Address>,
) -> Result<(Address, Process), String> {
    let context = method.map_or_else(default_context, get_context);
    let host = ActorHost::start_with(context, true, Some(name)).map_err(|e| e.to_string())?;
    let path = host.path().to_vec();
    match crate::actor::spawn_remote(&path, actor, args, Some(name.to_string()), replacing) {
        Ok(id) => Ok((
            Address {
                node: path,
                recipient: crate::actor::Recipient::Id(id),
            },
            host.into_process().ok_or("the host process is gone")?,
        )),
        // Dropping the host stops its process.
        Err(e) => Err(e.to_string()),
    }
}

/// Reports the end of a child process.
fn watch_process(process: Process, report: impl FnOnce(ChildExit) + Send + 'static) {
    let ended = process.ended();
    tokio::spawn(async move {
        let exit = match ended.await {
            Some((reason, failure)) => ChildExit::of_process(reason, failure),
            None => ChildExit::StartFailed("its process could not be watched".into()),
        };
        drop(process);
        report(exit);
    });
}

/// Reports the end of an actor of this process.
fn watch_local(id: ActorId, report: impl FnOnce(ChildExit) + Send + Sync + 'static) {
    node().actor_net().on_end(
        id,
        Box::new(move |end| {
            report(match end {
                crate::actor::ActorEnd::Stopped => ChildExit::Normal,
                crate::actor::ActorEnd::Crashed(failure) if failure.is_panic() => {
                    ChildExit::Panicked(failure.clone())
                }
                crate::actor::ActorEnd::Crashed(failure) => ChildExit::Failed(failure.clone()),
            })
        }),
    );
}

/// Stops a running child per `shutdown`: ask, wait, kill. Returns how it ended, once it has.
pub(crate) async fn stop(running: &Running, shutdown: Shutdown) -> ChildExit {
    let grace = match shutdown {
        Shutdown::BrutalKill => Some(Duration::ZERO),
        Shutdown::Timeout(t) => Some(t),
        Shutdown::Infinity => None,
    };
    if grace != Some(Duration::ZERO) {
        ask_to_stop(running);
    }
    let ended = |running: &Running| {
        running
            .exited
            .exit()
            .unwrap_or(ChildExit::StartFailed("it never started".into()))
    };
    if running.exited.wait(grace).await {
        return ended(running);
    }
    match &running.handle {
        Handle::Remote { pidfd, .. } | Handle::Process { pidfd } => {
            let _ = crate::sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
        }
        Handle::Local { id } => {
            if let Some(mailbox) = node().actor_net().local.get(id).map(|m| m.clone()) {
                mailbox.kill();
            }
        }
        Handle::Nothing => return ended(running),
    }
    running.exited.wait(None).await;
    ended(running)
}

/// Kills a running child at once, as a crash (its supervisor restarts it by its policy): its
/// process gets `SIGKILL`; an actor of the supervisor's process crashes at its next message.
pub(crate) fn kill(running: &Running) {
    match &running.handle {
        Handle::Remote { pidfd, .. } | Handle::Process { pidfd } => {
            let _ = crate::sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
        }
        Handle::Local { id } => {
            if let Some(mailbox) = node().actor_net().local.get(id).map(|m| m.clone()) {
                let failure = Failure::new(FailureKind::Failed, "killed by its supervisor", None);
                mailbox.send(crate::actor::HostedMsg::Crash(failure));
            }
        }
        Handle::Nothing => {}
    }
}

fn ask_to_stop(running: &Running) {
    let net = node().actor_net();
    match &running.handle {
        Handle::Remote { actor, .. } => crate::actor::send_stop(actor.clone()),
        Handle::Local { id } => crate::actor::send_stop(net.address_of(*id)),
        Handle::Process { pidfd } => {
            let _ = crate::sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGTERM);
        }
        Handle::Nothing => {}
    }
}
