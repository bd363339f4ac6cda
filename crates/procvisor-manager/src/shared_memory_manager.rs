//! `SharedMemoryManager`: Python's `multiprocessing.managers.SharedMemoryManager`.

use crate::client::unexpected;
use crate::error::ManagerError;
use crate::manager::{Manager, ManagerBuilder};
use crate::protocol::{Request, Response};
use procvisor_sync::{ShareableList, SharedMemory};
use procvisor_wire::Object;

/// A manager process that makes shared-memory segments and unlinks every one of them when it
/// stops: Python's `SharedMemoryManager`. [`shared_memory`](Self::shared_memory) and
/// [`shareable_list`](Self::shareable_list) make a segment in the manager process and hand
/// back a handle attached to it, which any process may attach to by name.
///
/// The segments are unlinked when the manager stops, whichever way it does:
/// [`shutdown`](Self::shutdown), dropping it, the program's exit (which terminates the
/// manager process), or the program's death (killed, `SIGKILL` included: the manager process
/// is told of its parent's death and unlinks on its way out). Handles stay usable until they
/// are dropped, but nothing can attach by name any more. As in Python, the manager process
/// ignores `SIGINT`: a Ctrl-C stops the program, whose end stops the manager.
///
/// It starts as Python's does, in two steps: made with [`new`](Self::new), it makes nothing
/// until [`start`](Self::start)ed ([`ManagerError::NotStarted`], Python's `ValueError`).
///
/// ```
/// use procvisor_manager::{ManagerError, SharedMemoryManager};
/// use procvisor_sync::{SharedMemory, SharedMemoryError};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut smm = SharedMemoryManager::new();
/// assert!(matches!(smm.shared_memory(9), Err(ManagerError::NotStarted(_))));
/// smm.start()?;
/// let shm = smm.shared_memory(9)?;
/// shm.write(0, b"hello")?;
/// let other = SharedMemory::attach(shm.name())?;
/// assert_eq!(&other.to_vec()?[..5], b"hello");
/// smm.shutdown()?;
/// assert!(matches!(SharedMemory::attach(shm.name()), Err(SharedMemoryError::NotFound(_))));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct SharedMemoryManager {
    state: State,
}

#[derive(Debug)]
enum State {
    Ready(ManagerBuilder),
    Running(Manager),
    ShutDown,
}

impl Default for SharedMemoryManager {
    fn default() -> SharedMemoryManager {
        SharedMemoryManager::new()
    }
}

impl SharedMemoryManager {
    /// A shared-memory manager with the default options, not started yet (Python's
    /// `SharedMemoryManager()`).
    pub fn new() -> SharedMemoryManager {
        SharedMemoryManager::with_builder(Manager::builder())
    }

    /// A shared-memory manager whose process has `builder`'s options (address, authkey,
    /// start method, initializer), not started yet.
    pub fn with_builder(builder: ManagerBuilder) -> SharedMemoryManager {
        SharedMemoryManager {
            state: State::Ready(builder),
        }
    }

    /// Starts the manager process (Python's `smm.start()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Start`] when it was started already or has been shut down (Python's
    /// `ProcessError`), and as [`ManagerBuilder::start`].
    pub fn start(&mut self) -> Result<(), ManagerError> {
        let builder = match &self.state {
            State::Ready(builder) => builder.clone(),
            State::Running(_) => {
                return Err(ManagerError::Start("it was started already".into()));
            }
            State::ShutDown => return Err(ManagerError::Start("it has been shut down".into())),
        };
        let manager = builder.start_serving(Some(crate::server::SegmentPlan {}))?;
        self.state = State::Running(manager);
        Ok(())
    }

    fn running(&self) -> Result<&Manager, ManagerError> {
        match &self.state {
            State::Running(manager) => Ok(manager),
            State::Ready(_) => Err(ManagerError::NotStarted(
                "a SharedMemoryManager must be started before it makes shared memory".into(),
            )),
            State::ShutDown => Err(ManagerError::NotStarted(
                "this SharedMemoryManager has been shut down".into(),
            )),
        }
    }

    fn create(&self, request: &Request) -> Result<String, ManagerError> {
        match self.running()?.endpoint().call(request)? {
            Response::Segments(mut names) if names.len() == 1 => Ok(names.remove(0)),
            other => Err(unexpected(&other)),
        }
    }

    /// A new segment of `size` bytes, made and tracked by the manager, attached here
    /// (Python's `smm.SharedMemory(size)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::NotStarted`]; the manager's `ValueError` for size 0, its `OSError`
    /// when the system refuses; [`ManagerError::Unreachable`].
    pub fn shared_memory(&self, size: usize) -> Result<SharedMemory, ManagerError> {
        let name = self.create(&Request::CreateSegment { size })?;
        SharedMemory::attach(&name).map_err(|e| attach_failed(&name, e))
    }

    /// A new shareable list holding `items`, in a segment made and tracked by the manager,
    /// attached here (Python's `smm.ShareableList(sequence)`).
    ///
    /// ```
    /// use procvisor_manager::{SharedMemoryManager, object};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut smm = SharedMemoryManager::new();
    /// smm.start()?;
    /// let list = smm.shareable_list(&[object!(1), object!("two"), object!(3.0)])?;
    /// list.set(0, object!(10))?;
    /// assert_eq!(list.to_vec()?, vec![object!(10), object!("two"), object!(3.0)]);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ManagerError::NotStarted`]; the manager's `TypeError` for an item a shareable list
    /// cannot hold (a list, a dict); [`ManagerError::Unreachable`].
    pub fn shareable_list(&self, items: &[Object]) -> Result<ShareableList, ManagerError> {
        let name = self.create(&Request::CreateShareableList(items.to_vec()))?;
        ShareableList::attach(&name).map_err(|e| attach_failed(&name, e))
    }

    /// The names of the segments the manager made and will unlink.
    ///
    /// # Errors
    ///
    /// [`ManagerError::NotStarted`], [`ManagerError::Unreachable`].
    pub fn segments(&self) -> Result<Vec<String>, ManagerError> {
        match self.running()?.endpoint().call(&Request::Segments)? {
            Response::Segments(names) => Ok(names),
            other => Err(unexpected(&other)),
        }
    }

    /// The manager underneath, while it runs: its [`pid`](Manager::pid),
    /// [`address`](Manager::address), [`join_timeout`](Manager::join_timeout), ...
    pub fn manager(&mut self) -> Option<&mut Manager> {
        match &mut self.state {
            State::Running(manager) => Some(manager),
            _ => None,
        }
    }

    /// Unlinks every segment the manager made and stops its process (Python's
    /// `smm.shutdown()`). A manager that was never started, or was shut down already, has
    /// nothing to do.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Unreachable`] when the manager process had gone (it unlinked its
    /// segments as it went).
    pub fn shutdown(&mut self) -> Result<(), ManagerError> {
        match std::mem::replace(&mut self.state, State::ShutDown) {
            State::Running(manager) => manager.shutdown(),
            State::Ready(_) | State::ShutDown => Ok(()),
        }
    }
}

fn attach_failed(name: &str, e: impl std::fmt::Display) -> ManagerError {
    ManagerError::Remote(crate::error::remote(
        "FileNotFoundError",
        format!("cannot attach to '{name}', which the manager just made: {e}"),
    ))
}
