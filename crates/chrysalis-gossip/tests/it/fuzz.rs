//! Fuzz-style properties: arbitrary or mutated bytes into `handle_message`
//! never panic and leave the state alone.

use chrysalis_crdt::{AgentState, SignedDelta};
use chrysalis_gossip::{Chunk, Digest, Frame, GossipConfig, GossipNode, PeerAddr};
use chrysalis_types::codec::Encode;
use proptest::prelude::*;

use crate::harness::{agent, key_of};

fn node() -> GossipNode {
    let mut n = GossipNode::new(
        key_of(0),
        PeerAddr::from_index(0),
        GossipConfig::default(),
        1,
    )
    .expect("valid config");
    n.start(0);
    n
}

fn valid_frames() -> Vec<Vec<u8>> {
    let v = AgentState::new().version();
    let mut state = AgentState::new();
    let delta = state
        .edit(crate::harness::node_id_of(1))
        .update_skill("s", 0.5, chrysalis_types::Timestamp::new(1, 0))
        .commit()
        .expect("valid edit");
    let signed = SignedDelta::<AgentState>::sign(&delta, &key_of(1));
    vec![
        Frame::<AgentState>::Swim(vec![0; 20]).to_bytes(),
        Frame::<AgentState>::Digest(Digest {
            round: 1,
            hot: vec![(agent(1), v.clone())],
            start: None,
            end: Some(agent(9)),
            page: vec![],
        })
        .to_bytes(),
        Frame::<AgentState>::Want(vec![(agent(2), v.clone())]).to_bytes(),
        Frame::<AgentState>::Deltas(vec![(agent(3), signed)]).to_bytes(),
        Frame::<AgentState>::Chunk(Chunk {
            transfer: 1,
            key: agent(4),
            index: 0,
            count: 2,
            bytes: vec![1; 30],
        })
        .to_bytes(),
        Frame::<AgentState>::Ack(vec![(agent(5), v)]).to_bytes(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut n = node();
        let _ = n.handle_message(&PeerAddr::from_index(1), &bytes, 5);
        prop_assert!(n.state(&agent(3)).is_none());
    }

    #[test]
    fn mutated_frames_never_panic(which in 0usize..6, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6), cut in any::<usize>()) {
        let mut bytes = valid_frames()[which].clone();
        for (at, x) in flips {
            let i = at % bytes.len();
            bytes[i] ^= x;
        }
        if cut % 4 == 0 {
            bytes.truncate(cut % (bytes.len() + 1));
        }
        let mut n = node();
        let _ = n.handle_message(&PeerAddr::from_index(1), &bytes, 5);
        // Node 1 is not a member: nothing it sends may change the state.
        prop_assert_eq!(n.agents().count(), 0);
    }
}
