//! The runtime under procvisor: a node in every OS process, [`Process`] with the `fork`,
//! `spawn` and `forkserver` start methods, and the supervision of children.
//!
//! ```
//! use procvisor_runtime::{Process, register};
//!
//! fn square(x: i64) -> i64 {
//!     x * x
//! }
//! register!(square);
//!
//! let mut p = Process::new(square, (7,))?;
//! p.start()?;
//! assert_eq!(p.result::<i64>()?, 49);
//! assert_eq!(p.exitcode(), Some(0));
//! # Ok::<(), procvisor_runtime::ProcessError>(())
//! ```
//!
//! # Nodes
//!
//! Every OS process of a procvisor program has one node: its identity (name, authkey, parent),
//! its children, a tokio runtime and a root supervisor actor (both started on first use), and
//! its link to its parent. A synchronous program never writes `#[tokio::main]`; an async one
//! uses the `_async` twins, which run on any tokio runtime (the node's own runtime is separate,
//! so blocking calls never stall the caller's).

//!
//! # No setup in `main`
//!
//! Functions that children run are registered with [`register!`], resolved by the linker. A
//! child started with `spawn` or `forkserver` is this program's binary executed again and
//! diverted to its target before `main` runs, in programs, examples, tests and doctests alike.

mod actor;
mod bootstrap;
mod child_record;
mod children;
mod context;
mod error;
mod executable;
mod exit;
mod forkserver;
mod identity;
mod link;
mod logger;
mod logging;
mod node;
mod outcome;
mod panics;
mod parent_only;
mod preload;
mod process;
mod process_actor;
mod roles;
mod root_supervisor;
mod stack_overflow;
mod start;
mod supervision_policy;
mod supervisor;
mod sys;
mod target;

#[doc(hidden)]
pub mod __private;

pub use actor::{
    Actor, ActorContext, ActorError, ActorHost, ActorId, CallFailure, InitError, Place, RemoteRef,
    ReplyLater, spawn_in, spawn_local, spawn_local_named, spawn_named_in,
};
pub use children::{active_children, active_processes};
pub use context::{
    Context, DEFAULT_START_METHOD, StartMethod, default_context, get_all_start_methods,
    get_context, get_start_method, get_start_method_if_set, set_start_method,
    set_start_method_forced,
};
pub use error::{ContextError, ProcessError};
pub use executable::{get_executable, set_executable};
pub use identity::{CurrentProcess, ParentProcess, current_process, parent_process};
pub use logger::{LOG_TARGETS, Logger, get_logger};
pub use logging::log_to_stderr;
pub use outcome::{ExitCode, ExitReason, Failure, FailureKind};
pub use preload::{Preload, set_forkserver_preload};
pub use process::{Process, ProcessReturn, Sentinel};
pub use supervision_policy::{Backoff, RestartIntensity, RestartLog};
pub use supervisor::{
    AutoShutdown, ChildCounts, ChildExit, ChildInfo, ChildNode, ChildSpec, ChildState, DynamicSpec,
    DynamicSupervisor, EventKind, Placement, ProcessNode, Restart, ServiceNode, Shutdown, Strategy,
    SupervisionTree, Supervisor, SupervisorError, SupervisorEvent, SupervisorEvents, SupervisorRef,
    SupervisorSpec,
};
#[doc(hidden)]
pub use supervisor::{SupervisorActor, SupervisorMsg, SupervisorReply};
pub use sys::cpu_count;
pub use target::{Target, registered_targets};
