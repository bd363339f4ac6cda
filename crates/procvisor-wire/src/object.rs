//! [`Object`]: a value of one of Python's built-in types, for heterogeneous messages.
//!
//! Rust messages are usually typed (a tuple, a struct). When a program wants Python's freedom,
//! a list mixing numbers, `None` and strings, or a dict with keys of several types, [`Object`]
//! holds it, travels like any other message, and prints as Python's `repr` would.
//!
//! ```
//! use procvisor_wire::object;
//!
//! let message = object!([42, None, "hello"]);
//! assert_eq!(message.to_string(), "[42, None, 'hello']");
//! let d = object!({0.25: None, 1: "1", "2": 2});
//! assert_eq!(d.to_string(), "{0.25: None, 1: '1', '2': 2}");
//! ```

use serde::{Deserialize, Serialize};
use std::fmt;

/// A value of one of Python's built-in types. `Display` (and `Debug`) print Python's `repr`.
///
/// Equality follows Python: `1 == 1.0 == True`. A `Dict` keeps insertion order, as Python's
/// does, and looks keys up by that equality.
#[derive(Clone, Serialize, Deserialize, Default)]
pub enum Object {
    /// `None`.
    #[default]
    None,
    /// `True` or `False`.
    Bool(bool),
    /// An `int` (within `i64`).
    Int(i64),
    /// A `float`.
    Float(f64),
    /// A `str`.
    Str(String),
    /// A `bytes`.
    Bytes(Vec<u8>),
    /// A `list`.
    List(Vec<Object>),
    /// A `tuple`.
    Tuple(Vec<Object>),
    /// A `dict`, in insertion order.
    Dict(Vec<(Object, Object)>),
}

impl Object {
    /// A new empty dict.
    pub fn dict() -> Object {
        Object::Dict(Vec::new())
    }

    /// The value for `key` in a dict (`None` if absent or not a dict).
    pub fn get(&self, key: &Object) -> Option<&Object> {
        match self {
            Object::Dict(items) => items.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Sets `key` in a dict, keeping the position of an existing key (Python's `d[key] = v`).
    /// Returns the previous value. Does nothing on other types and returns `None`.
    pub fn set(&mut self, key: Object, value: Object) -> Option<Object> {
        let Object::Dict(items) = self else {
            return None;
        };
        match items.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => Some(std::mem::replace(v, value)),
            None => {
                items.push((key, value));
                None
            }
        }
    }

    fn as_number(&self) -> Option<f64> {
        match self {
            Object::Bool(b) => Some(f64::from(u8::from(*b))),
            Object::Int(i) => Some(*i as f64),
            Object::Float(f) => Some(*f),
            _ => None,
        }
    }
}

impl PartialEq for Object {
    fn eq(&self, other: &Object) -> bool {
        use Object::*;
        match (self, other) {
            (None, None) => true,
            (Int(a), Int(b)) => a == b,
            (Str(a), Str(b)) => a == b,
            (Bytes(a), Bytes(b)) => a == b,
            (List(a), List(b)) | (Tuple(a), Tuple(b)) => a == b,
            (Dict(a), Dict(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| other.get(k) == Some(v))
            }
            (a, b) => matches!((a.as_number(), b.as_number()), (Some(x), Some(y)) if x == y),
        }
    }
}

/// Python's `repr` of a float: the shortest digits that read back to the same value, in
/// positional notation for exponents from -4 to 15 and scientific notation otherwise.
fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let scientific = format!("{x:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("`{:e}` always has an exponent");
    let exponent: i32 = exponent.parse().expect("numeric exponent");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exponent) {
        let point = exponent + 1;
        let text = if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if point as usize >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            format!(
                "{}.{}",
                &digits[..point as usize],
                &digits[point as usize..]
            )
        };
        format!("{sign}{text}")
    } else {
        let mantissa = if digits.len() == 1 {
            digits
        } else {
            format!("{}.{}", &digits[..1], &digits[1..])
        };
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exponent_sign}{:02}", exponent.abs())
    }
}

fn quote_for(has_single: bool, has_double: bool) -> char {
    if has_single && !has_double { '"' } else { '\'' }
}

fn str_repr(s: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let quote = quote_for(s.contains('\''), s.contains('"'));
    f.write_fmt(format_args!("{quote}"))?;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c == quote => write!(f, "\\{c}")?,
            c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:02x}", c as u32)?,
            c if c.is_control() => write!(f, "\\u{:04x}", c as u32)?,
            c => write!(f, "{c}")?,
        }
    }
    write!(f, "{quote}")
}

fn bytes_repr(b: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let quote = quote_for(b.contains(&b'\''), b.contains(&b'"'));
    write!(f, "b{quote}")?;
    for &byte in b {
        match byte {
            b'\\' => f.write_str("\\\\")?,
            b'\n' => f.write_str("\\n")?,
            b'\r' => f.write_str("\\r")?,
            b'\t' => f.write_str("\\t")?,
            c if c as char == quote => write!(f, "\\{}", c as char)?,
            0x20..=0x7e => write!(f, "{}", byte as char)?,
            _ => write!(f, "\\x{byte:02x}")?,
        }
    }
    write!(f, "{quote}")
}

fn joined(items: &[Object], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Object::None => f.write_str("None"),
            Object::Bool(true) => f.write_str("True"),
            Object::Bool(false) => f.write_str("False"),
            Object::Int(i) => write!(f, "{i}"),
            Object::Float(x) => f.write_str(&float_repr(*x)),
            Object::Str(s) => str_repr(s, f),
            Object::Bytes(b) => bytes_repr(b, f),
            Object::List(items) => {
                f.write_str("[")?;
                joined(items, f)?;
                f.write_str("]")
            }
            Object::Tuple(items) => {
                f.write_str("(")?;
                joined(items, f)?;
                f.write_str(if items.len() == 1 { ",)" } else { ")" })
            }
            Object::Dict(items) => {
                f.write_str("{")?;
                for (i, (k, v)) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Object {
            fn from(v: $t) -> Object {
                Object::Int(v as i64)
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32, isize);

impl From<bool> for Object {
    fn from(v: bool) -> Object {
        Object::Bool(v)
    }
}

impl From<f64> for Object {
    fn from(v: f64) -> Object {
        Object::Float(v)
    }
}

impl From<f32> for Object {
    fn from(v: f32) -> Object {
        Object::Float(f64::from(v))
    }
}

impl From<&str> for Object {
    fn from(v: &str) -> Object {
        Object::Str(v.to_string())
    }
}

impl From<String> for Object {
    fn from(v: String) -> Object {
        Object::Str(v)
    }
}

impl From<char> for Object {
    fn from(v: char) -> Object {
        Object::Str(v.to_string())
    }
}

impl From<()> for Object {
    fn from((): ()) -> Object {
        Object::None
    }
}

impl<T: Into<Object>> From<Option<T>> for Object {
    fn from(v: Option<T>) -> Object {
        v.map_or(Object::None, Into::into)
    }
}

impl<T: Into<Object>> From<Vec<T>> for Object {
    fn from(v: Vec<T>) -> Object {
        Object::List(v.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Object>> FromIterator<T> for Object {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Object {
        Object::List(iter.into_iter().map(Into::into).collect())
    }
}

/// Builds an [`Object`] from Python-like literal syntax: `None`, `True`, `False`, `[...]`
/// lists, `(...)` tuples, `{k: v, ...}` dicts, and any Rust expression that converts into an
/// `Object` (numbers, strings, other objects). Dict keys are single tokens (literals,
/// identifiers) or parenthesised expressions.
///
/// ```
/// use procvisor_wire::object;
///
/// assert_eq!(object!([1, (2,), {"a": [None, True]}]).to_string(), "[1, (2,), {'a': [None, True]}]");
/// ```
#[macro_export]
macro_rules! object {
    (None) => { $crate::Object::None };
    (True) => { $crate::Object::Bool(true) };
    (False) => { $crate::Object::Bool(false) };
    ([ $($items:tt)* ]) => { $crate::Object::List($crate::object!(@seq [] [] $($items)*)) };
    (( $($items:tt)* )) => { $crate::Object::Tuple($crate::object!(@seq [] [] $($items)*)) };
    ({ $($items:tt)* }) => { $crate::Object::Dict($crate::object!(@dict [] [] $($items)*)) };
    // Sequences: collect the tokens of each item up to a comma.
    (@seq [$($out:expr,)*] [] ) => { vec![$($out),*] };
    (@seq [$($out:expr,)*] [$($cur:tt)+] ) => { vec![$($out,)* $crate::object!($($cur)+)] };
    (@seq [$($out:expr,)*] [$($cur:tt)+] , $($rest:tt)*) => {
        $crate::object!(@seq [$($out,)* $crate::object!($($cur)+),] [] $($rest)*)
    };
    (@seq [$($out:expr,)*] [$($cur:tt)*] $next:tt $($rest:tt)*) => {
        $crate::object!(@seq [$($out,)*] [$($cur)* $next] $($rest)*)
    };
    // Dicts: a key token, a colon, then the value's tokens up to a comma.
    (@dict [$($out:expr,)*] [] ) => { vec![$($out),*] };
    (@dict [$($out:expr,)*] [$key:tt : $($value:tt)+] ) => {
        vec![$($out,)* ($crate::object!($key), $crate::object!($($value)+))]
    };
    (@dict [$($out:expr,)*] [$key:tt : $($value:tt)+] , $($rest:tt)*) => {
        $crate::object!(@dict [$($out,)* ($crate::object!($key), $crate::object!($($value)+)),] [] $($rest)*)
    };
    (@dict [$($out:expr,)*] [$($cur:tt)*] $next:tt $($rest:tt)*) => {
        $crate::object!(@dict [$($out,)*] [$($cur)* $next] $($rest)*)
    };
    ($value:expr) => { $crate::Object::from($value) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::approx_constant, reason = "the seed example's value, not pi")]
    fn floats_print_like_python() {
        let cases = [
            (0.25, "0.25"),
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (3.1415927, "3.1415927"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (2.5e-10, "2.5e-10"),
            (100.5, "100.5"),
            (f64::INFINITY, "inf"),
            (f64::NAN, "nan"),
        ];
        for (x, expected) in cases {
            assert_eq!(float_repr(x), expected, "{x:e}");
        }
    }

    #[test]
    fn strings_and_bytes_print_like_python() {
        assert_eq!(Object::from("hello").to_string(), "'hello'");
        assert_eq!(Object::from("it's").to_string(), "\"it's\"");
        assert_eq!(
            Object::from("both ' and \"").to_string(),
            "'both \\' and \"'"
        );
        assert_eq!(
            Object::from("tab\tnew\nline\\").to_string(),
            "'tab\\tnew\\nline\\\\'"
        );
        assert_eq!(Object::from("hallå").to_string(), "'hallå'");
        assert_eq!(
            Object::Bytes(b"hall\xe5 \x00'".to_vec()).to_string(),
            "b\"hall\\xe5 \\x00'\""
        );
    }

    #[test]
    fn containers_print_like_python() {
        assert_eq!(
            object!([42, None, "hello"]).to_string(),
            "[42, None, 'hello']"
        );
        assert_eq!(object!((1,)).to_string(), "(1,)");
        assert_eq!(object!(()).to_string(), "()");
        assert_eq!(object!({}).to_string(), "{}");
        assert_eq!(
            object!({0.25: None, 1: "1", "2": 2}).to_string(),
            "{0.25: None, 1: '1', '2': 2}"
        );
        assert_eq!(
            object!([True, False, [], (1, 2)]).to_string(),
            "[True, False, [], (1, 2)]"
        );
        assert_eq!(
            Object::from((0..10).rev().collect::<Vec<i32>>()).to_string(),
            "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]"
        );
    }

    #[test]
    fn equality_and_dict_keys_follow_python() {
        assert_eq!(object!(1), object!(1.0));
        assert_eq!(object!(True), object!(1));
        assert_ne!(object!("1"), object!(1));
        let mut d = Object::dict();
        d.set(object!(1), object!("one"));
        assert_eq!(d.set(object!(1.0), object!("uno")), Some(object!("one")));
        assert_eq!(d.to_string(), "{1: 'uno'}");
        assert_eq!(object!({1: 2, 3: 4}), object!({3: 4, 1: 2}));
    }

    #[test]
    fn objects_round_trip_through_the_codec() {
        let value = object!([1, 2.5, "s", (None,), {"k": [True]}]);
        let bytes = crate::codec::encode(&value).unwrap();
        let back: Object = crate::codec::decode(&bytes).unwrap();
        assert_eq!(back, value);
        assert_eq!(back.to_string(), value.to_string());
    }
}
