//! Python's `active_children()`: the children of this process that are still running.

use crate::node::node;
use crate::process::Process;

/// Python's `active_children()`: the children of this process that are still running, as
/// `(name, pid)` pairs. Like Python's, it reaps the children that have ended. For handles to
/// join or terminate them, use [`active_processes`].
///
/// ```
/// fn nap() {}
/// procvisor_runtime::register!(nap);
///
/// let mut p = procvisor_runtime::Process::new(nap, ())?;
/// p.start()?;
/// p.join()?;
/// assert!(procvisor_runtime::active_children().is_empty());
/// # Ok::<(), procvisor_runtime::ProcessError>(())
/// ```
pub fn active_children() -> Vec<(String, u32)> {
    active_processes()
        .into_iter()
        .filter_map(|p| Some((p.name(), p.pid()?)))
        .collect()
}

/// Python's `active_children()` as Python hands it back: a [`Process`] handle on each child of
/// this process that is still running, to [`join`](Process::join),
/// [`terminate`](Process::terminate) or [`kill`](Process::kill) like the handle that started
/// it. Reaps the children that have ended, as Python's does.
///
/// A handle from here is one more view of the child: dropping it detaches nothing and stops
/// nothing, and the original handle keeps working (both see the same exit code and result).
///
/// ```
/// use procvisor_runtime::{Process, active_processes, register};
///
/// fn wait_for_ever() {
///     std::thread::park();
/// }
/// register!(wait_for_ever);
///
/// let mut p = Process::new(wait_for_ever, ())?.with_name("sleeper");
/// p.start()?;
/// for mut child in active_processes() {
///     assert_eq!(child.name(), "sleeper");
///     child.terminate()?;
///     child.join()?;
///     assert_eq!(child.exitcode(), Some(-15));
/// }
/// assert_eq!(p.exitcode(), Some(-15), "the original handle sees it too");
/// # Ok::<(), procvisor_runtime::ProcessError>(())
/// ```
pub fn active_processes() -> Vec<Process> {
    node()
        .children
        .all()
        .into_iter()
        .filter(|record| record.try_reap().is_none())
        .map(Process::adopt)
        .collect()
}
