//! Length-prefixed frames, as Python's `multiprocessing.connection` writes them.
//!
//! A frame is a 4-byte big-endian signed length followed by that many payload bytes. A payload
//! longer than `i32::MAX` is announced by the length `-1` and an 8-byte big-endian unsigned
//! length. Any other negative length is garbage. Using Python's layout means a procvisor
//! [`Connection`](crate::Connection) and a Python one can exchange `send_bytes`/`recv_bytes`
//! messages and authenticate each other over a socket.
//!
//! The reader is a resumable state machine: a read that stops early (timeout, would-block, a
//! cancelled future) keeps what it has, and the next read continues the same frame. The length
//! is checked against the limit before anything is allocated, and the payload buffer grows with
//! the bytes that actually arrive, so a frame that claims more than it carries never allocates
//! the claimed size.

use std::io;
use std::os::fd::OwnedFd;

/// The default limit on one frame's payload: 256 MiB.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 256 << 20;

/// The payload capacity reserved before any payload byte has arrived.
const FIRST_CHUNK: usize = 1 << 20;

const SHORT_HEADER: usize = 4;
const LONG_HEADER: usize = 12;

/// Writes the header for a `len`-byte payload into `out`; returns the used prefix.
pub(crate) fn encode_header(len: usize, out: &mut [u8; LONG_HEADER]) -> &[u8] {
    if len <= i32::MAX as usize {
        out[..SHORT_HEADER].copy_from_slice(&(len as i32).to_be_bytes());
        &out[..SHORT_HEADER]
    } else {
        out[..SHORT_HEADER].copy_from_slice(&(-1_i32).to_be_bytes());
        out[SHORT_HEADER..].copy_from_slice(&(len as u64).to_be_bytes());
        &out[..]
    }
}

/// What a frame header says, once enough of it is there.
#[derive(Debug, PartialEq, Eq)]
enum Header {
    NeedMore(usize),
    Length(u64),
}

fn parse_header(bytes: &[u8]) -> Result<Header, FrameError> {
    if bytes.len() < SHORT_HEADER {
        return Ok(Header::NeedMore(SHORT_HEADER));
    }
    let short = i32::from_be_bytes(bytes[..SHORT_HEADER].try_into().expect("4 bytes"));
    match short {
        n if n >= 0 => Ok(Header::Length(n as u64)),
        -1 if bytes.len() < LONG_HEADER => Ok(Header::NeedMore(LONG_HEADER)),
        -1 => Ok(Header::Length(u64::from_be_bytes(
            bytes[SHORT_HEADER..LONG_HEADER]
                .try_into()
                .expect("8 bytes"),
        ))),
        n => Err(FrameError::BadHeader(n)),
    }
}

/// Why a frame could not be read. I/O errors that only mean "not yet" (`WouldBlock`,
/// `TimedOut`) leave the reader ready to resume.
#[derive(Debug)]
pub(crate) enum FrameError {
    /// The stream ended cleanly between frames.
    Eof,
    /// The stream ended inside a frame.
    Truncated { expected: u64, received: u64 },
    /// The header announced more than the limit; the stream cannot be resynchronised.
    TooLarge { length: u64, limit: usize },
    /// The header is not a valid length.
    BadHeader(i32),
    /// The frame is longer than the caller's `maxlength`; its payload is being skipped.
    LongerThanAsked { length: u64, maxlength: usize },
    /// The byte source failed.
    Io(io::Error),
}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        FrameError::Io(e)
    }
}

/// One received frame and the descriptors that arrived with it.
#[derive(Debug, Default)]
pub(crate) struct Frame {
    pub(crate) payload: Vec<u8>,
    pub(crate) fds: Vec<OwnedFd>,
}

/// Where frame bytes come from: a socket in production, a byte slice in tests and fuzzing.
pub(crate) trait ByteSource {
    /// Appends up to `max` bytes to `dst`; 0 means end of stream. When `fds` is given, the
    /// descriptors that arrive with these bytes are appended to it.
    fn read_append(
        &mut self,
        dst: &mut Vec<u8>,
        max: usize,
        fds: Option<&mut Vec<OwnedFd>>,
    ) -> io::Result<usize>;
}

impl<S: ByteSource + ?Sized> ByteSource for &mut S {
    fn read_append(
        &mut self,
        dst: &mut Vec<u8>,
        max: usize,
        fds: Option<&mut Vec<OwnedFd>>,
    ) -> io::Result<usize> {
        (**self).read_append(dst, max, fds)
    }
}

/// A resumable frame reader.
#[derive(Debug, Default)]
pub(crate) struct FrameReader {
    header: Vec<u8>,
    /// Payload length once the header is complete.
    length: Option<u64>,
    payload: Vec<u8>,
    fds: Vec<OwnedFd>,
    /// Bytes of an over-long frame still to throw away.
    skip: u64,
    /// A fatal error happened; the stream position is unknown.
    broken: bool,
    /// Bytes (header and payload) of the last frame returned.
    last_len: u64,
}

impl FrameReader {
    /// The size in the stream (header and payload) of the last frame returned.
    pub(crate) fn last_len(&self) -> u64 {
        self.last_len
    }

    /// Whether part of a frame has been read (the next read continues it).
    pub(crate) fn in_frame(&self) -> bool {
        !self.header.is_empty() || self.skip > 0
    }

    /// Reads the next frame. `maxlength` rejects (and skips) longer frames without buffering
    /// them; `limit` is the hard bound above which the stream is abandoned.
    pub(crate) fn read<S: ByteSource>(
        &mut self,
        source: &mut S,
        limit: usize,
        maxlength: Option<usize>,
    ) -> Result<Frame, FrameError> {
        if self.broken {
            return Err(FrameError::Io(io::Error::other(
                "the stream is desynchronised by an earlier bad frame",
            )));
        }
        self.skip_rest(source)?;
        let length = match self.length {
            Some(length) => length,
            None => {
                let length = self.read_header(source)?;
                if length > limit as u64 {
                    self.broken = true;
                    return Err(FrameError::TooLarge { length, limit });
                }
                if let Some(maxlength) = maxlength.filter(|&m| length > m as u64) {
                    self.header.clear();
                    self.fds.clear();
                    self.skip = length;
                    return Err(FrameError::LongerThanAsked { length, maxlength });
                }
                self.length = Some(length);
                self.payload = Vec::with_capacity((length as usize).min(FIRST_CHUNK));
                length
            }
        };
        let length = length as usize;
        while self.payload.len() < length {
            if self.payload.len() == self.payload.capacity() {
                // Grow with what arrives: at most double, never past the announced length.
                let grow = self
                    .payload
                    .capacity()
                    .max(FIRST_CHUNK)
                    .min(length - self.payload.len());
                self.payload.reserve_exact(grow);
            }
            let room = self.payload.capacity() - self.payload.len();
            let n = source.read_append(&mut self.payload, room, None)?;
            if n == 0 {
                let received = self.payload.len() as u64;
                self.reset();
                self.broken = true;
                return Err(FrameError::Truncated {
                    expected: length as u64,
                    received,
                });
            }
        }
        self.last_len = (self.header.len() + self.payload.len()) as u64;
        let frame = Frame {
            payload: std::mem::take(&mut self.payload),
            fds: std::mem::take(&mut self.fds),
        };
        self.reset();
        Ok(frame)
    }

    fn reset(&mut self) {
        self.header.clear();
        self.length = None;
        self.payload = Vec::new();
        self.fds.clear();
    }

    fn read_header<S: ByteSource>(&mut self, source: &mut S) -> Result<u64, FrameError> {
        loop {
            let want = match parse_header(&self.header) {
                Ok(Header::Length(length)) => return Ok(length),
                Ok(Header::NeedMore(total)) => total - self.header.len(),
                Err(e) => {
                    self.broken = true;
                    return Err(e);
                }
            };
            let n = source.read_append(&mut self.header, want, Some(&mut self.fds))?;
            if n == 0 {
                let received = self.header.len() as u64;
                if received == 0 {
                    return Err(FrameError::Eof);
                }
                self.broken = true;
                return Err(FrameError::Truncated {
                    expected: SHORT_HEADER as u64,
                    received,
                });
            }
        }
    }

    fn skip_rest<S: ByteSource>(&mut self, source: &mut S) -> Result<(), FrameError> {
        let mut scratch = Vec::with_capacity(8192);
        while self.skip > 0 {
            scratch.clear();
            let want = self.skip.min(8192) as usize;
            let n = source.read_append(&mut scratch, want, None)?;
            if n == 0 {
                self.broken = true;
                return Err(FrameError::Eof);
            }
            self.skip -= n as u64;
        }
        Ok(())
    }
}

/// A byte source over a slice, for tests and fuzzing. It hands out at most `step` bytes per
/// read so that every resumption path is exercised.
#[derive(Debug)]
pub(crate) struct SliceSource<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) step: usize,
}

impl ByteSource for SliceSource<'_> {
    fn read_append(
        &mut self,
        dst: &mut Vec<u8>,
        max: usize,
        _: Option<&mut Vec<OwnedFd>>,
    ) -> io::Result<usize> {
        let n = max.min(self.step).min(self.data.len());
        dst.extend_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Reads every frame from `data` in steps of `step` bytes until an error; returns the payloads
/// and the error that ended the stream. The fuzz target and its corpus tests drive this.
pub(crate) fn read_all(data: &[u8], step: usize, limit: usize) -> (Vec<Vec<u8>>, FrameError) {
    let mut source = SliceSource {
        data,
        step: step.max(1),
    };
    let mut reader = FrameReader::default();
    let mut frames = Vec::new();
    loop {
        match reader.read(&mut source, limit, None) {
            Ok(frame) => frames.push(frame.payload),
            Err(e) => return (frames, e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            let mut header = [0; LONG_HEADER];
            out.extend_from_slice(encode_header(p.len(), &mut header));
            out.extend_from_slice(p);
        }
        out
    }

    #[test]
    fn zero_length_frames_are_frames() {
        let (frames, end) = read_all(&framed(&[b"", b"a", b""]), 1, 16);
        assert_eq!(frames, vec![b"".to_vec(), b"a".to_vec(), b"".to_vec()]);
        assert!(matches!(end, FrameError::Eof));
    }

    #[test]
    fn a_frame_exactly_at_the_limit_is_accepted() {
        let payload = vec![7_u8; 64];
        let (frames, end) = read_all(&framed(&[&payload]), 5, 64);
        assert_eq!(frames, vec![payload]);
        assert!(matches!(end, FrameError::Eof));
    }

    #[test]
    fn one_byte_over_the_limit_is_rejected_before_reading_the_payload() {
        let mut data = framed(&[&[1_u8; 65]]);
        data.truncate(4); // no payload at all: the header alone must be enough to refuse
        let (frames, end) = read_all(&data, 64, 64);
        assert!(frames.is_empty());
        assert!(
            matches!(
                end,
                FrameError::TooLarge {
                    length: 65,
                    limit: 64
                }
            ),
            "{end:?}"
        );
    }

    #[test]
    fn truncated_header_and_truncated_body_are_errors() {
        let data = framed(&[b"hello"]);
        for cut in 1..4 {
            let (_, end) = read_all(&data[..cut], 1, 64);
            assert!(
                matches!(end, FrameError::Truncated { expected: 4, .. }),
                "cut {cut}: {end:?}"
            );
        }
        for cut in 4..data.len() {
            let (_, end) = read_all(&data[..cut], 2, 64);
            assert!(
                matches!(end, FrameError::Truncated { expected: 5, .. }),
                "cut {cut}: {end:?}"
            );
        }
    }

    #[test]
    fn a_huge_claim_with_no_bytes_does_not_allocate_the_claim() {
        let mut data = (-1_i32).to_be_bytes().to_vec();
        data.extend_from_slice(&(u64::MAX / 2).to_be_bytes());
        let (_, end) = read_all(&data, 3, usize::MAX);
        // Accepted by the (disabled) limit, then truncated: the buffer held at most FIRST_CHUNK.
        assert!(
            matches!(end, FrameError::Truncated { received: 0, .. }),
            "{end:?}"
        );
    }

    #[test]
    fn negative_lengths_other_than_the_marker_are_garbage() {
        let (_, end) = read_all(&(-2_i32).to_be_bytes(), 4, 64);
        assert!(matches!(end, FrameError::BadHeader(-2)));
    }

    #[test]
    fn long_header_round_trips() {
        let mut header = [0; LONG_HEADER];
        let bytes = encode_header(i32::MAX as usize + 1, &mut header).to_vec();
        assert_eq!(bytes.len(), LONG_HEADER);
        assert_eq!(
            parse_header(&bytes).unwrap(),
            Header::Length(i32::MAX as u64 + 1)
        );
        assert_eq!(encode_header(5, &mut header), &[0, 0, 0, 5]);
    }

    #[test]
    fn maxlength_skips_the_long_frame_and_keeps_the_stream() {
        let data = framed(&[b"far too long", b"ok"]);
        let mut source = SliceSource {
            data: &data,
            step: 3,
        };
        let mut reader = FrameReader::default();
        let err = reader.read(&mut source, 64, Some(4)).unwrap_err();
        assert!(matches!(
            err,
            FrameError::LongerThanAsked {
                length: 12,
                maxlength: 4
            }
        ));
        assert_eq!(
            reader.read(&mut source, 64, Some(4)).unwrap().payload,
            b"ok"
        );
    }

    #[test]
    fn a_read_that_stops_early_resumes_the_same_frame() {
        struct Stuttering<'a> {
            inner: SliceSource<'a>,
            calls: usize,
        }
        impl ByteSource for Stuttering<'_> {
            fn read_append(
                &mut self,
                dst: &mut Vec<u8>,
                max: usize,
                fds: Option<&mut Vec<OwnedFd>>,
            ) -> io::Result<usize> {
                self.calls += 1;
                if self.calls % 2 == 0 {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                self.inner.read_append(dst, max, fds)
            }
        }
        let data = framed(&[b"resumable payload", b"next"]);
        let mut source = Stuttering {
            inner: SliceSource {
                data: &data,
                step: 2,
            },
            calls: 0,
        };
        let mut reader = FrameReader::default();
        let mut got = Vec::new();
        while got.len() < 2 {
            match reader.read(&mut source, 64, None) {
                Ok(frame) => got.push(frame.payload),
                Err(FrameError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(got, vec![b"resumable payload".to_vec(), b"next".to_vec()]);
    }
}
