//! Python 3.14's `manager.set()` and `SetProxy`, after CPython's `_TestContainers.test_set*`
//! (`Lib/test/_test_multiprocessing.py`): construction, membership, add / remove / discard,
//! `pop` from an empty set (`KeyError`), update, the operators (`| & - ^` and their in-place
//! forms) and comparisons (`<=`, `>=`, `isdisjoint`), against a real manager process; and a
//! set changed by another process through its proxy.

mod common;

use common::{LIMIT, within};
use procvisor_manager::{Manager, ManagerError, SetProxy};
use procvisor_runtime::{Process, register};
use std::collections::HashSet;

fn add_my_pid(seen: SetProxy<u32>) -> Result<(), ManagerError> {
    seen.add(std::process::id())
}
register!(add_my_pid);

#[test]
fn a_set_is_built_from_elements_and_keeps_each_once() {
    within(LIMIT, "set init", || {
        let manager = Manager::start().unwrap();
        assert!(manager.set::<i64>().unwrap().to_set().unwrap().is_empty());
        let s = manager.set_from([1, 2, 3, 2, 1]).unwrap();
        assert_eq!(s.len().unwrap(), 3);
        assert_eq!(s.to_set().unwrap(), HashSet::from([1, 2, 3]));
        // First-added order, the same for every client.
        assert_eq!(s.to_vec().unwrap(), vec![1, 2, 3]);
        let words = manager.set_from(["a", "b"].map(String::from)).unwrap();
        assert!(words.contains(&"a".to_string()).unwrap());
        assert!(!words.contains(&"c".to_string()).unwrap());
    });
}

#[test]
fn add_remove_discard_pop_and_clear_do_what_pythons_do() {
    within(LIMIT, "set methods", || {
        let manager = Manager::start().unwrap();
        let s = manager.set::<(u8, String)>().unwrap();
        assert!(s.is_empty().unwrap());
        s.add((1, "one".into())).unwrap();
        s.add((1, "one".into())).unwrap();
        s.add((2, "two".into())).unwrap();
        assert_eq!(s.len().unwrap(), 2);
        s.remove(&(1, "one".into())).unwrap();
        let missing = s.remove(&(1, "one".into())).unwrap_err();
        assert!(missing.is_remote("KeyError"), "{missing}");
        s.discard(&(1, "one".into())).unwrap();
        s.discard(&(2, "two".into())).unwrap();
        assert!(s.is_empty().unwrap());
        let empty = s.pop().unwrap_err();
        assert!(empty.is_remote("KeyError"), "{empty}");
        s.update([(3, "three".into()), (4, "four".into())]).unwrap();
        let popped = s.pop().unwrap();
        assert_eq!(popped, (4, "four".into()));
        assert_eq!(s.to_vec().unwrap(), vec![(3, "three".into())]);
        s.clear().unwrap();
        assert_eq!(s.len().unwrap(), 0);
    });
}

#[test]
fn the_operators_return_values_and_the_in_place_forms_change_the_set() {
    within(LIMIT, "set operators", || {
        let manager = Manager::start().unwrap();
        let a = manager.set_from([1, 2, 3]).unwrap();
        assert_eq!(a.union([3, 4, 4]).unwrap(), vec![1, 2, 3, 4]);
        assert_eq!(a.intersection([3, 2, 9]).unwrap(), vec![2, 3]);
        assert_eq!(a.difference([2]).unwrap(), vec![1, 3]);
        assert_eq!(
            a.symmetric_difference([3, 4, 5, 4]).unwrap(),
            vec![1, 2, 4, 5]
        );
        // None of those changed `a`.
        assert_eq!(a.to_vec().unwrap(), vec![1, 2, 3]);
        // Another set proxy's elements as the other operand.
        let b = manager.set_from([2, 3, 4]).unwrap();
        a.intersection_update(b.to_vec().unwrap()).unwrap();
        assert_eq!(a.to_vec().unwrap(), vec![2, 3]);
        a.symmetric_difference_update([3, 5]).unwrap();
        assert_eq!(a.to_set().unwrap(), HashSet::from([2, 5]));
        a.difference_update([5, 7]).unwrap();
        assert_eq!(a.to_vec().unwrap(), vec![2]);
        a.update(0..2).unwrap();
        assert_eq!(a.to_set().unwrap(), HashSet::from([0, 1, 2]));
    });
}

#[test]
fn comparisons_are_pythons_subset_superset_and_isdisjoint() {
    within(LIMIT, "set comparisons", || {
        let manager = Manager::start().unwrap();
        let a = manager.set_from([1, 2]).unwrap();
        assert!(a.is_subset([1, 2, 3]).unwrap());
        assert!(a.is_subset([2, 1]).unwrap());
        assert!(!a.is_subset([1]).unwrap());
        assert!(a.is_superset([1]).unwrap());
        assert!(a.is_superset(std::iter::empty()).unwrap());
        assert!(!a.is_superset([1, 5]).unwrap());
        assert!(a.is_disjoint([3, 4]).unwrap());
        assert!(!a.is_disjoint([4, 2]).unwrap());
        let empty = manager.set::<i32>().unwrap();
        assert!(empty.is_subset(std::iter::empty()).unwrap());
        assert!(empty.is_disjoint(std::iter::empty()).unwrap());
    });
}

#[test]
fn children_add_to_one_set_through_its_proxy() {
    within(LIMIT, "set across processes", || {
        let manager = Manager::start().unwrap();
        let seen = manager.set::<u32>().unwrap();
        let mut pids = HashSet::new();
        for _ in 0..3 {
            let mut p = Process::new(add_my_pid, (seen.clone(),)).unwrap();
            p.start().unwrap();
            p.join().unwrap();
            assert_eq!(p.exitcode(), Some(0));
            pids.insert(p.pid().unwrap());
        }
        assert_eq!(seen.to_set().unwrap(), pids);
    });
}

#[test]
fn the_async_twins_reach_the_same_set() {
    within(LIMIT, "set async", || {
        let manager = Manager::start().unwrap();
        let s = manager.set::<String>().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            s.add_async("x".into()).await.unwrap();
            assert!(s.contains_async(&"x".into()).await.unwrap());
            assert_eq!(
                s.union_async(["y".to_string()]).await.unwrap(),
                vec!["x".to_string(), "y".to_string()]
            );
            assert!(s.is_subset_async(["x".to_string()]).await.unwrap());
            assert_eq!(s.pop_async().await.unwrap(), "x");
            assert!(s.is_empty_async().await.unwrap());
        });
    });
}
