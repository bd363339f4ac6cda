//! [`Array`] and [`RawArray`]: a fixed-length array in shared memory.

mod chars;

pub use chars::TooLongError;

use crate::error::AcquireError;
use crate::futex::{AtomicU64, Ordering};
use crate::lock::{RLock, RLockState};
use crate::shared::{Kind, STATE_OFFSET, Shared, type_tag};
use crate::shared_type::{self, SharedType};
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
    let start = shared_type::data_offset::<T>(std::mem::size_of::<S>());
    let extra = start + std::mem::size_of_val(values);
    let shared: Shared<S> = Shared::create(Kind::Array, extra, tag)?;
    let offset = STATE_OFFSET + start;
    for (i, value) in values.iter().enumerate() {
        shared_type::write(
            shared.segment(),
            offset + i * std::mem::size_of::<T>(),
            *value,
        );
    }
    Ok((shared, offset))
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
/// Each method call takes the lock ([`RLock`], as in Python); hold [`lock`](Self::lock) to do
/// several as one step.
pub struct Array<T> {
    shared: Shared<ArrayState>,
    lock: RLock,
    _element: PhantomData<T>,
}

impl<T> Clone for Array<T> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            lock: self.lock.clone(),
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
        Array::new(&vec![T::default(); len])
    }

    fn from_shared(shared: Shared<ArrayState>) -> Array<T> {
        // The array's state starts with the lock's state, so a lock handle can view it.
        let lock = RLock::from_shared(shared.retype());
        Array {
            shared,
            lock,
            _element: PhantomData,
        }
    }

    fn offset(&self, index: usize) -> usize {
        STATE_OFFSET
            + shared_type::data_offset::<T>(std::mem::size_of::<ArrayState>())
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
        crate::lock::note_recovery(self.lock.state().enter(None, true));
        let result = f();
        let _ = self.lock.state().exit();
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
            self.lock.state().enter(None, true),
            |died| ArrayGuard {
                array: self,
                owner_died: died,
                _not_send: PhantomData,
            },
            true,
        )
    }

    /// The lock (Python's `get_lock()`).
    pub fn get_lock(&self) -> &RLock {
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
        let _ = self.array.lock.state().exit();
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
        self.shared.serialize_as(serializer)
    }
}

impl<'de, T: SharedType> serde::Deserialize<'de> for Array<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Array::from_shared(Shared::deserialize_as(
            deserializer,
            Kind::Array,
            type_tag::<T>(),
        )?))
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
        RawArray::new(&vec![T::default(); len])
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
