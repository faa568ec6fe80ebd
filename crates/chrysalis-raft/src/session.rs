//! Client sessions (Raft dissertation §6.3): what makes a committed batch
//! take effect exactly once although its writer may append it more than
//! once (a retry after a leader change, after `ForwardToLeader`, or after
//! a forwarded write's answer was lost).
//!
//! Every batch a node writes carries a [`WriteId`]: its origin (the
//! writer's validator index), its session (a number unique to that run of
//! the writer, bumped at each start) and its seq (a per-session counter);
//! a retry reuses the id. The [`SessionTable`] is part of the applied
//! state: it says, per (origin, session), which seqs were applied, so the
//! second copy of a batch is skipped (no block, no call to the machine) on
//! every replica alike.
//!
//! The table is bounded: per session, the highest seq applied and a
//! bitmap of the [`WINDOW`] seqs below it (batches of one session may
//! commit out of order, up to that far apart), plus the heights of its
//! last [`RECENT`] applications (the answer a duplicate gets); per origin,
//! the [`SESSIONS_PER_ORIGIN`] highest sessions. What falls outside cannot
//! be told apart from a duplicate and is refused as [`Outcome::Stale`]:
//! never applied, and the writer told so.

use crate::types::RaftNodeId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How many seqs below a session's highest one are remembered.
pub const WINDOW: u64 = 128;
/// How many sessions of one origin are kept: its newest ones (older runs
/// of a node have no writes left in flight).
pub const SESSIONS_PER_ORIGIN: usize = 4;
/// How many of a session's last applications keep their height.
pub const RECENT: usize = 16;

/// Who wrote a batch and which of its writes it is. Retries of a write
/// carry the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WriteId {
    /// The writer's validator index.
    pub origin: RaftNodeId,
    /// Unique to one run of the writer, higher at each start.
    pub session: u64,
    /// The write's number within the session, from 1.
    pub seq: u64,
}

impl std::fmt::Display for WriteId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.origin, self.session, self.seq)
    }
}

/// What the state machine did with a committed entry: the reply a writer
/// gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Applied as block `height` (for an entry that is not a batch: the
    /// height so far).
    Applied {
        /// The block's height.
        height: u64,
    },
    /// Already applied by an earlier copy: skipped.
    Duplicate {
        /// The height of the first application, if still remembered.
        height: Option<u64>,
    },
    /// Older than its session's window, or of a session no longer kept:
    /// not applied (it may or may not have been before).
    Stale,
}

/// What [`SessionTable::admit`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// New: apply it.
    Apply,
    /// Seen: skip it; the first application's height if remembered.
    Duplicate(Option<u64>),
    /// Outside what is remembered: skip it and refuse.
    Stale,
}

/// One session's applied seqs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Session {
    session: u64,
    /// The highest seq applied.
    top: u64,
    /// Bit `i` set: seq `top - i` was applied.
    seen: u128,
    /// (seq, height) of the last applications, oldest first.
    recent: Vec<(u64, u64)>,
}

impl Session {
    fn admit(&mut self, seq: u64, height: u64) -> Verdict {
        if seq > self.top {
            let shift = seq - self.top;
            self.seen = if shift >= WINDOW {
                0
            } else {
                self.seen << shift
            };
            self.seen |= 1;
            self.top = seq;
        } else {
            let back = self.top - seq;
            if back >= WINDOW {
                return Verdict::Stale;
            }
            let bit = 1u128 << back;
            if self.seen & bit != 0 {
                let height = self.recent.iter().find(|(s, _)| *s == seq).map(|r| r.1);
                return Verdict::Duplicate(height);
            }
            self.seen |= bit;
        }
        if self.recent.len() >= RECENT {
            self.recent.remove(0);
        }
        self.recent.push((seq, height));
        Verdict::Apply
    }
}

/// Per (origin, session), what has been applied: part of the applied
/// state and of snapshots, so every replica and every restart agree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionTable {
    /// Per origin, its kept sessions.
    origins: BTreeMap<RaftNodeId, Vec<Session>>,
}

impl SessionTable {
    /// Decides what to do with the batch `id`, recording it as applied at
    /// `height` when it is new. Deterministic: the same calls in the same
    /// order give the same verdicts and table on every replica.
    pub(crate) fn admit(&mut self, id: WriteId, height: u64) -> Verdict {
        let sessions = self.origins.entry(id.origin).or_default();
        let at = match sessions.iter().position(|s| s.session == id.session) {
            Some(at) => at,
            None => {
                if sessions.len() >= SESSIONS_PER_ORIGIN {
                    let oldest = sessions
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, s)| s.session)
                        .map(|(i, s)| (i, s.session));
                    match oldest {
                        Some((_, session)) if id.session < session => return Verdict::Stale,
                        Some((i, _)) => {
                            sessions.remove(i);
                        }
                        None => {}
                    }
                }
                sessions.push(Session {
                    session: id.session,
                    ..Session::default()
                });
                sessions.len() - 1
            }
        };
        match sessions.get_mut(at) {
            Some(session) => session.admit(id.seq, height),
            None => Verdict::Stale,
        }
    }

    /// The highest seq applied of `origin`'s `session`, if it is kept.
    pub fn highest_seq(&self, origin: RaftNodeId, session: u64) -> Option<u64> {
        let sessions = self.origins.get(&origin)?;
        sessions
            .iter()
            .find(|s| s.session == session)
            .map(|s| s.top)
    }

    /// How many sessions are kept, over all origins.
    pub fn len(&self) -> usize {
        self.origins.values().map(Vec::len).sum()
    }

    /// Whether no session is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(session: u64, seq: u64) -> WriteId {
        WriteId {
            origin: 2,
            session,
            seq,
        }
    }

    #[test]
    fn a_seq_applies_once_and_its_duplicate_gets_the_first_height() {
        let mut table = SessionTable::default();
        assert_eq!(table.admit(id(1, 1), 5), Verdict::Apply);
        assert_eq!(table.admit(id(1, 1), 6), Verdict::Duplicate(Some(5)));
        // The same seq of another session or origin is another write.
        assert_eq!(table.admit(id(2, 1), 6), Verdict::Apply);
        let other = WriteId {
            origin: 3,
            ..id(1, 1)
        };
        assert_eq!(table.admit(other, 7), Verdict::Apply);
        assert_eq!(table.len(), 3);
    }

    #[test]
    fn out_of_order_seqs_in_the_window_apply_and_older_ones_are_stale() {
        let mut table = SessionTable::default();
        assert_eq!(table.admit(id(1, 3), 1), Verdict::Apply);
        assert_eq!(table.admit(id(1, 1), 2), Verdict::Apply);
        assert_eq!(table.admit(id(1, 2), 3), Verdict::Apply);
        assert_eq!(table.admit(id(1, 1), 4), Verdict::Duplicate(Some(2)));
        assert_eq!(table.highest_seq(2, 1), Some(3));
        let far = 3 + WINDOW;
        assert_eq!(table.admit(id(1, far), 4), Verdict::Apply);
        // seq 3 is now exactly WINDOW below the top: outside.
        assert_eq!(table.admit(id(1, 3), 5), Verdict::Stale);
        assert_eq!(table.admit(id(1, 4), 5), Verdict::Apply, "inside, unseen");
        assert_eq!(table.admit(id(1, 4), 6), Verdict::Duplicate(Some(5)));
        // A jump past the whole window forgets every bit but the new top.
        assert_eq!(table.admit(id(1, far + 2 * WINDOW), 6), Verdict::Apply);
        assert_eq!(table.admit(id(1, far + 2 * WINDOW - 1), 7), Verdict::Apply);
    }

    #[test]
    fn heights_are_remembered_for_the_last_applications_only() {
        let mut table = SessionTable::default();
        let n = RECENT as u64 + 2;
        for seq in 1..=n {
            assert_eq!(table.admit(id(1, seq), 100 + seq), Verdict::Apply);
        }
        assert_eq!(table.admit(id(1, 1), 0), Verdict::Duplicate(None));
        assert_eq!(table.admit(id(1, n), 0), Verdict::Duplicate(Some(100 + n)));
    }

    #[test]
    fn an_origin_keeps_its_newest_sessions() {
        let mut table = SessionTable::default();
        for session in 1..=SESSIONS_PER_ORIGIN as u64 {
            assert_eq!(table.admit(id(session, 1), session), Verdict::Apply);
        }
        let newest = SESSIONS_PER_ORIGIN as u64 + 1;
        assert_eq!(table.admit(id(newest, 1), 9), Verdict::Apply);
        assert_eq!(table.len(), SESSIONS_PER_ORIGIN);
        assert_eq!(table.highest_seq(2, 1), None, "the oldest was dropped");
        assert_eq!(table.admit(id(1, 2), 10), Verdict::Stale);
        assert_eq!(table.admit(id(2, 1), 10), Verdict::Duplicate(Some(2)));
        assert_eq!(table.admit(id(2, 2), 10), Verdict::Apply);
    }

    #[test]
    fn a_full_table_round_trips_through_its_record() {
        let mut table = SessionTable::default();
        for seq in 1..=WINDOW + 3 {
            table.admit(id(u64::MAX - 1, seq), seq);
        }
        let bytes = crate::types::encode(&table);
        let back: SessionTable = crate::types::decode("sessions", &bytes).unwrap();
        assert_eq!(back, table);
        assert!(crate::types::decode::<SessionTable>("sessions", b"{\"origins\":7}").is_err());
    }

    /// Checks `arrivals` against a model with an unbounded list of applied
    /// seqs: a seq is applied at its first arrival unless it is WINDOW or
    /// more below the highest seen, never twice, and a duplicate gets the
    /// first application's height while it is among the last RECENT.
    /// Returns the verdicts given.
    fn check_against_model(arrivals: &[u64], seed: u64) -> Vec<Verdict> {
        let mut verdicts = Vec::new();
        let mut table = SessionTable::default();
        let mut applied: Vec<(u64, u64)> = Vec::new();
        let mut top = 0;
        for (height, &seq) in (1..).zip(arrivals) {
            let first = applied.iter().find(|a| a.0 == seq).map(|a| a.1);
            let expect = if seq > top {
                Verdict::Apply
            } else if top - seq >= WINDOW {
                Verdict::Stale
            } else if let Some(at) = first {
                let recent = applied.iter().rev().take(RECENT).any(|a| a.0 == seq);
                Verdict::Duplicate(recent.then_some(at))
            } else {
                Verdict::Apply
            };
            let got = table.admit(id(1, seq), height);
            assert_eq!(got, expect, "seed {seed}: seq {seq} after top {top}");
            if got == Verdict::Apply {
                applied.push((seq, height));
                top = top.max(seq);
            }
            verdicts.push(got);
        }
        verdicts
    }

    #[test]
    fn the_window_matches_an_unbounded_model() {
        let mut seen = Vec::new();
        for seed in 1..=64u64 {
            // xorshift64: seqs mostly rising with retries and reordering,
            // now and then a jump, as several writers in flight make them.
            let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut next = || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            let mut arrivals = Vec::new();
            let mut base = 1u64;
            for _ in 0..500 {
                let r = next();
                base += r % 3;
                let seq = match r % 10 {
                    0 => base.saturating_sub(r % (2 * WINDOW)).max(1),
                    1 => base + WINDOW + r % 4,
                    _ => base.saturating_sub(r % 6).max(1),
                };
                arrivals.push(seq);
            }
            seen.extend(check_against_model(&arrivals, seed));
        }
        // The cases cover every kind of verdict.
        assert!(seen.contains(&Verdict::Stale));
        assert!(seen.contains(&Verdict::Duplicate(None)));
        assert!(
            seen.iter()
                .any(|v| matches!(v, Verdict::Duplicate(Some(_))))
        );
        let applied = seen.iter().filter(|v| **v == Verdict::Apply).count();
        assert!(applied > seen.len() / 4, "{applied} of {}", seen.len());
    }
}
