//! `SetProxy`: Python 3.14's `manager.set()`.

use super::handle::{Handle, proxy_serde, reply, twins};
use super::iter::EntryIter;
use crate::client::{encode, encode_all};
use crate::protocol::{Op, Part, SetCmp, SetOp};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::hash::Hash;
use std::marker::PhantomData;

/// A set held by a manager: Python 3.14's `manager.set()` and its `SetProxy`. Elements are
/// equal when their encodings are, as [`DictProxy`](crate::DictProxy) keys are, so any serde
/// type can be an element (no `Hash` needed in the manager).
///
/// The set keeps its elements in the order they were first added: what it returns (its
/// elements, a union, a [`pop`](Self::pop)ped element) comes in that order, the same for every
/// client. The set operations take any elements (another set's [`to_vec`](Self::to_vec), a
/// `HashSet`, a range) and run in the manager, in one step each.
///
/// ```
/// # fn main() -> Result<(), procvisor_manager::ManagerError> {
/// let manager = procvisor_manager::Manager::start()?;
/// let seen = manager.set_from(["ada".to_string(), "bob".to_string()])?;
/// seen.add("cy".to_string())?;
/// seen.add("ada".to_string())?; // already there
/// assert_eq!(seen.len()?, 3);
/// assert!(seen.contains(&"bob".to_string())?);
/// assert!(seen.remove(&"dan".to_string()).unwrap_err().is_remote("KeyError"));
/// seen.discard(&"dan".to_string())?; // no error
/// let both = seen.intersection(["bob".to_string(), "eve".to_string()])?;
/// assert_eq!(both, vec!["bob".to_string()]);
/// assert!(seen.is_superset(["ada".to_string(), "cy".to_string()])?);
/// # Ok(())
/// # }
/// ```
pub struct SetProxy<T> {
    handle: Handle,
    _types: PhantomData<fn() -> T>,
}
proxy_serde!(SetProxy<T>);

impl<T: Serialize + DeserializeOwned> SetProxy<T> {
    twins! {
        /// `s.add(element)`: nothing happens if it is there already.
        pub fn add / add_async(&self, element: T) -> () {
            send: Op::Add(encode(&element)?),
            read: reply::done,
        }

        /// `s.remove(element)`: an element that is not there is the manager's `KeyError`.
        pub fn remove / remove_async(&self, element: &T) -> () {
            send: Op::Remove(encode(element)?),
            read: reply::done,
        }

        /// `s.discard(element)`: removes it if it is there.
        pub fn discard / discard_async(&self, element: &T) -> () {
            send: Op::Discard(encode(element)?),
            read: reply::done,
        }

        /// `element in s`.
        pub fn contains / contains_async(&self, element: &T) -> bool {
            send: Op::Contains(encode(element)?),
            read: reply::boolean,
        }

        /// `len(s)`.
        pub fn len / len_async(&self) -> usize {
            send: Op::Len,
            read: reply::count,
        }

        /// `len(s) == 0`.
        pub fn is_empty / is_empty_async(&self) -> bool {
            send: Op::Len,
            read: |r| reply::count(r).map(|n| n == 0),
        }

        /// `s.clear()`.
        pub fn clear / clear_async(&self) -> () {
            send: Op::Clear,
            read: reply::done,
        }

        /// `s.pop()`: removes and returns an element (the last added); an empty set is the
        /// manager's `KeyError`.
        pub fn pop / pop_async(&self) -> T {
            send: Op::PopItem,
            read: reply::value,
        }

        /// `s.update(elements)` (Rust's `extend`), in one step.
        pub fn update / update_async(&self, elements: impl IntoIterator<Item = T>) -> () {
            send: Op::Extend(encode_all(elements)?),
            read: reply::done,
        }

        /// `list(s)`: the elements, in the order they were added, taken in one step.
        pub fn to_vec / to_vec_async(&self) -> Vec<T> {
            send: Op::Keys,
            read: reply::values,
        }

        /// `s | other` (`s.union(other)`): this set's elements, then the other's new ones.
        pub fn union / union_async(&self, other: impl IntoIterator<Item = T>) -> Vec<T> {
            send: algebra(SetOp::Union, other, false)?,
            read: reply::values,
        }

        /// `s & other` (`s.intersection(other)`), in this set's order.
        pub fn intersection / intersection_async(
            &self,
            other: impl IntoIterator<Item = T>,
        ) -> Vec<T> {
            send: algebra(SetOp::Intersection, other, false)?,
            read: reply::values,
        }

        /// `s - other` (`s.difference(other)`), in this set's order.
        pub fn difference / difference_async(&self, other: impl IntoIterator<Item = T>) -> Vec<T> {
            send: algebra(SetOp::Difference, other, false)?,
            read: reply::values,
        }

        /// `s ^ other` (`s.symmetric_difference(other)`): this set's elements not in `other`,
        /// then the other's not in this set.
        pub fn symmetric_difference / symmetric_difference_async(
            &self,
            other: impl IntoIterator<Item = T>,
        ) -> Vec<T> {
            send: algebra(SetOp::SymmetricDifference, other, false)?,
            read: reply::values,
        }

        /// `s &= other` (`s.intersection_update(other)`), in one step.
        pub fn intersection_update / intersection_update_async(
            &self,
            other: impl IntoIterator<Item = T>,
        ) -> () {
            send: algebra(SetOp::Intersection, other, true)?,
            read: reply::done,
        }

        /// `s -= other` (`s.difference_update(other)`), in one step.
        pub fn difference_update / difference_update_async(
            &self,
            other: impl IntoIterator<Item = T>,
        ) -> () {
            send: algebra(SetOp::Difference, other, true)?,
            read: reply::done,
        }

        /// `s ^= other` (`s.symmetric_difference_update(other)`), in one step.
        pub fn symmetric_difference_update / symmetric_difference_update_async(
            &self,
            other: impl IntoIterator<Item = T>,
        ) -> () {
            send: algebra(SetOp::SymmetricDifference, other, true)?,
            read: reply::done,
        }

        /// `s <= other` (`s.issubset(other)`).
        pub fn is_subset / is_subset_async(&self, other: impl IntoIterator<Item = T>) -> bool {
            send: compare(SetCmp::Subset, other)?,
            read: reply::boolean,
        }

        /// `s >= other` (`s.issuperset(other)`).
        pub fn is_superset / is_superset_async(&self, other: impl IntoIterator<Item = T>) -> bool {
            send: compare(SetCmp::Superset, other)?,
            read: reply::boolean,
        }

        /// `s.isdisjoint(other)`: no element in common.
        pub fn is_disjoint / is_disjoint_async(&self, other: impl IntoIterator<Item = T>) -> bool {
            send: compare(SetCmp::Disjoint, other)?,
            read: reply::boolean,
        }
    }
}

impl<T: Serialize + DeserializeOwned> SetProxy<T> {
    /// `iter(s)`: the elements in the order they were added, fetched 256 at a time as the
    /// iteration reaches them. As Python's set iterators, it fails if the set changes size
    /// before it has finished: its next chunk is then the manager's
    /// `RuntimeError: Set changed size during iteration` (and it ends). Making the iterator
    /// takes a round trip (to learn the keys' shape), and so does each chunk.
    ///
    /// ```
    /// # fn main() -> Result<(), procvisor_manager::ManagerError> {
    /// let manager = procvisor_manager::Manager::start()?;
    /// let s = manager.set_from(["x", "y"].map(String::from))?;
    /// let all = s.iter()?.collect::<Result<Vec<String>, _>>()?;
    /// assert_eq!(all, ["x", "y"]);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ManagerError::Unreachable`](crate::ManagerError::Unreachable) (and the like) when
    /// the manager cannot be asked; later errors come from the iterator.
    pub fn iter(&self) -> Result<EntryIter<T>, crate::ManagerError> {
        EntryIter::start(self.handle.clone(), Part::Keys, super::iter::key::<T>)
    }
}

impl<T: Serialize + DeserializeOwned + Eq + Hash> SetProxy<T> {
    twins! {
        /// `s.copy()`, as a Rust set, taken in one step.
        pub fn to_set / to_set_async(&self) -> HashSet<T> {
            send: Op::Keys,
            read: |r| reply::values(r).map(|v: Vec<T>| v.into_iter().collect()),
        }
    }
}

fn algebra<T: Serialize>(
    op: SetOp,
    other: impl IntoIterator<Item = T>,
    in_place: bool,
) -> Result<Op, crate::ManagerError> {
    Ok(Op::SetAlgebra {
        op,
        other: encode_all(other)?,
        in_place,
    })
}

fn compare<T: Serialize>(
    cmp: SetCmp,
    other: impl IntoIterator<Item = T>,
) -> Result<Op, crate::ManagerError> {
    Ok(Op::SetCompare {
        cmp,
        other: encode_all(other)?,
    })
}
