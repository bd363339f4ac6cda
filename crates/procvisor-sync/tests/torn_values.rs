//! A value read while another thread writes it comes out as one of the values written, field by
//! field: no integer, float, `bool` or `char` is ever made of the bytes of two writes (a `u128`
//! may be made of the 8-byte halves of two). Threads stand in for processes: the atomic
//! accesses to the shared bytes are the same.

use procvisor_sync::{RawArray, RawValue, SharedType};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const READS: usize = 200_000;

/// Writes `a` and `b` in turn on another thread while this one reads `READS` times; every read
/// must pass `check`.
fn race<T: SharedType + std::fmt::Debug>(a: T, b: T, check: impl Fn(T) -> bool) {
    let value = RawValue::new(a).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (value, stop) = (value.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                value.set(b);
                value.set(a);
            }
        })
    };
    for _ in 0..READS {
        let got = value.get();
        if !check(got) {
            stop.store(true, Ordering::Relaxed);
            panic!("torn read: {got:?} is neither {a:?} nor {b:?}");
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
}

#[test]
fn racing_reads_of_small_numbers_are_never_torn() {
    race(0_u16, u16::MAX, |v| v == 0 || v == u16::MAX);
    race(0_i16, -1_i16, |v| v == 0 || v == -1);
    race(0_u32, u32::MAX, |v| v == 0 || v == u32::MAX);
    race(1.5_f32, -2.25e30_f32, |v| v == 1.5 || v == -2.25e30);
    race(0_u64, u64::MAX, |v| v == 0 || v == u64::MAX);
    race(false, true, |_| true);
}

#[test]
fn racing_reads_of_a_char_are_always_one_of_the_chars_written() {
    // U+10D800 is 0x0010_D800: its low half alone, 0xD800, is a surrogate, not a char. Mixing
    // its bytes or halves with those of 'A' (0x0000_0041) would give an invalid char.
    let (a, b) = ('A', '\u{10D800}');
    race(a, b, |c| {
        let code = u32::from(c);
        code == 0x41 || code == 0x10_D800
    });
}

#[test]
fn a_u128_may_tear_only_between_its_8_byte_halves() {
    race(0_u128, u128::MAX, |v| {
        let (low, high) = (v as u64, (v >> 64) as u64);
        (low == 0 || low == u64::MAX) && (high == 0 || high == u64::MAX)
    });
}

/// Every field at its natural alignment, no padding: 24 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
struct Mixed {
    a: u8,
    b: bool,
    c: u16,
    d: f32,
    e: char,
    f: u32,
    g: u64,
}
// SAFETY: plain data, every field a `SharedType` at its natural alignment, no padding (1 + 1 +
// 2 + 4 + 4 + 4 + 8 = 24 = size_of), and any mix of field values is a valid `Mixed`.
unsafe impl SharedType for Mixed {}

#[test]
fn racing_reads_of_a_struct_mix_whole_fields() {
    assert_eq!(std::mem::size_of::<Mixed>(), 24);
    let a = Mixed {
        a: 0,
        b: false,
        c: 0,
        d: 0.0,
        e: 'A',
        f: 0,
        g: 0,
    };
    let b = Mixed {
        a: u8::MAX,
        b: true,
        c: u16::MAX,
        d: -1.0e-3,
        e: '\u{10D800}',
        f: u32::MAX,
        g: u64::MAX,
    };
    race(a, b, |m| {
        (m.a == a.a || m.a == b.a)
            && (m.c == a.c || m.c == b.c)
            && (m.d == a.d || m.d == b.d)
            && (m.e == a.e || m.e == b.e)
            && (m.f == a.f || m.f == b.f)
            && (m.g == a.g || m.g == b.g)
    });
}

#[test]
fn racing_reads_of_array_elements_are_never_torn() {
    // Odd-sized elements at every alignment: 3-element arrays of u16 (6 bytes each).
    let array = RawArray::new(&[[0_u16; 3]; 5]).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (array, stop) = (array.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for i in 0..5 {
                    array.set(i, [u16::MAX; 3]).unwrap();
                }
                for i in 0..5 {
                    array.set(i, [0; 3]).unwrap();
                }
            }
        })
    };
    for _ in 0..READS / 5 {
        for element in array.to_vec() {
            assert!(
                element.iter().all(|&v| v == 0 || v == u16::MAX),
                "torn element {element:?}"
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
}
