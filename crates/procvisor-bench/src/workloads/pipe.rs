//! `pipe_rtt` and `pipe_bw`: a Connection between two processes, against Python's Pipe and
//! against raw `read`/`write` on the same kind of socket.

use crate::child;
use crate::harness::{OpTimer, Peer, Sample, Side, Target, Workload};
use crate::python;
use procvisor::{Connection, pipe};
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// The round-trip workloads' floor: [`floor::round_trips`](super::floor::round_trips), as
/// many as `pipe_rtt` makes.
pub(crate) fn floor(smoke: bool) -> Result<Sample, String> {
    super::floor::round_trips(PipeRtt::count(smoke))
}

type Message = (i64, Option<i64>, String);

fn seed_message() -> Message {
    (42, None, "hello".to_string())
}

const WARMUP: u64 = 200;

/// A connected pair: our end, and an owned descriptor for the child's end.
fn socket_pair() -> Result<(Connection, OwnedFd), String> {
    let (ours, theirs) = pipe(true).map_err(|e| e.to_string())?;
    let fd = theirs
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| e.to_string())?;
    Ok((ours, fd))
}

pub(crate) struct PipeRtt;

impl PipeRtt {
    fn count(smoke: bool) -> u64 {
        if smoke { 200 } else { 20_000 }
    }
}

impl Workload for PipeRtt {
    fn name(&self) -> &'static str {
        "pipe_rtt"
    }

    fn unit(&self) -> &'static str {
        "round trip"
    }

    fn targets(&self) -> &'static [Target] {
        &[Target::VsPython(0.5), Target::VsBaseline(1.5)]
    }

    fn has_baseline(&self) -> bool {
        true
    }

    fn peers(&self) -> &'static [Peer] {
        &[Peer::Floor]
    }

    fn measure_peer(&self, _: Peer, smoke: bool) -> Result<Sample, String> {
        floor(smoke)
    }

    fn measure(&self, side: Side, smoke: bool) -> Result<Duration, String> {
        self.sample(side, smoke).map(|s| s.per_op)
    }

    fn sample(&self, side: Side, smoke: bool) -> Result<Sample, String> {
        let n = Self::count(smoke);
        match side {
            Side::Procvisor => {
                let (mut conn, fd) = socket_pair()?;
                let echo =
                    child::spawn("pipe_rtt_echo", fd, &[n + WARMUP]).map_err(|e| e.to_string())?;
                let msg = seed_message();
                let mut round_trip = || -> Result<(), String> {
                    conn.send(&msg).map_err(|e| e.to_string())?;
                    let back: Message = conn.recv().map_err(|e| e.to_string())?;
                    debug_assert_eq!(back, msg);
                    Ok(())
                };
                for _ in 0..WARMUP {
                    round_trip()?;
                }
                let mut timer = OpTimer::start(n as usize, 1);
                for _ in 0..n {
                    round_trip()?;
                    timer.tick();
                }
                let sample = timer.finish();
                child::finish(echo, "echo child")?;
                Ok(sample)
            }
            Side::Python => python::sample("pipe_rtt", &[n.to_string(), WARMUP.to_string()]),
            Side::Baseline => {
                let (conn, fd) = socket_pair()?;
                let mut stream = UnixStream::from(
                    conn.as_fd()
                        .try_clone_to_owned()
                        .map_err(|e| e.to_string())?,
                );
                drop(conn);
                let echo =
                    child::spawn("raw_rtt_echo", fd, &[n + WARMUP]).map_err(|e| e.to_string())?;
                let mut buf = [7_u8; 16];
                let mut round_trip = || -> Result<(), String> {
                    stream.write_all(&buf).map_err(|e| e.to_string())?;
                    stream.read_exact(&mut buf).map_err(|e| e.to_string())
                };
                for _ in 0..WARMUP {
                    round_trip()?;
                }
                let mut timer = OpTimer::start(n as usize, 1);
                for _ in 0..n {
                    round_trip()?;
                    timer.tick();
                }
                let sample = timer.finish();
                child::finish(echo, "raw echo child")?;
                Ok(sample)
            }
        }
    }
}

pub(crate) fn echo_child(socket: OwnedFd, n: u64) -> Result<(), String> {
    let mut conn = Connection::from_fd(socket, true, true);
    for _ in 0..n {
        let msg: Message = conn.recv().map_err(|e| e.to_string())?;
        conn.send(&msg).map_err(|e| e.to_string())?;
    }
    Ok(())
}

pub(crate) fn raw_echo_child(socket: OwnedFd, n: u64) -> Result<(), String> {
    let mut stream = UnixStream::from(socket);
    let mut buf = [0_u8; 16];
    for _ in 0..n {
        stream.read_exact(&mut buf).map_err(|e| e.to_string())?;
        stream.write_all(&buf).map_err(|e| e.to_string())?;
    }
    Ok(())
}

pub(crate) struct PipeBw;

const CHUNK: usize = 1 << 20;

impl PipeBw {
    fn chunks(smoke: bool) -> u64 {
        if smoke { 8 } else { 256 }
    }
}

impl Workload for PipeBw {
    fn name(&self) -> &'static str {
        "pipe_bw"
    }

    fn unit(&self) -> &'static str {
        "MiB"
    }

    fn targets(&self) -> &'static [Target] {
        // At least 80% of the raw loop's bandwidth = at most 1.25x its time per MiB.
        &[Target::VsBaseline(1.25)]
    }

    fn has_baseline(&self) -> bool {
        true
    }

    fn measure(&self, side: Side, smoke: bool) -> Result<Duration, String> {
        let chunks = Self::chunks(smoke);
        let data = vec![0x5a_u8; CHUNK];
        match side {
            Side::Procvisor => {
                let (mut conn, fd) = socket_pair()?;
                let sink =
                    child::spawn("pipe_bw_sink", fd, &[chunks]).map_err(|e| e.to_string())?;
                let start = Instant::now();
                for _ in 0..chunks {
                    conn.send_bytes(&data).map_err(|e| e.to_string())?;
                }
                conn.recv_bytes(None).map_err(|e| e.to_string())?;
                let elapsed = start.elapsed();
                child::finish(sink, "sink child")?;
                Ok(elapsed / chunks as u32)
            }
            Side::Python => python::run("pipe_bw", &[chunks.to_string()]),
            Side::Baseline => {
                let (conn, fd) = socket_pair()?;
                let mut stream = UnixStream::from(
                    conn.as_fd()
                        .try_clone_to_owned()
                        .map_err(|e| e.to_string())?,
                );
                drop(conn);
                let sink = child::spawn("raw_bw_sink", fd, &[chunks]).map_err(|e| e.to_string())?;
                let start = Instant::now();
                for _ in 0..chunks {
                    stream.write_all(&data).map_err(|e| e.to_string())?;
                }
                let mut ack = [0_u8; 1];
                stream.read_exact(&mut ack).map_err(|e| e.to_string())?;
                let elapsed = start.elapsed();
                child::finish(sink, "raw sink child")?;
                Ok(elapsed / chunks as u32)
            }
        }
    }
}

pub(crate) fn sink_child(socket: OwnedFd, chunks: u64) -> Result<(), String> {
    let mut conn = Connection::from_fd(socket, true, true);
    let mut total = 0;
    for _ in 0..chunks {
        total += conn.recv_bytes(None).map_err(|e| e.to_string())?.len();
    }
    if total != chunks as usize * CHUNK {
        return Err(format!("received {total} bytes"));
    }
    conn.send_bytes(b"k").map_err(|e| e.to_string())
}

pub(crate) fn raw_sink_child(socket: OwnedFd, chunks: u64) -> Result<(), String> {
    let mut stream = UnixStream::from(socket);
    let mut buf = vec![0_u8; CHUNK];
    let mut remaining = chunks as usize * CHUNK;
    while remaining > 0 {
        let n = stream
            .read(&mut buf[..remaining.min(CHUNK)])
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("early end of stream".into());
        }
        remaining -= n;
    }
    stream.write_all(b"k").map_err(|e| e.to_string())
}
