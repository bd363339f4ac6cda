//! `Manager`: starts (or connects to) a manager, creates objects there, shuts it down.

use crate::client::{Endpoint, decode, encode, encode_all, unexpected};
use crate::error::ManagerError;
use crate::protocol::{Create, Request, Response};
use crate::proxy::handle::Handle;
use crate::proxy::{
    ActorProxy, ArrayProxy, BarrierProxy, ConditionProxy, DictProxy, EventProxy, ListProxy,
    LockProxy, NamespaceProxy, PoolProxy, QueueProxy, SemaphoreProxy, SetProxy, ValueProxy,
};
use procvisor_runtime::__private::pool_support;
use procvisor_runtime::{Actor, ChildSpec, Context, ExitReason, Process, Target};
use procvisor_wire::{Address, Connection, Payload};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long a new manager process may take to start listening.
const START_LIMIT: Duration = Duration::from_secs(30);

/// A manager: Python's `Manager()` / `SyncManager`. It owns a manager process (started by
/// [`start`](Self::start) or [`builder`](Self::builder)) or reaches one that runs elsewhere
/// ([`connect`](Self::connect)). Objects made through it live in the manager process and are
/// used through proxies, from any process that has the proxy (proxies are serde values) and
/// the authkey.
///
/// Dropping a manager that owns its process shuts the process down, like leaving Python's
/// `with Manager() as manager:`.
///
/// ```
/// use procvisor_manager::Manager;
///
/// # fn main() -> Result<(), procvisor_manager::ManagerError> {
/// let manager = Manager::start()?;
/// let d = manager.dict::<i32, String>()?;
/// d.set(1, "one".into())?;
/// assert_eq!(d.items()?, vec![(1, "one".to_string())]);
/// manager.shutdown()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Manager {
    endpoint: Endpoint,
    process: Option<Process>,
}

/// Options for a manager process: its address, authkey, start method, and how long its
/// clients bear its silence.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `start` is called"]
pub struct ManagerBuilder {
    address: Option<Address>,
    authkey: Option<Vec<u8>>,
    context: Option<Context>,
    liveness: Duration,
    setup: Option<String>,
    /// The registered initializer's name and encoded arguments, or why they are unusable.
    initializer: Option<CheckedInitializer>,
}

/// An initializer, or its short name and why it cannot run.
pub(crate) type CheckedInitializer = Result<Initializer, (String, String)>;

/// A registered function and its encoded arguments, run in the manager process at its start.
pub(crate) type Initializer = (String, Payload);

impl Default for ManagerBuilder {
    fn default() -> ManagerBuilder {
        ManagerBuilder {
            address: None,
            authkey: None,
            context: None,
            liveness: crate::client::DEFAULT_LIVENESS,
            setup: None,
            initializer: None,
        }
    }
}

impl ManagerBuilder {
    /// Listens on `address`: a TCP address (port 0 picks one) for clients on other machines,
    /// or a Unix socket path. Default: a fresh private Unix socket.
    pub fn address(mut self, address: impl Into<Address>) -> Self {
        self.address = Some(address.into());
        self
    }

    /// The key clients must prove they hold. Default: this process's authkey, which its
    /// children inherit (Python's default).
    pub fn authkey(mut self, key: impl AsRef<[u8]>) -> Self {
        self.authkey = Some(key.as_ref().to_vec());
        self
    }

    /// How long a call through this manager's proxies waits without a word from the manager
    /// before it fails with [`ManagerError::Unreachable`] (default 30 s): connecting, sending,
    /// or waiting for the answer. A call that waits in the manager (for a lock, a queue item,
    /// a notification) hears from it every second, so it waits as long as it must; a manager
    /// that is stopped (`SIGSTOP`), hung, or cut off by the network falls silent. Proxies carry
    /// the bound to whichever process uses them. At least 2 s.
    pub fn liveness_timeout(mut self, timeout: Duration) -> Self {
        self.liveness = timeout.max(Duration::from_secs(2));
        self
    }

    /// Starts the manager process with this context's method (default: the process-wide
    /// one).
    pub fn context(mut self, context: Context) -> Self {
        self.context = Some(context);
        self
    }

    /// A registered function the manager process runs once, with `args`, before it serves
    /// anyone: Python's `manager.start(initializer, initargs)`. Set up what the process needs
    /// (a logger, a signal disposition, an environment variable, a global of its own).
    ///
    /// If it fails (returns `Err`, panics, or ends the process), [`start`](Self::start) fails
    /// with [`ManagerError::Initializer`], naming it and saying why, and no manager runs. One
    /// that never returns makes `start` give up after 30 s. A supervised manager runs it at
    /// each restart.
    ///
    /// ```
    /// use procvisor_manager::{Manager, ManagerError};
    /// use procvisor_runtime::register;
    ///
    /// fn refuse(reason: String) -> Result<(), String> {
    ///     Err(reason)
    /// }
    /// fn announce(name: String) {
    ///     eprintln!("manager {name} starting in process {}", std::process::id());
    /// }
    /// register!(refuse, announce);
    ///
    /// # fn main() -> Result<(), ManagerError> {
    /// let manager = Manager::builder().initializer(announce, ("main".to_string(),)).start()?;
    /// manager.shutdown()?;
    ///
    /// let failed = Manager::builder().initializer(refuse, ("no disk".to_string(),)).start();
    /// assert!(matches!(
    ///     failed,
    ///     Err(ManagerError::Initializer { reason, .. }) if reason.contains("no disk")
    /// ));
    /// # Ok(())
    /// # }
    /// ```
    pub fn initializer<F, A>(mut self, initializer: F, args: A) -> Self
    where
        F: Target<A>,
        A: Serialize,
    {
        drop(initializer);
        let name = pool_support::target_name::<F>();
        let short = pool_support::short_name(name);
        let checked = if pool_support::registration(name).is_none() {
            let reason =
                format!("it is not registered: add procvisor::register!({short}) next to it");
            Err((short, reason))
        } else {
            Payload::encode(&args)
                .map(|args| (name.to_string(), args))
                .map_err(|e| (short, format!("cannot encode its arguments: {e}")))
        };
        self.initializer = Some(checked);
        self
    }

    /// A registered function (`fn(Manager) -> Result<(), ManagerError>`, say) that a
    /// supervised manager runs each time it starts, before anyone else reaches it: create the
    /// objects, [`publish`](Manager::publish) them under names. After a restart, clients that
    /// look them up again reach the new manager's objects. Only for
    /// [`child_spec`](Self::child_spec): [`start`](Self::start) refuses it.
    pub fn setup<F>(mut self, setup: F) -> Self
    where
        F: Target<(Manager,)>,
    {
        drop(setup);
        self.setup = Some(pool_support::target_name::<F>().to_string());
        self
    }

    /// A supervisor's child that runs this manager, under `id`: started with the supervisor
    /// (or by [`start_child`](procvisor_runtime::SupervisorRef::start_child)), its manager
    /// process watched. When that process dies, the child ends as crashed, and its restart
    /// (by the supervisor's strategy and intensity) starts a new manager **at the same
    /// address** (the builder's, or one chosen at the first start) and runs the
    /// [`setup`](Self::setup) function again. [`Manager::supervised`] reaches the current
    /// manager by `id`, from any process of the program.
    ///
    /// ```
    /// use procvisor_manager::{Manager, ManagerError};
    /// use procvisor_runtime::{Supervisor, register};
    ///
    /// fn setup(manager: Manager) -> Result<(), ManagerError> {
    ///     let scores = manager.dict::<String, u32>()?;
    ///     manager.publish("scores", &scores)
    /// }
    /// register!(setup);
    ///
    /// let supervisor = Supervisor::builder("state")
    ///     .child(Manager::builder().setup(setup).child_spec("shared"))
    ///     .start()?;
    /// let manager = Manager::supervised("shared")?;
    /// let scores: procvisor_manager::DictProxy<String, u32> =
    ///     manager.lookup("scores")?.expect("published by the setup");
    /// scores.set("ada".into(), 3)?;
    /// assert_eq!(scores.get(&"ada".to_string())?, Some(3));
    /// supervisor.shutdown()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// Proxies to the objects of a manager that died fail (the manager is unreachable, or
    /// the new one holds no such object: `ReferenceError`); they never hang.
    pub fn child_spec(self, id: &str) -> ChildSpec {
        crate::supervised::child_spec(
            id,
            crate::supervised::ManagerPlan {
                address: self.address,
                authkey: self.authkey,
                start_method: self.context.map(|c| c.start_method()),
                liveness: self.liveness,
                setup: self.setup,
                initializer: self.initializer,
            },
        )
    }

    /// The initializer a supervised manager's plan carries.
    pub(crate) fn checked_initializer(mut self, initializer: Option<CheckedInitializer>) -> Self {
        self.initializer = initializer;
        self
    }

    /// Starts the manager process and waits until it listens.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Start`] when the process cannot start or cannot listen there (the
    /// address is taken, say).
    pub fn start(self) -> Result<Manager, ManagerError> {
        if self.setup.is_some() {
            return Err(ManagerError::Start(
                "a setup function runs only for a supervised manager (child_spec)".into(),
            ));
        }
        self.start_serving(None)
    }

    /// Starts the manager process; with `segments`, one that tracks and unlinks the
    /// shared-memory segments it makes (a [`SharedMemoryManager`](crate::SharedMemoryManager)).
    pub(crate) fn start_serving(
        self,
        segments: Option<crate::server::SegmentPlan>,
    ) -> Result<Manager, ManagerError> {
        let initializer = self
            .initializer
            .transpose()
            .map_err(|(name, reason)| ManagerError::Initializer { name, reason })?;
        let authkey = self
            .authkey
            .unwrap_or_else(|| procvisor_runtime::current_process().authkey().to_vec());
        let (mut parent_end, child_end) =
            procvisor_wire::pipe(true).map_err(|e| ManagerError::Start(e.to_string()))?;
        // A default address is made here, in this process's private directory: the manager
        // process then leaves nothing of its own behind, however it ends.
        let address = match self.address {
            Some(address) => address,
            None => Address::arbitrary().map_err(|e| ManagerError::Start(e.to_string()))?,
        };
        let initializer_name = initializer.as_ref().map(|(name, _)| name.clone());
        let plan = ServePlan {
            address: Some(address),
            authkey: authkey.clone(),
            initializer,
            segments,
        };
        // Terminated when this process exits, as a daemon is, yet free to start children of
        // its own (a served pool's workers).
        let process = Process::new(serve, (plan, child_end))
            .map_err(|e| ManagerError::Start(e.to_string()))?
            .with_name("Manager");
        let mut process = pool_support::terminate_at_exit(process);
        if let Some(context) = self.context {
            process = process.with_context(context);
        }
        process
            .start()
            .map_err(|e| ManagerError::Start(e.to_string()))?;
        let mut ended_silently = false;
        let ready = match parent_end.poll_timeout(START_LIMIT) {
            Ok(true) => parent_end
                .recv::<Result<Address, StartFailure>>()
                .map_err(|e| {
                    ended_silently = true;
                    StartFailure::Start(format!("it ended before listening ({e})"))
                }),
            Ok(false) => Err(StartFailure::Start(format!(
                "it did not listen within {START_LIMIT:?}"
            ))),
            Err(e) => Err(StartFailure::Start(e.to_string())),
        };
        let failure = match ready {
            Ok(Ok(address)) => {
                return Ok(Manager {
                    endpoint: Endpoint {
                        address,
                        authkey,
                        liveness: self.liveness,
                    },
                    process: Some(process),
                });
            }
            Ok(Err(failure)) | Err(failure) => failure,
        };
        // One that ended by itself is waited for first, so that its own exit status is read.
        if !ended_silently || process.join_timeout(Duration::from_secs(5)).is_err() {
            let _ = process.kill();
            let _ = process.join_timeout(Duration::from_secs(5));
        }
        Err(match failure {
            // Nothing but the initializer runs before the process reports: it ended the
            // process (`exit`, an abort, a signal).
            StartFailure::Start(_) if ended_silently && initializer_name.is_some() => {
                let how = process
                    .exit_reason()
                    .map_or_else(|| "ended".to_string(), |r| format!("ended ({r})"));
                ManagerError::Initializer {
                    name: pool_support::short_name(&initializer_name.unwrap_or_default()),
                    reason: format!("the manager process {how} while it ran"),
                }
            }
            StartFailure::Start(reason) => ManagerError::Start(reason),
            StartFailure::Initializer { name, reason } => ManagerError::Initializer {
                name: pool_support::short_name(&name),
                reason,
            },
        })
    }

    /// Connects to a manager that runs elsewhere, at the builder's address with its authkey
    /// and liveness bound (the start method does not apply): [`Manager::connect`] with options.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Start`] without an address; otherwise as [`Manager::connect`].
    pub fn connect(self) -> Result<Manager, ManagerError> {
        let address = self
            .address
            .ok_or_else(|| ManagerError::Start("connecting needs the manager's address".into()))?;
        let authkey = self
            .authkey
            .unwrap_or_else(|| procvisor_runtime::current_process().authkey().to_vec());
        Manager::connect_endpoint(Endpoint {
            address,
            authkey,
            liveness: self.liveness,
        })
    }
}

/// What a manager process is to do: where to listen, for whom, what to run first.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ServePlan {
    pub(crate) address: Option<Address>,
    pub(crate) authkey: Vec<u8>,
    pub(crate) initializer: Option<Initializer>,
    /// A shared-memory manager's: it unlinks the segments it makes when it stops.
    pub(crate) segments: Option<crate::server::SegmentPlan>,
}

/// Why a manager process did not start listening, as it tells its starter.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum StartFailure {
    Start(String),
    Initializer { name: String, reason: String },
}

fn serve(plan: ServePlan, ready: Connection) -> Result<(), String> {
    crate::server::manager_process(plan, ready)
}
procvisor_runtime::register!(serve);

impl Manager {
    /// Starts a manager process with the defaults: Python's `Manager()`.
    ///
    /// # Errors
    ///
    /// As [`ManagerBuilder::start`].
    pub fn start() -> Result<Manager, ManagerError> {
        Manager::builder().start()
    }

    /// A builder for a manager process with options (address, authkey, start method).
    pub fn builder() -> ManagerBuilder {
        ManagerBuilder::default()
    }

    /// Connects to a manager that runs elsewhere (another program, another machine):
    /// Python's `BaseManager(address, authkey).connect()`. Checks the key at once.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Authentication`] for a wrong key; [`ManagerError::Unreachable`] when
    /// nothing listens there.
    pub fn connect(
        address: impl Into<Address>,
        authkey: impl AsRef<[u8]>,
    ) -> Result<Manager, ManagerError> {
        Manager::connect_endpoint(Endpoint {
            address: address.into(),
            authkey: authkey.as_ref().to_vec(),
            liveness: crate::client::DEFAULT_LIVENESS,
        })
    }

    fn connect_endpoint(endpoint: Endpoint) -> Result<Manager, ManagerError> {
        drop(endpoint.connect()?);
        Ok(Manager {
            endpoint,
            process: None,
        })
    }

    /// This handle, with calls through it (and through proxies made from it from now on)
    /// bearing the manager's silence for at most `timeout` (see
    /// [`ManagerBuilder::liveness_timeout`]).
    pub fn with_liveness_timeout(mut self, timeout: Duration) -> Manager {
        self.endpoint.liveness = timeout.max(Duration::from_secs(2));
        self
    }

    /// The address the manager listens on.
    pub fn address(&self) -> &Address {
        &self.endpoint.address
    }

    /// The key clients must hold.
    pub fn authkey(&self) -> &[u8] {
        &self.endpoint.authkey
    }

    /// The manager a supervisor runs under the child id `id` (see
    /// [`ManagerBuilder::child_spec`]): a connected handle, which does not own the manager.
    /// From the supervisor's process, or from any other process of the program (the child's
    /// service is asked where its manager listens).
    ///
    /// # Errors
    ///
    /// [`ManagerError::NotSupervised`] when no manager runs under `id` now.
    pub fn supervised(id: &str) -> Result<Manager, ManagerError> {
        Manager::supervised_timeout(id, Duration::ZERO)
    }

    /// [`supervised`](Self::supervised), waiting up to `timeout` for the manager to be there
    /// (a restart in progress).
    ///
    /// # Errors
    ///
    /// As [`supervised`](Self::supervised).
    pub fn supervised_timeout(id: &str, timeout: Duration) -> Result<Manager, ManagerError> {
        crate::supervised::find(id, timeout).map(|endpoint| Manager {
            endpoint,
            process: None,
        })
    }

    /// How many objects the manager holds and how many connections it serves now (this
    /// call's among them): Python's `_number_of_objects()`, and more.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Unreachable`] when the manager has gone.
    pub fn stats(&self) -> Result<ManagerStats, ManagerError> {
        match self.endpoint.call(&Request::Stats)? {
            Response::Stats {
                objects,
                connections,
            } => Ok(ManagerStats {
                objects,
                connections,
            }),
            other => Err(unexpected(&other)),
        }
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// A handle to the same manager that does not own its process.
    pub(crate) fn connected(&self) -> Manager {
        Manager {
            endpoint: self.endpoint.clone(),
            process: None,
        }
    }

    /// The manager process's sentinel, for a watcher.
    pub(crate) fn sentinel(&self) -> Result<procvisor_runtime::Sentinel, ManagerError> {
        self.process
            .as_ref()
            .ok_or_else(|| ManagerError::Start("a connected manager has no process".into()))?
            .sentinel()
            .map_err(|e| ManagerError::Start(e.to_string()))
    }

    /// How the manager process ended, once it has (waiting a moment for its status).
    pub(crate) async fn ended(&mut self) -> Option<ExitReason> {
        let process = self.process.as_mut()?;
        // Async: the exit status is collected on the runtime this runs on.
        tokio::time::timeout(Duration::from_secs(5), process.join_async())
            .await
            .ok()?
            .ok()?;
        process.exit_reason()
    }

    /// The manager process's pid (`None` for a connected manager).
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(Process::pid)
    }

    /// Whether the manager process is running (`None` for a connected manager).
    pub fn is_alive(&self) -> Option<bool> {
        self.process.as_ref().map(Process::is_alive)
    }

    /// Waits until the manager process ends: Python's `manager.join()`. It ends when some
    /// client asks it to ([`shutdown`](Self::shutdown) on a handle from
    /// [`connect`](Self::connect), say) or when it is killed.
    ///
    /// # Errors
    ///
    /// [`ManagerError::NotStarted`] for a handle that did not start the manager (from
    /// [`connect`](Self::connect)): it has no process to wait for.
    pub fn join(&mut self) -> Result<(), ManagerError> {
        self.join_within(None)
    }

    /// [`join`](Self::join), for at most `timeout`: Python's `manager.join(timeout)`, which
    /// does not say whether the manager ended; this does.
    ///
    /// ```
    /// use procvisor_manager::{Manager, ManagerError};
    /// use std::time::Duration;
    ///
    /// # fn main() -> Result<(), ManagerError> {
    /// let mut manager = Manager::start()?;
    /// // Nobody asked it to stop: it still serves.
    /// assert_eq!(
    ///     manager.join_timeout(Duration::from_millis(50)),
    ///     Err(ManagerError::Timeout)
    /// );
    /// // A client stops it; its owner sees it end.
    /// Manager::connect(manager.address().clone(), manager.authkey())?.shutdown()?;
    /// manager.join_timeout(Duration::from_secs(30))?;
    /// assert_eq!(manager.is_alive(), Some(false));
    /// assert_eq!(manager.exitcode(), Some(0));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ManagerError::Timeout`] when it still runs after `timeout`; as [`join`](Self::join).
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<(), ManagerError> {
        self.join_within(Some(timeout))
    }

    fn join_within(&mut self, timeout: Option<Duration>) -> Result<(), ManagerError> {
        let process = self.owned_process()?;
        let joined = match timeout {
            Some(timeout) => process.join_timeout(timeout),
            None => process.join(),
        };
        joined.map_err(joined_error)
    }

    /// [`join`](Self::join), as a future. Cancel safe: bound it with `tokio::time::timeout`
    /// for [`join_timeout`](Self::join_timeout)'s meaning.
    ///
    /// # Errors
    ///
    /// As [`join`](Self::join).
    pub async fn join_async(&mut self) -> Result<(), ManagerError> {
        self.owned_process()?
            .join_async()
            .await
            .map_err(joined_error)
    }

    fn owned_process(&mut self) -> Result<&mut Process, ManagerError> {
        self.process.as_mut().ok_or_else(|| {
            ManagerError::NotStarted(
                "this handle did not start the manager (it connected to it): it has no process to join"
                    .into(),
            )
        })
    }

    /// The manager process's exit code once it has ended (`None` while it runs, and for a
    /// connected manager): 0 after a shutdown, minus the signal's number when a signal killed
    /// it, as Python's `exitcode`.
    pub fn exitcode(&self) -> Option<i32> {
        self.process.as_ref().and_then(Process::exitcode)
    }

    /// Stops the manager process; its objects go with it, and their proxies fail with
    /// [`ManagerError::Unreachable`] from then on. For a connected manager, asks the remote
    /// manager to stop.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Unreachable`] when it had already gone.
    pub fn shutdown(mut self) -> Result<(), ManagerError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), ManagerError> {
        let asked = self.endpoint.call(&Request::Shutdown).map(|_| ());
        crate::client::forget_idle(&self.endpoint.address);
        if let Some(mut process) = self.process.take() {
            if process.join_timeout(Duration::from_secs(2)).is_err() || process.is_alive() {
                let _ = process.kill();
                let _ = process.join_timeout(Duration::from_secs(5));
            }
        }
        asked
    }

    fn new_object(&self, create: Create) -> Result<Handle, ManagerError> {
        match self.endpoint.call(&Request::Create(create))? {
            Response::Created(id) => Ok(Handle {
                endpoint: self.endpoint.clone(),
                id,
            }),
            other => Err(unexpected(&other)),
        }
    }

    /// `manager.dict()`.
    pub fn dict<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned>(
        &self,
    ) -> Result<DictProxy<K, V>, ManagerError> {
        self.dict_from(std::iter::empty())
    }

    /// `manager.dict(pairs)`.
    pub fn dict_from<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned>(
        &self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<DictProxy<K, V>, ManagerError> {
        let pairs = pairs
            .into_iter()
            .map(|(k, v)| Ok((encode(&k)?, encode(&v)?)))
            .collect::<Result<_, ManagerError>>()?;
        Ok(DictProxy::from_handle(
            self.new_object(Create::Dict(pairs))?,
        ))
    }

    /// `manager.list()`.
    pub fn list<T: Serialize + DeserializeOwned>(&self) -> Result<ListProxy<T>, ManagerError> {
        self.list_from(std::iter::empty())
    }

    /// `manager.list(items)`.
    pub fn list_from<T: Serialize + DeserializeOwned>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ListProxy<T>, ManagerError> {
        let items = encode_all(items)?;
        Ok(ListProxy::from_handle(
            self.new_object(Create::List(items))?,
        ))
    }

    /// `manager.set()` (Python 3.14): an empty [`SetProxy`].
    pub fn set<T: Serialize + DeserializeOwned>(&self) -> Result<SetProxy<T>, ManagerError> {
        self.set_from(std::iter::empty())
    }

    /// `manager.set(elements)` (Python 3.14); repeated elements are kept once.
    pub fn set_from<T: Serialize + DeserializeOwned>(
        &self,
        elements: impl IntoIterator<Item = T>,
    ) -> Result<SetProxy<T>, ManagerError> {
        let elements = encode_all(elements)?;
        Ok(SetProxy::from_handle(
            self.new_object(Create::Set(elements))?,
        ))
    }

    /// `manager.Namespace()`.
    pub fn namespace(&self) -> Result<NamespaceProxy, ManagerError> {
        Ok(NamespaceProxy::from_handle(
            self.new_object(Create::Namespace)?,
        ))
    }

    /// `manager.Value(typecode, value)`.
    pub fn value<T: Serialize + DeserializeOwned>(
        &self,
        value: T,
    ) -> Result<ValueProxy<T>, ManagerError> {
        Ok(ValueProxy::from_handle(
            self.new_object(Create::Value(encode(&value)?))?,
        ))
    }

    /// `manager.Array(typecode, sequence)`.
    pub fn array<T: Serialize + DeserializeOwned>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ArrayProxy<T>, ManagerError> {
        let items = encode_all(items)?;
        Ok(ArrayProxy::from_handle(
            self.new_object(Create::Array(items))?,
        ))
    }

    /// `manager.Lock()`.
    pub fn lock(&self) -> Result<LockProxy, ManagerError> {
        Ok(LockProxy::from_handle(
            self.new_object(Create::Lock { reentrant: false })?,
        ))
    }

    /// `manager.RLock()`.
    pub fn rlock(&self) -> Result<LockProxy, ManagerError> {
        Ok(LockProxy::from_handle(
            self.new_object(Create::Lock { reentrant: true })?,
        ))
    }

    /// `manager.Semaphore(value)`.
    pub fn semaphore(&self, value: u64) -> Result<SemaphoreProxy, ManagerError> {
        Ok(SemaphoreProxy::from_handle(
            self.new_object(Create::Semaphore { value, bound: None })?,
        ))
    }

    /// `manager.BoundedSemaphore(value)`.
    pub fn bounded_semaphore(&self, value: u64) -> Result<SemaphoreProxy, ManagerError> {
        Ok(SemaphoreProxy::from_handle(self.new_object(
            Create::Semaphore {
                value,
                bound: Some(value),
            },
        )?))
    }

    /// `manager.Condition()`.
    pub fn condition(&self) -> Result<ConditionProxy, ManagerError> {
        Ok(ConditionProxy::from_handle(
            self.new_object(Create::Condition)?,
        ))
    }

    /// `manager.Event()`.
    pub fn event(&self) -> Result<EventProxy, ManagerError> {
        Ok(EventProxy::from_handle(self.new_object(Create::Event)?))
    }

    /// `manager.Barrier(parties)`.
    pub fn barrier(&self, parties: u64) -> Result<BarrierProxy, ManagerError> {
        if parties == 0 {
            return Err(ManagerError::Remote(
                "ValueError: a barrier needs at least one party".into(),
            ));
        }
        Ok(BarrierProxy::from_handle(
            self.new_object(Create::Barrier { parties })?,
        ))
    }

    /// `manager.Queue(maxsize)` (0: unbounded).
    pub fn queue<T: Serialize + DeserializeOwned>(
        &self,
        maxsize: usize,
    ) -> Result<QueueProxy<T>, ManagerError> {
        Ok(QueueProxy::from_handle(
            self.new_object(Create::Queue { maxsize })?,
        ))
    }

    /// `manager.JoinableQueue(maxsize)` (0: unbounded). As in Python, where both are
    /// `queue.Queue`s, it is the same as [`queue`](Self::queue).
    pub fn joinable_queue<T: Serialize + DeserializeOwned>(
        &self,
        maxsize: usize,
    ) -> Result<QueueProxy<T>, ManagerError> {
        Ok(QueueProxy::from_handle(
            self.new_object(Create::Queue { maxsize })?,
        ))
    }

    /// `manager.Pool(processes)`: a pool of `processes` worker processes run by the manager
    /// (children of the manager process), which every client of the manager can submit to
    /// through the [`PoolProxy`]. The functions it runs are registered in the binary, found by
    /// name in the manager. A shutdown of the manager terminates the pool first.
    ///
    /// ```
    /// use procvisor_manager::{Manager, ManagerError};
    ///
    /// fn cube(x: i64) -> i64 {
    ///     x * x * x
    /// }
    /// procvisor_runtime::register!(cube);
    ///
    /// let manager = Manager::start()?;
    /// let pool = manager.pool(2)?;
    /// assert_eq!(pool.map(cube, [1, 2, 3])?, vec![1, 8, 27]);
    /// // Any client of the manager reaches the same pool.
    /// let client = Manager::connect(manager.address().clone(), manager.authkey())?;
    /// manager.publish("cubes", &pool)?;
    /// let same: procvisor_manager::PoolProxy = client.lookup("cubes")?.expect("published");
    /// assert_eq!(same.apply(cube, (4,))?, 64);
    /// # Ok::<(), ManagerError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ManagerError::Remote`] with `ValueError: ...` for zero processes, `PoolError: ...`
    /// when the manager cannot start the workers; [`ManagerError::Unreachable`].
    pub fn pool(&self, processes: usize) -> Result<PoolProxy, ManagerError> {
        Ok(PoolProxy::new(
            self.new_object(Create::Pool { processes })?,
            processes,
        ))
    }

    /// Starts an actor of type `A` (registered with
    /// [`register_actor!`](procvisor_runtime::register_actor)) in the manager process, from
    /// `args`: a proxy any client of the manager can call (see [`ActorProxy`]).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Remote`] when the type is not registered in the manager's binary or
    /// its `start` fails; [`ManagerError::Unreachable`].
    pub fn spawn<A: Actor>(&self, args: A::Args) -> Result<ActorProxy<A>, ManagerError> {
        self.spawn_actor(None, args)
    }

    /// [`spawn`](Self::spawn), registering the actor under `name` in the program that started
    /// the manager ([`RemoteRef::named`](procvisor_runtime::RemoteRef::named) reaches it there),
    /// and publishing its proxy under the same name in the manager ([`lookup`](Self::lookup)
    /// finds it, from any client).
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn), and `ActorError: ... name ...` when the name is taken.
    pub fn spawn_named<A: Actor>(
        &self,
        name: &str,
        args: A::Args,
    ) -> Result<ActorProxy<A>, ManagerError> {
        let proxy = self.spawn_actor(Some(name.to_string()), args)?;
        self.publish(name, &proxy)?;
        Ok(proxy)
    }

    fn spawn_actor<A: Actor>(
        &self,
        name: Option<String>,
        args: A::Args,
    ) -> Result<ActorProxy<A>, ManagerError> {
        let args = procvisor_wire::Payload::encode(&args)
            .map_err(|e| ManagerError::Codec(format!("cannot encode the start arguments: {e}")))?;
        match self.endpoint.call(&Request::SpawnActor {
            actor: std::any::type_name::<A>().to_string(),
            args,
            name,
        })? {
            Response::Actor { path, id } => Ok(ActorProxy::new(self.endpoint.clone(), path, id)),
            other => Err(unexpected(&other)),
        }
    }

    /// Keeps `proxy` in the manager under `name`, for clients that only know the manager's
    /// address (Python registers a callable returning a shared object for this).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Unreachable`] when the manager has gone.
    pub fn publish<P: Serialize>(&self, name: &str, proxy: &P) -> Result<(), ManagerError> {
        self.endpoint
            .call(&Request::Publish {
                name: name.to_string(),
                proxy: encode(proxy)?,
            })
            .map(|_| ())
    }

    /// The proxy published under `name`, if any. The proxy is given this manager's address
    /// as this client reaches it.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Codec`] when what was published is not a proxy. Proxies carry no
    /// type on the wire: looking one up as another proxy type gives that type's errors on
    /// its first call.
    pub fn lookup<P: DeserializeOwned>(&self, name: &str) -> Result<Option<P>, ManagerError> {
        match self.endpoint.call(&Request::Lookup {
            name: name.to_string(),
        })? {
            Response::MaybeBytes(Some(bytes)) => {
                // A proxy starts with its endpoint: put this client's view of the manager in
                // (the publisher may have reached it by another address).
                let (_, used) = procvisor_wire::codec::decode_prefix::<Endpoint>(&bytes)
                    .map_err(|e| ManagerError::Codec(format!("not a proxy: {e}")))?;
                let mut patched = encode(&self.endpoint)?;
                patched.extend_from_slice(&bytes[used..]);
                decode(&patched).map(Some)
            }
            Response::MaybeBytes(None) => Ok(None),
            other => Err(unexpected(&other)),
        }
    }
}

fn joined_error(e: procvisor_runtime::ProcessError) -> ManagerError {
    match e {
        procvisor_runtime::ProcessError::Timeout { .. } => ManagerError::Timeout,
        other => ManagerError::NotStarted(other.to_string()),
    }
}

/// What [`Manager::stats`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManagerStats {
    /// The objects the manager holds.
    pub objects: u64,
    /// The connections it serves now.
    pub connections: u64,
}

/// A manager travels to other processes (as a process's argument, to a supervised manager's
/// setup function) as where it is and its key: the copy is a connected handle, which does not
/// own the manager process.
impl Serialize for Manager {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.endpoint.serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Manager {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Manager, D::Error> {
        Ok(Manager {
            endpoint: Endpoint::deserialize(deserializer)?,
            process: None,
        })
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        if self.process.is_some() {
            let _ = self.stop();
        }
    }
}
