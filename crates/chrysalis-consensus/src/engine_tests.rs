//! Engine tests without the simulator: a perfect in-memory network, and
//! crash/recovery from the WAL.

use crate::engine::{BftEngine, EngineConfig, Input, Output, Tendermint, Timeout, TimeoutKind};
use crate::message::{Message, Proposal, SignedVote, Vote, VoteKind};
use crate::types::{Block, BlockHash, Height, PeerId, Round, Tx, ValidatorIndex};
use crate::validators::{Validator, ValidatorSet};
use crate::wal::{MemWal, Wal};
use ed25519_consensus::SigningKey;
use std::collections::VecDeque;

fn keys() -> Vec<SigningKey> {
    (0..4u8).map(|i| SigningKey::from([i + 10; 32])).collect()
}

fn set(keys: &[SigningKey]) -> ValidatorSet {
    ValidatorSet::new(
        keys.iter()
            .map(|k| Validator {
                key: k.verification_key(),
                power: 1,
            })
            .collect(),
    )
    .unwrap()
}

fn engine(keys: &[SigningKey], i: usize) -> Tendermint {
    Tendermint::new(
        EngineConfig::default(),
        set(keys),
        keys[i].clone(),
        Height(1),
    )
    .unwrap()
}

/// Delivers every broadcast to every other engine until nothing moves;
/// timeouts are dropped (a perfect network needs none).
fn run_perfect(engines: &mut [Tendermint]) -> Vec<Vec<Height>> {
    let mut decided = vec![Vec::new(); engines.len()];
    let mut queue: VecDeque<(usize, Output)> = VecDeque::new();
    for (i, e) in engines.iter_mut().enumerate() {
        queue.extend(e.start().into_iter().map(|o| (i, o)));
    }
    let mut steps = 0;
    while let Some((from, out)) = queue.pop_front() {
        steps += 1;
        assert!(steps < 10_000, "no quiescence");
        match out {
            Output::Broadcast(m) => {
                for (to, e) in engines.iter_mut().enumerate() {
                    if to != from && m.height() <= Height(3) {
                        let outs = e.handle(Input::Message(PeerId(from as u32), m.clone()));
                        queue.extend(outs.into_iter().map(|o| (to, o)));
                    }
                }
            }
            Output::Decide(d) => decided[from].push(d.block.height),
            _ => {}
        }
    }
    decided
}

#[test]
fn four_validators_decide_in_order_on_a_perfect_network() {
    let keys = keys();
    let mut engines: Vec<Tendermint> = (0..4).map(|i| engine(&keys, i)).collect();
    for (i, e) in engines.iter_mut().enumerate() {
        e.submit_tx(Tx(vec![1, i as u8])).unwrap();
    }
    let decided = run_perfect(&mut engines);
    for d in &decided {
        assert_eq!(d, &vec![Height(1), Height(2), Height(3)]);
    }
    assert!(engines.iter().all(|e| e.evidence().is_empty()));
}

fn proposal(keys: &[SigningKey], round: u32, txs: Vec<Tx>) -> Message {
    let s = set(keys);
    let proposer = s.proposer(Height(1), Round(round));
    let p = Proposal {
        height: Height(1),
        round: Round(round),
        block: Block {
            height: Height(1),
            proposer,
            txs,
        },
        pol_round: None,
        proposer,
    };
    Message::Proposal(p.sign(&keys[usize::from(proposer.0)]))
}

fn prevote(keys: &[SigningKey], i: u16, value: Option<BlockHash>) -> Message {
    Message::Vote(
        Vote {
            kind: VoteKind::Prevote,
            height: Height(1),
            round: Round(0),
            value,
            validator: ValidatorIndex(i),
        }
        .sign(&keys[usize::from(i)]),
    )
}

/// Feeds outputs to the WAL (as a driver must) and returns the votes signed.
fn persist(wal: &mut MemWal, outs: &[Output]) -> Vec<SignedVote> {
    let mut votes = Vec::new();
    for o in outs {
        match o {
            Output::WalAppend(e) => wal.append(e).unwrap(),
            Output::Broadcast(Message::Vote(v)) => votes.push(*v),
            _ => {}
        }
    }
    votes
}

fn timeout(kind: TimeoutKind, round: u32) -> Input {
    Input::Timeout(Timeout {
        kind,
        height: Height(1),
        round: Round(round),
    })
}

/// Crash mid-round, restart from the WAL: the next votes repeat what was
/// signed, never contradict it, and the lock survives.
#[test]
fn a_restarted_validator_never_signs_a_conflicting_vote() {
    let keys = keys();
    let me = 3;
    let mut wal = MemWal::new();
    let mut e = engine(&keys, me);
    persist(&mut wal, &e.start());
    let prop = proposal(&keys, 0, vec![Tx(vec![1])]);
    let Message::Proposal(sp) = &prop else {
        unreachable!()
    };
    let b = sp.proposal.block.hash();
    let signed = persist(&mut wal, &e.handle(Input::Message(PeerId(1), prop.clone())));
    assert_eq!(signed.len(), 1);
    assert_eq!(signed[0].vote.value, Some(b));

    // Crash after the prevote; a fresh engine would prevote nil on timeout.
    let entries = wal.entries().unwrap();
    let mut e = Tendermint::recover(
        EngineConfig::default(),
        set(&keys),
        keys[me].clone(),
        Height(1),
        &entries,
    )
    .unwrap();
    let mut all = persist(&mut wal, &e.start());
    all.extend(persist(
        &mut wal,
        &e.handle(timeout(TimeoutKind::Propose, 0)),
    ));
    for v in &all {
        assert!(
            v.vote.kind != VoteKind::Prevote || v.vote.round != Round(0) || v.vote.value == Some(b)
        );
    }

    // The proposer re-sends its proposal (rebroadcast); with a prevote
    // quorum for B the validator locks and precommits B.
    all.extend(persist(
        &mut wal,
        &e.handle(Input::Message(PeerId(1), prop)),
    ));
    for i in [0u16, 1] {
        let outs = e.handle(Input::Message(PeerId(9), prevote(&keys, i, Some(b))));
        all.extend(persist(&mut wal, &outs));
    }
    assert!(
        all.iter()
            .any(|v| v.vote.kind == VoteKind::Precommit && v.vote.value == Some(b))
    );

    // Crash again; recover; a precommit timeout must not produce a nil
    // precommit for round 0, and in round 1 a fresh block without proof of
    // lock gets a nil prevote (the lock on B was restored from the WAL).
    let entries = wal.entries().unwrap();
    let mut e = Tendermint::recover(
        EngineConfig::default(),
        set(&keys),
        keys[me].clone(),
        Height(1),
        &entries,
    )
    .unwrap();
    let mut later = persist(&mut wal, &e.start());
    later.extend(persist(
        &mut wal,
        &e.handle(timeout(TimeoutKind::Prevote, 0)),
    ));
    later.extend(persist(
        &mut wal,
        &e.handle(timeout(TimeoutKind::Precommit, 0)),
    ));
    let other = proposal(&keys, 1, vec![Tx(vec![2])]);
    later.extend(persist(
        &mut wal,
        &e.handle(Input::Message(PeerId(2), other)),
    ));
    for v in &later {
        if v.vote.round == Round(0) {
            assert_eq!(
                v.vote.value,
                Some(b),
                "round-0 vote changed after restart: {v:?}"
            );
        }
        if v.vote.round == Round(1) && v.vote.kind == VoteKind::Prevote {
            assert_eq!(v.vote.value, None, "voted against its lock after restart");
        }
    }
    assert!(
        later.iter().any(|v| v.vote.round == Round(1)),
        "no round-1 prevote at all"
    );
}

#[test]
fn conflicting_votes_become_evidence() {
    let keys = keys();
    let mut e = engine(&keys, 0);
    e.start();
    e.handle(Input::Message(
        PeerId(3),
        prevote(&keys, 3, Some(BlockHash([1; 32]))),
    ));
    e.handle(Input::Message(PeerId(3), prevote(&keys, 3, None)));
    assert_eq!(e.evidence().len(), 1);
    let ev = &e.evidence()[0];
    assert!(ev.is_conflict());
    assert_eq!(ev.validator, ValidatorIndex(3));
    // A forged vote (signed by 2 in 3's name) is not evidence against 3.
    let forged = Message::Vote(
        Vote {
            kind: VoteKind::Prevote,
            height: Height(1),
            round: Round(0),
            value: Some(BlockHash([9; 32])),
            validator: ValidatorIndex(3),
        }
        .sign(&keys[2]),
    );
    e.handle(Input::Message(PeerId(2), forged));
    assert_eq!(e.evidence().len(), 1);
}

/// A WAL holding another validator's vote (a data directory moved to
/// another identity, or damaged) is refused with an error, not a panic.
#[test]
fn a_foreign_wal_is_refused() {
    use crate::engine::EngineError;
    use crate::wal::WalEntry;
    let keys = keys();
    let theirs = Vote {
        kind: VoteKind::Prevote,
        height: Height(1),
        round: Round(0),
        value: None,
        validator: ValidatorIndex(1),
    }
    .sign(&keys[1]);
    let entries = [WalEntry::Height(Height(1)), WalEntry::Vote(theirs)];
    let refused = Tendermint::recover(
        EngineConfig::default(),
        set(&keys),
        keys[0].clone(),
        Height(1),
        &entries,
    )
    .unwrap_err();
    assert_eq!(
        refused,
        EngineError::ForeignWal {
            validator: 1,
            height: 1,
            expected: 1
        }
    );
    // The owner resumes from the same entries.
    assert!(
        Tendermint::recover(
            EngineConfig::default(),
            set(&keys),
            keys[1].clone(),
            Height(1),
            &entries,
        )
        .is_ok()
    );
}

/// A restarted engine told what was decided before refuses late copies.
#[test]
fn remembered_commits_are_not_admitted_again() {
    use crate::mempool::MempoolError;
    let keys = keys();
    let mut e = engine(&keys, 0);
    let tx = Tx(vec![7, 7]);
    e.remember_committed(std::slice::from_ref(&tx));
    assert_eq!(e.submit_tx(tx), Err(MempoolError::Duplicate));
    assert_eq!(e.submit_tx(Tx(vec![8])), Ok(Tx(vec![8]).key()));
}
