//! The fuzz targets' checks, run on random and mutated bytes so CI covers
//! every decoder without a nightly toolchain.

use crate::model::node;
use chrysalis_crdt::fuzz::CHECKS;
use chrysalis_crdt::{
    AgentState, Crdt, Episode, GCounter, LWWRegister, MVRegister, MerkleDag, ORSet, SignedDelta,
};
use chrysalis_crypto::ed25519::SigningKey;
use chrysalis_types::codec::Encode;
use chrysalis_types::{EpisodeId, Timestamp};
use proptest::prelude::*;

/// Valid encodings of every checked type: the seeds to mutate.
fn seeds() -> Vec<Vec<u8>> {
    let t = Timestamp::new(7, 1);
    let mut set = ORSet::<u64>::new();
    let d1 = set.add(node(0), 5);
    set.add(node(1), 6);
    let mut other = ORSet::<u64>::new();
    other.add(node(2), 5);
    set.merge(&other);
    let rm = set.remove(&6);
    let mut counter = GCounter::new();
    counter.increment(node(0), 3).unwrap();
    let mut mv = MVRegister::<String>::new();
    mv.write(node(0), "a".into());
    let mut lww = LWWRegister::<String>::new();
    lww.set("b".into(), t, node(1));
    let mut dag = MerkleDag::<String>::new();
    dag.append("x".into());
    let (_, dd) = dag.append("y".into());
    let mut agent = AgentState::new();
    agent
        .edit(node(0))
        .update_skill("rust", 0.5, t)
        .add_episode(Episode::new(EpisodeId::new([1; 16]), t, "e"))
        .commit()
        .unwrap();
    // A collected DAG: history below the acknowledged heads is gone, its
    // cited parents are the floor.
    let mut collected = dag.clone();
    collected.append("z".into());
    let acked: Vec<_> = dag.heads().copied().collect();
    collected.gc([acked.as_slice()]);
    assert!(collected.floor().count() > 0);
    let key = SigningKey::from_seed(&[3; 32]);
    let signed = SignedDelta::<ORSet<u64>>::sign(&d1, &key);
    vec![
        set.context().vector().to_bytes(),
        agent.version().to_bytes(),
        collected.to_bytes(),
        set.context().to_bytes(),
        counter.to_bytes(),
        set.to_bytes(),
        d1.to_bytes(),
        rm.to_bytes(),
        mv.to_bytes(),
        lww.to_bytes(),
        dag.to_bytes(),
        dd.to_bytes(),
        agent.to_bytes(),
        signed.to_bytes(),
    ]
}

#[test]
fn seeds_are_accepted_by_their_checks() {
    let seeds = seeds();
    let accepted = seeds
        .iter()
        .filter(|s| CHECKS.iter().any(|(_, check)| check(s) == Ok(true)))
        .count();
    assert_eq!(accepted, seeds.len());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_break_a_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut with_version = vec![1u8];
        with_version.extend_from_slice(&bytes);
        for (name, check) in CHECKS {
            prop_assert!(check(&bytes).is_ok(), "{}", name);
            prop_assert!(check(&with_version).is_ok(), "{}", name);
        }
    }

    #[test]
    fn mutated_encodings_never_break_a_decoder(
        seed in 0usize..12,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let mut bytes = seeds()[seed].clone();
        for (at, byte, kind) in edits {
            let at = at % (bytes.len() + 1);
            match kind {
                0 if at < bytes.len() => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ if at < bytes.len() => { bytes.remove(at); }
                _ => {}
            }
        }
        for (name, check) in CHECKS {
            prop_assert!(check(&bytes).is_ok(), "{}", name);
        }
    }
}
