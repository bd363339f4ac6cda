//! [`SharedType`]: the values that may live in shared memory.

use crate::segment::Segment;

/// A type whose values can be stored in shared memory and read by another process: plain data,
/// no pointers, references, descriptors or heap, valid in any process that reads its bytes.
///
/// Implemented for the integers, floats, `bool`, `char`, and arrays of them.
///
/// # How values are copied, and what a reader can see
///
/// A value is copied to and from shared memory as its bytes, with one atomic access per
/// naturally aligned chunk of 8, 4, 2 or 1 bytes. So every field of at most 8 bytes at its
/// natural alignment (every built-in type but `u128` and `i128`) is always read whole: never a
/// torn number, never a `char` or `bool` made of the bytes of two values. A wider field is not:
/// a `u128` or `i128` is copied as two 8-byte halves, and a read may get one half of the old
/// value and one of the new (still a valid integer).
///
/// Between fields, nothing is atomic. An unsynchronised read ([`RawValue`](crate::RawValue),
/// [`RawArray`](crate::RawArray)) racing with a write, or any read after a process died in the
/// middle of a write (also under the lock of a [`Value`](crate::Value) or an
/// [`Array`](crate::Array)), may see some fields of the old value and some of the new one.
///
/// # Safety
///
/// Implement it for your own type only if all of these hold:
///
/// - **Plain data.** No pointers, references, descriptors, or anything else that means
///   something in one process only: another process reads the bytes.
/// - **No padding.** Every byte of every value belongs to a field (no padding between fields or
///   at the end, no `MaybeUninit`, no unions with uninitialised parts): a value is read as raw
///   bytes when it is stored, and reading padding is undefined behaviour. Use `#[repr(C)]` (or
///   `#[repr(transparent)]`) and add explicit fields where the compiler would pad; check that
///   `size_of` is the sum of the fields' sizes.
/// - **Made of shared types.** Every field is itself a `SharedType` (so, in the end, made of the
///   built-in ones, each at its natural alignment, which `#[repr(C)]` gives).
/// - **Any mix is valid.** Every combination of valid values of its fields, and of the two
///   8-byte halves of a `u128`/`i128` field, is a valid value of the type (see above). A type
///   with an invariant between its fields (a length and a buffer, "`a <= b`") does not qualify.
pub unsafe trait SharedType: Copy + Send + Sync + 'static {}

macro_rules! shared_types {
    ($($t:ty),*) => {$(
        // SAFETY: a primitive: plain data, no padding. Integers and floats are valid for every
        // bit pattern (a `u128`/`i128` torn between its 8-byte halves included); a `bool` or a
        // `char` is not, but being at most 8 bytes and naturally aligned it is always copied in
        // one atomic access, so it only ever holds a value that was written whole.
        unsafe impl SharedType for $t {}
    )*};
}

shared_types!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64, bool, char
);

// SAFETY: an array has no padding between or after its elements (its size is `N` times theirs),
// each element sits at its natural alignment, and any mix of valid elements is a valid array.
unsafe impl<T: SharedType, const N: usize> SharedType for [T; N] {}

/// The offset at which `T` values start, after `after` bytes of state.
pub(crate) fn data_offset<T>(after: usize) -> usize {
    after.next_multiple_of(std::mem::align_of::<T>().max(8))
}

/// Reads the `T` at `offset` (atomically per naturally aligned chunk).
pub(crate) fn read<T: SharedType>(segment: &Segment, offset: usize) -> T {
    let mut value = std::mem::MaybeUninit::<T>::uninit();
    // SAFETY: `value` is writable memory of exactly size_of::<T>() bytes.
    let bytes = unsafe {
        std::slice::from_raw_parts_mut(value.as_mut_ptr().cast::<u8>(), std::mem::size_of::<T>())
    };
    debug_assert!(naturally_aligned::<T>(segment, offset));
    segment.read_bytes(offset, bytes);
    // SAFETY: every byte was written by `write` from a valid `T` (or by the initial write of
    // the object). Each field of at most 8 bytes is copied by one atomic access, so it comes
    // whole from one write; the trait's contract makes any mix of such fields (and of the
    // halves of a wider integer) a valid `T`.
    unsafe { value.assume_init() }
}

/// Writes `value` at `offset` (atomically per naturally aligned chunk).
pub(crate) fn write<T: SharedType>(segment: &Segment, offset: usize, value: T) {
    // SAFETY: `value` lives on the stack for the whole borrow, and a `SharedType` has no
    // padding (the trait's contract), so all its `size_of::<T>()` bytes are initialised.
    let bytes = unsafe {
        std::slice::from_raw_parts((&raw const value).cast::<u8>(), std::mem::size_of::<T>())
    };
    debug_assert!(naturally_aligned::<T>(segment, offset));
    segment.write_bytes(offset, bytes);
}

/// Whether a `T` at `offset` has its fields at their natural alignment (segments are
/// page-aligned and values start at multiples of their alignment past a 64-byte header).
fn naturally_aligned<T>(segment: &Segment, offset: usize) -> bool {
    (segment.at(offset) as usize) % std::mem::align_of::<T>().min(64) == 0
}
