//! A map that keeps insertion order, as Python's dict does.

use std::collections::HashMap;

/// A key and its value, borrowed.
pub(crate) type Pair<'a> = (&'a Vec<u8>, &'a Vec<u8>);

/// Keys and values in insertion order; deleted entries leave holes that are compacted away
/// once they are the majority.
#[derive(Default)]
pub(crate) struct OrderedMap {
    entries: Vec<Option<(Vec<u8>, Vec<u8>)>>,
    index: HashMap<Vec<u8>, usize>,
    /// Moves on whenever a key comes or goes: an iterator that saw another shape reports
    /// that the map changed size under it (and the slots it counted may have moved).
    shape: u64,
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
                self.shape += 1;
            }
        }
    }

    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        let at = self.index.remove(key)?;
        let (_, value) = self.entries[at].take()?;
        self.shape += 1;
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
                self.shape += 1;
                return Some((k, v));
            }
        }
        None
    }

    pub(crate) fn clear(&mut self) {
        if !self.index.is_empty() {
            self.shape += 1;
        }
        self.entries.clear();
        self.index.clear();
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &Vec<u8>)> {
        self.entries.iter().flatten().map(|(k, v)| (k, v))
    }

    /// Where keys last came or went (see the field).
    pub(crate) fn shape(&self) -> u64 {
        self.shape
    }

    /// Up to `max` pairs from slot `from` on, and the slot after the last one given. Slots
    /// only move when a key goes, which changes the [`shape`](Self::shape).
    pub(crate) fn chunk(&self, from: usize, max: usize) -> (Vec<Pair<'_>>, usize) {
        let mut pairs = Vec::new();
        let mut at = from;
        while at < self.entries.len() && pairs.len() < max {
            if let Some((k, v)) = &self.entries[at] {
                pairs.push((k, v));
            }
            at += 1;
        }
        (pairs, at)
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

    #[test]
    fn the_shape_moves_when_keys_come_or_go_and_not_when_values_change() {
        let mut map = OrderedMap::default();
        map.insert(vec![1], vec![1]);
        let shape = map.shape();
        map.insert(vec![1], vec![2]);
        assert_eq!(map.shape(), shape);
        assert_eq!(map.remove(&[9]), None);
        assert_eq!(map.shape(), shape);
        map.insert(vec![2], vec![2]);
        assert_ne!(map.shape(), shape);
        let shape = map.shape();
        map.clear();
        assert_ne!(map.shape(), shape);
        let shape = map.shape();
        map.clear();
        assert_eq!(map.shape(), shape);
    }

    #[test]
    fn chunks_walk_the_slots_past_holes() {
        let mut map = OrderedMap::default();
        for i in 0..5u8 {
            map.insert(vec![i], vec![i]);
        }
        map.remove(&[1]);
        let (pairs, next) = map.chunk(0, 2);
        assert_eq!(
            pairs.iter().map(|(k, _)| k[0]).collect::<Vec<_>>(),
            vec![0, 2]
        );
        let (pairs, next) = map.chunk(next, 10);
        assert_eq!(
            pairs.iter().map(|(k, _)| k[0]).collect::<Vec<_>>(),
            vec![3, 4]
        );
        assert!(map.chunk(next, 10).0.is_empty());
    }
}
