//! The `authkey` handshake: Python 3.12+'s mutual HMAC challenge–response.
//!
//! Each side proves it holds the key without sending it. The side that delivers a challenge
//! sends `#CHALLENGE#{sha256}` followed by 40 random bytes; the other side answers
//! `{sha256}` followed by HMAC-SHA256(key, everything after `#CHALLENGE#`); the challenger
//! replies `#WELCOME#` or `#FAILURE#`. A listener challenges first and then answers the
//! client's challenge; a client does the reverse. A procvisor end and a Python 3.12+ end
//! authenticate each other.
//!
//! Differences from Python, both deliberate: only SHA-256 is accepted (Python also accepts
//! MD5, SHA-384 and SHA3 answers), so the legacy HMAC-MD5 protocol of Python 3.11 and older is
//! refused with [`AuthenticationError::LegacyPeer`]; and every step has a deadline so a silent
//! peer cannot hold a listener.

use crate::connection::Connection;
use crate::error::{AuthenticationError, ConnectionError};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::{Duration, Instant};

const CHALLENGE: &[u8] = b"#CHALLENGE#";
const WELCOME: &[u8] = b"#WELCOME#";
const FAILURE: &[u8] = b"#FAILURE#";
const DIGEST_PREFIX: &[u8] = b"{sha256}";
const RANDOM_LEN: usize = 40;
/// Python caps handshake messages at 256 bytes; so do we.
const MAX_MESSAGE: usize = 256;
/// Python 3.11's challenge body and MD5 answer lengths: the signature of a legacy peer.
const LEGACY_LENGTHS: [usize; 2] = [20, 16];

/// The default deadline for the whole handshake.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The two message operations the handshake needs; a [`Connection`] in production, a scripted
/// peer in tests and fuzzing.
pub(crate) trait HandshakeIo {
    fn send_message(&mut self, bytes: &[u8]) -> Result<(), ConnectionError>;
    fn recv_message(&mut self, maxlength: usize) -> Result<Vec<u8>, ConnectionError>;
}

struct WithDeadline<'a> {
    connection: &'a mut Connection,
    deadline: Option<Instant>,
}

impl HandshakeIo for WithDeadline<'_> {
    fn send_message(&mut self, bytes: &[u8]) -> Result<(), ConnectionError> {
        self.connection.send_bytes(bytes)
    }

    fn recv_message(&mut self, maxlength: usize) -> Result<Vec<u8>, ConnectionError> {
        if let Some(deadline) = self.deadline {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if !self.connection.poll_timeout(remaining)? {
                return Err(ConnectionError::Timeout);
            }
        }
        self.connection.recv_bytes(Some(maxlength))
    }
}

/// Authenticates `connection` as the listening side: challenge the peer, then answer its
/// challenge. `timeout` bounds the whole exchange (`None`: no bound).
///
/// # Errors
///
/// An [`AuthenticationError`]; the caller should close the connection.
pub fn authenticate_as_listener(
    connection: &mut Connection,
    authkey: &[u8],
    timeout: Option<Duration>,
) -> Result<(), AuthenticationError> {
    let mut io = with_deadline(connection, timeout);
    let result =
        deliver_challenge(&mut io, authkey).and_then(|()| answer_challenge(&mut io, authkey));
    result.map_err(|e| timeout_error(e, timeout))
}

/// Authenticates `connection` as the connecting side: answer the peer's challenge, then
/// challenge it.
///
/// # Errors
///
/// As [`authenticate_as_listener`].
pub fn authenticate_as_client(
    connection: &mut Connection,
    authkey: &[u8],
    timeout: Option<Duration>,
) -> Result<(), AuthenticationError> {
    let mut io = with_deadline(connection, timeout);
    let result =
        answer_challenge(&mut io, authkey).and_then(|()| deliver_challenge(&mut io, authkey));
    result.map_err(|e| timeout_error(e, timeout))
}

fn with_deadline(connection: &mut Connection, timeout: Option<Duration>) -> WithDeadline<'_> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    WithDeadline {
        connection,
        deadline,
    }
}

fn timeout_error(e: AuthenticationError, timeout: Option<Duration>) -> AuthenticationError {
    match (e, timeout) {
        (AuthenticationError::Connection(ConnectionError::Timeout), Some(t)) => {
            AuthenticationError::Timeout(t)
        }
        (e, _) => e,
    }
}

/// HMAC-SHA256 of `message` with `authkey`: what signs a request that must come from a holder
/// of the key (a cluster's request to start workers, say).
pub fn hmac_sha256(authkey: &[u8], message: &[u8]) -> [u8; 32] {
    mac(authkey, message).finalize().into_bytes().into()
}

/// Whether `signature` is `message`'s HMAC-SHA256 with `authkey` (compared in constant time).
pub fn verify_hmac_sha256(authkey: &[u8], message: &[u8], signature: &[u8]) -> bool {
    mac(authkey, message).verify_slice(signature).is_ok()
}

fn mac(authkey: &[u8], message: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(authkey).expect("HMAC takes keys of any length");
    mac.update(message);
    mac
}

/// Sends a challenge and checks the peer's answer.
pub(crate) fn deliver_challenge<I: HandshakeIo>(
    io: &mut I,
    authkey: &[u8],
) -> Result<(), AuthenticationError> {
    let mut random = [0_u8; RANDOM_LEN];
    getrandom::fill(&mut random)
        .map_err(|e| AuthenticationError::Protocol(format!("no randomness: {e}")))?;
    let mut message = DIGEST_PREFIX.to_vec();
    message.extend_from_slice(&random);
    let mut challenge = CHALLENGE.to_vec();
    challenge.extend_from_slice(&message);
    io.send_message(&challenge)
        .map_err(AuthenticationError::Connection)?;

    let response = recv(io)?;
    let verdict = verify_response(authkey, &message, &response);
    let reply = if verdict.is_ok() { WELCOME } else { FAILURE };
    // Tell the peer either way; if it is already gone, the verdict is what matters.
    let sent = io.send_message(reply);
    verdict?;
    sent.map_err(AuthenticationError::Connection)
}

fn verify_response(
    authkey: &[u8],
    message: &[u8],
    response: &[u8],
) -> Result<(), AuthenticationError> {
    if LEGACY_LENGTHS.contains(&response.len()) {
        return Err(AuthenticationError::LegacyPeer);
    }
    let mac_bytes = strip_digest_prefix(response)?;
    mac(authkey, message)
        .verify_slice(mac_bytes)
        .map_err(|_| AuthenticationError::DigestReceivedWasWrong)
}

/// Answers the peer's challenge and waits for its verdict.
pub(crate) fn answer_challenge<I: HandshakeIo>(
    io: &mut I,
    authkey: &[u8],
) -> Result<(), AuthenticationError> {
    let challenge = recv(io)?;
    let Some(message) = challenge.strip_prefix(CHALLENGE) else {
        return Err(AuthenticationError::Protocol(format!(
            "expected a challenge, got {} bytes starting {:?}",
            challenge.len(),
            String::from_utf8_lossy(&challenge[..challenge.len().min(16)])
        )));
    };
    if message.len() < LEGACY_LENGTHS[0] {
        return Err(AuthenticationError::Protocol(format!(
            "challenge too short: {} bytes",
            message.len()
        )));
    }
    if message.len() == LEGACY_LENGTHS[0] {
        return Err(AuthenticationError::LegacyPeer);
    }
    strip_digest_prefix(message)?;
    let mut response = DIGEST_PREFIX.to_vec();
    response.extend_from_slice(&mac(authkey, message).finalize().into_bytes());
    io.send_message(&response)
        .map_err(AuthenticationError::Connection)?;
    match recv(io)?.as_slice() {
        WELCOME => Ok(()),
        FAILURE => Err(AuthenticationError::DigestSentWasRejected),
        other => Err(AuthenticationError::Protocol(format!(
            "expected a verdict, got {:?}",
            String::from_utf8_lossy(&other[..other.len().min(16)])
        ))),
    }
}

fn recv<I: HandshakeIo>(io: &mut I) -> Result<Vec<u8>, AuthenticationError> {
    io.recv_message(MAX_MESSAGE).map_err(|e| match e {
        ConnectionError::MessageTooLong { length, .. } => AuthenticationError::Protocol(format!(
            "handshake message of {length} bytes is too long"
        )),
        e => AuthenticationError::Connection(e),
    })
}

/// Checks a `{digest}` prefix and returns what follows it.
fn strip_digest_prefix(message: &[u8]) -> Result<&[u8], AuthenticationError> {
    if let Some(rest) = message.strip_prefix(DIGEST_PREFIX) {
        return Ok(rest);
    }
    let name = message.strip_prefix(b"{").and_then(|rest| {
        rest.iter()
            .take(10)
            .position(|&b| b == b'}')
            .map(|end| &rest[..end])
    });
    match name {
        Some(name) => Err(AuthenticationError::UnsupportedDigest(
            String::from_utf8_lossy(name).into_owned(),
        )),
        None => Err(AuthenticationError::Protocol(
            "missing {digest} prefix".to_string(),
        )),
    }
}

/// A scripted peer for tests and fuzzing: replies come from a list, sent messages are kept.
#[derive(Debug, Default)]
pub(crate) struct ScriptedPeer {
    pub(crate) replies: std::collections::VecDeque<Vec<u8>>,
    pub(crate) sent: Vec<Vec<u8>>,
}

impl HandshakeIo for ScriptedPeer {
    fn send_message(&mut self, bytes: &[u8]) -> Result<(), ConnectionError> {
        self.sent.push(bytes.to_vec());
        Ok(())
    }

    fn recv_message(&mut self, maxlength: usize) -> Result<Vec<u8>, ConnectionError> {
        let reply = self.replies.pop_front().ok_or(ConnectionError::Eof)?;
        if reply.len() > maxlength {
            return Err(ConnectionError::MessageTooLong {
                length: reply.len() as u64,
                maxlength,
            });
        }
        Ok(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn respond(authkey: &[u8], challenge: &[u8]) -> Vec<u8> {
        let message = challenge.strip_prefix(CHALLENGE).unwrap();
        let mut response = DIGEST_PREFIX.to_vec();
        response.extend_from_slice(&mac(authkey, message).finalize().into_bytes());
        response
    }

    #[test]
    fn a_correct_answer_is_welcomed() {
        // Run the challenger against a peer that answers with the right key.
        struct Answering(ScriptedPeer);
        impl HandshakeIo for Answering {
            fn send_message(&mut self, bytes: &[u8]) -> Result<(), ConnectionError> {
                if bytes.starts_with(CHALLENGE) {
                    self.0.replies.push_back(respond(b"key", bytes));
                }
                self.0.send_message(bytes)
            }
            fn recv_message(&mut self, max: usize) -> Result<Vec<u8>, ConnectionError> {
                self.0.recv_message(max)
            }
        }
        let mut peer = Answering(ScriptedPeer::default());
        deliver_challenge(&mut peer, b"key").unwrap();
        assert_eq!(peer.0.sent.last().unwrap(), WELCOME);
        let challenge = &peer.0.sent[0];
        assert!(challenge.starts_with(b"#CHALLENGE#{sha256}"));
        assert_eq!(
            challenge.len(),
            CHALLENGE.len() + DIGEST_PREFIX.len() + RANDOM_LEN
        );
    }

    #[test]
    fn a_wrong_answer_is_refused_and_told_so() {
        let mut peer = ScriptedPeer::default();
        peer.replies
            .push_back([DIGEST_PREFIX, &[0_u8; 32]].concat());
        let err = deliver_challenge(&mut peer, b"key").unwrap_err();
        assert!(
            matches!(err, AuthenticationError::DigestReceivedWasWrong),
            "{err}"
        );
        assert_eq!(peer.sent.last().unwrap(), FAILURE);
    }

    #[test]
    fn legacy_md5_peers_are_refused_both_ways() {
        let mut peer = ScriptedPeer::default();
        peer.replies.push_back(vec![0; 16]);
        assert!(matches!(
            deliver_challenge(&mut peer, b"k"),
            Err(AuthenticationError::LegacyPeer)
        ));

        let mut peer = ScriptedPeer::default();
        peer.replies.push_back([CHALLENGE, &[1_u8; 20]].concat());
        assert!(matches!(
            answer_challenge(&mut peer, b"k"),
            Err(AuthenticationError::LegacyPeer)
        ));
    }

    #[test]
    fn answering_computes_python_compatible_digests() {
        let challenge = [CHALLENGE, DIGEST_PREFIX, &[7_u8; RANDOM_LEN]].concat();
        let mut peer = ScriptedPeer::default();
        peer.replies.push_back(challenge.clone());
        peer.replies.push_back(WELCOME.to_vec());
        answer_challenge(&mut peer, b"secret").unwrap();
        assert_eq!(peer.sent[0], respond(b"secret", &challenge));
    }

    #[test]
    fn other_digests_and_garbage_are_clear_errors() {
        let mut peer = ScriptedPeer::default();
        peer.replies
            .push_back([CHALLENGE, b"{sha384}", &[7_u8; RANDOM_LEN]].concat());
        let err = answer_challenge(&mut peer, b"k").unwrap_err();
        assert!(
            matches!(&err, AuthenticationError::UnsupportedDigest(d) if d == "sha384"),
            "{err}"
        );

        let mut peer = ScriptedPeer::default();
        peer.replies.push_back(b"something bogus".to_vec());
        assert!(matches!(
            answer_challenge(&mut peer, b"k"),
            Err(AuthenticationError::Protocol(_))
        ));

        let mut peer = ScriptedPeer::default();
        peer.replies
            .push_back([CHALLENGE, DIGEST_PREFIX, &[7_u8; RANDOM_LEN]].concat());
        peer.replies.push_back(b"#MAYBE#".to_vec());
        assert!(matches!(
            answer_challenge(&mut peer, b"k"),
            Err(AuthenticationError::Protocol(_))
        ));
    }

    #[test]
    fn a_rejected_answer_is_reported() {
        let mut peer = ScriptedPeer::default();
        peer.replies
            .push_back([CHALLENGE, DIGEST_PREFIX, &[7_u8; RANDOM_LEN]].concat());
        peer.replies.push_back(FAILURE.to_vec());
        assert!(matches!(
            answer_challenge(&mut peer, b"k"),
            Err(AuthenticationError::DigestSentWasRejected)
        ));
    }
}
