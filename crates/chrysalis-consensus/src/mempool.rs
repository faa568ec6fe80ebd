//! The mempool and batcher: client transactions wait here until a proposer
//! packs them into a block, bounded by count and bytes.

use crate::types::{Tx, TxKey};
use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// Bounds on the pool and on each block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MempoolConfig {
    /// The most transactions waiting.
    pub max_pool_txs: usize,
    /// The most bytes waiting.
    pub max_pool_bytes: usize,
    /// The largest single transaction.
    pub max_tx_bytes: usize,
    /// The most transactions in one block.
    pub max_block_txs: usize,
    /// The most transaction bytes in one block.
    pub max_block_bytes: usize,
}

impl Default for MempoolConfig {
    /// 100k waiting transactions or 64 MiB; blocks of up to 10,000 txs or 4 MiB.
    fn default() -> Self {
        Self {
            max_pool_txs: 100_000,
            max_pool_bytes: 64 << 20,
            max_tx_bytes: 64 << 10,
            max_block_txs: 10_000,
            max_block_bytes: 4 << 20,
        }
    }
}

/// Why a transaction was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MempoolError {
    /// The transaction exceeds [`MempoolConfig::max_tx_bytes`].
    #[error("transaction of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An empty transaction.
    #[error("empty transaction")]
    Empty,
    /// The pool is at its count or byte bound.
    #[error("the mempool is full")]
    Full,
    /// The same transaction is already waiting.
    #[error("duplicate transaction")]
    Duplicate,
    /// The application's validity predicate refused it.
    #[error("the transaction is invalid")]
    Invalid,
}

/// Hashes a transaction key, a BLAKE3 digest and so already uniform, by
/// its first eight bytes (crafting keys that collide there takes a
/// birthday search over BLAKE3).
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut word = [0u8; 8];
        let n = bytes.len().min(8);
        word[..n].copy_from_slice(&bytes[..n]);
        self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
    }
}

type KeySet = HashSet<TxKey, BuildHasherDefault<KeyHasher>>;

/// A FIFO pool of distinct transactions, which also remembers the keys of
/// the last few committed ones so they are not admitted again.
#[derive(Clone, Debug)]
pub struct Mempool {
    config: MempoolConfig,
    /// Waiting transactions with their keys, oldest first.
    queue: VecDeque<(TxKey, Tx)>,
    keys: KeySet,
    bytes: usize,
    /// Committed transaction keys, oldest first, at most `recent_cap`.
    recent: VecDeque<TxKey>,
    recent_keys: KeySet,
    recent_cap: usize,
}

impl Mempool {
    /// An empty pool with these bounds, remembering the last
    /// `recent_committed` committed transactions.
    pub fn new(config: MempoolConfig, recent_committed: usize) -> Self {
        Self {
            config,
            queue: VecDeque::new(),
            keys: KeySet::default(),
            bytes: 0,
            recent: VecDeque::new(),
            recent_keys: KeySet::default(),
            recent_cap: recent_committed,
        }
    }

    /// The bounds.
    pub fn config(&self) -> &MempoolConfig {
        &self.config
    }

    /// Admits a transaction.
    pub fn add(&mut self, tx: Tx) -> Result<TxKey, MempoolError> {
        let len = tx.0.len();
        if len == 0 {
            return Err(MempoolError::Empty);
        }
        if len > self.config.max_tx_bytes {
            return Err(MempoolError::TooLarge {
                len,
                max: self.config.max_tx_bytes,
            });
        }
        if self.queue.len() >= self.config.max_pool_txs
            || self.bytes + len > self.config.max_pool_bytes
        {
            return Err(MempoolError::Full);
        }
        let key = tx.key();
        if self.recent_keys.contains(&key) || !self.keys.insert(key) {
            return Err(MempoolError::Duplicate);
        }
        self.bytes += len;
        self.queue.push_back((key, tx));
        Ok(key)
    }

    /// The oldest transactions that fit in one block (they stay in the pool
    /// until a block holding them is decided).
    pub fn batch(&self) -> Vec<Tx> {
        let mut bytes = 0;
        self.queue
            .iter()
            .take(self.config.max_block_txs)
            .take_while(|(_, tx)| {
                bytes += tx.0.len();
                bytes <= self.config.max_block_bytes
            })
            .map(|(_, tx)| tx.clone())
            .collect()
    }

    /// Drops the transactions a decided block carried, and remembers them.
    pub fn remove_committed(&mut self, txs: &[Tx]) {
        let before = self.keys.len();
        for tx in txs {
            let key = tx.key();
            self.remember(key);
            self.keys.remove(&key);
        }
        if self.keys.len() == before {
            return;
        }
        let keys = &self.keys;
        let mut bytes = self.bytes;
        self.queue.retain(|(key, tx)| {
            let keep = keys.contains(key);
            if !keep {
                bytes -= tx.0.len();
            }
            keep
        });
        self.bytes = bytes;
    }

    fn remember(&mut self, key: TxKey) {
        if self.recent_cap == 0 || !self.recent_keys.insert(key) {
            return;
        }
        self.recent.push_back(key);
        if self.recent.len() > self.recent_cap
            && let Some(old) = self.recent.pop_front()
        {
            self.recent_keys.remove(&old);
        }
    }

    /// The number of waiting transactions.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The bytes waiting.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> MempoolConfig {
        MempoolConfig {
            max_pool_txs: 4,
            max_pool_bytes: 100,
            max_tx_bytes: 10,
            max_block_txs: 2,
            max_block_bytes: 15,
        }
    }

    #[test]
    fn admission_is_bounded() {
        let mut m = Mempool::new(small(), 0);
        assert_eq!(m.add(Tx(vec![])), Err(MempoolError::Empty));
        assert_eq!(
            m.add(Tx(vec![0; 11])),
            Err(MempoolError::TooLarge { len: 11, max: 10 })
        );
        m.add(Tx(vec![1])).unwrap();
        assert_eq!(m.add(Tx(vec![1])), Err(MempoolError::Duplicate));
        for i in 2..5 {
            m.add(Tx(vec![i])).unwrap();
        }
        assert_eq!(m.add(Tx(vec![9])), Err(MempoolError::Full));
        assert_eq!((m.len(), m.bytes()), (4, 4));
    }

    #[test]
    fn batches_respect_count_and_bytes_and_commits_remove() {
        let mut m = Mempool::new(small(), 0);
        m.add(Tx(vec![1; 8])).unwrap();
        m.add(Tx(vec![2; 8])).unwrap();
        m.add(Tx(vec![3; 2])).unwrap();
        // 8 + 8 > 15 bytes: only the first fits.
        assert_eq!(m.batch(), vec![Tx(vec![1; 8])]);
        m.remove_committed(&[Tx(vec![1; 8]), Tx(vec![7])]);
        assert_eq!(m.batch(), vec![Tx(vec![2; 8]), Tx(vec![3; 2])]);
        assert_eq!((m.len(), m.bytes()), (2, 10));
        m.add(Tx(vec![1; 8])).unwrap();
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn recently_committed_transactions_are_refused_within_the_window() {
        let mut m = Mempool::new(small(), 2);
        m.add(Tx(vec![1])).unwrap();
        m.remove_committed(&[Tx(vec![1]), Tx(vec![2])]);
        assert_eq!(m.add(Tx(vec![1])), Err(MempoolError::Duplicate));
        assert_eq!(m.add(Tx(vec![2])), Err(MempoolError::Duplicate));
        // A third commit pushes the oldest key out of the window of two.
        m.remove_committed(&[Tx(vec![3])]);
        assert_eq!(m.add(Tx(vec![1])), Ok(Tx(vec![1]).key()));
        assert_eq!(m.add(Tx(vec![2])), Err(MempoolError::Duplicate));
        assert_eq!(m.len(), 1);
    }
}
