//! Iterating over managed lists, dicts and sets a chunk at a time, after CPython's
//! `_TestContainers.test_list_iter` and `test_dict_iter` (`Lib/test/_test_multiprocessing.py`):
//! an iterator is exhausted after one pass; a list iterator sees an item changed after it was
//! made (`a[0] = 100` → `next(it) == 100`); a dict iterator fails with `RuntimeError` after
//! `d.clear()`. Also: lists and dicts longer than a chunk, values changed under a dict
//! iterator, a key added mid-iteration, sets, and a manager gone mid-iteration.

mod common;

use common::{LIMIT, within};
use procvisor_manager::{Manager, ManagerError};

#[test]
fn test_list_iter() {
    within(LIMIT, "list iter", || {
        let manager = Manager::start().unwrap();
        let a = manager.list_from(0..10_i64).unwrap();
        let mut it = a.iter();
        let all: Vec<i64> = it.by_ref().collect::<Result<_, _>>().unwrap();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert!(it.next().is_none(), "exhausted after one pass");
        let mut it = a.iter();
        a.set(0, 100).unwrap();
        assert_eq!(it.next().unwrap().unwrap(), 100);
    });
}

#[test]
fn test_dict_iter() {
    within(LIMIT, "dict iter", || {
        let manager = Manager::start().unwrap();
        let d = manager.dict::<i64, String>().unwrap();
        let indices: Vec<i64> = (65..70).collect();
        for i in &indices {
            d.set(*i, char::from(*i as u8).to_string()).unwrap();
        }
        let mut it = d.iter_keys().unwrap();
        let keys: Vec<i64> = it.by_ref().collect::<Result<_, _>>().unwrap();
        assert_eq!(keys, indices);
        assert!(it.next().is_none(), "exhausted after one pass");
        let mut it = d.iter_keys().unwrap();
        d.clear().unwrap();
        let error = it.next().expect("an error, not the end").unwrap_err();
        assert!(error.is_remote("RuntimeError"), "{error}");
        assert!(
            error
                .to_string()
                .contains("dictionary changed size during iteration"),
            "{error}"
        );
        assert!(it.next().is_none(), "an error ends the iteration");
    });
}

#[test]
fn a_long_list_is_read_chunk_by_chunk_and_sees_later_chunks_change() {
    within(LIMIT, "long list", || {
        let manager = Manager::start().unwrap();
        let l = manager.list_from(0..1000_i64).unwrap();
        let mut it = l.iter();
        assert_eq!(it.next().unwrap().unwrap(), 0);
        // Item 600 is in a chunk the iterator has not read: it is seen changed. The list
        // grows too, and the iteration goes on to its new end.
        l.set(600, -1).unwrap();
        l.extend([1000, 1001]).unwrap();
        let rest: Vec<i64> = it.collect::<Result<_, _>>().unwrap();
        assert_eq!(rest.len(), 1001);
        assert_eq!(rest[599], -1);
        assert_eq!(rest.last(), Some(&1001));
        // Chunks of one read each item when it is reached, as Python does.
        let mut one_by_one = l.iter_chunked(1);
        assert_eq!(one_by_one.next().unwrap().unwrap(), 0);
        l.set(1, 42).unwrap();
        assert_eq!(one_by_one.next().unwrap().unwrap(), 42);
        assert_eq!(manager.list::<u8>().unwrap().iter().count(), 0);
    });
}

#[test]
fn a_long_dict_is_read_in_order_and_sees_values_changed_in_later_chunks() {
    within(LIMIT, "long dict", || {
        let manager = Manager::start().unwrap();
        let d = manager.dict_from((0..1000_u32).map(|i| (i, i))).unwrap();
        let mut it = d.iter().unwrap();
        assert_eq!(it.next().unwrap().unwrap(), (0, 0));
        d.set(700, 7).unwrap(); // an existing key: not a change of size
        let rest: Vec<(u32, u32)> = it.collect::<Result<_, _>>().unwrap();
        assert_eq!(rest.len(), 999);
        assert_eq!(rest[699], (700, 7));
        let values: Vec<u32> = d.iter_values().unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(values.len(), 1000);
        assert_eq!(values[700], 7);
        // Holes left by deleted keys are skipped.
        for i in 0..500 {
            d.del(&i).unwrap();
        }
        let keys: Vec<u32> = d.iter_keys().unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(keys, (500..1000).collect::<Vec<_>>());
    });
}

#[test]
fn a_key_added_during_iteration_fails_the_iterator_at_its_next_chunk() {
    within(LIMIT, "key added", || {
        let manager = Manager::start().unwrap();
        let d = manager.dict_from((0..600_u32).map(|i| (i, ()))).unwrap();
        let mut it = d.iter_keys().unwrap();
        it.next().unwrap().unwrap();
        d.set(10_000, ()).unwrap();
        let results: Vec<Result<u32, ManagerError>> = it.collect();
        let error = results.last().unwrap().as_ref().unwrap_err();
        assert!(error.is_remote("RuntimeError"), "{error}");
        // The rest of the chunk it was reading came before the error, nothing after it.
        assert_eq!(results.len(), 256);
        // Before the first chunk, a new key is seen at the first `next`, as in Python.
        let mut it = d.iter().unwrap();
        d.set(20_000, ()).unwrap();
        assert!(it.next().unwrap().unwrap_err().is_remote("RuntimeError"));
    });
}

#[test]
fn a_set_iterates_in_order_and_fails_if_it_changes_size() {
    within(LIMIT, "set iter", || {
        let manager = Manager::start().unwrap();
        let s = manager.set_from(0..300_u16).unwrap();
        let all: Vec<u16> = s.iter().unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(all, (0..300).collect::<Vec<_>>());
        let mut it = s.iter().unwrap();
        s.discard(&299).unwrap();
        let error = it.find_map(Result::err).expect("an error");
        assert!(error.is_remote("RuntimeError"), "{error}");
        assert!(
            error
                .to_string()
                .contains("Set changed size during iteration"),
            "{error}"
        );
    });
}

#[test]
fn an_iterator_whose_manager_has_gone_ends_with_unreachable() {
    within(LIMIT, "manager gone", || {
        let manager = Manager::start().unwrap();
        let l = manager.list_from(0..300_u32).unwrap();
        let mut it = l.iter();
        assert_eq!(it.next().unwrap().unwrap(), 0);
        manager.shutdown().unwrap();
        let error = it.find_map(Result::err).expect("an error");
        assert!(
            matches!(error, ManagerError::Unreachable { .. }),
            "{error:?}"
        );
        assert!(it.next().is_none());
    });
}
