//! The write-ahead log: what a validator signed at the current height, made
//! durable before anything it signed leaves the node, so a restarted node
//! never signs a conflicting vote.

use crate::message::{SignedProposal, SignedVote};
use crate::types::{Block, Height};
use std::convert::Infallible;

/// One durable record of the current height.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum WalEntry {
    /// A new height began: entries of lower heights are obsolete.
    Height(Height),
    /// A proposal this validator signed.
    Proposal(SignedProposal),
    /// The block behind a non-nil precommit this validator is about to sign
    /// (its lock), written before that precommit.
    Locked(Block),
    /// A vote this validator signed.
    Vote(SignedVote),
}

/// Durable storage for [`WalEntry`]s. The engine emits
/// [`Output::WalAppend`](crate::Output::WalAppend); the driver appends each
/// entry, in order, before it sends any message that follows it in the same
/// batch of outputs.
pub trait Wal {
    /// Why the backend failed.
    type Error: std::error::Error;
    /// Appends one entry durably. A [`WalEntry::Height`] may drop everything before it.
    fn append(&mut self, entry: &WalEntry) -> Result<(), Self::Error>;
    /// Every entry since the last [`WalEntry::Height`], in append order.
    fn entries(&self) -> Result<Vec<WalEntry>, Self::Error>;
}

/// An in-memory [`Wal`]: the simulator's "disk" (it survives a simulated
/// crash because the process keeps it; a wipe drops it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemWal {
    entries: Vec<WalEntry>,
}

impl MemWal {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of retained entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is retained.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Wal for MemWal {
    type Error = Infallible;

    fn append(&mut self, entry: &WalEntry) -> Result<(), Infallible> {
        if matches!(entry, WalEntry::Height(_)) {
            self.entries.clear();
        }
        self.entries.push(entry.clone());
        Ok(())
    }

    fn entries(&self) -> Result<Vec<WalEntry>, Infallible> {
        Ok(self.entries.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_height_drops_the_old_entries() {
        let mut wal = MemWal::new();
        wal.append(&WalEntry::Height(Height(1))).unwrap();
        let block = Block {
            height: Height(1),
            proposer: crate::ValidatorIndex(0),
            txs: vec![],
        };
        wal.append(&WalEntry::Locked(block.clone())).unwrap();
        assert_eq!(wal.len(), 2);
        wal.append(&WalEntry::Height(Height(2))).unwrap();
        assert_eq!(wal.entries().unwrap(), vec![WalEntry::Height(Height(2))]);
    }
}
