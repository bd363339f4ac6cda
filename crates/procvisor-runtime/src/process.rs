//! [`Process`]: a child process running a target.

use crate::child_record::ChildRecord;
use crate::context::{Context, StartMethod, default_context};
use crate::error::ProcessError;
use crate::node::node;
use crate::outcome::{ChildOutcome, ExitReason, Failure, FailureKind};
use crate::start::{self, Launch};
use crate::target::{self, Target};
use procvisor_wire::Payload;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A child process: Python's `multiprocessing.Process`.
///
/// ```
/// use procvisor_runtime::Process;
///
/// fn greet(name: String) {
///     println!("hello {name}");
/// }
/// procvisor_runtime::register!(greet);
///
/// let mut p = Process::new(greet, ("bob".to_string(),))?;
/// p.start()?;
/// p.join()?;
/// assert_eq!(p.exitcode(), Some(0));
/// # Ok::<(), procvisor_runtime::ProcessError>(())
/// ```
///
/// The target is a registered function ([`register!`](crate::register)) with its arguments as
/// a tuple, or, with the `fork` start method only, a closure ([`Process::closure`]). Its return
/// value reaches the parent through [`result`](Self::result); returning `Err` or panicking makes
/// the exit code 1 and the error or panic message (with its location) part of the failure.
///
/// # Drop
///
/// Dropping a `Process` does not stop the child: it is detached and keeps running. The node
/// still reaps it when it ends (no zombies), and at the parent's normal exit non-daemonic
/// children are joined and daemonic ones terminated, as in Python. A parent that dies abruptly
/// takes its children with it (parent-death signal).
pub struct Process {
    /// This process's number among its parent's children (Python numbers at creation).
    pub(crate) number: u32,
    name: Option<String>,
    daemon: Option<bool>,
    context: Option<Context>,
    launch: Option<Launch>,
    state: State,
    /// Terminated, not joined, when this process exits (pool workers; see `__private`).
    pub(crate) terminate_at_exit: bool,
}

enum State {
    Initial,
    Started(Arc<ChildRecord>),
    Closed,
}

/// Python's `sentinel`: a descriptor that becomes readable when the process ends; wait on it
/// with [`wait`](procvisor_wire::wait) together with connections.
#[derive(Debug)]
pub struct Sentinel(OwnedFd);

impl procvisor_wire::Waitable for Sentinel {
    fn wait_fd(&self) -> std::io::Result<BorrowedFd<'_>> {
        Ok(self.0.as_fd())
    }
}

impl AsFd for Sentinel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

pub(crate) fn short_name(full: &str) -> String {
    full.rsplit("::").next().unwrap_or(full).to_string()
}

impl Process {
    /// A process that will run the registered function `target` with `args` (a tuple of its
    /// arguments; `()` for none). The arguments are encoded now, so a value that cannot be sent
    /// fails here, not in the child; descriptors in them (connections, queues, shared memory)
    /// travel with them.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Unregistered`] when `target` was not registered (the message names the
    /// fix), [`ProcessError::Arguments`] when the arguments cannot be encoded.
    pub fn new<F, A>(target: F, args: A) -> Result<Process, ProcessError>
    where
        F: Target<A>,
        A: Serialize,
    {
        let name = target::name_of::<F>();
        let Some(registration) = target::lookup(name) else {
            let short = if name.contains("{{closure}}") {
                "<a named fn; closures need Process::closure and the fork start method>".to_string()
            } else {
                short_name(name)
            };
            return Err(ProcessError::Unregistered {
                target: name,
                short,
            });
        };
        let args = Payload::encode(&args).map_err(|e| ProcessError::Arguments {
            name: short_name(name),
            message: e.to_string(),
        })?;
        drop(target);
        Ok(Process::with_launch(Launch::Registered {
            name,
            args,
            run: registration.run_process,
        }))
    }

    /// A process that runs a closure: it needs the `fork` start method (set it with
    /// [`with_context`](Self::with_context) or as the process-wide default), because only a
    /// fork copies the closure into the child.
    ///
    /// The closure returns `()`, `Result<T, E>` or [`ExitCode`](crate::ExitCode), like a
    /// registered target.
    pub fn closure<F, R>(f: F) -> Process
    where
        F: FnOnce() -> R + Send + 'static,
        R: crate::ProcessReturn,
    {
        let body = Box::new(move || match crate::panics::catch(f) {
            Ok(returned) => returned.into_outcome(),
            Err(failure) => ChildOutcome::failed(failure),
        });
        Process::with_launch(Launch::Closure(body))
    }

    /// A process that runs the function registered as `name` with encoded `args` (for
    /// supervisors, which keep child specs as data).
    pub(crate) fn from_registered(name: &str, args: Payload) -> Result<Process, ProcessError> {
        let Some(registration) = target::lookup(name) else {
            return Err(ProcessError::Start {
                name: short_name(name),
                source: std::io::Error::other(format!(
                    "`{name}` is not registered: add `procvisor::register!({});`",
                    short_name(name)
                )),
            });
        };
        Ok(Process::with_launch(Launch::Registered {
            name: (registration.name)(),
            args,
            run: registration.run_process,
        }))
    }

    /// A future that waits until the child has exited and its link has closed, and gives how
    /// it ended and the failure it reported (a returned error or a panic), if any.
    pub(crate) fn ended(
        &self,
    ) -> impl std::future::Future<Output = Option<(ExitReason, Option<crate::outcome::Failure>)>>
    + Send
    + 'static {
        let record = self.record().ok().cloned();
        node().watch_now();
        async move {
            let record = record?;
            loop {
                let changed = record.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                record.try_reap();
                if record.finished() {
                    let state = record.lock();
                    let failure = state.outcome.as_ref().and_then(|o| o.failure.clone());
                    return state.exit.map(|exit| (exit, failure));
                }
                changed.await;
            }
        }
    }

    /// A duplicate of the child's pidfd, to signal it without the `Process`.
    pub(crate) fn signaller(&self) -> Option<std::os::fd::OwnedFd> {
        let record = self.record().ok()?;
        std::os::fd::AsFd::as_fd(&record.pidfd)
            .try_clone_to_owned()
            .ok()
    }

    fn with_launch(launch: Launch) -> Process {
        Process {
            number: node().next_child_number(),
            name: None,
            daemon: None,
            context: None,
            launch: Some(launch),
            state: State::Initial,
            terminate_at_exit: false,
        }
    }

    /// A handle on a started child of this process (for `active_processes`).
    pub(crate) fn adopt(record: Arc<ChildRecord>) -> Process {
        Process {
            number: record.number,
            name: None,
            daemon: None,
            context: None,
            launch: None,
            state: State::Started(record),
            terminate_at_exit: false,
        }
    }

    /// Names the process (default: Python's `Process-N`, `Process-N:M` in a child).
    pub fn with_name(mut self, name: impl Into<String>) -> Process {
        self.name = Some(name.into());
        self
    }

    /// Makes the process daemonic: terminated when the parent exits, and not allowed children
    /// of its own. Default: the parent's own flag.
    pub fn with_daemon(mut self, daemon: bool) -> Process {
        self.daemon = Some(daemon);
        self
    }

    /// Starts the process with this context's start method instead of the process-wide one.
    pub fn with_context(mut self, context: Context) -> Process {
        self.context = Some(context);
        self
    }

    /// The process's name: the one given with [`with_name`](Self::with_name), or Python's
    /// `Process-N` (`Process-N:M` in a child), numbered when the `Process` was created.
    pub fn name(&self) -> String {
        match &self.state {
            State::Started(record) => record.name.clone(),
            _ => self.name.clone().unwrap_or_else(|| {
                let mut ident = node().identity().ident;
                ident.push(self.number);
                crate::identity::default_name(&ident)
            }),
        }
    }

    /// Renames the process before it starts.
    ///
    /// # Errors
    ///
    /// [`ProcessError::AlreadyRunning`] after `start`.
    pub fn set_name(&mut self, name: impl Into<String>) -> Result<(), ProcessError> {
        self.check_initial()?;
        self.name = Some(name.into());
        Ok(())
    }

    /// Whether the process is (or will be) daemonic.
    pub fn daemon(&self) -> bool {
        match &self.state {
            State::Started(record) => record.daemon,
            _ => self.daemon.unwrap_or_else(|| node().identity().daemon),
        }
    }

    /// Sets the daemon flag before the process starts.
    ///
    /// # Errors
    ///
    /// [`ProcessError::AlreadyRunning`] after `start`.
    pub fn set_daemon(&mut self, daemon: bool) -> Result<(), ProcessError> {
        self.check_initial()?;
        self.daemon = Some(daemon);
        Ok(())
    }

    fn check_initial(&self) -> Result<(), ProcessError> {
        match self.state {
            State::Initial => Ok(()),
            State::Started(_) => Err(ProcessError::AlreadyRunning),
            State::Closed => Err(ProcessError::Closed),
        }
    }

    /// Starts the child.
    ///
    /// # Errors
    ///
    /// [`ProcessError::AlreadyStarted`], [`ProcessError::Closed`],
    /// [`ProcessError::DaemonicParent`] in a daemonic process, [`ProcessError::ClosureNeedsFork`],
    /// and [`ProcessError::Start`] when the operating system refuses.
    pub fn start(&mut self) -> Result<(), ProcessError> {
        match self.state {
            State::Initial => {}
            State::Started(_) => return Err(ProcessError::AlreadyStarted),
            State::Closed => return Err(ProcessError::Closed),
        }
        let node = node();
        let method = self.context.unwrap_or_else(default_context).start_method();
        if matches!(self.launch, Some(Launch::Closure(_))) && method != StartMethod::Fork {
            return Err(ProcessError::ClosureNeedsFork { method });
        }
        let (identity, parent_is_daemon) =
            node.child_identity(self.number, self.name.clone(), self.daemon);
        if parent_is_daemon {
            return Err(ProcessError::DaemonicParent);
        }

        let launch = self
            .launch
            .take()
            .expect("an unstarted process has its target");
        let record = start::start(method, identity, launch, self.terminate_at_exit)?;
        self.state = State::Started(record);
        Ok(())
    }

    fn record(&self) -> Result<&Arc<ChildRecord>, ProcessError> {
        match &self.state {
            State::Started(record) => Ok(record),
            State::Initial => Err(ProcessError::NotStarted),
            State::Closed => Err(ProcessError::Closed),
        }
    }

    /// Waits until the process ends. `Ok` means it ended, whatever its exit code; look at
    /// [`exitcode`](Self::exitcode).
    ///
    /// # Errors
    ///
    /// [`ProcessError::NotStarted`], [`ProcessError::Closed`].
    pub fn join(&mut self) -> Result<(), ProcessError> {
        self.join_within(None)
    }

    /// [`join`](Self::join), at most `timeout` (Python's `join(timeout)`, which does not say
    /// whether it timed out; this does).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Timeout`] when it is still running; as [`join`](Self::join).
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<(), ProcessError> {
        self.join_within(Some(timeout))
    }

    fn join_within(&mut self, timeout: Option<Duration>) -> Result<(), ProcessError> {
        let record = self.record()?;
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        match record.wait_exit(deadline) {
            Some(_) => Ok(()),
            None => Err(ProcessError::Timeout {
                name: record.name.clone(),
                pid: record.pid,
            }),
        }
    }

    /// Async twin of [`join`](Self::join). Cancel safe: bound it with `tokio::time::timeout`.
    ///
    /// # Errors
    ///
    /// As [`join`](Self::join).
    pub async fn join_async(&mut self) -> Result<(), ProcessError> {
        self.join_async_within(None).await
    }

    pub(crate) async fn join_async_within(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<(), ProcessError> {
        let record = self.record()?.clone();
        let wait = async {
            loop {
                let changed = record.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if record.try_reap().is_some() {
                    return;
                }
                changed.await;
            }
        };
        match timeout {
            None => {
                wait.await;
                Ok(())
            }
            Some(t) => tokio::time::timeout(t, wait)
                .await
                .map_err(|_| ProcessError::Timeout {
                    name: record.name.clone(),
                    pid: record.pid,
                }),
        }
    }

    /// Whether the process has started and not yet ended.
    pub fn is_alive(&self) -> bool {
        match &self.state {
            State::Started(record) => record.try_reap().is_none(),
            _ => false,
        }
    }

    /// The child's pid once started.
    pub fn pid(&self) -> Option<u32> {
        match &self.state {
            State::Started(record) => Some(record.pid),
            _ => None,
        }
    }

    /// Python's `ident`, an alias of [`pid`](Self::pid): the child's pid once started.
    ///
    /// ```
    /// fn nothing() {}
    /// procvisor_runtime::register!(nothing);
    ///
    /// let mut p = procvisor_runtime::Process::new(nothing, ())?;
    /// assert_eq!(p.ident(), None);
    /// p.start()?;
    /// assert_eq!(p.ident(), p.pid());
    /// p.join()?;
    /// # Ok::<(), procvisor_runtime::ProcessError>(())
    /// ```
    ///
    /// Not to be confused with [`CurrentProcess::ident`](crate::CurrentProcess::ident), which is
    /// Python's `_identity` (the child numbers), not a pid.
    pub fn ident(&self) -> Option<u32> {
        self.pid()
    }

    /// Python's `exitcode`: `None` while running (or before start), the exit code once ended
    /// (0 for success, 1 for a returned error or a panic, the code of an
    /// [`ExitCode`](crate::ExitCode)), or minus the signal number when a signal killed it.
    pub fn exitcode(&self) -> Option<i32> {
        self.exit_reason().map(ExitReason::exitcode)
    }

    /// How the process ended, once it has.
    pub fn exit_reason(&self) -> Option<ExitReason> {
        match &self.state {
            State::Started(record) => record.try_reap(),
            _ => None,
        }
    }

    /// The start method the child was (or will be) started with.
    pub fn start_method(&self) -> StartMethod {
        match &self.state {
            State::Started(record) => record.method,
            // Looking does not fix the process-wide default (unlike `get_start_method`).
            _ => self.context.map_or_else(
                || {
                    crate::context::get_start_method_if_set()
                        .unwrap_or(crate::context::DEFAULT_START_METHOD)
                },
                |c| c.start_method(),
            ),
        }
    }

    fn signal(&self, signal: i32, op: &'static str) -> Result<(), ProcessError> {
        let record = self.record()?;
        if record.exit().is_some() {
            return Ok(());
        }
        crate::sys::pidfd_send_signal(record.pidfd.as_fd(), signal).map_err(|source| {
            ProcessError::Io {
                op,
                name: record.name.clone(),
                source,
            }
        })
    }

    /// Sends SIGTERM (Python's `terminate`). Its exit code becomes `-15` unless it handles the
    /// signal. Signalling an ended process does nothing.
    ///
    /// # Errors
    ///
    /// [`ProcessError::NotStarted`], [`ProcessError::Closed`].
    pub fn terminate(&self) -> Result<(), ProcessError> {
        self.signal(libc::SIGTERM, "terminate")
    }

    /// Sends SIGKILL (Python's `kill`): exit code `-9`.
    ///
    /// # Errors
    ///
    /// As [`terminate`](Self::terminate).
    pub fn kill(&self) -> Result<(), ProcessError> {
        self.signal(libc::SIGKILL, "kill")
    }

    /// Sends SIGINT (Python 3.14's `interrupt`): exit code `-2` unless the child handles it.
    ///
    /// # Errors
    ///
    /// As [`terminate`](Self::terminate).
    pub fn interrupt(&self) -> Result<(), ProcessError> {
        self.signal(libc::SIGINT, "interrupt")
    }

    /// Python's `sentinel`: readable once the process has ended.
    ///
    /// # Errors
    ///
    /// [`ProcessError::NotStarted`], [`ProcessError::Closed`], or an I/O error when out of
    /// descriptors.
    pub fn sentinel(&self) -> Result<Sentinel, ProcessError> {
        let record = self.record()?;
        let fd = record
            .pidfd
            .try_clone()
            .map_err(|source| ProcessError::Io {
                op: "sentinel",
                name: record.name.clone(),
                source,
            })?;
        Ok(Sentinel(fd))
    }

    /// Releases the handle's resources. Idempotent; afterwards every other method fails with
    /// [`ProcessError::Closed`].
    ///
    /// # Errors
    ///
    /// [`ProcessError::StillRunning`] while the process runs.
    pub fn close(&mut self) -> Result<(), ProcessError> {
        if let State::Started(record) = &self.state {
            if record.try_reap().is_none() {
                return Err(ProcessError::StillRunning);
            }
        }
        self.state = State::Closed;
        self.launch = None;
        Ok(())
    }

    /// Waits for the process to end and returns what its target returned (the `Ok` value for a
    /// target returning `Result`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Failed`] when it returned an error, panicked (the failure carries the
    /// message and location), or died without reporting (killed, aborted);
    /// [`ProcessError::WrongResultType`] when the value is not a `T`.
    pub fn result<T: DeserializeOwned>(&mut self) -> Result<T, ProcessError> {
        self.result_within(None)
    }

    /// [`result`](Self::result), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`result`](Self::result), and [`ProcessError::Timeout`] when it is still running.
    pub fn result_timeout<T: DeserializeOwned>(
        &mut self,
        timeout: Duration,
    ) -> Result<T, ProcessError> {
        self.result_within(Some(timeout))
    }

    fn result_within<T: DeserializeOwned>(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<T, ProcessError> {
        let record = self.record()?.clone();
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        if !record.drain_link_here(deadline) || !record.wait_finished(deadline) {
            return Err(ProcessError::Timeout {
                name: record.name.clone(),
                pid: record.pid,
            });
        }
        outcome_value(&record)
    }

    /// Async twin of [`result`](Self::result). Cancel safe: bound it with
    /// `tokio::time::timeout`.
    ///
    /// # Errors
    ///
    /// As [`result`](Self::result).
    pub async fn result_async<T: DeserializeOwned>(&mut self) -> Result<T, ProcessError> {
        let record = self.record()?.clone();
        record.wait_finished_async().await;
        outcome_value(&record)
    }
}

fn outcome_value<T: DeserializeOwned>(record: &ChildRecord) -> Result<T, ProcessError> {
    let state = record.lock();
    let reason = state.exit.expect("finished records have an exit status");
    let failed = |failure: Option<Failure>| ProcessError::Failed {
        name: record.name.clone(),
        pid: record.pid,
        reason,
        failure,
    };
    let Some(outcome) = &state.outcome else {
        // Ended without reporting (it called `exit` itself, say): success only for code 0 and a
        // target with nothing to return.
        return if reason.success() {
            Payload::encode(&())
                .and_then(|unit| unit.decode::<T>())
                .map_err(|_| failed(None))
        } else {
            Err(failed(None))
        };
    };

    if let Some(failure) = &outcome.failure {
        return Err(failed(Some(failure.clone())));
    }
    if !reason.success() {
        return Err(failed(None));
    }
    let decoded = match &outcome.value {
        Some(value) => value.decode::<T>(),
        None => Payload::encode(&()).and_then(|unit| unit.decode::<T>()),
    };
    decoded.map_err(|e| ProcessError::WrongResultType {
        name: record.name.clone(),
        expected: std::any::type_name::<T>(),
        message: e.to_string(),
    })
}

impl fmt::Debug for Process {
    /// Python's repr: `<Process name='Process-1' pid=1234 parent=1200 stopped exitcode=0>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parent = std::process::id();
        match &self.state {
            State::Initial => write!(
                f,
                "<Process name='{}' parent={parent} initial>",
                self.name()
            ),
            State::Closed => write!(f, "<Process name='{}' closed>", self.name()),
            State::Started(record) => {
                let daemon = if record.daemon { " daemon" } else { "" };
                match record.try_reap() {
                    None => write!(
                        f,
                        "<Process name='{}' pid={} parent={parent} started{daemon}>",
                        record.name, record.pid
                    ),
                    Some(ExitReason::Signal(s)) => {
                        let name = nix::sys::signal::Signal::try_from(s)
                            .map(|s| s.as_str())
                            .unwrap_or("?");
                        write!(
                            f,
                            "<Process name='{}' pid={} parent={parent} stopped exitcode=-{name}{daemon}>",
                            record.name, record.pid
                        )
                    }
                    Some(reason) => write!(
                        f,
                        "<Process name='{}' pid={} parent={parent} stopped exitcode={}{daemon}>",
                        record.name,
                        record.pid,
                        reason.exitcode()
                    ),
                }
            }
        }
    }
}

/// What a closure target may return: `()`, `Result<T, E>` (with `T: Serialize` and
/// `E: Display`) or [`ExitCode`](crate::ExitCode).
pub trait ProcessReturn {
    #[doc(hidden)]
    fn into_outcome(self) -> ChildOutcome;
}

impl ProcessReturn for () {
    fn into_outcome(self) -> ChildOutcome {
        ChildOutcome::code(0)
    }
}

impl ProcessReturn for crate::ExitCode {
    fn into_outcome(self) -> ChildOutcome {
        ChildOutcome::code(self.0)
    }
}

impl<T: Serialize, E: fmt::Display> ProcessReturn for Result<T, E> {
    fn into_outcome(self) -> ChildOutcome {
        match self {
            Ok(value) => match Payload::encode(&value) {
                Ok(payload) => ChildOutcome::value(payload),
                Err(e) => {
                    ChildOutcome::failed(Failure::new(FailureKind::Codec, e.to_string(), None))
                }
            },
            Err(error) => {
                ChildOutcome::failed(Failure::new(FailureKind::Error, error.to_string(), None))
            }
        }
    }
}
