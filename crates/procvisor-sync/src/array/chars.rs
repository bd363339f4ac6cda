//! Python's `Array('c', …)`: an array of bytes read and written as a C string (`value`) or as
//! all its bytes (`raw`).
//!
//! The semantics are ctypes' `c_char` arrays: `value` stops at the first NUL; setting `value`
//! copies the bytes and writes one NUL after them when there is room (the bytes after that NUL
//! are left as they were, and `raw` still shows them); setting `raw` copies the bytes and
//! leaves the rest. Neither setter accepts more bytes than the array holds.

use super::{Array, RawArray};
use crate::segment::Segment;

/// A byte string longer than the array it is written to (Python: `ValueError('byte string too
/// long')`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("byte string too long: {len} bytes for an array of {capacity}")]
pub struct TooLongError {
    /// The length of the byte string.
    pub len: usize,
    /// The array's length.
    pub capacity: usize,
}

fn read_all(segment: &Segment, offset: usize, len: usize) -> Vec<u8> {
    let mut bytes = vec![0_u8; len];
    segment.read_bytes(offset, &mut bytes);
    bytes
}

fn up_to_nul(mut bytes: Vec<u8>) -> Vec<u8> {
    if let Some(end) = bytes.iter().position(|&b| b == 0) {
        bytes.truncate(end);
    }
    bytes
}

fn check(len: usize, capacity: usize) -> Result<(), TooLongError> {
    if len > capacity {
        Err(TooLongError { len, capacity })
    } else {
        Ok(())
    }
}

fn write_value(segment: &Segment, offset: usize, capacity: usize, value: &[u8]) {
    segment.write_bytes(offset, value);
    if value.len() < capacity {
        segment.write_bytes(offset + value.len(), &[0]);
    }
}

impl Array<u8> {
    /// Python's `arr.value` for `Array('c', …)`: the bytes before the first NUL (all of them
    /// when there is none).
    ///
    /// ```
    /// use procvisor_sync::Array;
    ///
    /// let s = Array::<u8>::zeroed(10)?;
    /// s.set_value(b"hello")?;
    /// assert_eq!(s.value(), b"hello");
    /// assert_eq!(s.raw(), b"hello\0\0\0\0\0");
    /// assert!(s.set_value(b"far too long").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn value(&self) -> Vec<u8> {
        up_to_nul(self.raw())
    }

    /// Python's `arr.raw`: every byte, NULs included.
    ///
    /// ```
    /// let s = procvisor_sync::Array::new(b"ab\0cd")?;
    /// assert_eq!(s.raw(), b"ab\0cd");
    /// assert_eq!(s.value(), b"ab");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn raw(&self) -> Vec<u8> {
        self.locked(|| read_all(self.segment(), self.offset(0), self.len()))
    }

    /// Python's `arr.value = bytes`: copies `value` and, when it is shorter than the array,
    /// writes one NUL after it (the bytes past that NUL keep their contents, as in ctypes).
    ///
    /// ```
    /// let s = procvisor_sync::Array::new(b"abcdef")?;
    /// s.set_value(b"xy")?;
    /// assert_eq!(s.value(), b"xy");
    /// assert_eq!(s.raw(), b"xy\0def");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`TooLongError`] when `value` is longer than the array; nothing is written then.
    pub fn set_value(&self, value: &[u8]) -> Result<(), TooLongError> {
        check(value.len(), self.len())?;
        self.locked(|| write_value(self.segment(), self.offset(0), self.len(), value));
        Ok(())
    }

    /// Python's `arr.raw = bytes`: copies `raw` to the start of the array and leaves the rest.
    ///
    /// ```
    /// let s = procvisor_sync::Array::new(b"abcdef")?;
    /// s.set_raw(b"x\0y")?;
    /// assert_eq!(s.raw(), b"x\0ydef");
    /// assert!(s.set_raw(b"1234567").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`TooLongError`] when `raw` is longer than the array; nothing is written then.
    pub fn set_raw(&self, raw: &[u8]) -> Result<(), TooLongError> {
        check(raw.len(), self.len())?;
        self.locked(|| self.segment().write_bytes(self.offset(0), raw));
        Ok(())
    }
}

impl RawArray<u8> {
    /// As [`Array::value`], without a lock.
    ///
    /// ```
    /// let s = procvisor_sync::RawArray::new(b"hi\0there")?;
    /// assert_eq!(s.value(), b"hi");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn value(&self) -> Vec<u8> {
        up_to_nul(self.raw())
    }

    /// As [`Array::raw`], without a lock.
    ///
    /// ```
    /// let s = procvisor_sync::RawArray::new(b"hi\0there")?;
    /// assert_eq!(s.raw(), b"hi\0there");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn raw(&self) -> Vec<u8> {
        read_all(self.segment(), self.offset(0), self.len())
    }

    /// As [`Array::set_value`], without a lock.
    ///
    /// ```
    /// let s = procvisor_sync::RawArray::<u8>::zeroed(4)?;
    /// s.set_value(b"abcd")?;
    /// assert_eq!(s.value(), b"abcd", "no room for the NUL: none is written");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`TooLongError`] when `value` is longer than the array.
    pub fn set_value(&self, value: &[u8]) -> Result<(), TooLongError> {
        check(value.len(), self.len())?;
        write_value(self.segment(), self.offset(0), self.len(), value);
        Ok(())
    }

    /// As [`Array::set_raw`], without a lock.
    ///
    /// ```
    /// let s = procvisor_sync::RawArray::new(b"abc")?;
    /// s.set_raw(b"xy")?;
    /// assert_eq!(s.raw(), b"xyc");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`TooLongError`] when `raw` is longer than the array.
    pub fn set_raw(&self, raw: &[u8]) -> Result<(), TooLongError> {
        check(raw.len(), self.len())?;
        self.segment().write_bytes(self.offset(0), raw);
        Ok(())
    }
}

#[cfg(all(test, not(procvisor_loom)))]
mod tests {
    use super::*;

    #[test]
    fn value_stops_at_the_first_nul_and_raw_does_not() {
        let s = Array::new(b"he\0llo").unwrap();
        assert_eq!(s.value(), b"he");
        assert_eq!(s.raw(), b"he\0llo");
        let full = Array::new(b"hello").unwrap();
        assert_eq!(full.value(), b"hello", "no NUL: every byte");
        let empty = Array::<u8>::new(&[]).unwrap();
        assert_eq!((empty.value(), empty.raw()), (vec![], vec![]));
        empty.set_value(b"").unwrap();
        assert_eq!(
            empty.set_raw(b"x"),
            Err(TooLongError {
                len: 1,
                capacity: 0
            })
        );
    }

    #[test]
    fn a_refused_write_changes_nothing() {
        let array = Array::new(b"abc").unwrap();
        let err = array.set_value(b"abcd").unwrap_err();
        assert_eq!(
            err.to_string(),
            "byte string too long: 4 bytes for an array of 3"
        );
        assert!(array.set_raw(b"wxyz").is_err());
        assert_eq!(array.raw(), b"abc");
        let raw = RawArray::new(b"abc").unwrap();
        assert!(raw.set_value(b"abcd").is_err() && raw.set_raw(b"abcd").is_err());
        assert_eq!(raw.raw(), b"abc");
    }

    #[test]
    fn set_value_writes_one_nul_and_keeps_the_tail_like_ctypes() {
        let s = RawArray::new(b"abcdefgh").unwrap();
        s.set_value(b"hello").unwrap();
        assert_eq!(s.raw(), b"hello\0gh");
        s.set_value(b"hi").unwrap();
        assert_eq!(s.value(), b"hi");
        assert_eq!(s.raw(), b"hi\0lo\0gh");
        // test_sharedctypes: a child doubles the string in `Array('c', 20)`.
        let c = Array::<u8>::zeroed(20).unwrap();
        c.set_value(b"hello").unwrap();
        c.set_value(&[c.value(), c.value()].concat()).unwrap();
        assert_eq!(c.value(), b"hellohello");
    }
}
