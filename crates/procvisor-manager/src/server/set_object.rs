//! set objects: elements as their encodings, in insertion order (an [`OrderedMap`] whose
//! values are empty), so that what a set returns comes in an order every client sees alike.

use super::collections::unsupported;
use super::ordered_map::OrderedMap;
use crate::error::remote;
use crate::protocol::{Bytes, Op, Part, Response, SetCmp, SetOp};
use std::collections::HashSet;

pub(crate) fn set(set: &mut OrderedMap, op: Op) -> Response {
    match op {
        Op::Len => Response::Int(set.len() as i64),
        Op::Clear => {
            set.clear();
            Response::Done
        }
        Op::Add(element) => {
            set.insert(element, Vec::new());
            Response::Done
        }
        Op::Remove(element) => match set.remove(&element) {
            Some(_) => Response::Done,
            None => Response::Error(remote("KeyError", "the element is not in the set")),
        },
        Op::Discard(element) => {
            set.remove(&element);
            Response::Done
        }
        Op::Contains(element) => Response::Bool(set.get(&element).is_some()),
        Op::PopItem => match set.pop_last() {
            Some((element, _)) => Response::Bytes(element),
            None => Response::Error(remote("KeyError", "'pop from an empty set'")),
        },
        Op::Extend(elements) => {
            for element in elements {
                set.insert(element, Vec::new());
            }
            Response::Done
        }
        Op::Keys => Response::List(elements(set).cloned().collect()),
        Op::Entries {
            from, max, shape, ..
        } => super::collections::entries(set, from, max, shape, Part::Keys, "Set"),
        Op::SetAlgebra {
            op,
            other,
            in_place,
        } => {
            let result = combine(set, op, other);
            if !in_place {
                return Response::List(result);
            }
            set.clear();
            for element in result {
                set.insert(element, Vec::new());
            }
            Response::Done
        }
        Op::SetCompare { cmp, other } => {
            let other: HashSet<&[u8]> = other.iter().map(Vec::as_slice).collect();
            let mut mine = elements(set);
            Response::Bool(match cmp {
                SetCmp::Subset => mine.all(|e| other.contains(e.as_slice())),
                SetCmp::Superset => other.iter().all(|e| set.get(e).is_some()),
                SetCmp::Disjoint => !mine.any(|e| other.contains(e.as_slice())),
            })
        }
        other => unsupported("set", &other),
    }
}

fn elements(set: &OrderedMap) -> impl Iterator<Item = &Bytes> {
    set.iter().map(|(element, _)| element)
}

/// `set op other`: the set's elements in its order, then (for a union or a symmetric
/// difference) the other's new ones in theirs.
fn combine(set: &OrderedMap, op: SetOp, other: Vec<Bytes>) -> Vec<Bytes> {
    let theirs: HashSet<&[u8]> = other.iter().map(Vec::as_slice).collect();
    let keep_mine = |e: &&Bytes| match op {
        SetOp::Union => true,
        SetOp::Intersection => theirs.contains(e.as_slice()),
        SetOp::Difference | SetOp::SymmetricDifference => !theirs.contains(e.as_slice()),
    };
    let mut result: Vec<Bytes> = elements(set).filter(keep_mine).cloned().collect();
    if matches!(op, SetOp::Union | SetOp::SymmetricDifference) {
        let mut added = HashSet::new();
        for element in &other {
            if set.get(element).is_none() && added.insert(element.as_slice()) {
                result.push(element.clone());
            }
        }
    }
    result
}
