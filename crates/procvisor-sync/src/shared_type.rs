//! [`SharedType`]: the values that may live in shared memory.

use crate::segment::Segment;

/// A type whose values can be stored in shared memory and read by another process: plain data,
/// no pointers, references, descriptors or heap, valid in any process that reads its bytes.
///
/// Implemented for the integers, floats, `bool`, `char`, and arrays of them.
///
/// # Safety
///
/// Implement it for your own `#[repr(C)]` types only when every field is itself a
/// `SharedType` and any combination of field values is a valid value: an unsynchronised read
/// ([`RawValue`](crate::RawValue), [`RawArray`](crate::RawArray)) racing with a write may see
/// some fields from the old value and some from the new one (never a torn field).
pub unsafe trait SharedType: Copy + Send + Sync + 'static {}

macro_rules! shared_types {
    ($($t:ty),*) => {$(
        // SAFETY: a primitive with no pointers; every value written is valid when read back,
        // and (being at most 8 bytes and naturally aligned) it is never torn.
        unsafe impl SharedType for $t {}
    )*};
}

shared_types!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64, bool, char
);

// SAFETY: an array of shared types is as valid as its elements.
unsafe impl<T: SharedType, const N: usize> SharedType for [T; N] {}

/// The offset at which `T` values start, after `after` bytes of state.
pub(crate) fn data_offset<T>(after: usize) -> usize {
    after.next_multiple_of(std::mem::align_of::<T>().max(8))
}

/// Reads the `T` at `offset` (atomically per aligned chunk).
pub(crate) fn read<T: SharedType>(segment: &Segment, offset: usize) -> T {
    let mut value = std::mem::MaybeUninit::<T>::uninit();
    // SAFETY: `value` is writable memory of exactly size_of::<T>() bytes.
    let bytes = unsafe {
        std::slice::from_raw_parts_mut(value.as_mut_ptr().cast::<u8>(), std::mem::size_of::<T>())
    };
    segment.read_bytes(offset, bytes);
    // SAFETY: the bytes were written by `write` from a valid `T` (a `SharedType` stays valid
    // however its chunks interleave with another write's, see the trait's contract).
    unsafe { value.assume_init() }
}

/// Writes `value` at `offset` (atomically per aligned chunk).
pub(crate) fn write<T: SharedType>(segment: &Segment, offset: usize, value: T) {
    // SAFETY: viewing a plain-data value (no padding-sensitive invariants) as its bytes.
    let bytes = unsafe {
        std::slice::from_raw_parts((&raw const value).cast::<u8>(), std::mem::size_of::<T>())
    };
    segment.write_bytes(offset, bytes);
}
