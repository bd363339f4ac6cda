//! Shared-memory segments: a file descriptor and its mapping.
//!
//! An anonymous segment is a `memfd`: it has no name, is freed by the kernel when the last
//! descriptor and mapping go, and reaches other processes only as a descriptor inside a message
//! (fork, spawn and forkserver children alike). A named segment is a POSIX shared-memory object
//! under `/dev/shm`.
//!
//! Every access to the bytes of a segment from safe code goes through atomic operations:
//! several processes may race on the same bytes, and in Rust that is only defined behaviour with
//! atomics. A copy uses one atomic access per naturally aligned chunk of 8, 4, 2 or 1 bytes,
//! the widest that fits, so a naturally aligned field of 1, 2, 4 or 8 bytes is always copied in
//! one access: a racing read may see a mix of old and new fields, never a torn one. A wider
//! field (a `u128`) is copied in 8-byte pieces, which a racing read may mix.

use procvisor_wire::SharedFd;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering};

/// The page size every segment is rounded to.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 { size as usize } else { 4096 }
}

/// A mapped shared-memory segment. Cloning a handle is cheap (the mapping is shared).
#[derive(Debug)]
pub(crate) struct Segment {
    fd: SharedFd,
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain shared memory; every access through the segment's methods is
// atomic or happens under the caller's own synchronisation, so sharing between threads is sound.
unsafe impl Send for Segment {}
// SAFETY: as above.
unsafe impl Sync for Segment {}

impl Segment {
    /// A new zero-filled anonymous segment of at least `len` bytes.
    pub(crate) fn anonymous(len: usize, label: &str) -> io::Result<Segment> {
        let name =
            std::ffi::CString::new(format!("procvisor:{label}")).map_err(io::Error::other)?;
        // SAFETY: memfd_create with a NUL-terminated name and valid flags.
        let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: memfd_create returned a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let len = len.max(1).next_multiple_of(page_size());
        nix::unistd::ftruncate(&fd, len as libc::off_t)?;
        Segment::map(SharedFd::new(fd), len)
    }

    /// Maps `len` bytes of the shared-memory file `fd`.
    pub(crate) fn map(fd: SharedFd, len: usize) -> io::Result<Segment> {
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot map an empty segment",
            ));
        }
        // SAFETY: a new shared, readable and writable mapping of a file we hold open; the kernel
        // picks the address. The mapping is unmapped exactly once, in Drop.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Segment { fd, ptr, len })
    }

    /// The size of the file behind `fd`.
    pub(crate) fn file_len(fd: &SharedFd) -> io::Result<usize> {
        let stat = nix::sys::stat::fstat(fd.as_fd())?;
        Ok(stat.st_size as usize)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn fd(&self) -> &SharedFd {
        &self.fd
    }

    /// A pointer `offset` bytes into the mapping.
    ///
    /// # Panics
    ///
    /// When `offset` is past the end.
    pub(crate) fn at(&self, offset: usize) -> *mut u8 {
        assert!(
            offset <= self.len,
            "offset {offset} past a segment of {} bytes",
            self.len
        );
        // SAFETY: `offset` is within (or one past) the mapping, checked above.
        unsafe { self.ptr.as_ptr().add(offset) }
    }

    /// A reference to a `T` that lives at `offset` in the segment.
    ///
    /// # Safety
    ///
    /// `offset` must be aligned for `T`, `offset + size_of::<T>()` within the segment, and `T`
    /// a type made of atomics (or otherwise valid for any bytes and safe to share), laid out
    /// identically in every process that maps the segment.
    pub(crate) unsafe fn typed<T>(&self, offset: usize) -> &T {
        debug_assert!(
            offset % std::mem::align_of::<T>() == 0
                && offset + std::mem::size_of::<T>() <= self.len
        );
        // SAFETY: guaranteed by the caller.
        unsafe { &*self.at(offset).cast::<T>() }
    }

    /// Copies `src` into the segment at `offset`, atomically per naturally aligned chunk.
    pub(crate) fn write_bytes(&self, offset: usize, src: &[u8]) {
        assert!(
            offset
                .checked_add(src.len())
                .is_some_and(|end| end <= self.len),
            "write past the end of a segment"
        );
        // SAFETY: the range is within the mapping (checked above).
        unsafe { atomic_copy_to(self.at(offset), src) }
    }

    /// Copies bytes at `offset` into `dst`, atomically per naturally aligned chunk.
    pub(crate) fn read_bytes(&self, offset: usize, dst: &mut [u8]) {
        assert!(
            offset
                .checked_add(dst.len())
                .is_some_and(|end| end <= self.len),
            "read past the end of a segment"
        );
        // SAFETY: the range is within the mapping (checked above).
        unsafe { atomic_copy_from(self.at(offset), dst) }
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping created in `map`, exactly once; no reference into it
        // outlives the segment (all accessors borrow it).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// The width of the atomic access that copies the bytes at address `addr`, with `remaining`
/// bytes left to copy: the widest of 8, 4 and 2 bytes that `addr` is aligned to and that fits,
/// else 1.
///
/// This never splits a naturally aligned 2-, 4- or 8-byte field of the copied range: at the
/// field's first byte, the copy is at least that aligned and has at least that many bytes left,
/// so the access taken there is at least as wide as the field; and a wider access that starts
/// before the field is aligned to its own width, so it covers the whole field.
pub(crate) fn chunk_width(addr: usize, remaining: usize) -> usize {
    if addr % 8 == 0 && remaining >= 8 {
        8
    } else if addr % 4 == 0 && remaining >= 4 {
        4
    } else if addr % 2 == 0 && remaining >= 2 {
        2
    } else {
        1
    }
}

/// Copies `src` to shared memory at `dst` with atomic stores, one per naturally aligned chunk
/// of 8, 4, 2 or 1 bytes (see [`chunk_width`]).
///
/// # Safety
///
/// `dst..dst + src.len()` must be inside a live mapping.
pub(crate) unsafe fn atomic_copy_to(dst: *mut u8, src: &[u8]) {
    let mut i = 0;
    while i < src.len() {
        // SAFETY: `dst + i` is inside the mapping (caller's guarantee, `i < src.len()`).
        let p = unsafe { dst.add(i) };
        let width = chunk_width(p as usize, src.len() - i);
        let bytes = &src[i..i + width];
        // SAFETY: `p..p + width` is inside the mapping (`width <= src.len() - i`) and `p` is
        // aligned to `width` (checked by `chunk_width`), so it is a valid atomic of that width;
        // shared memory is only ever accessed atomically, so this races with nothing non-atomic.
        unsafe {
            match width {
                8 => AtomicU64::from_ptr(p.cast()).store(
                    u64::from_ne_bytes(bytes.try_into().expect("8 bytes")),
                    Ordering::Relaxed,
                ),
                4 => AtomicU32::from_ptr(p.cast()).store(
                    u32::from_ne_bytes(bytes.try_into().expect("4 bytes")),
                    Ordering::Relaxed,
                ),
                2 => AtomicU16::from_ptr(p.cast()).store(
                    u16::from_ne_bytes(bytes.try_into().expect("2 bytes")),
                    Ordering::Relaxed,
                ),
                _ => AtomicU8::from_ptr(p).store(bytes[0], Ordering::Relaxed),
            }
        }
        i += width;
    }
}

/// Copies shared memory at `src` into `dst` with atomic loads, one per naturally aligned chunk
/// of 8, 4, 2 or 1 bytes (see [`chunk_width`]).
///
/// # Safety
///
/// `src..src + dst.len()` must be inside a live mapping.
pub(crate) unsafe fn atomic_copy_from(src: *const u8, dst: &mut [u8]) {
    let mut i = 0;
    while i < dst.len() {
        // SAFETY: `src + i` is inside the mapping (caller's guarantee, `i < dst.len()`).
        let p = unsafe { src.add(i) }.cast_mut();
        let width = chunk_width(p as usize, dst.len() - i);
        let out = &mut dst[i..i + width];
        // SAFETY: as in `atomic_copy_to`: in bounds, aligned to `width`, only accessed
        // atomically.
        unsafe {
            match width {
                8 => out.copy_from_slice(
                    &AtomicU64::from_ptr(p.cast())
                        .load(Ordering::Relaxed)
                        .to_ne_bytes(),
                ),
                4 => out.copy_from_slice(
                    &AtomicU32::from_ptr(p.cast())
                        .load(Ordering::Relaxed)
                        .to_ne_bytes(),
                ),
                2 => out.copy_from_slice(
                    &AtomicU16::from_ptr(p.cast())
                        .load(Ordering::Relaxed)
                        .to_ne_bytes(),
                ),
                _ => out[0] = AtomicU8::from_ptr(p).load(Ordering::Relaxed),
            }
        }
        i += width;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_segments_are_zeroed_page_multiples() {
        let segment = Segment::anonymous(10, "test").unwrap();
        assert_eq!(segment.len(), page_size());
        let mut buf = vec![1_u8; 10];
        segment.read_bytes(0, &mut buf);
        assert_eq!(buf, vec![0; 10]);
    }

    #[test]
    fn two_mappings_of_one_fd_share_bytes_at_every_alignment() {
        let a = Segment::anonymous(64, "test").unwrap();
        let b = Segment::map(a.fd().clone(), a.len()).unwrap();
        let data: Vec<u8> = (0..40).collect();
        for offset in 0..9 {
            a.write_bytes(offset, &data);
            let mut back = vec![0; 40];
            b.read_bytes(offset, &mut back);
            assert_eq!(back, data, "offset {offset}");
        }
    }

    /// Every naturally aligned 2-, 4- or 8-byte block inside a copied range is covered by one
    /// access, whatever the range's start and length: no field up to 8 bytes is ever torn.
    #[test]
    fn no_aligned_field_is_split_between_accesses() {
        for start in 0..32_usize {
            for len in 0..48_usize {
                let mut chunks = Vec::new();
                let mut at = start;
                while at < start + len {
                    let width = chunk_width(at, start + len - at);
                    assert_eq!(at % width, 0, "an access at {at} is aligned to its width");
                    chunks.push(at..at + width);
                    at += width;
                }
                for size in [2, 4, 8] {
                    let first = start.next_multiple_of(size);
                    for field in (first..start + len).step_by(size) {
                        if field + size > start + len {
                            break;
                        }
                        assert!(
                            chunks
                                .iter()
                                .any(|c| c.start <= field && field + size <= c.end),
                            "a {size}-byte field at {field} is split (copy of {len} bytes at {start}: {chunks:?})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "past the end")]
    fn out_of_range_access_panics_instead_of_corrupting() {
        let a = Segment::anonymous(8, "test").unwrap();
        a.write_bytes(a.len() - 1, &[1, 2]);
    }

    #[test]
    fn an_empty_mapping_is_an_error() {
        let a = Segment::anonymous(8, "test").unwrap();
        assert!(Segment::map(a.fd().clone(), 0).is_err());
    }
}
