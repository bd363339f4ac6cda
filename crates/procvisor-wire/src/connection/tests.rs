use crate::{ConnectionError, pipe};
use procvisor_testing::within;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, FromRawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(10);

/// A raw byte stream onto the peer side, for writing bytes that are not (whole) frames.
fn raw_writer(conn: &super::Connection) -> UnixStream {
    let fd = conn.as_fd().try_clone_to_owned().unwrap();
    UnixStream::from(fd)
}

#[test]
fn typed_values_round_trip() {
    let (mut a, mut b) = pipe(true).unwrap();
    a.send(&(42_i64, None::<i64>, "hello")).unwrap();
    a.send(&vec![1.5_f64, -2.0]).unwrap();
    assert_eq!(
        b.recv::<(i64, Option<i64>, String)>().unwrap(),
        (42, None, "hello".into())
    );
    assert_eq!(b.recv::<Vec<f64>>().unwrap(), vec![1.5, -2.0]);
    b.send(&"back").unwrap();
    assert_eq!(a.recv::<String>().unwrap(), "back");
}

#[test]
fn send_bytes_range_follows_python() {
    // CPython test_sendbytes: a 26-byte message and every offset/size rule.
    let msg = b"abcdefghijklmnopqrstuvwxyz";
    let (mut a, mut b) = pipe(true).unwrap();
    a.send_bytes(msg).unwrap();
    a.send_bytes_range(msg, 5, None).unwrap();
    a.send_bytes_range(msg, 7, Some(8)).unwrap();
    a.send_bytes_range(msg, 26, None).unwrap();
    a.send_bytes_range(msg, 26, Some(0)).unwrap();
    for expected in [&msg[..], &msg[5..], &msg[7..15], b"", b""] {
        assert_eq!(b.recv_bytes(None).unwrap(), expected);
    }
    for (offset, size) in [(27, None), (22, Some(5)), (26, Some(1))] {
        let err = a.send_bytes_range(msg, offset, size).unwrap_err();
        assert!(
            matches!(err, ConnectionError::InvalidArgument(_)),
            "{offset} {size:?}: {err}"
        );
    }
    assert!(!b.poll().unwrap(), "rejected ranges sent nothing");
}

#[test]
fn recv_bytes_into_fills_at_offset_and_returns_too_short_messages_whole() {
    let (mut a, mut b) = pipe(true).unwrap();
    let mut buf = [0_u8; 10];
    a.send_bytes(b"0123").unwrap();
    assert_eq!(b.recv_bytes_into(&mut buf, 3).unwrap(), 4);
    assert_eq!(&buf, b"\0\0\x000123\0\0\0");
    let long = vec![b'x'; 110];
    a.send_bytes(&long).unwrap();
    match b.recv_bytes_into(&mut [0_u8; 40], 0).unwrap_err() {
        ConnectionError::BufferTooShort { message } => assert_eq!(message, long),
        other => panic!("expected BufferTooShort, got {other}"),
    }
    let err = b.recv_bytes_into(&mut buf, 11).unwrap_err();
    assert!(matches!(
        err,
        ConnectionError::InvalidArgument("offset too large")
    ));
}

#[test]
fn maxlength_rejects_long_messages_and_keeps_the_connection() {
    let (mut a, mut b) = pipe(true).unwrap();
    a.send_bytes(&[1; 300]).unwrap();
    a.send_bytes(b"short").unwrap();
    let err = b.recv_bytes(Some(256)).unwrap_err();
    assert!(
        matches!(
            err,
            ConnectionError::MessageTooLong {
                length: 300,
                maxlength: 256
            }
        ),
        "{err}"
    );
    assert_eq!(b.recv_bytes(Some(256)).unwrap(), b"short");
}

#[test]
fn poll_reports_without_consuming_and_messages_never_merge() {
    let (mut a, mut b) = pipe(true).unwrap();
    assert!(!b.poll().unwrap());
    assert!(!b.poll_timeout(Duration::from_millis(20)).unwrap());
    a.send_bytes(b"").unwrap();
    assert!(b.poll().unwrap());
    assert!(b.poll().unwrap(), "poll does not consume");
    assert_eq!(b.recv_bytes(None).unwrap(), b"");
    for m in [&b"a"[..], b"b", b"cd"] {
        a.send_bytes(m).unwrap();
    }
    for m in [&b"a"[..], b"b", b"cd"] {
        assert!(b.poll().unwrap());
        assert_eq!(b.recv_bytes(None).unwrap(), m);
    }
}

#[test]
fn a_sixteen_mebibyte_message_round_trips() {
    let (mut a, mut b) = pipe(true).unwrap();
    let big: Vec<u8> = (0..16 << 20).map(|i| (i % 251) as u8).collect();
    let expected = big.clone();
    let writer = std::thread::spawn(move || a.send_bytes(&big).map(|()| a));
    let got = within(LIMIT, "receive 16 MiB", move || b.recv_bytes(None).unwrap());
    assert_eq!(got.len(), expected.len());
    assert!(got == expected);
    writer.join().unwrap().unwrap();
}

#[test]
fn a_closed_peer_is_eof_for_recv_and_broken_pipe_for_send() {
    let (mut a, b) = pipe(true).unwrap();
    drop(b);
    assert!(a.readable() && a.writable());
    assert!(a.poll().unwrap(), "EOF counts as ready");
    assert!(matches!(a.recv::<i32>(), Err(ConnectionError::Eof)));
    assert!(matches!(a.recv_bytes(None), Err(ConnectionError::Eof)));
    assert!(matches!(a.send(&1), Err(ConnectionError::BrokenPipe)));
    assert!(a.recv::<i32>().unwrap_err().is_disconnected());
}

#[test]
fn messages_sent_before_close_are_still_received() {
    let (mut a, mut b) = pipe(true).unwrap();
    a.send(&1).unwrap();
    a.send(&2).unwrap();
    a.close();
    assert_eq!(b.recv::<i32>().unwrap(), 1);
    assert_eq!(b.recv::<i32>().unwrap(), 2);
    assert!(matches!(b.recv::<i32>(), Err(ConnectionError::Eof)));
}

#[test]
fn every_operation_after_close_is_a_closed_error() {
    let (mut a, _b) = pipe(true).unwrap();
    a.close();
    a.close();
    assert!(a.closed());
    assert!(matches!(a.send(&1), Err(ConnectionError::Closed)));
    assert!(matches!(a.send_bytes(b"x"), Err(ConnectionError::Closed)));
    assert!(matches!(a.recv::<i32>(), Err(ConnectionError::Closed)));
    assert!(matches!(a.recv_bytes(None), Err(ConnectionError::Closed)));
    assert!(matches!(
        a.recv_bytes_into(&mut [0; 4], 0),
        Err(ConnectionError::Closed)
    ));
    assert!(matches!(a.poll(), Err(ConnectionError::Closed)));
    assert!(matches!(a.fileno(), Err(ConnectionError::Closed)));
    assert!(matches!(a.try_clone(), Err(ConnectionError::Closed)));
}

#[test]
fn one_way_pipes_refuse_the_wrong_direction() {
    let (mut reader, mut writer) = pipe(false).unwrap();
    assert!(reader.readable() && !reader.writable());
    assert!(!writer.readable() && writer.writable());
    assert!(matches!(reader.send(&2), Err(ConnectionError::ReadOnly)));
    assert!(matches!(
        reader.send_bytes(b"2"),
        Err(ConnectionError::ReadOnly)
    ));
    assert!(matches!(
        writer.recv::<i32>(),
        Err(ConnectionError::WriteOnly)
    ));
    assert!(matches!(writer.poll(), Err(ConnectionError::WriteOnly)));
    writer.send(&7).unwrap();
    assert_eq!(reader.recv::<i32>().unwrap(), 7);
}

#[test]
fn every_pipe_end_is_close_on_exec() {
    for duplex in [true, false] {
        let (a, b) = pipe(duplex).unwrap();
        assert!(crate::is_close_on_exec(a.as_fd()).unwrap());
        assert!(crate::is_close_on_exec(b.as_fd()).unwrap());
        assert_eq!(a.fileno().unwrap(), a.as_fd().as_raw_fd());
    }
}

#[test]
fn a_timed_out_receive_keeps_the_partial_message() {
    let (mut a, mut b) = pipe(true).unwrap();
    let mut raw = raw_writer(&a);
    raw.write_all(&[0, 0, 0, 5, b'h', b'e']).unwrap();
    let err = b.recv_timeout::<()>(Duration::from_millis(30)).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let err = b.recv_timeout::<()>(Duration::from_millis(30)).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    raw.write_all(b"llo").unwrap();
    assert_eq!(b.recv_bytes(None).unwrap(), b"hello");
    a.send(&9).unwrap();
    assert_eq!(b.recv_timeout::<i32>(LIMIT).unwrap(), 9);
}

#[test]
fn a_message_of_the_wrong_type_is_consumed_and_the_stream_continues() {
    let (mut a, mut b) = pipe(true).unwrap();
    a.send(&"not a number at all").unwrap();
    a.send(&5_u8).unwrap();
    assert!(matches!(b.recv::<u8>(), Err(ConnectionError::Codec(_))));
    assert_eq!(b.recv::<u8>().unwrap(), 5);
}

#[test]
fn the_frame_limit_is_enforced_on_both_sides() {
    let (mut a, mut b) = pipe(true).unwrap();
    b.set_max_frame_size(8);
    assert_eq!(b.max_frame_size(), 8);
    let err = b.send_bytes(&[0; 9]).unwrap_err();
    assert!(
        matches!(
            err,
            ConnectionError::FrameTooLarge {
                length: 9,
                limit: 8
            }
        ),
        "{err}"
    );
    assert!(!a.poll().unwrap(), "nothing was sent");
    a.send_bytes(&[0; 8]).unwrap();
    assert_eq!(b.recv_bytes(None).unwrap().len(), 8);
    // Only the header of an oversized frame is needed to refuse it.
    raw_writer(&a).write_all(&9_i32.to_be_bytes()).unwrap();
    let err = b.recv_bytes(None).unwrap_err();
    assert!(
        matches!(
            err,
            ConnectionError::FrameTooLarge {
                length: 9,
                limit: 8
            }
        ),
        "{err}"
    );
}

#[test]
fn garbage_and_truncation_are_errors_not_hangs() {
    let (a, mut b) = pipe(true).unwrap();
    raw_writer(&a).write_all(&(-7_i32).to_be_bytes()).unwrap();
    assert!(matches!(
        b.recv_bytes(None),
        Err(ConnectionError::Protocol(_))
    ));

    let (a, mut b) = pipe(true).unwrap();
    let mut raw = raw_writer(&a);
    raw.write_all(&[0, 0, 0, 10, 1, 2, 3]).unwrap();
    drop(raw);
    drop(a);
    let err = within(LIMIT, "read a truncated frame", move || {
        b.recv_bytes(None).unwrap_err()
    });
    assert!(
        matches!(
            err,
            ConnectionError::Truncated {
                expected: 10,
                received: 3
            }
        ),
        "{err}"
    );
}

#[test]
fn a_clone_sends_while_the_original_receives() {
    let (mut a, mut b) = pipe(true).unwrap();
    let mut a2 = a.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        for i in 0..100 {
            a2.send(&i).unwrap();
        }
    });
    for i in 0..100 {
        assert_eq!(b.recv_timeout::<i32>(LIMIT).unwrap(), i);
    }
    sender.join().unwrap();
    b.send(&"reply").unwrap();
    assert_eq!(a.recv::<String>().unwrap(), "reply");
}

#[test]
fn a_connection_travels_inside_a_message() {
    let (mut carrier_tx, mut carrier_rx) = pipe(true).unwrap();
    let (inner_here, mut inner_there) = pipe(false).unwrap();
    carrier_tx.send(&("take this", inner_here)).unwrap();
    let (label, mut received): (String, super::Connection) = carrier_rx.recv().unwrap();
    assert_eq!(label, "take this");
    assert!(
        received.readable() && !received.writable(),
        "access flags travel too"
    );
    inner_there.send(&[1, 2, 3]).unwrap();
    assert_eq!(received.recv::<[i32; 3]>().unwrap(), [1, 2, 3]);
}

#[test]
fn a_connection_cannot_be_serialized_outside_a_hand_over() {
    let (a, _b) = pipe(true).unwrap();
    let err = crate::codec::encode(&a).unwrap_err();
    assert!(
        err.message()
            .contains("can only be sent to another process"),
        "{err}"
    );
}

#[test]
fn descriptors_sent_with_a_bytes_receive_are_closed_not_leaked() {
    let (mut a, mut b) = pipe(true).unwrap();
    let (extra, _extra_peer) = pipe(true).unwrap();
    a.send(&extra).unwrap();
    // Receiving as bytes drops the descriptor that came with the message.
    let before = std::fs::read_dir("/proc/self/fd").unwrap().count();
    b.recv_bytes(None).unwrap();
    let after = std::fs::read_dir("/proc/self/fd").unwrap().count();
    assert!(after <= before, "{before} -> {after}");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn async_twins_round_trip() {
    let (mut a, mut b) = pipe(true).unwrap();
    runtime().block_on(async {
        a.send_async(&(1, "one")).await.unwrap();
        a.send_bytes_async(b"raw").await.unwrap();
        a.send_bytes_range_async(b"abcdef", 2, Some(2))
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), b.poll_async())
            .await
            .expect("a message is there")
            .unwrap();
        assert_eq!(
            b.recv_async::<(i32, String)>().await.unwrap(),
            (1, "one".into())
        );
        assert_eq!(b.recv_bytes_async(None).await.unwrap(), b"raw");
        let mut buf = [0; 4];
        assert_eq!(b.recv_bytes_into_async(&mut buf, 1).await.unwrap(), 2);
        assert_eq!(&buf, b"\0cd\0");
        let nothing = tokio::time::timeout(Duration::from_millis(20), b.poll_async()).await;
        assert!(nothing.is_err(), "no message is there");
    });
}

#[test]
fn async_and_blocking_calls_mix_on_one_connection() {
    let (mut a, mut b) = pipe(true).unwrap();
    let rt = runtime();
    a.send(&1).unwrap();
    assert_eq!(rt.block_on(b.recv_async::<i32>()).unwrap(), 1);
    rt.block_on(a.send_async(&2)).unwrap();
    assert_eq!(b.recv::<i32>().unwrap(), 2);
    // The reactor thinks `b` is readable from before; poll_async must ask the kernel.
    let nothing = rt
        .block_on(async { tokio::time::timeout(Duration::from_millis(20), b.poll_async()).await });
    assert!(nothing.is_err(), "no message is there");
}

#[test]
fn a_cancelled_async_receive_keeps_its_partial_message() {
    let (a, mut b) = pipe(true).unwrap();
    let mut raw = raw_writer(&a);
    raw.write_all(&[0, 0, 0, 4, b'a', b'b']).unwrap();
    let rt = runtime();
    let timed_out = rt.block_on(async {
        tokio::time::timeout(Duration::from_millis(30), b.recv_bytes_async(None)).await
    });
    assert!(timed_out.is_err(), "nothing complete arrived");
    raw.write_all(b"cd").unwrap();
    assert_eq!(rt.block_on(b.recv_bytes_async(None)).unwrap(), b"abcd");
}

#[test]
fn a_send_that_fills_the_socket_completes_once_the_peer_reads() {
    let (mut a, mut b) = pipe(true).unwrap();
    let big = vec![3_u8; 8 << 20];
    let expected_len = big.len();
    let rt = runtime();
    let reader = std::thread::spawn(move || {
        let first = b.recv_bytes(None).unwrap();
        let second = b.recv::<String>().unwrap();
        (first.len(), second)
    });
    rt.block_on(async {
        a.send_bytes_async(&big).await.unwrap();
        a.send_async("after").await.unwrap();
    });
    let (len, second) = within(LIMIT, "read the async-sent messages", move || {
        reader.join().unwrap()
    });
    assert_eq!((len, second.as_str()), (expected_len, "after"));
}

#[test]
fn async_operations_outside_a_runtime_fail_cleanly() {
    let (mut a, _b) = pipe(true).unwrap();
    // A hand-rolled executor with no tokio runtime: registration must fail, not panic.
    let fut = a.send_async(&1);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Err(ConnectionError::Io(e))) => {
            assert!(e.to_string().contains("tokio runtime"))
        }
        other => panic!("expected a clear error, got {other:?}"),
    }
}

#[test]
fn wait_returns_the_ready_indices() {
    let (a, mut a_peer) = pipe(true).unwrap();
    let (b, b_peer) = pipe(true).unwrap();
    let start = Instant::now();
    assert!(
        crate::wait_timeout(&[&a, &b], Duration::from_millis(30))
            .unwrap()
            .is_empty()
    );
    assert!(start.elapsed() >= Duration::from_millis(25));
    a_peer.send(&()).unwrap();
    assert_eq!(crate::wait(&[&a, &b]).unwrap(), vec![0]);
    drop(b_peer);
    assert_eq!(
        crate::wait_timeout(&[&a, &b], Duration::ZERO).unwrap(),
        vec![0, 1]
    );
    let rt = runtime();
    assert_eq!(
        rt.block_on(crate::wait_async(&[&a, &b])).unwrap(),
        vec![0, 1]
    );
    let (c, _c_peer) = pipe(true).unwrap();
    let nothing = rt.block_on(async {
        tokio::time::timeout(Duration::from_millis(20), crate::wait_async(&[&c])).await
    });
    assert!(nothing.is_err(), "nothing is ready");
}

#[test]
fn wait_refuses_closed_and_write_only_ends() {
    let (_reader, writer) = pipe(false).unwrap();
    assert!(crate::wait_timeout(&[&writer], Duration::ZERO).is_err());
    let (mut a, _b) = pipe(true).unwrap();
    a.close();
    assert!(crate::wait_timeout(&[&a], Duration::ZERO).is_err());
}

#[test]
fn raw_fd_round_trip_through_from_fd() {
    let (a, mut b) = pipe(true).unwrap();
    let raw = a.as_fd().try_clone_to_owned().unwrap();
    drop(a);
    // SAFETY-free path: from_fd takes an OwnedFd.
    let mut a = super::Connection::from_fd(raw, true, true);
    a.send(&"via from_fd").unwrap();
    assert_eq!(b.recv::<String>().unwrap(), "via from_fd");
    let _ = std::os::fd::OwnedFd::from_raw_fd;
}

#[test]
fn read_ahead_takes_many_messages_in_one_receive_and_keeps_their_order() {
    let (mut a, mut b) = pipe(true).unwrap();
    b.set_read_ahead(64 * 1024).unwrap();
    for i in 0..100_u32 {
        a.send(&(i, "x".repeat(i as usize))).unwrap();
    }
    let (first, _): (u32, String) = b.recv().unwrap();
    assert_eq!(first, 0);
    assert!(b.poll().unwrap(), "the rest is in memory");
    let mut buffered = 0;
    while let Some(message) = b.try_recv_buffered::<(u32, String)>() {
        let (i, s) = message.unwrap();
        assert_eq!((i as usize, s.len()), (buffered + 1, buffered + 1));
        buffered += 1;
    }
    assert!(buffered > 10, "only {buffered} came from memory");
    for expected in buffered as u32 + 1..100 {
        let (i, _): (u32, String) = b.recv().unwrap();
        assert_eq!(i, expected);
    }
    assert!(!b.poll().unwrap());
}

#[test]
fn read_ahead_gives_each_descriptor_to_its_own_message() {
    let (mut a, mut b) = pipe(true).unwrap();
    b.set_read_ahead(64 * 1024).unwrap();
    let mut peers = Vec::new();
    // Messages without descriptors around messages that carry one.
    for i in 0..6_u32 {
        a.send(&("plain", i)).unwrap();
        let (end, peer) = pipe(true).unwrap();
        a.send(&(format!("carrier {i}"), end)).unwrap();
        peers.push(peer);
    }
    for (i, mut peer) in peers.into_iter().enumerate() {
        let (label, n): (String, u32) = b.recv().unwrap();
        assert_eq!((label.as_str(), n), ("plain", i as u32));
        let (label, mut end): (String, super::Connection) = b.recv().unwrap();
        assert_eq!(label, format!("carrier {i}"));
        // The descriptor is the one sent with this message: it reaches this peer.
        end.send(&i).unwrap();
        assert_eq!(peer.recv::<usize>().unwrap(), i);
    }
}

#[test]
fn wait_and_async_receive_see_messages_read_ahead() {
    let (mut a, mut b) = pipe(true).unwrap();
    b.set_read_ahead(4096).unwrap();
    a.send(&1).unwrap();
    a.send(&2).unwrap();
    assert_eq!(b.recv::<i32>().unwrap(), 1);
    // The socket is empty now; the second message waits in memory.
    assert_eq!(crate::wait_timeout(&[&b], Duration::ZERO).unwrap(), vec![0]);
    let rt = runtime();
    let got = rt.block_on(async { b.recv_async::<i32>().await.unwrap() });
    assert_eq!(got, 2);
}

#[test]
fn a_connection_with_messages_read_ahead_is_not_handed_over() {
    let (mut carrier, _carrier_peer) = pipe(true).unwrap();
    let (mut a, mut b) = pipe(true).unwrap();
    b.set_read_ahead(4096).unwrap();
    a.send(&1).unwrap();
    a.send(&2).unwrap();
    assert_eq!(b.recv::<i32>().unwrap(), 1);
    let err = carrier.send(&b).unwrap_err();
    assert!(err.to_string().contains("buffered"), "{err}");
    assert!(
        b.set_read_ahead(0).is_err(),
        "cannot turn off with a message buffered"
    );
    assert_eq!(b.recv::<i32>().unwrap(), 2);
    b.set_read_ahead(0).unwrap();
    carrier.send(&b).unwrap();
}

#[test]
fn read_ahead_survives_a_message_larger_than_its_buffer() {
    let (mut a, mut b) = pipe(true).unwrap();
    b.set_read_ahead(256).unwrap();
    let big = vec![9_u8; 100_000];
    let sender = std::thread::spawn(move || {
        a.send_bytes(b"small").unwrap();
        a.send_bytes(&big).unwrap();
        a.send_bytes(b"after").unwrap();
        a
    });
    let got = within(LIMIT, "large message through read-ahead", move || {
        let mut out = Vec::new();
        for _ in 0..3 {
            out.push(b.recv_bytes(None).unwrap());
        }
        out
    });
    assert_eq!(got[0], b"small");
    assert_eq!(got[1].len(), 100_000);
    assert_eq!(got[2], b"after");
    sender.join().unwrap();
}

#[test]
fn try_recv_never_waits_and_keeps_a_partial_message() {
    let (mut a, mut b) = pipe(true).unwrap();
    assert!(b.try_recv::<i32>().unwrap().is_none());
    a.send(&7).unwrap();
    assert_eq!(b.try_recv::<i32>().unwrap(), Some(7));
    // The header alone: nothing yet; the body completes the same message.
    let mut raw = raw_writer(&a);
    let body = crate::codec::encode(&9_i32).unwrap();
    raw.write_all(&(body.len() as i32).to_be_bytes()).unwrap();
    assert!(
        b.try_recv::<i32>().unwrap().is_none(),
        "only the header arrived"
    );
    raw.write_all(&body).unwrap();
    assert_eq!(b.try_recv::<i32>().unwrap(), Some(9));
    drop(raw);
    drop(a);
    assert!(matches!(b.try_recv::<i32>(), Err(ConnectionError::Eof)));
}

#[test]
fn a_send_that_times_out_is_finished_by_the_next_and_never_tears_the_stream() {
    let (mut a, mut b) = crate::pipe(true).unwrap();
    // Nobody reads `b`: sends fill the socket until one times out part-way.
    let big = vec![7u8; 64 * 1024];
    let mut sent = 0;
    loop {
        match a.send_timeout(&big, Duration::from_millis(20)) {
            Ok(()) => sent += 1,
            Err(e) => {
                assert!(e.is_timeout(), "{e}");
                break;
            }
        }
        assert!(sent < 10_000, "the socket never filled up");
    }
    // The reader catches up on another thread while the writer finishes what it owes and
    // sends one more message.
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        loop {
            let message: Vec<u8> = b.recv().unwrap();
            if message.is_empty() {
                return got;
            }
            got.push(message);
        }
    });
    a.send(&big).unwrap();
    a.send(&Vec::<u8>::new()).unwrap();
    let got = reader.join().unwrap();
    // Every message whole: those sent before the timeout, the one cut short (finished), the last.
    assert!(
        got.len() == sent + 1 || got.len() == sent + 2,
        "{} of {sent}",
        got.len()
    );
    assert!(got.iter().all(|m| *m == big));
}

#[tokio::test]
async fn what_a_send_that_could_not_wait_owes_is_finished_by_flush_async() {
    let (mut a, mut b) = crate::pipe(true).unwrap();
    // Sends that may not wait at all fill the socket until one is cut short: it is owed.
    let big = vec![3u8; 48 * 1024];
    let mut sent = 0;
    loop {
        match a.send_timeout(&big, Duration::ZERO) {
            Ok(()) => sent += 1,
            Err(e) => {
                assert!(e.is_timeout(), "{e}");
                break;
            }
        }
        assert!(sent < 10_000, "the socket never filled up");
    }
    assert!(a.owes(), "the last send was not cut short");
    let reader = std::thread::spawn(move || {
        (0..sent + 1)
            .map(|_| b.recv::<Vec<u8>>().unwrap())
            .collect::<Vec<_>>()
    });
    tokio::time::timeout(Duration::from_secs(10), a.flush_async())
        .await
        .expect("flush_async hung while the peer read")
        .unwrap();
    assert!(!a.owes());
    let got = reader.join().unwrap();
    assert!(got.iter().all(|m| *m == big), "a message arrived torn");
    // Nothing owed: flushing returns at once.
    a.flush_async().await.unwrap();
}
