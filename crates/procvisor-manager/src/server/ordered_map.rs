//! A map that keeps insertion order, as Python's dict does.

use std::collections::HashMap;

/// Keys and values in insertion order; deleted entries leave holes that are compacted away
/// once they are the majority.
#[derive(Default)]
pub(crate) struct OrderedMap {
    entries: Vec<Option<(Vec<u8>, Vec<u8>)>>,
    index: HashMap<Vec<u8>, usize>,
}

impl OrderedMap {
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    pub(crate) fn get(&self, key: &[u8]) -> Option<&Vec<u8>> {
        let at = *self.index.get(key)?;
        self.entries[at].as_ref().map(|(_, v)| v)
    }

    /// Sets `key`, keeping the position of a key already there.
    pub(crate) fn insert(&mut self, key: Vec<u8>, value: Vec<u8>) {
        match self.index.get(&key) {
            Some(&at) => {
                if let Some((_, v)) = &mut self.entries[at] {
                    *v = value;
                }
            }
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push(Some((key, value)));
            }
        }
    }

    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        let at = self.index.remove(key)?;
        let (_, value) = self.entries[at].take()?;
        if self.entries.len() > 32 && self.index.len() * 2 < self.entries.len() {
            self.compact();
        }
        Some(value)
    }

    /// Removes and returns the last pair (Python's `popitem`).
    pub(crate) fn pop_last(&mut self) -> Option<(Vec<u8>, Vec<u8>)> {
        while let Some(entry) = self.entries.pop() {
            if let Some((k, v)) = entry {
                self.index.remove(&k);
                return Some((k, v));
            }
        }
        None
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.index.clear();
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &Vec<u8>)> {
        self.entries.iter().flatten().map(|(k, v)| (k, v))
    }

    fn compact(&mut self) {
        self.entries.retain(Option::is_some);
        for (at, entry) in self.entries.iter().enumerate() {
            if let Some((k, _)) = entry {
                self.index.insert(k.clone(), at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_insertion_order_through_updates_and_deletions() {
        let mut map = OrderedMap::default();
        for i in 0..100u8 {
            map.insert(vec![i], vec![i]);
        }
        map.insert(vec![5], vec![55]);
        for i in 0..90u8 {
            if i != 5 {
                assert_eq!(map.remove(&[i]), Some(vec![i]));
            }
        }
        let keys: Vec<u8> = map.iter().map(|(k, _)| k[0]).collect();
        let mut expected = vec![5];
        expected.extend(90..100);
        assert_eq!(keys, expected);
        assert_eq!(map.get(&[5]), Some(&vec![55]));
        assert_eq!(map.pop_last(), Some((vec![99], vec![99])));
        assert_eq!(map.len(), 10);
    }
}
