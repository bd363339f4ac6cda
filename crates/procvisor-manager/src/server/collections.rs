//! dict, list, Namespace and Value objects: data under a mutex, each call one critical section.

use super::ordered_map::OrderedMap;
use crate::error::remote;
use crate::protocol::{Bytes, Op, Part, Response};

pub(crate) fn dict(map: &mut OrderedMap, op: Op, namespace: bool) -> Response {
    let missing = |key: &[u8]| {
        if namespace {
            Response::Error(remote(
                "AttributeError",
                format!(
                    "'Namespace' object has no attribute '{}'",
                    String::from_utf8_lossy(key)
                ),
            ))
        } else {
            Response::Error(remote("KeyError", "the key is not in the dict"))
        }
    };
    match op {
        Op::Len => Response::Int(map.len() as i64),
        Op::Clear => {
            map.clear();
            Response::Done
        }
        Op::Get(key) => Response::MaybeBytes(map.get(&key).cloned()),
        Op::GetItem(key) => match map.get(&key) {
            Some(value) => Response::Bytes(value.clone()),
            None => missing(&key),
        },
        Op::Set(key, value) => {
            map.insert(key, value);
            Response::Done
        }
        Op::Del(key) => match map.remove(&key) {
            Some(_) => Response::Done,
            None => missing(&key),
        },
        Op::Contains(key) => Response::Bool(map.get(&key).is_some()),
        Op::Entries {
            from,
            max,
            shape,
            part,
        } => entries(map, from, max, shape, part, "dictionary"),
        Op::Keys => Response::List(map.iter().map(|(k, _)| k.clone()).collect()),
        Op::Values => Response::List(map.iter().map(|(_, v)| v.clone()).collect()),
        Op::Items => Response::Items(map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        Op::Update(items) => {
            for (k, v) in items {
                map.insert(k, v);
            }
            Response::Done
        }
        Op::Pop(key, default) => match (map.remove(&key), default) {
            (Some(value), _) | (None, Some(value)) => Response::Bytes(value),
            (None, None) => missing(&key),
        },
        Op::SetDefault(key, default) => match map.get(&key) {
            Some(value) => Response::Bytes(value.clone()),
            None => {
                map.insert(key, default.clone());
                Response::Bytes(default)
            }
        },
        Op::PopItem => match map.pop_last() {
            Some((k, v)) => Response::Items(vec![(k, v)]),
            None => Response::Error(remote("KeyError", "'popitem(): dictionary is empty'")),
        },
        other => unsupported(if namespace { "Namespace" } else { "dict" }, &other),
    }
}

/// A chunk for an iterator over `map` (a dict's, a set's), or Python's `RuntimeError` when
/// its keys changed since the iterator began.
pub(crate) fn entries(
    map: &OrderedMap,
    from: u64,
    max: u32,
    shape: Option<u64>,
    part: Part,
    what: &str,
) -> Response {
    if shape.is_some_and(|seen| seen != map.shape()) {
        return Response::Error(remote(
            "RuntimeError",
            format!("{what} changed size during iteration"),
        ));
    }
    let from = usize::try_from(from).unwrap_or(usize::MAX);
    let (pairs, next) = map.chunk(from, max as usize);
    let half = |b: &Bytes, wanted: bool| if wanted { b.clone() } else { Bytes::new() };
    let items = pairs
        .into_iter()
        .map(|(k, v)| (half(k, part != Part::Values), half(v, part != Part::Keys)))
        .collect();
    Response::Chunk {
        items,
        next: next as u64,
        shape: map.shape(),
    }
}

/// A list and its version, which every change moves on (for sorts done by a client).
#[derive(Default)]
pub(crate) struct VersionedList {
    pub(crate) items: Vec<Bytes>,
    pub(crate) version: u64,
}

/// Python's index: negative counts from the end.
fn position(index: i64, len: usize) -> Option<usize> {
    let at = if index < 0 { len as i64 + index } else { index };
    (0..len as i64).contains(&at).then_some(at as usize)
}

/// Python's slice bounds, clamped.
fn bounds(start: Option<i64>, stop: Option<i64>, len: usize) -> (usize, usize) {
    let clamp = |i: i64| {
        let i = if i < 0 { len as i64 + i } else { i };
        i.clamp(0, len as i64) as usize
    };
    let start = start.map_or(0, clamp);
    let stop = stop.map_or(len, clamp);
    (start, stop.max(start))
}

fn out_of_range(what: &str) -> Response {
    Response::Error(remote("IndexError", format!("{what} index out of range")))
}

pub(crate) fn list(list: &mut VersionedList, op: Op, fixed: bool) -> Response {
    let name = if fixed { "array" } else { "list" };
    if fixed
        && matches!(
            op,
            Op::Append(_)
                | Op::Extend(_)
                | Op::Insert(..)
                | Op::PopAt(_)
                | Op::Remove(_)
                | Op::DelAt(_)
                | Op::Clear
        )
    {
        return unsupported(name, &op);
    }
    let changes = !matches!(
        op,
        Op::Len | Op::At(_) | Op::Index(_) | Op::Count(_) | Op::Slice(..) | Op::Snapshot
    );
    let response = match op {
        Op::Len => Response::Int(list.items.len() as i64),
        Op::Clear => {
            list.items.clear();
            Response::Done
        }
        Op::At(i) => match position(i, list.items.len()) {
            Some(at) => Response::Bytes(list.items[at].clone()),
            None => out_of_range(name),
        },
        Op::SetAt(i, value) => match position(i, list.items.len()) {
            Some(at) => {
                list.items[at] = value;
                Response::Done
            }
            None => out_of_range(&format!("{name} assignment")),
        },
        Op::DelAt(i) => match position(i, list.items.len()) {
            Some(at) => {
                list.items.remove(at);
                Response::Done
            }
            None => out_of_range(&format!("{name} assignment")),
        },
        Op::Append(value) => {
            list.items.push(value);
            Response::Done
        }
        Op::Extend(values) => {
            list.items.extend(values);
            Response::Done
        }
        Op::Insert(i, value) => {
            let (at, _) = bounds(Some(i), None, list.items.len());
            list.items.insert(at, value);
            Response::Done
        }
        Op::PopAt(i) => {
            if list.items.is_empty() {
                return Response::Error(remote("IndexError", "pop from empty list"));
            }
            match position(i.unwrap_or(-1), list.items.len()) {
                Some(at) => Response::Bytes(list.items.remove(at)),
                None => return Response::Error(remote("IndexError", "pop index out of range")),
            }
        }
        Op::Remove(value) => match list.items.iter().position(|v| *v == value) {
            Some(at) => {
                list.items.remove(at);
                Response::Done
            }
            None => {
                return Response::Error(remote("ValueError", "list.remove(x): x not in list"));
            }
        },
        Op::Index(value) => match list.items.iter().position(|v| *v == value) {
            Some(at) => Response::Int(at as i64),
            None => Response::Error(remote("ValueError", "the value is not in the list")),
        },
        Op::Count(value) => {
            Response::Int(list.items.iter().filter(|v| **v == value).count() as i64)
        }
        Op::Reverse => {
            list.items.reverse();
            Response::Done
        }
        Op::Slice(start, stop) => {
            let (start, stop) = bounds(start, stop, list.items.len());
            Response::List(list.items[start..stop].to_vec())
        }
        Op::SetSlice(start, stop, values) => {
            let (start, stop) = bounds(start, stop, list.items.len());
            if fixed && values.len() != stop - start {
                return Response::Error(remote(
                    "ValueError",
                    "can only assign a slice of the same length to an array",
                ));
            }
            list.items.splice(start..stop, values);
            Response::Done
        }
        Op::Snapshot => Response::Versioned {
            version: list.version,
            items: list.items.clone(),
        },
        Op::ReplaceIf { version, items } => {
            if version != list.version {
                return Response::Bool(false);
            }
            list.items = items;
            Response::Bool(true)
        }
        other => return unsupported(name, &other),
    };
    if changes && !matches!(response, Response::Error(_)) {
        list.version += 1;
    }
    response
}

pub(crate) fn value(value: &mut Bytes, op: Op) -> Response {
    match op {
        Op::Load => Response::Bytes(value.clone()),
        Op::Store(new) => {
            *value = new;
            Response::Done
        }
        other => unsupported("Value", &other),
    }
}

pub(crate) fn unsupported(object: &str, op: &Op) -> Response {
    let method = format!("{op:?}");
    let method = method.split(['(', ' ', '{']).next().unwrap_or("?");
    Response::Error(remote(
        "AttributeError",
        format!("'{object}' object has no method {method}"),
    ))
}
