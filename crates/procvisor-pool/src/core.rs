//! What every pool handle shares: the router's address, the pool's state and counters, and the
//! making of jobs.

use crate::callbacks::CallbackRunner;
use crate::error::{PoolError, TaskInfo};
use crate::lifecycle::{Lifecycle, PoolState};
use crate::router::{Job, RouterMessage};
use crate::sink::Sink;
use crate::stats::{Counters, PoolStats};
use procvisor_runtime::__private::pool_support;
use procvisor_wire::Payload;
use ractor::ActorRef;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A function (or worker type) as the router names it to workers: a small number, and the
/// registered name for the first time a worker meets it.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) number: u32,
    pub(crate) name: &'static str,
    pub(crate) short: Arc<str>,
}

/// State shared by the pool's handles and its router.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The process that created the pool (the only one that may use it).
    pub(crate) owner: u32,
    pub(crate) processes: usize,
    pub(crate) counters: Counters,
    pub(crate) lifecycle: Lifecycle,
    pub(crate) callbacks: Arc<CallbackRunner>,
    /// Pool-wide defaults for calls.
    pub(crate) retries: u32,
    pub(crate) time_limit: Option<Duration>,
    /// The pids of the workers taking tasks, kept by the router.
    pub(crate) worker_pids: Mutex<Vec<u32>>,
    /// Set when the supervisor's child that ran this pool ended: its id and why.
    pub(crate) supervised_end: std::sync::OnceLock<(String, String)>,
    /// Where the actors of the workers taking tasks are (a pool of actors).
    pub(crate) worker_actors: Mutex<Vec<crate::protocol::ActorAt>>,
    /// Whether the workers are on other hosts (their actors cannot be reached from here).
    pub(crate) remote: bool,
    /// `Imap`s with input left: a closing pool keeps its workers for them.
    pub(crate) open_streams: std::sync::atomic::AtomicUsize,
    /// Jobs submitted and not yet taken by the router. A burst of submissions waits here and
    /// reaches the router in one message (one wakeup of its thread, not one per task): only the
    /// submission that finds it empty sends [`RouterMessage::Inbox`].
    inbox: Mutex<Vec<Job>>,
    next_task: AtomicU64,
    targets: Mutex<HashMap<&'static str, Target>>,
}

impl Shared {
    /// Takes every job waiting in the inbox, in the order they were submitted.
    pub(crate) fn take_inbox(&self) -> Vec<Job> {
        std::mem::take(&mut *self.inbox.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub(crate) fn new(processes: usize, retries: u32, time_limit: Option<Duration>) -> Shared {
        Shared {
            owner: pool_support::current_pid(),
            processes,
            counters: Counters::default(),
            lifecycle: Lifecycle::default(),
            callbacks: CallbackRunner::new(),
            retries,
            time_limit,
            worker_pids: Mutex::new(Vec::new()),
            supervised_end: std::sync::OnceLock::new(),
            worker_actors: Mutex::new(Vec::new()),
            remote: false,
            open_streams: std::sync::atomic::AtomicUsize::new(0),
            inbox: Mutex::new(Vec::new()),
            next_task: AtomicU64::new(1),
            targets: Mutex::new(HashMap::new()),
        }
    }
}

/// A handle on a running pool.
#[derive(Debug, Clone)]
pub(crate) struct Core {
    pub(crate) shared: Arc<Shared>,
    pub(crate) router: ActorRef<RouterMessage>,
}

impl Core {
    /// Fails unless this is the owning process and the pool takes work.
    pub(crate) fn check(&self) -> Result<(), PoolError> {
        self.check_owner()?;
        self.shared.lifecycle.check_running().map_err(|error| {
            match self.shared.supervised_end.get() {
                Some((id, cause)) => PoolError::SupervisedEnded {
                    id: id.clone(),
                    cause: cause.clone(),
                },
                None => error,
            }
        })
    }

    pub(crate) fn check_owner(&self) -> Result<(), PoolError> {
        if pool_support::current_pid() != self.shared.owner {
            return Err(PoolError::WrongProcess {
                owner: self.shared.owner,
            });
        }
        Ok(())
    }

    /// The function registered as `name` (checked once per pool), or the worker type `name`.
    pub(crate) fn target(
        &self,
        name: &'static str,
        check: fn(&str) -> bool,
    ) -> Result<Target, PoolError> {
        let mut targets = self
            .shared
            .targets
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(target) = targets.get(name) {
            return Ok(target.clone());
        }
        let short = pool_support::short_name(name);
        if !check(name) {
            if name.contains("{{closure}}") {
                return Err(PoolError::Closure);
            }
            return Err(PoolError::Unregistered {
                target: name,
                short,
            });
        }
        let target = Target {
            number: targets.len() as u32,
            name,
            short: short.into(),
        };
        targets.insert(name, target.clone());
        Ok(target)
    }

    /// A job for one task of `sink`.
    pub(crate) fn job(
        &self,
        target: &Target,
        args: Payload,
        sink: Arc<dyn Sink>,
        part: u64,
        items: Option<Range<usize>>,
        call: &CallSettings,
    ) -> Job {
        let id = self.shared.next_task.fetch_add(1, Ordering::Relaxed);
        Job {
            target: target.clone(),
            args: Arc::new(args),
            sink: Some(sink),
            part,
            info: TaskInfo {
                id,
                target: target.short.clone(),
                items,
                attempts: 1,
            },
            retries_left: call.retries,
            time_limit: call.time_limit,
            claim: None,
        }
    }

    /// Hands jobs to the router. When the pool takes no work, each job's sink gets the error.
    pub(crate) fn submit(&self, jobs: Vec<Job>) -> Result<(), PoolError> {
        self.submit_checked(jobs, Core::check)
    }

    /// [`submit`](Self::submit) for the rest of a call made before `close`: an `imap` reads its
    /// input as it goes, and a closed pool still finishes what it was given.
    pub(crate) fn submit_continued(&self, jobs: Vec<Job>) -> Result<(), PoolError> {
        self.submit_checked(jobs, |core| {
            core.check_owner()?;
            match core.shared.lifecycle.state() {
                PoolState::Closing => Ok(()),
                _ => core.shared.lifecycle.check_running(),
            }
        })
    }

    fn submit_checked(
        &self,
        jobs: Vec<Job>,
        check: impl FnOnce(&Core) -> Result<(), PoolError>,
    ) -> Result<(), PoolError> {
        if jobs.is_empty() {
            return Ok(());
        }
        if let Err(e) = check(self) {
            fail_jobs(jobs, &e);
            return Err(e);
        }
        let count = jobs.len() as u64;
        let first = {
            let mut inbox = self.shared.inbox.lock().unwrap_or_else(|p| p.into_inner());
            let first = inbox.is_empty();
            inbox.extend(jobs);
            first
        };
        Counters::add(&self.shared.counters.submitted, count);
        // Whoever finds the inbox empty tells the router; until the router takes the inbox,
        // later submissions join it without a message of their own.
        if first && self.router.send_message(RouterMessage::Inbox).is_err() {
            let e = self.stopped_error();
            fail_jobs(self.shared.take_inbox(), &e);
            return Err(e);
        }
        Ok(())
    }

    /// The error for a router that is gone.
    fn stopped_error(&self) -> PoolError {
        match self.shared.lifecycle.state() {
            PoolState::Broken(cause) => PoolError::Broken { cause },
            _ => PoolError::NotRunning,
        }
    }

    /// Each worker as a supervisor's tree shows it (empty when the router does not answer
    /// within a second).
    pub(crate) fn describe_workers(&self) -> Vec<crate::router::WorkerRow> {
        let (tx, rx) = std::sync::mpsc::channel();
        if self.router.cast(RouterMessage::Describe(tx)).is_err() {
            return Vec::new();
        }
        rx.recv_timeout(Duration::from_secs(1)).unwrap_or_default()
    }

    /// The tasks the workers run now (each worker's first); empty when the router does not
    /// answer within a second.
    pub(crate) fn running_tasks(&self) -> Vec<u64> {
        let (tx, rx) = std::sync::mpsc::channel();
        if self.router.cast(RouterMessage::Running(tx)).is_err() {
            return Vec::new();
        }
        rx.recv_timeout(Duration::from_secs(1)).unwrap_or_default()
    }

    pub(crate) fn worker_pids(&self) -> Vec<u32> {
        self.shared
            .worker_pids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn stats(&self) -> PoolStats {
        self.shared.counters.snapshot(self.shared.processes)
    }

    /// Python's `close`: no new work; the workers exit once the submitted work is done.
    pub(crate) fn close(&self) -> Result<(), PoolError> {
        self.check_owner()?;
        if self.shared.lifecycle.advance(PoolState::Closing) {
            let _ = self.router.send_message(RouterMessage::Close);
        }
        Ok(())
    }

    /// Python's `terminate`: fail pending work, stop the workers now, wait for them.
    pub(crate) fn terminate(&self) -> Result<(), PoolError> {
        self.check_owner()?;
        if self.shared.lifecycle.advance(PoolState::Terminating) {
            let _ = self.router.send_message(RouterMessage::Terminate);
        }
        self.shared.lifecycle.wait_finished(None);
        Ok(())
    }

    /// Async twin of [`terminate`](Self::terminate).
    pub(crate) async fn terminate_async(&self) -> Result<(), PoolError> {
        self.check_owner()?;
        if self.shared.lifecycle.advance(PoolState::Terminating) {
            let _ = self.router.send_message(RouterMessage::Terminate);
        }
        self.shared.lifecycle.finished().await;
        Ok(())
    }

    /// Python's `join`: waits for the workers to exit, after `close` or `terminate`.
    pub(crate) fn join_within(&self, timeout: Option<Duration>) -> Result<(), PoolError> {
        self.check_join()?;
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        if self.shared.lifecycle.wait_finished(deadline) {
            Ok(())
        } else {
            Err(PoolError::Timeout)
        }
    }

    /// Async twin of [`join`](Self::join).
    pub(crate) async fn join_async(&self) -> Result<(), PoolError> {
        self.check_join()?;
        self.shared.lifecycle.finished().await;
        Ok(())
    }

    fn check_join(&self) -> Result<(), PoolError> {
        self.check_owner()?;
        if self.shared.lifecycle.state() == PoolState::Running {
            return Err(PoolError::InvalidArgument("Pool is still running".into()));
        }
        Ok(())
    }
}

/// The retries and time limit of one call, the pool's defaults filled in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallSettings {
    pub(crate) retries: u32,
    pub(crate) time_limit: Option<Duration>,
}

fn fail_jobs(jobs: Vec<Job>, error: &PoolError) {
    for job in jobs {
        job.deliver(Err(error.clone()));
    }
}
