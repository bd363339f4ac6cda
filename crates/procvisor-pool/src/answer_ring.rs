//! Where a worker keeps the answers it holds back (see `worker_main::outbox`), so that they
//! outlive it: a small shared array the worker hands its router when it is ready. The router
//! reads it only when the worker's link has ended, so a worker killed while it held the answers
//! of finished tasks still has them delivered, and its crash is blamed on the task that was
//! running, not on one that had finished.
//!
//! Layout, in 8-byte words: the committed length in words, then records of a length in bytes and
//! an encoded answer, padded to a whole word. The worker writes a record, then moves the
//! committed length past it; a worker killed in the middle of a record leaves it uncommitted.

use procvisor_sync::RawArray;
use serde::{Deserialize, Serialize};

/// An answer ring (cloning shares it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AnswerRing(RawArray<u64>);

impl AnswerRing {
    /// A new ring with room for `bytes` bytes of records.
    pub(crate) fn create(bytes: usize) -> std::io::Result<AnswerRing> {
        RawArray::zeroed(1 + bytes.div_ceil(8)).map(AnswerRing)
    }

    fn committed(&self) -> usize {
        self.0.get(0).unwrap_or(0) as usize
    }

    /// Appends one record; false (nothing committed) when it does not fit. The worker's side,
    /// one thread at a time.
    pub(crate) fn append(&self, record: &[u8]) -> bool {
        let start = 1 + self.committed();
        let words = 1 + record.len().div_ceil(8);
        if start + words > self.0.len() {
            return false;
        }
        let _ = self.0.set(start, record.len() as u64);
        for (i, chunk) in record.chunks(8).enumerate() {
            let mut word = [0_u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            let _ = self.0.set(start + 1 + i, u64::from_le_bytes(word));
        }
        // Last: a record is there once it is counted.
        let _ = self.0.set(0, (start + words - 1) as u64);
        true
    }

    /// Forgets every record (their answers were sent).
    pub(crate) fn clear(&self) {
        let _ = self.0.set(0, 0);
    }

    /// The committed records. The router's side, once the worker is gone.
    pub(crate) fn records(&self) -> Vec<Vec<u8>> {
        // Only the committed words are read: usually none.
        let committed = self.committed().min(self.0.len() - 1);
        let words: Vec<u64> = (1..=committed).filter_map(|i| self.0.get(i)).collect();
        let mut rest = words.as_slice();
        let mut records = Vec::new();
        while let Some((&len, after)) = rest.split_first() {
            let len = len as usize;
            let Some(data) = after.get(..len.div_ceil(8)) else {
                break;
            };
            let mut record: Vec<u8> = data.iter().flat_map(|w| w.to_le_bytes()).collect();
            record.truncate(len);
            records.push(record);
            rest = &after[data.len()..];
        }
        records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_records_come_back_in_order_and_a_full_ring_refuses() {
        let ring = AnswerRing::create(64).unwrap();
        assert!(ring.append(b"first"));
        assert!(ring.append(b"second one"));
        let other = ring.clone();
        assert_eq!(
            other.records(),
            vec![b"first".to_vec(), b"second one".to_vec()]
        );
        assert!(
            !ring.append(&[7; 64]),
            "a record that does not fit is refused"
        );
        assert_eq!(other.records().len(), 2, "a refused record leaves no trace");
        ring.clear();
        assert!(other.records().is_empty());
        assert!(ring.append(&[7; 50]));
        assert_eq!(other.records(), vec![vec![7; 50]]);
    }
}
