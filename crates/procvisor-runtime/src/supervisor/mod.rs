//! OTP supervision over actors and processes anywhere in the program: strategies, restart
//! types, intensity with escalation, backoff, ordered start and reverse shutdown, and the live
//! tree as data.

mod actor;
mod child;
mod dynamic;
mod events;
mod handle;
mod spec;
mod tree;

pub use actor::{ChildCounts, ChildInfo, SupervisorActor, SupervisorMsg, SupervisorReply};
pub use child::ChildExit;
pub use dynamic::{DynamicSpec, DynamicSupervisor};
pub use events::{EventKind, SupervisorEvent, SupervisorEvents};
pub use handle::{Supervisor, SupervisorError, SupervisorRef};
pub use spec::{AutoShutdown, ChildSpec, Placement, Restart, Shutdown, Strategy, SupervisorSpec};
pub use tree::{ChildNode, ChildState, ProcessNode, ServiceNode, SupervisionTree};
