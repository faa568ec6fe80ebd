//! What a replica of an agent has seen, as two version vectors: the digest
//! peers exchange for anti-entropy.

use crate::{Crdt, VectorClock};

/// What a replica of an [`crate::AgentState`] has seen: per node, the
/// contiguous prefix of its skill updates and of its episodes. Small (one
/// entry per writer) and cheap to compare, so peers swap versions and ship
/// only [`crate::AgentState::delta_since`] the other's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentVersion {
    skills: VectorClock,
    episodes: VectorClock,
}

chrysalis_types::impl_codec!(AgentVersion { skills, episodes });

impl AgentVersion {
    /// The version of a replica that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// A version from its two vectors.
    pub fn from_parts(skills: VectorClock, episodes: VectorClock) -> Self {
        Self { skills, episodes }
    }

    /// The skill updates seen.
    pub fn skills(&self) -> &VectorClock {
        &self.skills
    }

    /// The episodes seen.
    pub fn episodes(&self) -> &VectorClock {
        &self.episodes
    }

    /// Whether this version has seen everything `other` has: then a replica
    /// at `other` has nothing to send one at `self` (only the reverse).
    pub fn covers(&self, other: &AgentVersion) -> bool {
        self.skills.dominates(&other.skills) && self.episodes.dominates(&other.episodes)
    }

    /// The greatest lower bound: what both have seen. The meet of every
    /// peer's acknowledged version is the causally stable version that
    /// [`crate::AgentState::gc`] may collect below.
    pub fn meet(&self, other: &AgentVersion) -> AgentVersion {
        Self {
            skills: self.skills.meet(&other.skills),
            episodes: self.episodes.meet(&other.episodes),
        }
    }

    /// The meet of many versions (the empty version when there are none).
    pub fn stable_of<'a>(versions: impl IntoIterator<Item = &'a AgentVersion>) -> Self {
        let mut versions = versions.into_iter();
        let Some(first) = versions.next() else {
            return Self::new();
        };
        versions.fold(first.clone(), |acc, v| acc.meet(v))
    }
}

impl Crdt for AgentVersion {
    /// The least upper bound: everything either has seen.
    fn merge(&mut self, other: &Self) {
        self.skills.merge(&other.skills);
        self.episodes.merge(&other.episodes);
    }
}
