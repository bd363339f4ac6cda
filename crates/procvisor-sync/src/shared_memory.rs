//! [`SharedMemory`]: named shared memory, Python's `multiprocessing.shared_memory`.

use crate::segment::Segment;
use procvisor_wire::SharedFd;
use std::fmt;
use std::sync::Arc;

/// Why a shared-memory operation failed (Python's `FileExistsError`, `FileNotFoundError`,
/// `ValueError`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SharedMemoryError {
    /// A segment of that name exists already.
    #[error("shared memory '{0}' already exists")]
    AlreadyExists(String),
    /// No segment of that name exists (or it was unlinked).
    #[error("no shared memory named '{0}'")]
    NotFound(String),
    /// The name is empty, too long, or contains `/` or NUL.
    #[error("invalid shared memory name {0:?}")]
    InvalidName(String),
    /// A segment to create must have a size of at least one byte.
    #[error("'size' must be a positive integer")]
    InvalidSize,
    /// The handle was closed.
    #[error("the shared memory handle is closed")]
    Closed,
    /// An access outside the segment.
    #[error("{len} bytes at offset {offset} do not fit in {size} bytes of shared memory")]
    OutOfRange {
        /// Where the access started.
        offset: usize,
        /// How many bytes it covered.
        len: usize,
        /// The segment's size.
        size: usize,
    },
    /// Another system error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A block of named shared memory: Python's `SharedMemory`.
///
/// ```
/// use procvisor_sync::SharedMemory;
///
/// let shm = SharedMemory::create(16)?;
/// shm.write(0, b"hello")?;
/// let other = SharedMemory::attach(shm.name())?;
/// let mut buf = [0; 5];
/// other.read(0, &mut buf)?;
/// assert_eq!(&buf, b"hello");
/// shm.unlink()?;
/// # Ok::<(), procvisor_sync::SharedMemoryError>(())
/// ```
///
/// A segment created with [`create`](Self::create) or [`create_named`](Self::create_named) is
/// registered with the program's resource tracker: if no process unlinks it before the
/// program ends (for example because it crashed), the tracker does. [`track(false)`](Self::track)
/// opts out. Attaching never registers.
///
/// Reads and writes go through [`read`](Self::read) and [`write`](Self::write) (one atomic
/// access per naturally aligned chunk of 8, 4, 2 or 1 bytes), because other processes may write
/// the same bytes at any moment.
/// Sent to another process (as a process argument), the handle travels with its descriptor, so
/// the receiver maps the same memory even if the name was unlinked meanwhile.
#[derive(Clone)]
pub struct SharedMemory {
    name: String,
    size: usize,
    segment: Option<Arc<Segment>>,
    tracked: bool,
}

fn check_name(name: &str) -> Result<(), SharedMemoryError> {
    let name = name.strip_prefix('/').unwrap_or(name);
    if name.is_empty() || name.len() > 240 || name.contains('/') || name.contains('\0') {
        return Err(SharedMemoryError::InvalidName(name.to_string()));
    }
    Ok(())
}

fn random_name() -> String {
    let mut bytes = [0_u8; 8];
    let _ = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    format!(
        "pvsm_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

impl SharedMemory {
    /// Creates a segment of `size` bytes with a fresh random name (`pvsm_…`).
    ///
    /// # Errors
    ///
    /// [`SharedMemoryError::InvalidSize`] for size 0; an I/O error from the system.
    pub fn create(size: usize) -> Result<SharedMemory, SharedMemoryError> {
        loop {
            match SharedMemory::create_named(&random_name(), size) {
                // A random name collided: draw another (Python does the same).
                Err(SharedMemoryError::AlreadyExists(_)) => continue,
                other => return other,
            }
        }
    }

    /// Creates a segment of `size` bytes called `name`.
    ///
    /// # Errors
    ///
    /// [`SharedMemoryError::AlreadyExists`], [`SharedMemoryError::InvalidName`],
    /// [`SharedMemoryError::InvalidSize`].
    pub fn create_named(name: &str, size: usize) -> Result<SharedMemory, SharedMemoryError> {
        use nix::fcntl::OFlag;
        use nix::sys::stat::Mode;
        check_name(name)?;
        if size == 0 {
            return Err(SharedMemoryError::InvalidSize);
        }
        let name = name.strip_prefix('/').unwrap_or(name).to_string();
        let fd = match nix::sys::mman::shm_open(
            format!("/{name}").as_str(),
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR,
            Mode::S_IRUSR | Mode::S_IWUSR,
        ) {
            Ok(fd) => fd,
            Err(nix::errno::Errno::EEXIST) => return Err(SharedMemoryError::AlreadyExists(name)),
            Err(e) => return Err(SharedMemoryError::Io(e.into())),
        };
        let made = nix::unistd::ftruncate(&fd, size as libc::off_t)
            .map_err(std::io::Error::from)
            .and_then(|()| Segment::map(SharedFd::new(fd), size));
        let segment = match made {
            Ok(segment) => segment,
            Err(e) => {
                let _ = nix::sys::mman::shm_unlink(format!("/{name}").as_str());
                return Err(e.into());
            }
        };
        crate::tracker::register(&name)?;
        Ok(SharedMemory {
            name,
            size,
            segment: Some(Arc::new(segment)),
            tracked: true,
        })
    }

    /// Attaches to the existing segment `name` (its size is the segment's).
    ///
    /// # Errors
    ///
    /// [`SharedMemoryError::NotFound`], [`SharedMemoryError::InvalidName`].
    pub fn attach(name: &str) -> Result<SharedMemory, SharedMemoryError> {
        use nix::fcntl::OFlag;
        use nix::sys::stat::Mode;
        check_name(name)?;
        let name = name.strip_prefix('/').unwrap_or(name).to_string();
        let fd = match nix::sys::mman::shm_open(
            format!("/{name}").as_str(),
            OFlag::O_RDWR,
            Mode::empty(),
        ) {
            Ok(fd) => SharedFd::new(fd),
            Err(nix::errno::Errno::ENOENT) => return Err(SharedMemoryError::NotFound(name)),
            Err(e) => return Err(SharedMemoryError::Io(e.into())),
        };
        let size = Segment::file_len(&fd)?;
        let segment = Segment::map(fd, size)?;
        Ok(SharedMemory {
            name,
            size,
            segment: Some(Arc::new(segment)),
            tracked: false,
        })
    }

    /// Whether the resource tracker unlinks this segment if nobody else does (Python 3.13's
    /// `track`). Turning it off for a segment this process created tells the tracker to forget
    /// it.
    pub fn track(mut self, on: bool) -> SharedMemory {
        if self.tracked && !on {
            crate::tracker::unregister(&self.name);
        } else if !self.tracked && on {
            let _ = crate::tracker::register(&self.name);
        }
        self.tracked = on;
        self
    }

    /// Its name (without the leading `/`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    fn segment(&self) -> Result<&Segment, SharedMemoryError> {
        self.segment.as_deref().ok_or(SharedMemoryError::Closed)
    }

    fn check(&self, offset: usize, len: usize) -> Result<&Segment, SharedMemoryError> {
        let segment = self.segment()?;
        if offset.checked_add(len).is_none_or(|end| end > self.size) {
            return Err(SharedMemoryError::OutOfRange {
                offset,
                len,
                size: self.size,
            });
        }
        Ok(segment)
    }

    /// Copies `data` into the segment at `offset`.
    ///
    /// # Errors
    ///
    /// [`SharedMemoryError::OutOfRange`], [`SharedMemoryError::Closed`].
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<(), SharedMemoryError> {
        self.check(offset, data.len())?.write_bytes(offset, data);
        Ok(())
    }

    /// Copies bytes at `offset` into `out`.
    ///
    /// # Errors
    ///
    /// [`SharedMemoryError::OutOfRange`], [`SharedMemoryError::Closed`].
    pub fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), SharedMemoryError> {
        self.check(offset, out.len())?.read_bytes(offset, out);
        Ok(())
    }

    /// A copy of the whole segment (Python's `bytes(shm.buf)`).
    ///
    /// # Errors
    ///
    /// [`SharedMemoryError::Closed`].
    pub fn to_vec(&self) -> Result<Vec<u8>, SharedMemoryError> {
        let mut out = vec![0; self.size];
        self.read(0, &mut out)?;
        Ok(out)
    }

    /// The start of the mapping, for code that synchronises access itself.
    ///
    /// # Safety
    ///
    /// The pointer is valid for [`size`](Self::size) bytes while this handle (or a clone) is
    /// open. Other processes may read and write the bytes concurrently: plain (non-atomic)
    /// accesses racing with any other access are undefined behaviour, so coordinate with a
    /// lock.
    pub unsafe fn as_ptr(&self) -> Result<*mut u8, SharedMemoryError> {
        Ok(self.segment()?.at(0))
    }

    /// Unmaps this handle (Python's `close()`); the segment lives on. Idempotent.
    pub fn close(&mut self) {
        self.segment = None;
    }

    /// Whether [`close`](Self::close) was called.
    pub fn closed(&self) -> bool {
        self.segment.is_none()
    }

    /// Removes the name (Python's `unlink()`); mappings stay valid until closed. Call it once,
    /// from any process.
    ///
    /// # Errors
    ///
    /// [`SharedMemoryError::NotFound`] when it was already unlinked.
    pub fn unlink(&self) -> Result<(), SharedMemoryError> {
        match nix::sys::mman::shm_unlink(format!("/{}", self.name).as_str()) {
            Ok(()) => {
                crate::tracker::unregister(&self.name);
                Ok(())
            }
            Err(nix::errno::Errno::ENOENT) => Err(SharedMemoryError::NotFound(self.name.clone())),
            Err(e) => Err(SharedMemoryError::Io(e.into())),
        }
    }
}

impl fmt::Debug for SharedMemory {
    /// Python's repr: `SharedMemory('pvsm_…', size=16)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedMemory('{}', size={})", self.name, self.size)
    }
}

impl serde::Serialize for SharedMemory {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let segment = self
            .segment
            .as_ref()
            .ok_or_else(|| S::Error::custom("cannot send a closed SharedMemory"))?;
        (&self.name, segment.fd()).serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for SharedMemory {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let (name, fd): (String, SharedFd) = serde::Deserialize::deserialize(deserializer)?;
        let size = Segment::file_len(&fd).map_err(D::Error::custom)?;
        let segment = Segment::map(fd, size).map_err(D::Error::custom)?;
        // A received handle is an attachment: it never registers with the tracker.
        Ok(SharedMemory {
            name,
            size,
            segment: Some(Arc::new(segment)),
            tracked: false,
        })
    }
}
