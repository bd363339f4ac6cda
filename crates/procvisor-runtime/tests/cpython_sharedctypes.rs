//! Behaviours of CPython's `_TestSharedCTypes` (`Lib/test/_test_multiprocessing.py`, 3.14.5,
//! Python Software Foundation License; test_sharedctypes, test_synchronize and test_copy, case 52
//! of §2 of `reference/python-multiprocessing.md`), rewritten in Rust, plus Python's
//! `Value(…, lock=some_lock)` across processes.
//!
//! Tweaks: typecodes are Rust types (`'i'` is `i32`, `'d'` `f64`, `c_longlong` `i64`, `'c'` a
//! `u8` array); `_Foo` is a `#[repr(C)]` struct with an explicit padding field (a `SharedType`
//! has none); `lock=False` is `RawValue`/`RawArray`, `lock=True` `Value`/`Array` with their own
//! lock, and a third run shares one supplied `RLock`. Every step that waits on a child has a
//! deadline that names it.

use procvisor_runtime::{Process, register};
use procvisor_sync::{Array, Lock, RLock, RawArray, RawValue, SharedLock, SharedType, Value};
use procvisor_testing::within;
use serde::{Deserialize, Serialize};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// CPython's `_Foo(Structure)`: `x` a `c_int`, `y` a `c_double`, `z` a `c_longlong`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
struct Foo {
    x: i32,
    /// Where C would pad: a `SharedType` has no padding.
    _pad: i32,
    y: f64,
    z: i64,
}

// SAFETY: `#[repr(C)]`, plain integers and a float, no padding (4 + 4 + 8 + 8 = 24 bytes at
// their natural alignment), and any mix of field values is a valid `Foo`.
unsafe impl SharedType for Foo {}

fn foo(x: i32, y: f64, z: i64) -> Foo {
    Foo { x, _pad: 0, y, z }
}

/// Everything test_sharedctypes doubles, with locks.
#[derive(Clone, Serialize, Deserialize)]
struct Locked {
    x: Value<i32>,
    y: Value<f64>,
    z: Value<i64>,
    foo: Value<Foo>,
    arr: Array<f64>,
    string: Array<u8>,
}

/// The same without locks (`lock=False`).
#[derive(Clone, Serialize, Deserialize)]
struct Raw {
    x: RawValue<i32>,
    y: RawValue<f64>,
    z: RawValue<i64>,
    foo: RawValue<Foo>,
    arr: RawArray<f64>,
    string: RawArray<u8>,
}

fn double_locked(s: Locked) -> Result<(), String> {
    s.x.update(|v| v * 2);
    s.y.update(|v| v * 2.0);
    s.z.update(|v| v * 2);
    s.foo.update(|f| foo(f.x * 2, f.y * 2.0, f.z));
    for i in 0..s.arr.len() {
        s.arr
            .set(i, s.arr.get(i).unwrap_or(0.0) * 2.0)
            .map_err(|e| e.to_string())?;
    }
    s.string
        .set_value(&[s.string.value(), s.string.value()].concat())
        .map_err(|e| e.to_string())
}

fn double_raw(s: Raw) -> Result<(), String> {
    s.x.set(s.x.get() * 2);
    s.y.set(s.y.get() * 2.0);
    s.z.set(s.z.get() * 2);
    let f = s.foo.get();
    s.foo.set(foo(f.x * 2, f.y * 2.0, f.z));
    for i in 0..s.arr.len() {
        s.arr
            .set(i, s.arr.get(i).unwrap_or(0.0) * 2.0)
            .map_err(|e| e.to_string())?;
    }
    s.string
        .set_value(&[s.string.value(), s.string.value()].concat())
        .map_err(|e| e.to_string())
}

/// Counts `rounds` times under `own`'s lock; the shared `tally` is protected only by that lock.
fn count_under_value(own: Value<u64>, tally: RawValue<u64>, rounds: u64) {
    for _ in 0..rounds {
        let guard = own.lock().expect("a blocking acquisition");
        guard.set(guard.get() + 1);
        bump_slowly(&tally);
    }
}

/// The same under an array's lock.
fn count_under_array(own: Array<u64>, tally: RawValue<u64>, rounds: u64) {
    for _ in 0..rounds {
        let guard = own.lock().expect("a blocking acquisition");
        guard
            .set(0, guard.get(0).unwrap_or(0) + 1)
            .expect("index 0");
        bump_slowly(&tally);
    }
}

/// A read-modify-write with a window in it, so that two unsynchronised processes lose updates.
fn bump_slowly(tally: &RawValue<u64>) {
    let seen = tally.get();
    for _ in 0..64 {
        std::hint::spin_loop();
    }
    tally.set(seen + 1);
}

register!(
    double_locked,
    double_raw,
    count_under_value,
    count_under_array
);

fn run_child(step: &'static str, mut p: Process) {
    within(LIMIT, step, move || {
        p.start().expect("start");
        p.result::<()>().expect("the child succeeds");
    });
}

fn python_string() -> Vec<u8> {
    let mut s = b"hello".to_vec();
    s.resize(20, 0); // Array('c', 20) with 'hello' in it
    s
}

/// What a test reads back after the child ran.
struct Seen {
    x: i32,
    y: f64,
    z: i64,
    foo: Foo,
    arr: Vec<f64>,
    string: Vec<u8>,
}

impl Seen {
    fn assert_doubled(&self) {
        assert_eq!(self.x, 14);
        assert!((self.y - 2.0 / 3.0).abs() < 1e-12, "{}", self.y);
        assert_eq!(self.z, 1 << 34);
        assert_eq!(self.foo, foo(6, 4.0, 0));
        let doubled: Vec<f64> = (0..10).map(|i| f64::from(i) * 2.0).collect();
        assert_eq!(self.arr, doubled);
        assert_eq!(self.string, b"hellohello");
    }
}

/// Reads back the fields of `Locked` or `Raw`, whose handles have the same methods.
macro_rules! seen {
    ($s:expr) => {
        Seen {
            x: $s.x.get(),
            y: $s.y.get(),
            z: $s.z.get(),
            foo: $s.foo.get(),
            arr: $s.arr.to_vec(),
            string: $s.string.value(),
        }
    };
}

impl Locked {
    fn seen(&self) -> Seen {
        seen!(self)
    }
}

impl Raw {
    fn seen(&self) -> Seen {
        seen!(self)
    }
}

/// test_sharedctypes' starting values, without locks.
fn raw() -> Raw {
    Raw {
        x: RawValue::new(7).unwrap(),
        y: RawValue::new(1.0 / 3.0).unwrap(),
        z: RawValue::new(1 << 33).unwrap(),
        foo: RawValue::new(foo(3, 2.0, 0)).unwrap(),
        arr: RawArray::new(&(0..10).map(f64::from).collect::<Vec<_>>()).unwrap(),
        string: RawArray::new(&python_string()).unwrap(),
    }
}

/// test_sharedctypes' starting values, each with its own lock or all on `lock`.
fn locked(lock: Option<&RLock>) -> Locked {
    let arr: Vec<f64> = (0..10).map(f64::from).collect();
    match lock {
        None => Locked {
            x: Value::new(7).unwrap(),
            y: Value::new(1.0 / 3.0).unwrap(),
            z: Value::new(1 << 33).unwrap(),
            foo: Value::new(foo(3, 2.0, 0)).unwrap(),
            arr: Array::new(&arr).unwrap(),
            string: Array::new(&python_string()).unwrap(),
        },
        Some(lock) => Locked {
            x: Value::with_lock(7, lock.clone()).unwrap(),
            y: Value::with_lock(1.0 / 3.0, lock.clone()).unwrap(),
            z: Value::with_lock(1 << 33, lock.clone()).unwrap(),
            foo: Value::with_lock(foo(3, 2.0, 0), lock.clone()).unwrap(),
            arr: Array::with_lock(&arr, lock.clone()).unwrap(),
            string: Array::with_lock(&python_string(), lock.clone()).unwrap(),
        },
    }
}

#[test]
fn test_synchronize_a_child_doubles_values_with_their_own_locks() {
    let s = locked(None);
    run_child(
        "the child doubling locked values",
        Process::new(double_locked, (s.clone(),)).unwrap(),
    );
    s.seen().assert_doubled();
}

#[test]
fn a_child_doubles_values_that_share_one_supplied_lock() {
    let lock = RLock::new().unwrap();
    let s = locked(Some(&lock));
    run_child(
        "the child doubling values on one lock",
        Process::new(double_locked, (s.clone(),)).unwrap(),
    );
    s.seen().assert_doubled();
    let shared: SharedLock = lock.into();
    assert!(s.x.get_lock().same_as(&shared) && s.string.get_lock().same_as(&shared));
}

#[test]
fn test_sharedctypes_a_child_doubles_raw_values() {
    let s = raw();
    run_child(
        "the child doubling raw values",
        Process::new(double_raw, (s.clone(),)).unwrap(),
    );
    s.seen().assert_doubled();
}

#[test]
fn test_copy_a_copy_does_not_follow_the_original() {
    let original = RawValue::new(foo(2, 5.0, 1 << 33)).unwrap();
    let copy = original.copy().unwrap();
    original.set(foo(0, 0.0, 0));
    assert_eq!(copy.get(), foo(2, 5.0, 1 << 33));

    let s = locked(None);
    let copies = Locked {
        x: s.x.copy().unwrap(),
        y: s.y.copy().unwrap(),
        z: s.z.copy().unwrap(),
        foo: s.foo.copy().unwrap(),
        arr: s.arr.copy().unwrap(),
        string: s.string.copy().unwrap(),
    };
    run_child(
        "the child doubling the copies",
        Process::new(double_locked, (copies.clone(),)).unwrap(),
    );
    assert_eq!(
        (s.x.get(), s.string.value()),
        (7, b"hello".to_vec()),
        "originals untouched"
    );
    copies.seen().assert_doubled();
}

#[test]
fn a_synchronized_raw_value_is_the_same_memory_in_a_child() {
    let raw = raw();
    let lock = Lock::new().unwrap();
    let wrapped = Locked {
        x: Value::synchronized(raw.x.clone()).unwrap(),
        y: Value::synchronized_with(raw.y.clone(), lock.clone()),
        z: Value::synchronized_with(raw.z.clone(), lock.clone()),
        foo: Value::synchronized(raw.foo.clone()).unwrap(),
        arr: Array::synchronized_with(raw.arr.clone(), lock),
        string: Array::synchronized(raw.string.clone()).unwrap(),
    };
    run_child(
        "the child doubling through synchronized wrappers",
        Process::new(double_locked, (wrapped,)).unwrap(),
    );
    raw.seen().assert_doubled();
}

/// Two children each count under the lock of their own object; the objects share one lock, so
/// the tally that only that lock protects loses no update.
fn objects_on_one_lock_exclude_each_other(lock: SharedLock, label: &'static str) {
    const ROUNDS: u64 = 20_000;
    let value = Value::with_lock(0_u64, lock.clone()).unwrap();
    let array = Array::with_lock(&[0_u64], lock).unwrap();
    let tally = RawValue::new(0_u64).unwrap();
    let mut a = Process::new(count_under_value, (value.clone(), tally.clone(), ROUNDS)).unwrap();
    let mut b = Process::new(count_under_array, (array.clone(), tally.clone(), ROUNDS)).unwrap();
    within(LIMIT, label, move || {
        a.start().expect("start the value's child");
        b.start().expect("start the array's child");
        a.result::<()>().expect("the value's child succeeds");
        b.result::<()>().expect("the array's child succeeds");
    });
    assert_eq!((value.get(), array.get(0)), (ROUNDS, Some(ROUNDS)));
    assert_eq!(tally.get(), 2 * ROUNDS, "{label}: an update was lost");
}

#[test]
fn a_value_and_an_array_on_one_lock_exclude_each_other_across_processes() {
    objects_on_one_lock_exclude_each_other(
        Lock::new().unwrap().into(),
        "two children counting under one Lock",
    );
}

#[test]
fn a_value_and_an_array_on_one_rlock_exclude_each_other_across_processes() {
    objects_on_one_lock_exclude_each_other(
        RLock::new().unwrap().into(),
        "two children counting under one RLock",
    );
}
