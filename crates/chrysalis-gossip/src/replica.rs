//! The replicated value the gossip core ships: any delta CRDT that can say
//! what it has seen and what a peer that has seen less lacks.

use std::fmt::Debug;

use chrysalis_crdt::{AgentState, AgentVersion, DeltaCrdt};
use chrysalis_types::codec::{Decode, Encode};

/// A delta CRDT that anti-entropy can reconcile by version summaries.
///
/// Laws the gossip core relies on (checked for [`AgentState`] in tests):
/// - `covers(&s.version(), &t.version())` after `s.merge(&t)`;
/// - applying `s.delta_since(&t.version())` to `t` makes
///   `covers(&t.version(), &s.version())`;
/// - equal states have equal versions.
pub trait Replicated: DeltaCrdt + Clone + Default + PartialEq + Encode + Decode + Debug {
    /// A summary of what a replica has seen (version vectors).
    type Version: Clone + Default + PartialEq + Debug + Encode + Decode;

    /// What this replica has seen.
    fn version(&self) -> Self::Version;

    /// Whether a replica at `have` has seen everything a replica at `want`
    /// has (`have ≥ want`).
    fn covers(have: &Self::Version, want: &Self::Version) -> bool;

    /// What a replica that has seen `seen` lacks from this one.
    fn delta_since(&self, seen: &Self::Version) -> Self::Delta;

    /// The versions every one of `versions` has seen (their meet): what is
    /// causally stable among them.
    fn stable_of(versions: &[&Self::Version]) -> Self::Version;

    /// Compacts metadata that every replica has seen (`stable` from
    /// [`Replicated::stable_of`]).
    fn gc(&mut self, stable: &Self::Version);
}

/// Uses `chrysalis-crdt`'s version-vector anti-entropy
/// ([`AgentState::version`], [`AgentState::delta_since`]): a peer gets
/// exactly the skill values and episodes its version does not cover.
impl Replicated for AgentState {
    type Version = AgentVersion;

    fn version(&self) -> AgentVersion {
        AgentState::version(self)
    }

    fn covers(have: &AgentVersion, want: &AgentVersion) -> bool {
        have.covers(want)
    }

    fn delta_since(&self, seen: &AgentVersion) -> AgentState {
        AgentState::delta_since(self, seen)
    }

    fn stable_of(versions: &[&AgentVersion]) -> AgentVersion {
        AgentVersion::stable_of(versions.iter().copied())
    }

    fn gc(&mut self, stable: &AgentVersion) {
        AgentState::gc(self, stable.skills(), stable.episodes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrysalis_crdt::{Crdt, Episode};
    use chrysalis_types::{EpisodeId, NodeId, Timestamp};

    fn node(i: u8) -> NodeId {
        NodeId::new([i; 32])
    }

    fn ts(ms: u64) -> Timestamp {
        Timestamp::new(ms, 0)
    }

    #[test]
    fn delta_since_brings_a_peer_up_to_date() {
        let mut a = AgentState::new();
        let mut b = AgentState::new();
        let _ = a
            .edit(node(1))
            .update_skill("rust", 0.5, ts(1))
            .commit()
            .unwrap();
        let shared = a.clone();
        b.merge(&shared);
        let _ = a
            .edit(node(1))
            .add_episode(Episode::new(EpisodeId::new([7; 16]), ts(2), "learned"))
            .commit()
            .unwrap();
        assert!(!<AgentState as Replicated>::covers(
            &b.version(),
            &a.version()
        ));
        let delta = a.delta_since(&b.version());
        assert!(
            delta.skills().is_empty(),
            "skills already seen are not resent"
        );
        b.apply_delta(&delta);
        assert!(<AgentState as Replicated>::covers(
            &b.version(),
            &a.version()
        ));
        assert_eq!(a, b);
    }

    #[test]
    fn stable_is_the_meet() {
        let mut a = AgentState::new();
        let _ = a
            .edit(node(1))
            .update_skill("x", 0.1, ts(1))
            .commit()
            .unwrap();
        let empty = AgentState::new().version();
        let va = a.version();
        let stable = <AgentState as Replicated>::stable_of(&[&va, &empty]);
        assert_eq!(stable, empty);
        assert_eq!(<AgentState as Replicated>::stable_of(&[&va, &va]), va);
    }
}
