//! [`Array`] and [`RawArray`]: a fixed-length array in shared memory.

mod chars;

pub use chars::TooLongError;

use crate::error::AcquireError;
use crate::futex::{AtomicU64, Ordering};
use crate::lock::{RLock, RLockState};
use crate::shared::{Kind, STATE_OFFSET, Shared, Synchronized, type_tag};
use crate::shared_lock::SharedLock;
use crate::shared_type::{self, SharedType};
use procvisor_wire::SharedFd;
use std::fmt;
use std::marker::PhantomData;

#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct ArrayState {
    lock: RLockState,
    len: AtomicU64,
}

/// An index past the end of an array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("index {index} out of range for an array of length {len}")]
pub struct IndexError {
    /// The index asked for.
    pub index: usize,
    /// The array's length.
    pub len: usize,
}

fn create<S, T: SharedType>(values: &[T], tag: u64) -> std::io::Result<(Shared<S>, usize)> {
    let (shared, offset) = create_zeroed::<S, T>(values.len(), tag)?;
    for (i, value) in values.iter().enumerate() {
        shared_type::write(
            shared.segment(),
            offset + i * std::mem::size_of::<T>(),
            *value,
        );
    }
    Ok((shared, offset))
}

/// A new array of `len` elements whose bytes are all zero, as a new segment's are: nothing is
/// written, so no page is touched (and counted against a process) before it is used.
fn create_zeroed<S, T: SharedType>(len: usize, tag: u64) -> std::io::Result<(Shared<S>, usize)> {
    let start = shared_type::data_offset::<T>(std::mem::size_of::<S>());
    let extra = start + len * std::mem::size_of::<T>();
    let shared: Shared<S> = Shared::create(Kind::Array, extra, tag)?;
    Ok((shared, STATE_OFFSET + start))
}

/// Whether `T::default()` is all zero bytes (so a zero-filled array already holds it).
fn default_is_zero<T: SharedType + Default>() -> bool {
    let value = T::default();
    // SAFETY: a `SharedType` has no padding, so each of its `size_of::<T>()` bytes is
    // initialised; they are read through a shared borrow of a live local.
    let bytes = unsafe {
        std::slice::from_raw_parts((&raw const value).cast::<u8>(), std::mem::size_of::<T>())
    };
    bytes.iter().all(|&b| b == 0)
}

/// A fixed-length array in shared memory with a lock: Python's `multiprocessing.Array`.
///
/// ```
/// use procvisor_sync::Array;
///
/// let arr = Array::new(&(0..10).collect::<Vec<i32>>())?;
/// for i in 0..arr.len() {
///     arr.set(i, -arr.get(i).unwrap())?;
/// }
/// assert_eq!(arr.to_vec(), [0, -1, -2, -3, -4, -5, -6, -7, -8, -9]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Each method call takes the lock (an [`RLock`] of its own, as in Python, or the one given to
/// [`with_lock`](Self::with_lock)); hold [`lock`](Self::lock) to do several as one step.
pub struct Array<T> {
    /// The segment holding the elements (and, with its own lock, the lock's state first).
    shared: Shared<()>,
    lock: SharedLock,
    /// Whether the lock lives in the array's segment (`new`) or apart (`with_lock`,
    /// `synchronized`), in which case the segment is a `RawArray`'s.
    own_lock: bool,
    /// Fixed at creation.
    len: usize,
    _element: PhantomData<T>,
}

impl<T> Clone for Array<T> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            lock: self.lock.clone(),
            own_lock: self.own_lock,
            len: self.len,
            _element: PhantomData,
        }
    }
}

/// Holds an [`Array`]'s lock.
#[must_use = "if unused the Array's lock will immediately unlock"]
pub struct ArrayGuard<'a, T: SharedType> {
    owner_died: bool,
    array: &'a Array<T>,
    _not_send: PhantomData<*const ()>,
}

impl<T: SharedType> Array<T> {
    /// An array holding a copy of `values`.
    ///
    /// # Errors
    ///
    /// When the shared memory cannot be created.
    pub fn new(values: &[T]) -> std::io::Result<Array<T>> {
        let (shared, _) = create::<ArrayState, T>(values, type_tag::<T>())?;
        shared
            .state()
            .len
            .store(values.len() as u64, Ordering::Relaxed);
        Ok(Array::from_shared(shared))
    }

    /// An array of `len` zero-valued elements (Python's `Array('i', 10)`).
    ///
    /// # Errors
    ///
    /// When the shared memory cannot be created.
    pub fn zeroed(len: usize) -> std::io::Result<Array<T>>
    where
        T: Default,
    {
        if !default_is_zero::<T>() {
            return Array::new(&vec![T::default(); len]);
        }
        let (shared, _) = create_zeroed::<ArrayState, T>(len, type_tag::<T>())?;
        shared.state().len.store(len as u64, Ordering::Relaxed);
        Ok(Array::from_shared(shared))
    }

    /// An array holding a copy of `values`, guarded by `lock`, a [`Lock`](crate::Lock) or an
    /// [`RLock`] that other arrays and values may share: Python's
    /// `Array(typecode, values, lock=some_lock)`.
    ///
    /// ```
    /// use procvisor_sync::{Array, RLock, Value};
    ///
    /// let lock = RLock::new()?;
    /// let samples = Array::with_lock(&[0.0_f64; 4], lock.clone())?;
    /// let count = Value::with_lock(0_u32, lock)?;
    /// let guard = samples.lock()?; // holds `count` too
    /// guard.set(0, 1.5)?;
    /// count.update(|n| n + 1); // an RLock: re-entered by the holder
    /// drop(guard);
    /// assert_eq!((samples.get(0), count.get()), (Some(1.5), 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// With a plain `Lock`, do not call the array's own methods while this thread holds the
    /// lock: use the guard's.
    ///
    /// # Errors
    ///
    /// When the shared memory cannot be created.
    pub fn with_lock(values: &[T], lock: impl Into<SharedLock>) -> std::io::Result<Array<T>> {
        Ok(Array::synchronized_with(RawArray::new(values)?, lock))
    }

    /// The same memory as `raw`, now guarded by a new [`RLock`]: Python's
    /// `sharedctypes.synchronized(raw)`.
    ///
    /// ```
    /// use procvisor_sync::{Array, RawArray};
    ///
    /// let raw = RawArray::new(&[1, 2, 3])?;
    /// let array = Array::synchronized(raw.clone())?;
    /// array.set(0, 10)?;
    /// assert_eq!(raw.to_vec(), [10, 2, 3], "the same memory");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// When the shared memory for the lock cannot be created.
    pub fn synchronized(raw: RawArray<T>) -> std::io::Result<Array<T>> {
        Ok(Array::synchronized_with(raw, RLock::new()?))
    }

    /// The same memory as `raw`, guarded by `lock`: Python's `synchronized(raw, lock)`.
    ///
    /// ```
    /// use procvisor_sync::{Array, Lock, RawArray};
    ///
    /// let lock = Lock::new()?;
    /// let array = Array::synchronized_with(RawArray::new(b"abc")?, lock.clone());
    /// assert!(array.get_lock().same_as(&lock.into()));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn synchronized_with(raw: RawArray<T>, lock: impl Into<SharedLock>) -> Array<T> {
        Array {
            len: raw.len(),
            shared: raw.shared.retype(),
            lock: lock.into(),
            own_lock: false,
            _element: PhantomData,
        }
    }

    /// A new array, with a lock of its own, holding what this one holds now: Python's
    /// `sharedctypes.copy`. Unlike [`clone`](Clone::clone), which is another handle on the same
    /// array, the copy is independent.
    ///
    /// ```
    /// let a = procvisor_sync::Array::new(&[1, 2])?;
    /// let copy = a.copy()?;
    /// a.set(0, 9)?;
    /// assert_eq!(copy.to_vec(), [1, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// When the shared memory cannot be created.
    pub fn copy(&self) -> std::io::Result<Array<T>> {
        Array::new(&self.to_vec())
    }

    fn from_shared(shared: Shared<ArrayState>) -> Array<T> {
        // The array's state starts with the lock's state, so a lock handle can view it.
        let lock = RLock::from_shared(shared.retype());
        Array {
            len: shared.state().len.load(Ordering::Relaxed) as usize,
            shared: shared.retype(),
            lock: SharedLock::RLock(lock),
            own_lock: true,
            _element: PhantomData,
        }
    }

    fn offset(&self, index: usize) -> usize {
        let state = if self.own_lock {
            std::mem::size_of::<ArrayState>()
        } else {
            std::mem::size_of::<RawArrayState>()
        };
        STATE_OFFSET + shared_type::data_offset::<T>(state) + index * std::mem::size_of::<T>()
    }

    fn segment(&self) -> &crate::segment::Segment {
        self.shared.segment()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn check(&self, index: usize) -> Result<(), IndexError> {
        if index < self.len() {
            Ok(())
        } else {
            Err(IndexError {
                index,
                len: self.len(),
            })
        }
    }

    fn locked<R>(&self, f: impl FnOnce() -> R) -> R {
        // As for `Value`: a dead holder's half-done update is still made of valid elements.
        crate::lock::note_recovery(self.lock.enter());
        let result = f();
        self.lock.exit();
        result
    }

    /// The element at `index` (`None` past the end).
    pub fn get(&self, index: usize) -> Option<T> {
        self.check(index).ok()?;
        Some(self.locked(|| shared_type::read(self.shared.segment(), self.offset(index))))
    }

    /// Sets the element at `index`.
    ///
    /// # Errors
    ///
    /// [`IndexError`] past the end.
    pub fn set(&self, index: usize, value: T) -> Result<(), IndexError> {
        self.check(index)?;
        self.locked(|| shared_type::write(self.shared.segment(), self.offset(index), value));
        Ok(())
    }

    /// A copy of every element (Python's `arr[:]`).
    pub fn to_vec(&self) -> Vec<T> {
        self.locked(|| {
            (0..self.len())
                .map(|i| shared_type::read(self.shared.segment(), self.offset(i)))
                .collect()
        })
    }

    /// Holds the lock until the guard drops.
    ///
    /// # Errors
    ///
    /// None in practice; a holder that died is handled, see the guard's
    /// `previous_owner_died`.
    pub fn lock(&self) -> Result<ArrayGuard<'_, T>, AcquireError> {
        crate::lock::outcome(
            self.lock.enter(),
            |died| ArrayGuard {
                array: self,
                owner_died: died,
                _not_send: PhantomData,
            },
            true,
        )
    }

    /// The lock (Python's `get_lock()`): the array's own [`RLock`], or the one given to
    /// [`with_lock`](Self::with_lock).
    pub fn get_lock(&self) -> &SharedLock {
        &self.lock
    }
}

impl<T: SharedType> ArrayGuard<'_, T> {
    /// Whether the process that held the lock before died holding it (the data may be
    /// half-updated).
    pub fn previous_owner_died(&self) -> bool {
        self.owner_died
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.array.len()
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.array.is_empty()
    }

    /// The element at `index` (`None` past the end).
    pub fn get(&self, index: usize) -> Option<T> {
        self.array.check(index).ok()?;
        Some(shared_type::read(
            self.array.shared.segment(),
            self.array.offset(index),
        ))
    }

    /// Sets the element at `index`.
    ///
    /// # Errors
    ///
    /// [`IndexError`] past the end.
    pub fn set(&self, index: usize, value: T) -> Result<(), IndexError> {
        self.array.check(index)?;
        shared_type::write(self.array.shared.segment(), self.array.offset(index), value);
        Ok(())
    }

    /// A copy of every element.
    pub fn to_vec(&self) -> Vec<T> {
        (0..self.len())
            .map(|i| shared_type::read(self.array.shared.segment(), self.array.offset(i)))
            .collect()
    }
}

impl<T: SharedType> Drop for ArrayGuard<'_, T> {
    fn drop(&mut self) {
        self.array.lock.exit();
    }
}

impl<T: SharedType + fmt::Debug> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<SynchronizedArray {:?}>", self.to_vec())
    }
}

impl<T: SharedType + fmt::Debug> fmt::Debug for ArrayGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ArrayGuard").field(&self.to_vec()).finish()
    }
}

impl<T: SharedType> serde::Serialize for Array<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Synchronized {
            data: self.shared.segment().fd(),
            lock: (!self.own_lock).then_some(&self.lock),
        }
        .serialize(serializer)
    }
}

impl<'de, T: SharedType> serde::Deserialize<'de> for Array<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Synchronized::<SharedFd, SharedLock>::deserialize(deserializer)?
            .receive(
                Kind::Array,
                type_tag::<T>(),
                Array::from_shared,
                |shared, lock| {
                    let raw = RawArray {
                        shared,
                        _element: PhantomData,
                    };
                    Array::synchronized_with(raw, lock)
                },
            )
            .map_err(serde::de::Error::custom)
    }
}

#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct RawArrayState {
    len: AtomicU64,
}

/// A fixed-length array in shared memory without a lock: Python's `RawArray`. Element reads
/// and writes copy each field with one atomic access (never a torn number, `bool` or `char`;
/// see [`SharedType`]); nothing more is synchronised.
pub struct RawArray<T> {
    shared: Shared<RawArrayState>,
    _element: PhantomData<T>,
}

impl<T> Clone for RawArray<T> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            _element: PhantomData,
        }
    }
}

impl<T: SharedType> RawArray<T> {
    /// An array holding a copy of `values`.
    ///
    /// # Errors
    ///
    /// When the shared memory cannot be created.
    pub fn new(values: &[T]) -> std::io::Result<RawArray<T>> {
        let (shared, _) = create::<RawArrayState, T>(values, type_tag::<T>() ^ 1)?;
        shared
            .state()
            .len
            .store(values.len() as u64, Ordering::Relaxed);
        Ok(RawArray {
            shared,
            _element: PhantomData,
        })
    }

    /// A new array holding what this one holds now: Python's `sharedctypes.copy`. Unlike
    /// [`clone`](Clone::clone), which is another handle on the same array, the copy is
    /// independent.
    ///
    /// ```
    /// let a = procvisor_sync::RawArray::new(&[1.5_f32])?;
    /// let copy = a.copy()?;
    /// a.set(0, 0.0)?;
    /// assert_eq!(copy.to_vec(), [1.5]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// When the shared memory cannot be created.
    pub fn copy(&self) -> std::io::Result<RawArray<T>> {
        RawArray::new(&self.to_vec())
    }

    /// An array of `len` zero-valued elements (Python's `RawArray('i', 10)`).
    ///
    /// ```
    /// let a = procvisor_sync::RawArray::<i32>::zeroed(3)?;
    /// assert_eq!(a.to_vec(), [0, 0, 0]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// When the shared memory cannot be created.
    pub fn zeroed(len: usize) -> std::io::Result<RawArray<T>>
    where
        T: Default,
    {
        if !default_is_zero::<T>() {
            return RawArray::new(&vec![T::default(); len]);
        }
        let (shared, _) = create_zeroed::<RawArrayState, T>(len, type_tag::<T>() ^ 1)?;
        shared.state().len.store(len as u64, Ordering::Relaxed);
        Ok(RawArray {
            shared,
            _element: PhantomData,
        })
    }

    fn offset(&self, index: usize) -> usize {
        STATE_OFFSET
            + shared_type::data_offset::<T>(std::mem::size_of::<RawArrayState>())
            + index * std::mem::size_of::<T>()
    }

    fn segment(&self) -> &crate::segment::Segment {
        self.shared.segment()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.shared.state().len.load(Ordering::Relaxed) as usize
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element at `index` (`None` past the end).
    pub fn get(&self, index: usize) -> Option<T> {
        (index < self.len()).then(|| shared_type::read(self.shared.segment(), self.offset(index)))
    }

    /// Sets the element at `index`.
    ///
    /// # Errors
    ///
    /// [`IndexError`] past the end.
    pub fn set(&self, index: usize, value: T) -> Result<(), IndexError> {
        if index >= self.len() {
            return Err(IndexError {
                index,
                len: self.len(),
            });
        }
        shared_type::write(self.shared.segment(), self.offset(index), value);
        Ok(())
    }

    /// A copy of every element.
    pub fn to_vec(&self) -> Vec<T> {
        (0..self.len())
            .map(|i| shared_type::read(self.shared.segment(), self.offset(i)))
            .collect()
    }
}

impl<T: SharedType + fmt::Debug> fmt::Debug for RawArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<RawArray {:?}>", self.to_vec())
    }
}

impl<T: SharedType> serde::Serialize for RawArray<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.shared.serialize_as(serializer)
    }
}

impl<'de, T: SharedType> serde::Deserialize<'de> for RawArray<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(RawArray {
            shared: Shared::deserialize_as(deserializer, Kind::Array, type_tag::<T>() ^ 1)?,
            _element: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shared type whose default is not all zero bytes.
    #[derive(Debug, Clone, Copy, PartialEq)]
    #[repr(transparent)]
    struct Seven(u32);

    impl Default for Seven {
        fn default() -> Self {
            Seven(7)
        }
    }

    // SAFETY: a transparent wrapper of a `u32`: plain data, no padding, any bits valid.
    unsafe impl SharedType for Seven {}

    /// This process's shared memory in RAM, in KiB.
    fn rss_shmem_kib() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|line| line.strip_prefix("RssShmem:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    #[test]
    fn a_zeroed_array_touches_no_page_until_it_is_used() {
        let before = rss_shmem_kib();
        let raw = RawArray::<u64>::zeroed(8 << 20).unwrap();
        let array = Array::<i32>::zeroed(8 << 20).unwrap();
        let grown = rss_shmem_kib() - before;
        assert!(grown < 1024, "96 MiB of zeroes took {grown} KiB in RAM");
        assert_eq!(raw.get((8 << 20) - 1), Some(0));
        assert_eq!(array.get(12_345), Some(0));
        assert_eq!(raw.len(), 8 << 20);
    }

    #[test]
    fn a_zeroed_array_of_a_type_whose_default_is_not_zero_holds_the_default() {
        assert_eq!(
            RawArray::<Seven>::zeroed(3).unwrap().to_vec(),
            [Seven(7); 3]
        );
        assert_eq!(Array::<Seven>::zeroed(2).unwrap().to_vec(), [Seven(7); 2]);
        assert_eq!(RawArray::<f64>::zeroed(2).unwrap().to_vec(), [0.0; 2]);
    }
}
