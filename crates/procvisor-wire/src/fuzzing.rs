//! Entry points for the fuzz targets in `fuzz/` and for replaying their corpora as tests.
//!
//! Not part of the API: these exist so that the fuzzers and the corpus tests run exactly the
//! same code.

use crate::auth::{self, ScriptedPeer};
use crate::frame;

/// Feeds `data` to the frame decoder in chunks of every size from 1 to 8 bytes (the first byte
/// of `data` also picks a frame limit) and to the codec, checking that it never panics and that
/// every chunking yields the same frames.
pub fn frame_decoder(data: &[u8]) {
    let limit = match data.first() {
        Some(b) if b % 2 == 0 => 1 << 10,
        _ => frame::DEFAULT_MAX_FRAME_SIZE,
    };
    let (reference, _) = frame::read_all(data, usize::MAX, limit);
    for step in 1..=8 {
        let (frames, _) = frame::read_all(data, step, limit);
        assert_eq!(frames, reference, "chunking by {step} changed the frames");
    }
    for payload in &reference {
        let _ = crate::codec::decode::<(i64, Option<i64>, String)>(payload);
        let _ = crate::codec::decode::<Vec<String>>(payload);
        let _ = crate::codec::decode::<std::collections::HashMap<String, Vec<u8>>>(payload);
    }
}

/// Plays `data` as the peer's side of the authkey handshake, in both roles. The input is split
/// into messages at `0xFF 0xFE` pairs; the handshake must fail or succeed cleanly, never panic.
pub fn handshake(data: &[u8]) {
    let mut messages: Vec<Vec<u8>> = vec![Vec::new()];
    let mut i = 0;
    while i < data.len() {
        if data[i] == 0xFF && data.get(i + 1) == Some(&0xFE) {
            messages.push(Vec::new());
            i += 2;
        } else {
            messages.last_mut().expect("never empty").push(data[i]);
            i += 1;
        }
    }
    for key in [&b""[..], b"fuzz-key"] {
        let mut peer = ScriptedPeer {
            replies: messages.clone().into(),
            sent: Vec::new(),
        };
        let _ = auth::deliver_challenge(&mut peer, key)
            .and_then(|()| auth::answer_challenge(&mut peer, key));
        let mut peer = ScriptedPeer {
            replies: messages.clone().into(),
            sent: Vec::new(),
        };
        let _ = auth::answer_challenge(&mut peer, key)
            .and_then(|()| auth::deliver_challenge(&mut peer, key));
    }
}
