//! The replicated log: decided blocks applied in height order to a pluggable
//! state machine, with periodic snapshots and compaction of the log below them.

use crate::engine::Decision;
use crate::types::{Height, Tx};
use std::collections::VecDeque;

/// The application the log drives. `apply` must be deterministic: every
/// replica applies the same blocks in the same order and must reach the same state.
pub trait StateMachine {
    /// Why a snapshot could not be restored.
    type Error: std::error::Error;
    /// Applies the transactions decided at `height`.
    fn apply(&mut self, height: Height, txs: &[Tx]);
    /// The state as bytes.
    fn snapshot(&self) -> Vec<u8>;
    /// Replaces the state with a snapshot's.
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), Self::Error>;
}

/// The state after applying every height up to `height`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The last height included.
    pub height: Height,
    /// [`StateMachine::snapshot`] at that height.
    pub state: Vec<u8>,
}

/// Why the log refused an operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LogError<E: std::error::Error> {
    /// A decision that is not the next height.
    #[error("decision for {got} but the next height is {expected}")]
    OutOfOrder {
        /// The next height.
        expected: Height,
        /// The height given.
        got: Height,
    },
    /// The state machine refused the snapshot.
    #[error("restoring the snapshot failed: {0}")]
    Restore(E),
}

/// Decided blocks in order, applied to `S`.
#[derive(Debug)]
pub struct ReplicatedLog<S> {
    machine: S,
    entries: VecDeque<Decision>,
    snapshot: Option<Snapshot>,
    last: Height,
    snapshot_every: u64,
    retain: usize,
}

impl<S: StateMachine> ReplicatedLog<S> {
    /// An empty log over `machine`; a snapshot every `snapshot_every`
    /// heights (0: never), keeping the last `retain` decisions (for lagging
    /// peers) when compacting.
    pub fn new(machine: S, snapshot_every: u64, retain: usize) -> Self {
        Self {
            machine,
            entries: VecDeque::new(),
            snapshot: None,
            last: Height(0),
            snapshot_every,
            retain,
        }
    }

    /// A log that resumes after `snapshot`: the machine is restored from
    /// it and the next decision expected is the one after its height, so a
    /// restart need not replay the decisions before it.
    pub fn resume(
        mut machine: S,
        snapshot: Snapshot,
        snapshot_every: u64,
        retain: usize,
    ) -> Result<Self, LogError<S::Error>> {
        machine
            .restore(&snapshot.state)
            .map_err(LogError::Restore)?;
        Ok(Self {
            machine,
            entries: VecDeque::new(),
            last: snapshot.height,
            snapshot: Some(snapshot),
            snapshot_every,
            retain,
        })
    }

    /// Appends the next decision and applies it.
    pub fn commit(&mut self, decision: Decision) -> Result<(), LogError<S::Error>> {
        let expected = self.last.next();
        let got = decision.block.height;
        if got != expected {
            return Err(LogError::OutOfOrder { expected, got });
        }
        assert_eq!(
            decision.cert.height, got,
            "certificate height differs from block height"
        );
        self.machine.apply(got, &decision.block.txs);
        self.entries.push_back(decision);
        self.last = got;
        if self.snapshot_every > 0 && got.0.is_multiple_of(self.snapshot_every) {
            self.snapshot = Some(Snapshot {
                height: got,
                state: self.machine.snapshot(),
            });
            while self.entries.len() > self.retain {
                self.entries.pop_front();
            }
        }
        Ok(())
    }

    /// The last decided height (0 before the first).
    pub fn last_height(&self) -> Height {
        self.last
    }

    /// The decision at `height`, if still retained.
    pub fn get(&self, height: Height) -> Option<&Decision> {
        let first = self.entries.front()?.block.height;
        let offset = height.0.checked_sub(first.0)?;
        self.entries.get(usize::try_from(offset).ok()?)
    }

    /// The oldest retained height, if any.
    pub fn first_retained(&self) -> Option<Height> {
        self.entries.front().map(|d| d.block.height)
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }

    /// The state machine.
    pub fn machine(&self) -> &S {
        &self.machine
    }

    /// After a crash: rebuilds the state into `fresh` from the snapshot and
    /// the retained decisions after it (the durable parts of the log).
    pub fn rebuild(&mut self, fresh: S) -> Result<(), LogError<S::Error>> {
        self.machine = fresh;
        let from = match &self.snapshot {
            Some(s) => {
                self.machine.restore(&s.state).map_err(LogError::Restore)?;
                s.height
            }
            None => Height(0),
        };
        for d in self.entries.iter().filter(|d| d.block.height > from) {
            self.machine.apply(d.block.height, &d.block.txs);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::CommitCert;
    use crate::types::{Block, BlockHash, Round, ValidatorIndex};
    use std::convert::Infallible;

    /// Sums the first byte of every transaction.
    #[derive(Default, Debug, PartialEq)]
    struct Sum(u64);

    impl StateMachine for Sum {
        type Error = Infallible;
        fn apply(&mut self, _: Height, txs: &[Tx]) {
            self.0 += txs.iter().map(|t| u64::from(t.0[0])).sum::<u64>();
        }
        fn snapshot(&self) -> Vec<u8> {
            self.0.to_be_bytes().to_vec()
        }
        fn restore(&mut self, s: &[u8]) -> Result<(), Infallible> {
            let mut b = [0; 8];
            b.copy_from_slice(s);
            self.0 = u64::from_be_bytes(b);
            Ok(())
        }
    }

    fn decision(h: u64) -> Decision {
        Decision {
            block: Block {
                height: Height(h),
                proposer: ValidatorIndex(0),
                txs: vec![Tx(vec![h as u8])],
            },
            cert: CommitCert {
                height: Height(h),
                round: Round(0),
                block_hash: BlockHash([0; 32]),
                precommits: vec![],
            },
        }
    }

    #[test]
    fn applies_in_order_and_refuses_gaps() {
        let mut log = ReplicatedLog::new(Sum::default(), 0, 0);
        log.commit(decision(1)).unwrap();
        assert_eq!(
            log.commit(decision(3)),
            Err(LogError::OutOfOrder {
                expected: Height(2),
                got: Height(3)
            })
        );
        log.commit(decision(2)).unwrap();
        assert_eq!(log.machine().0, 3);
        assert_eq!(log.get(Height(2)).unwrap().block.height, Height(2));
        assert!(log.get(Height(3)).is_none());
    }

    #[test]
    fn snapshots_compact_and_rebuild_to_the_same_state() {
        let mut log = ReplicatedLog::new(Sum::default(), 4, 2);
        for h in 1..=10 {
            log.commit(decision(h)).unwrap();
        }
        assert_eq!(log.snapshot().unwrap().height, Height(8));
        assert_eq!(log.first_retained(), Some(Height(7)));
        assert!(log.get(Height(6)).is_none());
        let before = log.machine().0;
        assert_eq!(before, (1..=10).sum::<u64>());
        log.rebuild(Sum::default()).unwrap();
        assert_eq!(log.machine().0, before);
    }

    #[test]
    fn a_resumed_log_goes_on_from_its_snapshot() {
        let mut full = ReplicatedLog::new(Sum::default(), 0, 0);
        for h in 1..=5 {
            full.commit(decision(h)).unwrap();
        }
        let snapshot = Snapshot {
            height: Height(5),
            state: full.machine().snapshot(),
        };
        let mut resumed = ReplicatedLog::resume(Sum::default(), snapshot, 0, 0).unwrap();
        assert_eq!(resumed.last_height(), Height(5));
        assert!(resumed.get(Height(5)).is_none());
        assert!(matches!(
            resumed.commit(decision(5)),
            Err(LogError::OutOfOrder { .. })
        ));
        full.commit(decision(6)).unwrap();
        resumed.commit(decision(6)).unwrap();
        assert_eq!(resumed.machine(), full.machine());
    }
}
