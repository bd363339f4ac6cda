//! OTP supervision over actors and processes anywhere in the program: strategies, restart
//! types, intensity with escalation, backoff, ordered start and reverse shutdown, and the live
//! tree as data.

mod actor;
mod child;
mod handle;
mod spec;
mod tree;

pub use actor::{SupervisorActor, SupervisorMsg, SupervisorReply};
pub use child::ChildExit;
pub use handle::{Supervisor, SupervisorError};
pub use spec::{ChildSpec, Placement, Restart, Shutdown, Strategy, SupervisorSpec};
pub use tree::{ChildNode, ChildState, SupervisionTree};
