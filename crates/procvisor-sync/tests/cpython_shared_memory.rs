//! Behaviours of CPython's `_TestSharedMemory` (`Lib/test/_test_multiprocessing.py`, 3.14.5,
//! Python Software Foundation License; case 113 and the ShareableList cases of §2.3 of
//! `reference/python-multiprocessing.md`), rewritten in Rust.
//!
//! Tweaks: Python's exceptions are `SharedMemoryError` / `ShareableListError` variants;
//! `buf` is replaced by `read`/`write` (shared bytes are only touched atomically); the crash
//! clean-up by the resource tracker is tested with real processes in `tests/sync_processes.rs`
//! at the workspace root. `format` follows test_shared_memory_ShareableList_basics, except that a
//! `str`/`bytes` slot's capacity is procvisor's (length rounded up to 8), not Python's.

use procvisor_sync::{ShareableList, ShareableListError, SharedMemory, SharedMemoryError};
use procvisor_wire::{Object, object};

fn unique(label: &str) -> String {
    format!("pvtest_{label}_{}", std::process::id())
}

#[test]
fn shared_memory_basics() {
    let name = unique("basics");
    let shm = SharedMemory::create_named(&name, 512).unwrap();
    assert_eq!(shm.name(), name);
    assert!(shm.size() >= 512);
    assert!(format!("{shm:?}").contains(&name) && format!("{shm:?}").contains("size=512"));
    shm.write(0, &[42]).unwrap();
    let also = SharedMemory::attach(&name).unwrap();
    let mut byte = [0];
    also.read(0, &mut byte).unwrap();
    assert_eq!(byte, [42]);
    assert_eq!(
        also.size(),
        512,
        "attaching takes the size from the segment"
    );
    assert!(matches!(
        SharedMemory::create_named(&name, 8),
        Err(SharedMemoryError::AlreadyExists(_))
    ));
    shm.unlink().unwrap();
    assert!(
        matches!(shm.unlink(), Err(SharedMemoryError::NotFound(_))),
        "a second unlink"
    );
    also.read(0, &mut byte).unwrap();
    assert_eq!(byte, [42], "mappings outlive the name");
    assert!(matches!(
        SharedMemory::attach(&name),
        Err(SharedMemoryError::NotFound(_))
    ));
}

#[test]
fn bad_arguments_are_errors() {
    assert!(matches!(
        SharedMemory::create(0),
        Err(SharedMemoryError::InvalidSize)
    ));
    assert!(matches!(
        SharedMemory::attach("pvtest_not_there"),
        Err(SharedMemoryError::NotFound(_))
    ));
    for bad in ["", "a/b", "nul\0inside"] {
        assert!(
            matches!(
                SharedMemory::create_named(bad, 8),
                Err(SharedMemoryError::InvalidName(_))
            ),
            "{bad:?}"
        );
    }
    let shm = SharedMemory::create(8).unwrap();
    assert!(matches!(
        shm.write(4, &[0; 5]),
        Err(SharedMemoryError::OutOfRange {
            offset: 4,
            len: 5,
            size: 8
        })
    ));
    let mut closed = shm.clone();
    closed.close();
    closed.close();
    assert!(closed.closed());
    assert!(matches!(
        closed.read(0, &mut [0]),
        Err(SharedMemoryError::Closed)
    ));
    shm.write(0, &[1]).unwrap();
    shm.unlink().unwrap();
}

#[test]
fn auto_names_are_distinct() {
    let a = SharedMemory::create(8).unwrap();
    let b = SharedMemory::create(8).unwrap();
    assert_ne!(a.name(), b.name());
    assert!(a.name().starts_with("pvsm_"));
    a.unlink().unwrap();
    b.unlink().unwrap();
}

#[test]
fn a_received_handle_maps_the_same_memory() {
    let shm = SharedMemory::create(64).unwrap();
    shm.write(8, b"through a descriptor").unwrap();
    let payload = procvisor_wire::Payload::encode(&shm).unwrap();
    shm.unlink().unwrap();
    let received: SharedMemory = payload.decode().unwrap();
    let mut buf = [0; 20];
    received.read(8, &mut buf).unwrap();
    assert_eq!(
        &buf, b"through a descriptor",
        "works after unlink because the descriptor travelled"
    );
}

/// The list test_shared_memory_ShareableList_basics starts from.
fn python_list() -> ShareableList {
    ShareableList::new(&[
        object!("howdy"),
        Object::Bytes(b"HoWdY".to_vec()),
        object!(-273.154),
        object!(100),
        object!(None),
        object!(True),
        object!(42),
    ])
    .unwrap()
}

#[test]
fn shareable_list_items_and_types() {
    let list = python_list();
    assert_eq!(list.len(), 7);
    assert_eq!(list.get(0).unwrap(), object!("howdy"));
    assert_eq!(list.get(1).unwrap(), Object::Bytes(b"HoWdY".to_vec()));
    assert_eq!(list.get(2).unwrap(), object!(-273.154));
    assert_eq!(list.get(4).unwrap(), object!(None));
    assert_eq!(list.count(&object!(42)).unwrap(), 1);
    assert_eq!(list.index(&object!(100)).unwrap(), Some(3));
    assert_eq!(list.index(&object!("absent")).unwrap(), None);
    list.set(3, object!("a str")).unwrap();
    assert_eq!(
        list.get(3).unwrap(),
        object!("a str"),
        "a slot may change type when the value fits"
    );
    assert!(matches!(
        list.set(3, object!("a string that is far too long")),
        Err(ShareableListError::TooLong { index: 3, .. })
    ));
    assert!(matches!(
        list.get(7),
        Err(ShareableListError::Index { index: 7, len: 7 })
    ));
    assert!(matches!(
        list.set(0, object!([1, 2])),
        Err(ShareableListError::Unsupported(_))
    ));
    let other = ShareableList::attach(list.shm().name()).unwrap();
    assert_eq!(other.to_vec().unwrap(), list.to_vec().unwrap());
    assert!(format!("{other:?}").starts_with(
        "ShareableList(['howdy', b'HoWdY', -273.154, 'a str', None, True, 42], name='pvsm_"
    ));
    list.shm().unlink().unwrap();
}

#[test]
fn shareable_list_keeps_trailing_nul_bytes() {
    // CPython gh-96779 strips them; here they survive.
    let list = ShareableList::new(&[Object::Bytes(b"ab\0\0".to_vec()), object!("cd\0")]).unwrap();
    assert_eq!(list.get(0).unwrap(), Object::Bytes(b"ab\0\0".to_vec()));
    assert_eq!(list.get(1).unwrap(), object!("cd\0"));
    list.shm().unlink().unwrap();
}

#[test]
fn attaching_to_something_else_is_an_error() {
    let shm = SharedMemory::create(64).unwrap();
    assert!(matches!(
        ShareableList::attach(shm.name()),
        Err(ShareableListError::NotAList(_))
    ));
    shm.unlink().unwrap();
}

#[test]
fn shareable_list_format_follows_the_stored_items() {
    // test_shared_memory_ShareableList_basics: the same list, the same format string.
    let list = python_list();
    assert_eq!(list.format().unwrap(), "8s8sdqxxxxxx?xxxxxxxx?q");
    list.set(4, object!("some")).unwrap();
    assert_eq!(
        list.format().unwrap(),
        "8s8sdq8sxxxxxxx?q",
        "a string in a number's slot takes the slot's 8 bytes"
    );
    list.set(0, object!("encodés")).unwrap();
    assert!(matches!(
        list.set(0, object!("encodées")),
        Err(ShareableListError::TooLong {
            index: 0,
            len: 9,
            capacity: 8
        })
    ));
    assert!(matches!(
        list.set(1, Object::Bytes(b"123456789".to_vec())),
        Err(ShareableListError::TooLong { index: 1, .. })
    ));
    assert_eq!(
        list.format().unwrap(),
        "8s8sdq8sxxxxxxx?q",
        "a refused value changes nothing"
    );
    assert_eq!(list.get(0).unwrap(), object!("encodés"));
    assert_eq!(list.get(1).unwrap(), Object::Bytes(b"HoWdY".to_vec()));
    list.set(0, object!(7)).unwrap();
    assert!(
        list.format().unwrap().starts_with("q8s"),
        "a number in a string's slot is a number again"
    );
    let other = ShareableList::attach(list.shm().name()).unwrap();
    assert_eq!(other.format().unwrap(), list.format().unwrap());
    list.shm().unlink().unwrap();

    let empty = ShareableList::new(&[]).unwrap();
    assert_eq!(empty.format().unwrap(), "");
    empty.shm().unlink().unwrap();
}

#[test]
fn shareable_list_format_gives_a_string_its_slot_capacity() {
    // Python gives an 8-byte string 16 bytes (`len // 8 + 1` words); procvisor gives it 8.
    let list =
        ShareableList::new(&[object!("12345678"), object!("123456789"), object!("")]).unwrap();
    assert_eq!(list.format().unwrap(), "8s16s8s");
    list.set(1, object!("x")).unwrap();
    assert_eq!(list.format().unwrap(), "8s16s8s", "capacity, not length");
    list.shm().unlink().unwrap();
}
