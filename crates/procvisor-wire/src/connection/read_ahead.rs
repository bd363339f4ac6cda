//! Opt-in read-ahead: one receive takes in as many messages as have arrived, and later
//! receives take them from memory, without a system call each.
//!
//! Descriptors travel in a side channel, so bytes read ahead must not lose track of whose
//! descriptors arrived with them. Linux delivers the descriptors of a `sendmsg` with the first
//! byte of that `sendmsg`, and a receive that meets them stops right after their segment: the
//! descriptors that a receive brings belong to the message containing the last byte it read.
//! Each receive that brings descriptors is recorded with its byte range in the stream, and a
//! finished message takes the descriptors of every receive whose last byte falls inside it.

use crate::frame::ByteSource;
use std::collections::VecDeque;
use std::io;
use std::os::fd::OwnedFd;

/// The bytes received and not yet consumed, and where they sit in the stream.
#[derive(Debug)]
pub(crate) struct ReadAhead {
    buf: Vec<u8>,
    consumed: usize,
    capacity: usize,
    /// The stream offset of `buf[consumed]`.
    position: u64,
    /// Descriptors, with the stream range `[start, end)` of the receive that brought them.
    fd_reads: VecDeque<(u64, u64, Vec<OwnedFd>)>,
}

impl ReadAhead {
    pub(crate) fn new(capacity: usize) -> ReadAhead {
        ReadAhead {
            buf: Vec::new(),
            consumed: 0,
            capacity: capacity.max(64),
            position: 0,
            fd_reads: VecDeque::new(),
        }
    }

    /// Bytes waiting in memory.
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len() - self.consumed
    }

    /// The stream offset of the next byte a frame reader gets.
    pub(crate) fn position(&self) -> u64 {
        self.position
    }

    /// The descriptors of the message `[start, end)` (stream offsets). Descriptors of earlier
    /// receives that no message claimed (they came with a message that was skipped) are closed.
    pub(crate) fn take_fds(&mut self, start: u64, end: u64) -> Vec<OwnedFd> {
        let mut fds = Vec::new();
        while let Some(&(_, read_end, _)) = self.fd_reads.front() {
            if read_end > end {
                break;
            }
            let (_, _, read_fds) = self.fd_reads.pop_front().expect("checked above");
            if read_end > start {
                fds.extend(read_fds);
            }
        }
        fds
    }

    /// Copies buffered bytes into `dst` (at most `max`); returns the count.
    fn serve(&mut self, dst: &mut Vec<u8>, max: usize) -> usize {
        let n = max.min(self.buffered());
        dst.extend_from_slice(&self.buf[self.consumed..self.consumed + n]);
        self.consumed += n;
        self.position += n as u64;
        n
    }

    /// Receives up to `max` bytes straight into `dst` (the buffer being empty).
    fn read_through<S: ByteSource>(
        &mut self,
        source: &mut S,
        dst: &mut Vec<u8>,
        max: usize,
    ) -> io::Result<usize> {
        let mut fds = Vec::new();
        let n = source.read_append(dst, max, Some(&mut fds))?;
        if !fds.is_empty() {
            self.fd_reads
                .push_back((self.position, self.position + n as u64, fds));
        }
        self.position += n as u64;
        Ok(n)
    }

    /// Receives what has arrived (up to the capacity) from `source`.
    fn refill<S: ByteSource>(&mut self, source: &mut S) -> io::Result<usize> {
        self.buf.clear();
        self.consumed = 0;
        let mut fds = Vec::new();
        let n = source.read_append(&mut self.buf, self.capacity, Some(&mut fds))?;
        if !fds.is_empty() {
            self.fd_reads
                .push_back((self.position, self.position + n as u64, fds));
        }
        Ok(n)
    }
}

/// A byte source that reads ahead into a [`ReadAhead`]. With `refill: false` it only serves
/// what is buffered (and reports would-block when that runs out).
pub(crate) struct Buffered<'a, S> {
    pub(crate) ahead: &'a mut ReadAhead,
    pub(crate) inner: S,
    pub(crate) refill: bool,
}

impl<S: ByteSource> ByteSource for Buffered<'_, S> {
    fn read_append(
        &mut self,
        dst: &mut Vec<u8>,
        max: usize,
        _: Option<&mut Vec<OwnedFd>>,
    ) -> io::Result<usize> {
        if self.ahead.buffered() == 0 {
            if !self.refill {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            if max >= self.ahead.capacity {
                // A large read (the body of a large message): straight into place, no copy.
                return self.ahead.read_through(&mut self.inner, dst, max);
            }
            if self.ahead.refill(&mut self.inner)? == 0 {
                return Ok(0);
            }
        }
        Ok(self.ahead.serve(dst, max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{FrameReader, SliceSource};

    fn framed(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            out.extend_from_slice(&(p.len() as i32).to_be_bytes());
            out.extend_from_slice(p);
        }
        out
    }

    #[test]
    fn frames_come_out_whole_whatever_the_read_sizes() {
        let data = framed(&[b"", b"a", b"hello world", &[7; 300]]);
        for capacity in [64, 100, 1000] {
            for step in [1, 3, 64, 1000] {
                let mut ahead = ReadAhead::new(capacity);
                let mut reader = FrameReader::default();
                let mut slice = SliceSource { data: &data, step };
                let mut got = Vec::new();
                loop {
                    let mut source = Buffered {
                        ahead: &mut ahead,
                        inner: &mut slice,
                        refill: true,
                    };
                    match reader.read(&mut source, 1 << 20, None) {
                        Ok(frame) => got.push(frame.payload),
                        Err(_) => break,
                    }
                }
                assert_eq!(got.len(), 4, "capacity {capacity}, step {step}");
                assert_eq!(got[2], b"hello world");
                assert_eq!(got[3], vec![7; 300]);
            }
        }
    }

    #[test]
    fn descriptors_go_to_the_message_holding_the_last_byte_of_their_read() {
        let mut ahead = ReadAhead::new(64);
        let fd = || std::fs::File::open("/dev/null").unwrap().into();
        ahead.fd_reads.push_back((0, 10, vec![fd()]));
        ahead.fd_reads.push_back((10, 30, vec![fd(), fd()]));
        ahead.fd_reads.push_back((30, 45, vec![fd()]));
        // Message [0, 8) holds none of the last bytes (9, 29, 44).
        assert!(ahead.take_fds(0, 8).is_empty());
        // Message [8, 40): bytes 9 and 29 (the first read's descriptor and the second's).
        assert_eq!(ahead.take_fds(8, 40).len(), 3);
        // Message [40, 50) holds byte 44.
        assert_eq!(ahead.take_fds(40, 50).len(), 1);
        assert!(ahead.fd_reads.is_empty());
    }

    #[test]
    fn unclaimed_descriptors_are_closed_not_given_to_a_later_message() {
        let mut ahead = ReadAhead::new(64);
        let fd = || std::fs::File::open("/dev/null").unwrap().into();
        ahead.fd_reads.push_back((0, 10, vec![fd()]));
        // The message holding byte 9 was skipped; the next one starts at 20.
        assert!(ahead.take_fds(20, 30).is_empty());
        assert!(ahead.fd_reads.is_empty());
    }
}
