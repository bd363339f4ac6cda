//! [`Value`] and [`RawValue`]: one value in shared memory.

use crate::error::AcquireError;
use crate::lock::{RLock, RLockState};
use crate::shared::{Kind, Shared, Synchronized, type_tag};
use crate::shared_lock::SharedLock;
use crate::shared_type::{self, SharedType};
use procvisor_wire::SharedFd;
use std::fmt;
use std::marker::PhantomData;

/// A value in shared memory with a lock: Python's `multiprocessing.Value`.
///
/// [`get`](Self::get) and [`set`](Self::set) each take the lock; to read and write as one
/// step, hold [`lock`](Self::lock) or use [`update`](Self::update) (Python's
/// `with v.get_lock(): v.value += 1`).
///
/// ```
/// use procvisor_sync::Value;
///
/// let num = Value::new(0.0_f64)?;
/// num.set(3.1415927);
/// num.update(|v| v * 2.0);
/// assert_eq!(num.get(), 6.2831854);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// The lock is an [`RLock`] of its own (as in Python), or one given to
/// [`with_lock`](Self::with_lock) and shared with other objects; [`get_lock`](Self::get_lock)
/// returns it.
pub struct Value<T> {
    /// The segment holding the value (and, with its own lock, the lock's state first).
    shared: Shared<()>,
    lock: SharedLock,
    /// Whether the lock lives in the value's segment (`new`) or apart (`with_lock`,
    /// `synchronized`), in which case the segment is a `RawValue`'s.
    own_lock: bool,
    _value: PhantomData<T>,
}

impl<T> Clone for Value<T> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            lock: self.lock.clone(),
            own_lock: self.own_lock,
            _value: PhantomData,
        }
    }
}

/// Holds a [`Value`]'s lock.
#[must_use = "if unused the Value's lock will immediately unlock"]
pub struct ValueGuard<'a, T: SharedType> {
    owner_died: bool,
    value: &'a Value<T>,
    _not_send: PhantomData<*const ()>,
}

impl<T: SharedType> Value<T> {
    /// A new value in shared memory, with a lock of its own.
    ///
    /// # Errors
    ///
    /// When the shared memory cannot be created.
    pub fn new(initial: T) -> std::io::Result<Value<T>> {
        let extra = shared_type::data_offset::<T>(std::mem::size_of::<RLockState>())
            + std::mem::size_of::<T>();
        let shared = Shared::create(Kind::Value, extra, type_tag::<T>())?;
        let value = Value::with_own_lock(shared);
        shared_type::write(value.shared.segment(), value.offset(), initial);
        Ok(value)
    }

    /// A new value guarded by `lock`, a [`Lock`](crate::Lock) or an [`RLock`] that other
    /// values and arrays may share: Python's `Value(typecode, v, lock=some_lock)`. While a
    /// process holds one of the objects built on a lock, the others wait too, in every process.
    ///
    /// ```
    /// use procvisor_sync::{Lock, Value};
    ///
    /// let lock = Lock::new()?;
    /// let hits = Value::with_lock(0_u64, lock.clone())?;
    /// let misses = Value::with_lock(0_u64, lock)?;
    /// {
    ///     // One acquisition guards both: `misses` cannot change while `guard` lives.
    ///     let guard = hits.lock()?;
    ///     guard.set(guard.get() + 1);
    ///     assert!(misses.get_lock().locked());
    /// }
    /// assert_eq!((hits.get(), misses.get()), (1, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// With a plain `Lock`, which is not re-entrant, do not call `get`, `set` or `update` on
    /// an object while this thread holds its lock (they would wait for ever, as in Python); use
    /// the guard's methods.
    ///
    /// # Errors
    ///
    /// When the shared memory cannot be created.
    pub fn with_lock(initial: T, lock: impl Into<SharedLock>) -> std::io::Result<Value<T>> {
        Ok(Value::synchronized_with(RawValue::new(initial)?, lock))
    }

    /// The same memory as `raw`, now guarded by a new [`RLock`]: Python's
    /// `sharedctypes.synchronized(raw)`. Writes through either handle are seen by the other;
    /// only this one takes the lock.
    ///
    /// ```
    /// use procvisor_sync::{RawValue, Value};
    ///
    /// let raw = RawValue::new(7_i32)?;
    /// let value = Value::synchronized(raw.clone())?;
    /// value.update(|n| n * 2);
    /// assert_eq!(raw.get(), 14, "the same memory");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// When the shared memory for the lock cannot be created.
    pub fn synchronized(raw: RawValue<T>) -> std::io::Result<Value<T>> {
        Ok(Value::synchronized_with(raw, RLock::new()?))
    }

    /// The same memory as `raw`, guarded by `lock`: Python's `synchronized(raw, lock)`.
    ///
    /// ```
    /// use procvisor_sync::{Lock, RawValue, Value};
    ///
    /// let lock = Lock::new()?;
    /// let value = Value::synchronized_with(RawValue::new(1_u8)?, lock.clone());
    /// let _held = lock.acquire()?;
    /// assert!(value.get_lock().locked());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn synchronized_with(raw: RawValue<T>, lock: impl Into<SharedLock>) -> Value<T> {
        Value {
            shared: raw.shared,
            lock: lock.into(),
            own_lock: false,
            _value: PhantomData,
        }
    }

    /// A new value, with a lock of its own, holding what this one holds now: Python's
    /// `sharedctypes.copy`. Unlike [`clone`](Clone::clone), which is another handle on the same
    /// value, the copy is independent.
    ///
    /// ```
    /// let v = procvisor_sync::Value::new(5_i32)?;
    /// let copy = v.copy()?;
    /// v.set(6);
    /// assert_eq!(copy.get(), 5);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// When the shared memory cannot be created.
    pub fn copy(&self) -> std::io::Result<Value<T>> {
        Value::new(self.get())
    }

    fn with_own_lock(shared: Shared<RLockState>) -> Value<T> {
        Value {
            lock: SharedLock::RLock(RLock::from_shared(shared.clone())),
            shared: shared.retype(),
            own_lock: true,
            _value: PhantomData,
        }
    }

    fn offset(&self) -> usize {
        if self.own_lock {
            crate::shared::STATE_OFFSET
                + shared_type::data_offset::<T>(std::mem::size_of::<RLockState>())
        } else {
            RawValue::<T>::OFFSET
        }
    }

    fn enter(&self) {
        // A dead previous holder leaves at worst a half-written value of a `SharedType`, which
        // is still a valid value: carry on, after logging it as every takeover is.
        crate::lock::note_recovery(self.lock.enter());
    }

    /// Reads the value (taking the lock).
    pub fn get(&self) -> T {
        self.enter();
        let value = shared_type::read(self.shared.segment(), self.offset());
        self.lock.exit();
        value
    }

    /// Writes the value (taking the lock).
    pub fn set(&self, value: T) {
        self.enter();
        shared_type::write(self.shared.segment(), self.offset(), value);
        self.lock.exit();
    }

    /// Replaces the value with `f(value)` under the lock, and returns the new value.
    pub fn update(&self, f: impl FnOnce(T) -> T) -> T {
        self.enter();
        let new = f(shared_type::read(self.shared.segment(), self.offset()));
        shared_type::write(self.shared.segment(), self.offset(), new);
        self.lock.exit();
        new
    }

    /// Holds the lock until the guard drops.
    ///
    /// # Errors
    ///
    /// None in practice; a holder that died is handled, see the guard's
    /// `previous_owner_died`.
    pub fn lock(&self) -> Result<ValueGuard<'_, T>, AcquireError> {
        crate::lock::outcome(
            self.lock.enter(),
            |died| ValueGuard {
                value: self,
                owner_died: died,
                _not_send: PhantomData,
            },
            true,
        )
    }

    /// The lock (Python's `get_lock()`): the value's own [`RLock`], or the one given to
    /// [`with_lock`](Self::with_lock).
    pub fn get_lock(&self) -> &SharedLock {
        &self.lock
    }
}

impl<T: SharedType> ValueGuard<'_, T> {
    /// Whether the process that held the lock before died holding it (the data may be
    /// half-updated).
    pub fn previous_owner_died(&self) -> bool {
        self.owner_died
    }

    /// Reads the value.
    pub fn get(&self) -> T {
        shared_type::read(self.value.shared.segment(), self.value.offset())
    }

    /// Writes the value.
    pub fn set(&self, value: T) {
        shared_type::write(self.value.shared.segment(), self.value.offset(), value);
    }
}

impl<T: SharedType> Drop for ValueGuard<'_, T> {
    fn drop(&mut self) {
        self.value.lock.exit();
    }
}

impl<T: SharedType + fmt::Debug> fmt::Debug for Value<T> {
    /// Python's repr: `<Synchronized wrapper for 3.5>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Synchronized wrapper for {:?}>", self.get())
    }
}

impl<T: SharedType + fmt::Debug> fmt::Debug for ValueGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ValueGuard").field(&self.get()).finish()
    }
}

impl<T: SharedType> serde::Serialize for Value<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Synchronized {
            data: self.shared.segment().fd(),
            lock: (!self.own_lock).then_some(&self.lock),
        }
        .serialize(serializer)
    }
}

impl<'de, T: SharedType> serde::Deserialize<'de> for Value<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Synchronized::<SharedFd, SharedLock>::deserialize(deserializer)?
            .receive(
                Kind::Value,
                type_tag::<T>(),
                Value::with_own_lock,
                |shared, lock| {
                    let raw = RawValue {
                        shared,
                        _value: PhantomData,
                    };
                    Value::synchronized_with(raw, lock)
                },
            )
            .map_err(serde::de::Error::custom)
    }
}

/// A value in shared memory without a lock: Python's `RawValue` (or `Value(lock=False)`).
///
/// Reads and writes copy each field with one atomic access (see [`SharedType`]), so racing
/// processes never see a torn integer, float, `bool` or `char` (a `u128` may mix the 8-byte
/// halves of two writes, and a struct the fields of two writes), but a read-modify-write is not
/// atomic: use [`Value`] for that.
pub struct RawValue<T> {
    shared: Shared<()>,
    _value: PhantomData<T>,
}

impl<T> Clone for RawValue<T> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            _value: PhantomData,
        }
    }
}

impl<T: SharedType> RawValue<T> {
    /// A new value in shared memory.
    ///
    /// # Errors
    ///
    /// When the shared memory cannot be created.
    pub fn new(initial: T) -> std::io::Result<RawValue<T>> {
        let extra = shared_type::data_offset::<T>(0) + std::mem::size_of::<T>();
        let value = RawValue {
            shared: Shared::create(Kind::Value, extra, type_tag::<T>() ^ 1)?,
            _value: PhantomData,
        };
        value.set(initial);
        Ok(value)
    }

    /// Where the value starts: right after the header, with no state before it.
    const OFFSET: usize = crate::shared::STATE_OFFSET;

    fn offset(&self) -> usize {
        Self::OFFSET
    }

    /// A new value holding what this one holds now: Python's `sharedctypes.copy`. Unlike
    /// [`clone`](Clone::clone), which is another handle on the same value, the copy is
    /// independent.
    ///
    /// ```
    /// let v = procvisor_sync::RawValue::new([1_u8, 2, 3])?;
    /// let copy = v.copy()?;
    /// v.set([0; 3]);
    /// assert_eq!(copy.get(), [1, 2, 3]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// When the shared memory cannot be created.
    pub fn copy(&self) -> std::io::Result<RawValue<T>> {
        RawValue::new(self.get())
    }

    /// Reads the value.
    pub fn get(&self) -> T {
        shared_type::read(self.shared.segment(), self.offset())
    }

    /// Writes the value.
    pub fn set(&self, value: T) {
        shared_type::write(self.shared.segment(), self.offset(), value);
    }
}

impl<T: SharedType + fmt::Debug> fmt::Debug for RawValue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<RawValue {:?}>", self.get())
    }
}

impl<T: SharedType> serde::Serialize for RawValue<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.shared.serialize_as(serializer)
    }
}

impl<'de, T: SharedType> serde::Deserialize<'de> for RawValue<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(RawValue {
            shared: Shared::deserialize_as(deserializer, Kind::Value, type_tag::<T>() ^ 1)?,
            _value: PhantomData,
        })
    }
}

#[cfg(all(test, not(procvisor_loom)))]
mod tests {
    use super::*;
    use crate::raw_lock::DEAD_PID;
    use std::sync::{Arc, Mutex};

    /// Collects the targets of the warnings logged on this thread.
    struct Warnings(Arc<Mutex<Vec<String>>>);

    impl tracing::Subscriber for Warnings {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            if *event.metadata().level() == tracing::Level::WARN {
                self.0
                    .lock()
                    .unwrap()
                    .push(event.metadata().target().to_string());
            }
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    /// Runs `f` with the lock of `value` held by a dead process; returns the warnings logged.
    fn with_dead_holder<T: SharedType>(value: &Value<T>, f: impl FnOnce()) -> Vec<String> {
        let leaked = value.lock().unwrap();
        std::mem::forget(leaked);
        value
            .get_lock()
            .as_rlock()
            .expect("its own RLock")
            .state()
            .raw
            .force_owner(DEAD_PID);
        let warnings = Arc::new(Mutex::new(Vec::new()));
        tracing::subscriber::with_default(Warnings(warnings.clone()), f);
        warnings.lock().unwrap().clone()
    }

    #[test]
    fn get_set_and_update_log_the_takeover_of_a_dead_holders_lock() {
        let value = Value::new(1_u32).unwrap();
        for (what, op) in [
            (
                "get",
                Box::new(|v: &Value<u32>| {
                    let _ = v.get();
                }) as Box<dyn Fn(&Value<u32>)>,
            ),
            ("set", Box::new(|v: &Value<u32>| v.set(2))),
            (
                "update",
                Box::new(|v: &Value<u32>| {
                    let _ = v.update(|n| n + 1);
                }),
            ),
        ] {
            let logged = with_dead_holder(&value, || op(&value));
            assert_eq!(logged, ["procvisor::sync"], "{what}");
            assert!(!value.get_lock().locked(), "{what}: released after");
        }
        assert_eq!(value.get(), 3);
    }
}
