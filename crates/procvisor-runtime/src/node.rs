//! The node: one per OS process. It owns the process's identity, its tokio runtime and root
//! supervisor actor (both created on first use), its children and its link to its parent.
//!
//! The node is a leaked `'static` value behind an atomic pointer rather than a lazily
//! initialised static, because a forked child must replace it: the child inherits the parent's
//! memory but none of its threads, so it must never touch the parent's runtime or actors. A
//! pointer swap (no lock) is safe at that moment; a lock another thread held during the fork
//! would stay locked forever in the child.

use crate::child_record::{ChildRecord, Children};
use crate::context::StartMethod;
use crate::identity::Identity;
use crate::link::ToParent;
use crate::root_supervisor::{RootMessage, RootSupervisor};
use procvisor_wire::Connection;
use ractor::ActorRef;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// The environment variable that marks a spawned child (its value is the link descriptor).
pub(crate) const CHILD_ENV: &str = "PROCVISOR_CHILD_LINK";
/// The environment variable that marks a fork server (its values are its descriptors).
pub(crate) const FORKSERVER_ENV: &str = "PROCVISOR_FORKSERVER";

static NODE: AtomicPtr<Node> = AtomicPtr::new(std::ptr::null_mut());

/// How long after its start a child's process actor takes over (see [`Node::watch`]).
pub(crate) const WATCH_GRACE: std::time::Duration = std::time::Duration::from_millis(10);

pub(crate) struct Node {
    identity: Mutex<Identity>,
    pid: u32,
    /// How this process was started (`None` for the main process).
    pub(crate) started_by: Option<StartMethod>,
    child_counter: AtomicU32,
    pub(crate) children: Children,
    runtime: OnceLock<tokio::runtime::Runtime>,
    root: OnceLock<ActorRef<RootMessage>>,
    actors: OnceLock<Arc<crate::actor::ActorNet>>,
    /// Children waiting for their process actors (see [`watch`](Self::watch)).
    pending_watch: Mutex<Vec<Arc<ChildRecord>>>,
    watch_scheduled: std::sync::atomic::AtomicBool,
    /// Descriptors a forked child must close: this node's ends of other links, the fork
    /// server's channels. Only ever `try_lock`ed in a forked child.
    fork_close: Mutex<Vec<RawFd>>,
    pub(crate) forkserver: Mutex<Option<Arc<crate::forkserver::ForkserverClient>>>,
    launcher: crate::start::Launcher,
    /// The link to the parent (child nodes only), for log records and the outcome.
    parent_link: Option<Mutex<Connection>>,
    /// The most verbose level the parent displays (child nodes only), as a `LevelFilter` index.
    pub(crate) parent_log_level: u8,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("pid", &self.pid)
            .field("children", &self.children.all().len())
            .finish_non_exhaustive()
    }
}

impl Node {
    fn new(
        identity: Identity,
        started_by: Option<StartMethod>,
        parent_link: Option<Connection>,
        parent_log_level: u8,
    ) -> Node {
        Node {
            identity: Mutex::new(identity),
            pid: std::process::id(),
            started_by,
            child_counter: AtomicU32::new(0),
            children: Children::default(),
            runtime: OnceLock::new(),
            root: OnceLock::new(),
            actors: OnceLock::new(),
            pending_watch: Mutex::new(Vec::new()),
            watch_scheduled: std::sync::atomic::AtomicBool::new(false),
            fork_close: Mutex::new(Vec::new()),
            forkserver: Mutex::new(None),
            launcher: crate::start::Launcher::default(),
            parent_link: parent_link.map(Mutex::new),
            parent_log_level,
        }
    }

    /// This process's pid (read once: a forked child has a node of its own).
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    pub(crate) fn identity(&self) -> Identity {
        self.identity
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The identity of this node's next child, and whether this node is daemonic.
    pub(crate) fn child_identity(
        &self,
        number: u32,
        name: Option<String>,
        daemon: Option<bool>,
    ) -> (Identity, bool) {
        let me = self.identity.lock().unwrap_or_else(|p| p.into_inner());
        let daemon = daemon.unwrap_or(me.daemon);
        (me.child(number, name, daemon), me.daemon)
    }

    /// The number of the next child (Python counts from 1 per process).
    pub(crate) fn next_child_number(&self) -> u32 {
        self.child_counter.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The node's tokio runtime, created on first use: two workers in the main process, one in
    /// a child.
    pub(crate) fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.get_or_init(|| {
            let workers = if self.started_by.is_some() { 1 } else { 2 };
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .thread_name("procvisor-node")
                .enable_all()
                .build()
                .expect("cannot start the node's tokio runtime")
        })
    }

    /// The root supervisor actor, started on first use.
    pub(crate) fn root(&self) -> ActorRef<RootMessage> {
        self.root
            .get_or_init(|| {
                let handle = self.runtime().handle().clone();
                // Spawn from a helper thread: this may be called from inside another runtime,
                // where blocking on ours directly is not allowed.
                std::thread::scope(|s| {
                    s.spawn(|| handle.block_on(ractor::Actor::spawn(None, RootSupervisor, ())))
                        .join()
                        .expect("root supervisor spawn thread")
                })
                .expect("cannot start the root supervisor")
                .0
            })
            .clone()
    }

    /// This node's part of the actor net, made on first use.
    pub(crate) fn actor_net(&self) -> Arc<crate::actor::ActorNet> {
        self.actors
            .get_or_init(|| Arc::new(crate::actor::ActorNet::new(self.identity().ident)))
            .clone()
    }

    /// This node's part of the actor net, if anything has used it.
    pub(crate) fn actor_net_if_started(&self) -> Option<Arc<crate::actor::ActorNet>> {
        self.actors.get().cloned()
    }

    /// Where children are started from (see [`Launcher`](crate::start::Launcher)).
    pub(crate) fn launcher(&self) -> &crate::start::Launcher {
        &self.launcher
    }

    /// Puts a new child under a process actor, after [`WATCH_GRACE`], in batches.
    ///
    /// Waking the runtime's threads while a child lives is what makes starting a short-lived
    /// child expensive (on a small or virtual machine each wakeup of an idle CPU costs tens of
    /// microseconds, and every page the parent writes during a fork child's life is a
    /// copy-on-write fault). So a child's watching starts a little later, for all the children
    /// started meanwhile at once; `join` and `result` never wait for it (they reap from the pidfd
    /// and read the link themselves). A child that still runs then gets its actor, at most a
    /// few milliseconds late; one that has ended by then has its end recorded at once, with no
    /// actor (see [`start_process_actors`](crate::start::start_process_actors)).
    pub(crate) fn watch(&'static self, record: Arc<ChildRecord>) {
        // Outside the runtime, so that creating the root supervisor may block.
        let _ = self.root();
        self.pending_watch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(record);
        if !self.watch_scheduled.swap(true, Ordering::AcqRel) {
            self.runtime().spawn(async move {
                tokio::time::sleep(WATCH_GRACE).await;
                self.watch_scheduled.store(false, Ordering::Release);
                let records = std::mem::take(
                    &mut *self.pending_watch.lock().unwrap_or_else(|p| p.into_inner()),
                );
                crate::start::start_process_actors(records).await;
            });
        }
    }

    /// Puts the children waiting for [`WATCH_GRACE`] under their process actors now: someone
    /// waits on one of them (a supervisor, say), and its end must be heard at once even if it
    /// comes in its first milliseconds.
    pub(crate) fn watch_now(&'static self) {
        let records =
            std::mem::take(&mut *self.pending_watch.lock().unwrap_or_else(|p| p.into_inner()));
        if !records.is_empty() {
            self.runtime()
                .spawn(crate::start::start_process_actors(records));
        }
    }

    /// Remembers a descriptor that forked children must close.
    pub(crate) fn close_in_fork_children(&self, fd: RawFd) {
        self.fork_close
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(fd);
    }

    pub(crate) fn forget_fork_close(&self, fd: RawFd) {
        self.fork_close
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|&f| f != fd);
    }

    /// In a freshly forked child: close what belongs to the parent. Never blocks.
    pub(crate) fn close_parent_descriptors_after_fork(&self) {
        if let Ok(fds) = self.fork_close.try_lock() {
            for &fd in fds.iter() {
                // SAFETY: these descriptors belong to the parent's objects, which this forked
                // child never uses or drops; closing the child's copies cannot double-close.
                unsafe { libc::close(fd) };
            }
        }
    }

    /// Sends an envelope to the parent (child nodes only). Errors mean the parent is gone.
    pub(crate) fn send_to_parent(&self, envelope: &ToParent) -> bool {
        match &self.parent_link {
            Some(link) => link
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .send(envelope)
                .is_ok(),
            None => false,
        }
    }
}

/// This process's node, created as the main process's node on first use.
pub(crate) fn node() -> &'static Node {
    let current = NODE.load(Ordering::Acquire);
    if !current.is_null() {
        // SAFETY: a non-null NODE always comes from Box::into_raw and is never freed.
        return unsafe { &*current };
    }
    if std::env::var_os(CHILD_ENV).is_some() {
        // The bootstrap constructor should have diverted this child before main. Running main
        // here would run the parent's program again in every child.
        eprintln!(
            "procvisor: this process was started as a child but was not diverted to its target \
             before main (the procvisor-runtime bootstrap was not linked); exiting"
        );
        std::process::exit(70);
    }
    let fresh = Box::into_raw(Box::new(Node::new(
        Identity::main(),
        None,
        None,
        crate::logging::current_level(),
    )));
    match NODE.compare_exchange(
        std::ptr::null_mut(),
        fresh,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => {
            crate::sys::raise_fd_limit();
            crate::exit::register_exit_handler();
            // SAFETY: just installed; never freed.
            unsafe { &*fresh }
        }
        Err(existing) => {
            // SAFETY: `fresh` was never shared; reclaim it. `existing` is leaked and permanent.
            drop(unsafe { Box::from_raw(fresh) });
            // SAFETY: `existing` came from Box::into_raw and is never freed.
            unsafe { &*existing }
        }
    }
}

/// A child's node, built but not yet installed (see [`install`]).
pub(crate) struct PreparedNode(Box<Node>);

/// Builds the node a child process will have.
pub(crate) fn prepare_child(
    identity: Identity,
    started_by: StartMethod,
    parent_link: Connection,
    parent_log_level: u8,
) -> PreparedNode {
    PreparedNode(Box::new(Node::new(
        identity,
        Some(started_by),
        Some(parent_link),
        parent_log_level,
    )))
}

/// Installs the node of a child process (replacing, in a forked child, the inherited one).
pub(crate) fn install_child(
    identity: Identity,
    started_by: StartMethod,
    parent_link: Connection,
    parent_log_level: u8,
) -> &'static Node {
    install(prepare_child(
        identity,
        started_by,
        parent_link,
        parent_log_level,
    ))
}

/// Installs a prepared node as this process's node.
pub(crate) fn install(prepared: PreparedNode) -> &'static Node {
    let mut node = prepared.0;
    let started_by = node.started_by.expect("a child node");
    // A fork child's node was built in the parent, before the fork.
    node.pid = std::process::id();
    let node = Box::into_raw(node);

    // The previous node (a forked child's copy of its parent's) is leaked on purpose: its
    // runtime's threads do not exist here, and dropping it could block on their locks.
    NODE.store(node, Ordering::Release);
    if started_by != StartMethod::Fork {
        // A forked child inherits its parent's raised limit.
        crate::sys::raise_fd_limit();
    }
    crate::exit::register_exit_handler();
    // SAFETY: just stored; never freed.
    let node: &'static Node = unsafe { &*node };
    if let Some(link) = &node.parent_link {
        let fd = link.lock().unwrap_or_else(|p| p.into_inner()).fileno();
        if let Ok(fd) = fd {
            let identity = node.identity.lock().unwrap_or_else(|p| p.into_inner());
            crate::stack_overflow::report_on(fd, &identity.name);
        }
    }
    node
}
