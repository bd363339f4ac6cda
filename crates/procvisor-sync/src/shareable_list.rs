//! [`ShareableList`]: a fixed-length list of simple values in named shared memory.

use crate::shared_memory::{SharedMemory, SharedMemoryError};
use procvisor_wire::Object;
use std::fmt;

const MAGIC: &[u8; 8] = b"PVSL\0\0\0\x01";
/// Per item: kind (1), padding (3), length (4), then its data capacity.
const SLOT_HEADER: usize = 8;
const NONE: u8 = 0;
const BOOL: u8 = 1;
const INT: u8 = 2;
const FLOAT: u8 = 3;
const STR: u8 = 4;
const BYTES: u8 = 5;

/// Why a list operation failed (Python's `IndexError`, `ValueError`, `KeyError`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShareableListError {
    /// No item at that index.
    #[error("index {index} out of range for a list of {len} items")]
    Index {
        /// The index asked for.
        index: usize,
        /// The list's length.
        len: usize,
    },
    /// A string or bytes value longer than its slot's capacity (fixed at creation).
    #[error(
        "a value of {len} bytes exceeds the available storage of {capacity} bytes for item {index}"
    )]
    TooLong {
        /// The item's index.
        index: usize,
        /// The value's length.
        len: usize,
        /// The slot's capacity.
        capacity: usize,
    },
    /// A value of a type a shareable list cannot hold (lists, tuples, dicts).
    #[error("unsupported type for a shareable list item: {0}")]
    Unsupported(String),
    /// The segment is not a shareable list.
    #[error("'{0}' is not a shareable list")]
    NotAList(String),
    /// The underlying shared memory failed.
    #[error(transparent)]
    Memory(#[from] SharedMemoryError),
}

/// A fixed-length list of `None`, `bool`, `int`, `float`, `str` and `bytes` values in named
/// shared memory: Python's `ShareableList`.
///
/// ```
/// use procvisor_sync::ShareableList;
/// use procvisor_wire::object;
///
/// let list = ShareableList::new(&[object!(1), object!(2.5), object!("howdy"), object!(None)])?;
/// list.set(2, object!("hi"))?;
/// let other = ShareableList::attach(list.shm().name())?;
/// assert_eq!(other.get(2)?, object!("hi"));
/// assert_eq!(other.len(), 4);
/// list.shm().unlink()?;
/// # Ok::<(), procvisor_sync::ShareableListError>(())
/// ```
///
/// Each item's slot is fixed when the list is created: numbers take 8 bytes, a string or bytes
/// value its length rounded up to 8. An item may later change type if the new value fits. Unlike
/// Python's, trailing NUL bytes survive (CPython gh-96779). Item reads and writes are not
/// synchronised with each other: guard concurrent writers with a [`Lock`](crate::Lock).
#[derive(Clone)]
pub struct ShareableList {
    shm: SharedMemory,
    len: usize,
    /// Offset and data capacity of each slot.
    slots: Vec<(usize, usize)>,
}

fn kind_and_size(item: &Object) -> Result<(u8, usize), ShareableListError> {
    Ok(match item {
        Object::None => (NONE, 8),
        Object::Bool(_) => (BOOL, 8),
        Object::Int(_) => (INT, 8),
        Object::Float(_) => (FLOAT, 8),
        Object::Str(s) => (STR, s.len().next_multiple_of(8).max(8)),
        Object::Bytes(b) => (BYTES, b.len().next_multiple_of(8).max(8)),
        other => return Err(ShareableListError::Unsupported(format!("{other}"))),
    })
}

impl ShareableList {
    /// A new list holding `items`, in a new segment with a random name.
    ///
    /// # Errors
    ///
    /// [`ShareableListError::Unsupported`] for a list, tuple or dict item; a shared-memory error.
    pub fn new(items: &[Object]) -> Result<ShareableList, ShareableListError> {
        let sizes = items
            .iter()
            .map(kind_and_size)
            .collect::<Result<Vec<_>, _>>()?;
        let table = 16 + items.len() * 8;
        let total = table
            + sizes
                .iter()
                .map(|(_, size)| SLOT_HEADER + size)
                .sum::<usize>();
        let shm = SharedMemory::create(total.max(8))?;
        shm.write(0, MAGIC)?;
        shm.write(8, &(items.len() as u64).to_le_bytes())?;
        let mut offset = table;
        let mut slots = Vec::with_capacity(items.len());
        for (i, (_, size)) in sizes.iter().enumerate() {
            shm.write(16 + i * 8, &((offset as u32).to_le_bytes()))?;
            shm.write(16 + i * 8 + 4, &((*size as u32).to_le_bytes()))?;
            slots.push((offset, *size));
            offset += SLOT_HEADER + size;
        }
        let list = ShareableList {
            shm,
            len: items.len(),
            slots,
        };
        for (i, item) in items.iter().enumerate() {
            list.set(i, item.clone())?;
        }
        Ok(list)
    }

    /// Attaches to the list in segment `name`.
    ///
    /// # Errors
    ///
    /// [`ShareableListError::NotAList`], a shared-memory error.
    pub fn attach(name: &str) -> Result<ShareableList, ShareableListError> {
        ShareableList::from_shm(SharedMemory::attach(name)?)
    }

    fn from_shm(shm: SharedMemory) -> Result<ShareableList, ShareableListError> {
        let not_a_list = || ShareableListError::NotAList(shm.name().to_string());
        let mut head = [0_u8; 16];
        shm.read(0, &mut head).map_err(|_| not_a_list())?;
        if &head[..8] != MAGIC {
            return Err(not_a_list());
        }
        let len = u64::from_le_bytes(head[8..16].try_into().expect("8 bytes")) as usize;
        let mut slots = Vec::with_capacity(len.min(1 << 20));
        for i in 0..len {
            let mut entry = [0_u8; 8];
            shm.read(16 + i * 8, &mut entry).map_err(|_| not_a_list())?;
            let offset = u32::from_le_bytes(entry[..4].try_into().expect("4 bytes")) as usize;
            let capacity = u32::from_le_bytes(entry[4..].try_into().expect("4 bytes")) as usize;
            if offset
                .checked_add(SLOT_HEADER + capacity)
                .is_none_or(|end| end > shm.size())
            {
                return Err(not_a_list());
            }
            slots.push((offset, capacity));
        }
        Ok(ShareableList { shm, len, slots })
    }

    /// The segment it lives in.
    pub fn shm(&self) -> &SharedMemory {
        &self.shm
    }

    /// The number of items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has no items.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn slot(&self, index: usize) -> Result<(usize, usize), ShareableListError> {
        self.slots
            .get(index)
            .copied()
            .ok_or(ShareableListError::Index {
                index,
                len: self.len,
            })
    }

    /// The item at `index`.
    ///
    /// # Errors
    ///
    /// [`ShareableListError::Index`].
    pub fn get(&self, index: usize) -> Result<Object, ShareableListError> {
        let (offset, capacity) = self.slot(index)?;
        let mut header = [0_u8; SLOT_HEADER];
        self.shm.read(offset, &mut header)?;
        let len =
            (u32::from_le_bytes(header[4..8].try_into().expect("4 bytes")) as usize).min(capacity);
        let mut data = vec![0_u8; len.max(8).min(capacity)];
        self.shm.read(offset + SLOT_HEADER, &mut data)?;
        let word = || i64::from_le_bytes(data[..8].try_into().expect("8 bytes"));
        Ok(match header[0] {
            BOOL => Object::Bool(word() != 0),
            INT => Object::Int(word()),
            FLOAT => Object::Float(f64::from_bits(word() as u64)),
            // A write racing this read may leave a mix of two strings: never invalid UTF-8 here.
            STR => Object::Str(String::from_utf8_lossy(&data[..len]).into_owned()),
            BYTES => Object::Bytes(data[..len].to_vec()),
            _ => Object::None,
        })
    }

    /// Replaces the item at `index`; its type may change if the new value fits the slot.
    ///
    /// # Errors
    ///
    /// [`ShareableListError::Index`], [`ShareableListError::TooLong`],
    /// [`ShareableListError::Unsupported`].
    pub fn set(&self, index: usize, item: Object) -> Result<(), ShareableListError> {
        let (offset, capacity) = self.slot(index)?;
        let (kind, _) = kind_and_size(&item)?;
        let data: Vec<u8> = match &item {
            Object::Bool(b) => i64::from(*b).to_le_bytes().to_vec(),
            Object::Int(i) => i.to_le_bytes().to_vec(),
            Object::Float(f) => f.to_bits().to_le_bytes().to_vec(),
            Object::Str(s) => s.as_bytes().to_vec(),
            Object::Bytes(b) => b.clone(),
            _ => Vec::new(),
        };
        if data.len() > capacity {
            return Err(ShareableListError::TooLong {
                index,
                len: data.len(),
                capacity,
            });
        }
        self.shm.write(offset + SLOT_HEADER, &data)?;
        let mut header = [0_u8; SLOT_HEADER];
        header[0] = kind;
        header[4..8].copy_from_slice(&(data.len() as u32).to_le_bytes());
        self.shm.write(offset, &header)?;
        Ok(())
    }

    /// Every item.
    ///
    /// # Errors
    ///
    /// A shared-memory error (a closed handle).
    pub fn to_vec(&self) -> Result<Vec<Object>, ShareableListError> {
        (0..self.len).map(|i| self.get(i)).collect()
    }

    /// Python's `ShareableList.format`: the `struct` format string of the items as stored
    /// now, one code per item, in order.
    ///
    /// An `int` is `q`, a `float` `d`, a `bool` `xxxxxxx?`, `None` `xxxxxx?x` (Python's codes,
    /// 8 bytes each), and a `str` or `bytes` item `Ns` where `N` is its slot's capacity, not the
    /// value's length. The capacity is fixed at creation (the first value's length rounded up to
    /// 8, at least 8), so it can differ from Python's for the same list: Python rounds
    /// `len // 8 + 1` up, giving an 8-byte string 16 bytes where procvisor gives it 8. Assigning
    /// a string to a slot that held a number makes it `8s`, as in Python.
    ///
    /// ```
    /// use procvisor_sync::ShareableList;
    /// use procvisor_wire::object;
    ///
    /// let list = ShareableList::new(&[object!("howdy"), object!(-273.154), object!(100), object!(None), object!(True)])?;
    /// assert_eq!(list.format()?, "8sdqxxxxxx?xxxxxxxx?");
    /// list.set(3, object!("some"))?;
    /// assert_eq!(list.format()?, "8sdq8sxxxxxxx?");
    /// list.shm().unlink()?;
    /// # Ok::<(), procvisor_sync::ShareableListError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A shared-memory error (a closed handle).
    pub fn format(&self) -> Result<String, ShareableListError> {
        let mut format = String::new();
        for &(offset, capacity) in &self.slots {
            let mut kind = [0_u8];
            self.shm.read(offset, &mut kind)?;
            match kind[0] {
                BOOL => format.push_str("xxxxxxx?"),
                INT => format.push('q'),
                FLOAT => format.push('d'),
                STR | BYTES => {
                    format.push_str(&capacity.to_string());
                    format.push('s');
                }
                _ => format.push_str("xxxxxx?x"),
            }
        }
        Ok(format)
    }

    /// How many items equal `value`.
    ///
    /// # Errors
    ///
    /// As [`to_vec`](Self::to_vec).
    pub fn count(&self, value: &Object) -> Result<usize, ShareableListError> {
        Ok(self.to_vec()?.iter().filter(|item| *item == value).count())
    }

    /// The index of the first item equal to `value` (`None`: Python's `ValueError`).
    ///
    /// # Errors
    ///
    /// As [`to_vec`](Self::to_vec).
    pub fn index(&self, value: &Object) -> Result<Option<usize>, ShareableListError> {
        Ok(self.to_vec()?.iter().position(|item| item == value))
    }
}

impl fmt::Debug for ShareableList {
    /// Python's repr: `ShareableList([1, 'a'], name='pvsm_…')`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_vec() {
            Ok(items) => write!(
                f,
                "ShareableList({}, name='{}')",
                Object::List(items),
                self.shm.name()
            ),
            Err(_) => write!(f, "ShareableList(<closed>, name='{}')", self.shm.name()),
        }
    }
}

impl serde::Serialize for ShareableList {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.shm.serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for ShareableList {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let shm = SharedMemory::deserialize(deserializer)?;
        ShareableList::from_shm(shm).map_err(serde::de::Error::custom)
    }
}
