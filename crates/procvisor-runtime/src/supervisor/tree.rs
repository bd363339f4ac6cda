//! A supervision tree as data, and as text.

use super::spec::{Restart, Strategy};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a child is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChildState {
    /// Running.
    Running,
    /// Ended, and about to start again (maybe after a backoff delay).
    Restarting,
    /// Not running: stopped by its supervisor, or ended normally as a transient child.
    Stopped,
    /// A temporary child that ended: it will not start again.
    Removed,
}

/// One child in a [`SupervisionTree`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChildNode {
    /// Its id in the supervisor.
    pub id: String,
    /// What it is (`actor Counter`, `process work`, `supervisor (one_for_one)`).
    pub kind: String,
    /// Its restart type.
    pub restart: Restart,
    /// Where it is in its life.
    pub state: ChildState,
    /// The process it runs in, while it runs.
    pub pid: Option<u32>,
    /// How many times it was restarted.
    pub restarts: u32,
    /// How it last ended, as its process or actor reported it (a sibling stopped for a group
    /// restart says so, with how it actually ended).
    pub last_exit: Option<String>,
    /// Why it was last restarted, when that was a sibling's end (`one_for_all`,
    /// `rest_for_one`) rather than its own.
    pub restarted_with: Option<String>,
    /// The tree below it, for a nested supervisor.
    pub subtree: Option<Box<SupervisionTree>>,
    /// For a child that runs more than itself (a pool, a manager), what it runs.
    pub service: Option<ServiceNode>,
}

/// What a child that runs more than itself shows under its line in a [`SupervisionTree`]: a
/// pool's worker processes, a manager's process (from [`Actor::describe`](crate::Actor::describe)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServiceNode {
    /// What it is, shown as the child's kind: `pool of 4 workers (functions)`, `manager`.
    pub kind: String,
    /// One line about the whole (`2 tasks running, 5 queued, 1 worker replaced`).
    pub summary: String,
    /// Its processes.
    pub processes: Vec<ProcessNode>,
}

impl ServiceNode {
    /// A service of `kind`, summed up in `summary`, running `processes`.
    pub fn new(kind: &str, summary: impl Into<String>, processes: Vec<ProcessNode>) -> ServiceNode {
        ServiceNode {
            kind: kind.to_string(),
            summary: summary.into(),
            processes,
        }
    }
}

/// One process of a [`ServiceNode`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProcessNode {
    /// Its name (`ForkServerPoolWorker-3`, `Manager`).
    pub name: String,
    /// Its pid.
    pub pid: u32,
    /// What it does now (`busy`, `idle`, `listening at …`).
    pub state: String,
}

impl ProcessNode {
    /// A process named `name`, with `pid`, doing `state`.
    pub fn new(name: impl Into<String>, pid: u32, state: impl Into<String>) -> ProcessNode {
        ProcessNode {
            name: name.into(),
            pid,
            state: state.into(),
        }
    }
}

/// A live supervision tree, as [`SupervisorRef::tree`](crate::SupervisorRef::tree) returns it.
/// Its `Display` draws it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SupervisionTree {
    /// The supervisor's name.
    pub name: String,
    /// Its strategy.
    pub strategy: Strategy,
    /// The process it runs in.
    pub pid: u32,
    /// Restarts within its intensity period.
    pub recent_restarts: u32,
    /// Its children, in start order.
    pub children: Vec<ChildNode>,
}

impl SupervisionTree {
    /// The child with this id, anywhere below.
    pub fn find(&self, id: &str) -> Option<&ChildNode> {
        self.children.iter().find_map(|child| {
            if child.id == id {
                Some(child)
            } else {
                child.subtree.as_ref().and_then(|t| t.find(id))
            }
        })
    }

    fn draw(&self, f: &mut fmt::Formatter<'_>, indent: &str) -> fmt::Result {
        writeln!(
            f,
            "supervisor \"{}\" ({}, pid {}, {} recent {})",
            self.name,
            self.strategy,
            self.pid,
            self.recent_restarts,
            plural(self.recent_restarts, "restart", "restarts")
        )?;
        for (i, child) in self.children.iter().enumerate() {
            let last = i + 1 == self.children.len();
            let (branch, below) = if last {
                ("└─ ", "   ")
            } else {
                ("├─ ", "│  ")
            };
            write!(
                f,
                "{indent}{branch}{} — {}, {:?}, {:?}",
                child.id, child.kind, child.restart, child.state
            )?;
            if let Some(pid) = child.pid {
                write!(f, ", pid {pid}")?;
            }
            if child.restarts > 0 {
                let times = plural(child.restarts, "once", "times");
                if child.restarts == 1 {
                    write!(f, ", restarted {times}")?;
                } else {
                    write!(f, ", restarted {} {times}", child.restarts)?;
                }
            }
            if let Some(exit) = &child.last_exit {
                write!(f, ", last exit: {exit}")?;
            }
            if let Some(cause) = &child.restarted_with {
                write!(f, " (in a {cause})")?;
            }
            writeln!(f)?;
            if let Some(subtree) = &child.subtree {
                write!(f, "{indent}{below}")?;
                subtree.draw(f, &format!("{indent}{below}"))?;
            }
            if let Some(service) = &child.service {
                let inner = format!("{indent}{below}");
                writeln!(f, "{inner}{}", service.summary)?;
                for (j, process) in service.processes.iter().enumerate() {
                    let branch = if j + 1 == service.processes.len() {
                        "└─ "
                    } else {
                        "├─ "
                    };
                    writeln!(
                        f,
                        "{inner}{branch}{}, pid {}, {}",
                        process.name, process.pid, process.state
                    )?;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for SupervisionTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.draw(f, "")
    }
}

fn plural(n: u32, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}
