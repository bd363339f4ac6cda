//! The one module that knows the wire format.
//!
//! Every typed value procvisor moves between processes goes through [`encode`] and [`decode`].
//! Today the format is bincode 2 (serde, little-endian, fixed-size integers: an `i64` is its 8
//! bytes, which encodes and decodes faster than variable-length integers on the large
//! sequences a pool moves, at the cost of a few bytes on small messages). bincode is pinned and unmaintained (RUSTSEC-2025-0141); nothing outside this
//! module names it, so replacing it touches this file only.
//!
//! # Bad input
//!
//! [`decode`] never trusts a length it reads from the input. bincode itself allocates an owned
//! string or byte buffer of the claimed length *before* checking that the input holds that many
//! bytes; a garbage frame could therefore ask for gigabytes. Decoding here goes through a serde
//! adapter that reads strings and byte buffers as borrowed slices first (which fails cleanly
//! when the input is short) and copies only what is really there. Sequences and maps are sized
//! by serde's cautious size hints. Trailing bytes after a value are an error.

mod guarded;

use serde::{Serialize, de::DeserializeOwned};

/// The configuration every encode and decode uses; both ends must agree on it.
type Config =
    bincode::config::Configuration<bincode::config::LittleEndian, bincode::config::Fixint>;

fn config() -> Config {
    bincode::config::standard().with_fixed_int_encoding()
}

/// Which way a [`CodecError`] happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodecDirection {
    /// Turning a value into bytes failed: nothing was sent.
    Encode,
    /// Turning bytes into a value failed: the bytes were not a valid encoding of the type.
    Decode,
}

/// A value could not be encoded, or bytes could not be decoded into the requested type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not {} a message: {message}", match .direction { CodecDirection::Encode => "encode", CodecDirection::Decode => "decode" })]
pub struct CodecError {
    direction: CodecDirection,
    message: String,
}

impl CodecError {
    pub(crate) fn encode(message: impl std::fmt::Display) -> Self {
        Self {
            direction: CodecDirection::Encode,
            message: message.to_string(),
        }
    }

    pub(crate) fn decode(message: impl std::fmt::Display) -> Self {
        Self {
            direction: CodecDirection::Decode,
            message: message.to_string(),
        }
    }

    /// The error for a value of `size` bytes, too large for one of procvisor's messages (see
    /// [`MAX_VALUE_SIZE`](crate::MAX_VALUE_SIZE)): it gives the size and what to do instead.
    pub fn too_large(size: usize) -> Self {
        Self::encode(format!(
            "the value is {}, over the {} one message carries; pass data this large through \
             shared memory (SharedMemory, Array, ShareableList), or send it in parts",
            mebibytes(size),
            mebibytes(crate::MAX_VALUE_SIZE)
        ))
    }

    /// Whether encoding or decoding failed.
    pub fn direction(&self) -> CodecDirection {
        self.direction
    }

    /// The codec's own description of what went wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A size in MiB, for messages.
pub(crate) fn mebibytes(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Encodes `value` into a new buffer.
///
/// # Errors
///
/// Fails when the value's `Serialize` implementation fails (for example a map with non-string
/// keys is fine, but a type that refuses to be sent outside a process hand-over is not).
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    encode_into(value, &mut out)?;
    Ok(out)
}

/// Encodes `value` at the end of `out`, leaving what `out` already held in place.
///
/// On error `out` is restored to its previous length.
///
/// # Errors
///
/// As [`encode`].
pub fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let before = out.len();
    bincode::serde::encode_into_std_write(value, out, config())
        .map(drop)
        .map_err(|e| {
            out.truncate(before);
            CodecError::encode(e)
        })
}

/// Decodes one value of type `T` that must occupy all of `bytes`.
///
/// # Errors
///
/// Fails when `bytes` is not a valid encoding of `T`, is truncated, or has bytes left over.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let seed = guarded::Seed::<T>::new();
    let (value, used) = bincode::serde::seed_decode_from_slice(seed, bytes, config())
        .map_err(CodecError::decode)?;
    if used != bytes.len() {
        return Err(CodecError::decode(format!(
            "{} trailing bytes after a value of {} bytes",
            bytes.len() - used,
            used
        )));
    }
    Ok(value)
}

/// Decodes a `T` from the start of `bytes`; returns it and how many bytes it took (the rest
/// is another value's: a record that starts with a known part, say).
///
/// # Errors
///
/// When the bytes do not start with a `T`.
pub fn decode_prefix<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, usize), CodecError> {
    let seed = guarded::Seed::<T>::new();
    bincode::serde::seed_decode_from_slice(seed, bytes, config()).map_err(CodecError::decode)
}

/// Decodes a sequence of `T` (as an encoded `Vec<T>` or slice) from all of `bytes`, appending
/// the values to `out`: no intermediate vector when results are gathered from many chunks.
/// On error, `out` keeps the values decoded before it.
///
/// # Errors
///
/// As [`decode`].
pub fn decode_extend<T: DeserializeOwned>(
    bytes: &[u8],
    out: &mut Vec<T>,
) -> Result<(), CodecError> {
    let seed = guarded::GuardedSeed(Extend(out));
    let ((), used) = bincode::serde::seed_decode_from_slice(seed, bytes, config())
        .map_err(CodecError::decode)?;
    if used != bytes.len() {
        return Err(CodecError::decode(format!(
            "{} trailing bytes after a sequence of {} bytes",
            bytes.len() - used,
            used
        )));
    }
    Ok(())
}

/// Appends a decoded sequence to a vector.
struct Extend<'a, T>(&'a mut Vec<T>);

impl<'de, T: serde::Deserialize<'de>> serde::de::DeserializeSeed<'de> for Extend<'_, T> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Extend<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // Reserve what the input claims, but never more than its bytes could hold.
        if let Some(hint) = seq.size_hint() {
            self.0.reserve(hint.min(1 << 20));
        }
        while let Some(value) = seq.next_element()? {
            self.0.push(value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::HashMap;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Shape {
        Unit,
        Tuple(i32, String),
        Struct {
            name: String,
            tags: Vec<String>,
            bytes: Vec<u8>,
        },
        Nested(Option<Box<Shape>>),
    }

    #[test]
    fn round_trips_the_seed_message() {
        // Python's [42, None, 'hello'] as a Rust tuple.
        let value = (42_i64, None::<i64>, "hello".to_string());
        let bytes = encode(&value).unwrap();
        assert_eq!(decode::<(i64, Option<i64>, String)>(&bytes).unwrap(), value);
    }

    #[test]
    fn round_trips_enums_maps_and_nesting() {
        let shapes = vec![
            Shape::Unit,
            Shape::Tuple(-7, "x".into()),
            Shape::Struct {
                name: "n".into(),
                tags: vec!["a".into(), "b".into()],
                bytes: vec![0, 255],
            },
            Shape::Nested(Some(Box::new(Shape::Nested(None)))),
        ];
        let mut map = HashMap::new();
        map.insert("k".to_string(), shapes);
        let bytes = encode(&map).unwrap();
        assert_eq!(decode::<HashMap<String, Vec<Shape>>>(&bytes).unwrap(), map);
    }

    #[test]
    fn encode_into_appends_after_existing_bytes() {
        let mut out = vec![1, 2, 3];
        encode_into(&5_u8, &mut out).unwrap();
        assert_eq!(&out[..3], &[1, 2, 3]);
        assert_eq!(decode::<u8>(&out[3..]).unwrap(), 5);
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut bytes = encode(&1_u32).unwrap();
        bytes.push(0);
        let err = decode::<u32>(&bytes).unwrap_err();
        assert_eq!(err.direction(), CodecDirection::Decode);
        assert!(err.message().contains("trailing"), "{err}");
    }

    #[test]
    fn truncated_input_is_an_error() {
        let bytes = encode(&"hello world".to_string()).unwrap();
        for cut in 0..bytes.len() {
            assert!(decode::<String>(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn a_huge_claimed_string_length_is_rejected_without_allocating_it() {
        // varint marker 0xFD = u64 follows; claim 2^62 bytes with nothing behind it.
        let mut bytes = vec![0xFD];
        bytes.extend_from_slice(&(1_u64 << 62).to_le_bytes());
        assert!(decode::<String>(&bytes).is_err());
        assert!(decode::<Vec<u8>>(&bytes).is_err());
        assert!(decode::<Vec<u64>>(&bytes).is_err());
        assert!(decode::<HashMap<String, String>>(&bytes).is_err());
    }

    #[test]
    fn serialize_errors_are_encode_errors() {
        struct Refuses;
        impl Serialize for Refuses {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("not today"))
            }
        }
        let mut out = vec![9];
        let err = encode_into(&Refuses, &mut out).unwrap_err();
        assert_eq!(err.direction(), CodecDirection::Encode);
        assert!(err.to_string().contains("not today"), "{err}");
        assert_eq!(out, vec![9]);
    }
}
