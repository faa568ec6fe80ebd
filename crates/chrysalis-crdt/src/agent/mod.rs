//! An agent's replicated state: its skills and its episodes.
//!
//! ```
//! use chrysalis_crdt::{AgentState, DeltaCrdt, Episode};
//! use chrysalis_types::{EpisodeId, NodeId, Timestamp};
//!
//! let node = NodeId::new([1; 32]);
//! let now = Timestamp::new(1_700_000_000_000, 0);
//! let mut state = AgentState::new();
//! let delta = state
//!     .edit(node)
//!     .update_skill("rust", 0.9, now)
//!     .add_episode(Episode::new(EpisodeId::new([7; 16]), now, "shipped the CRDT crate"))
//!     .commit()?;
//! assert_eq!(state.skills().level("rust"), Some(0.9));
//!
//! let mut replica = AgentState::new();
//! replica.apply_delta(&delta);
//! assert_eq!(replica, state);
//! # Ok::<(), chrysalis_crdt::AgentError>(())
//! ```

mod episodes;
mod skills;
mod version;

pub use episodes::{Episode, EpisodeMemory, MAX_SUMMARY_BYTES};
pub use skills::{MAX_SKILL_NAME_BYTES, SkillAccumulator, SkillError};
pub use version::AgentVersion;

use crate::resolver::{ConflictResolver, Resolution, ResolveError};
use crate::{Crdt, DeltaCrdt, VectorClock};
use chrysalis_types::codec::{Decode, DecodeError, Encode, Reader, Writer};
use chrysalis_types::{EpisodeId, NodeId, Timestamp};

/// Why an edit of an agent's state was refused. Nothing of a refused edit
/// is applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// A skill update was invalid.
    #[error("skill {name:?}: {source}")]
    Skill {
        /// The skill.
        name: String,
        /// What was wrong.
        source: SkillError,
    },
    /// An episode cites an episode that is not known here.
    #[error("episode {episode} cites unknown episode {cause}")]
    UnknownCause {
        /// The episode refused.
        episode: EpisodeId,
        /// The cause that is not known.
        cause: EpisodeId,
    },
    /// An episode is invalid (it cites itself, or its summary is too long).
    #[error("episode {episode} is invalid")]
    InvalidEpisode {
        /// The episode refused.
        episode: EpisodeId,
    },
    /// Conflict resolution failed.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
}

/// An agent's skills and episodes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentState {
    skills: SkillAccumulator,
    episodes: EpisodeMemory,
}

/// What [`AgentState::resolve_skills`] decided, per conflicted skill.
pub type SkillResolutions = Vec<(String, Resolution<f64>)>;

/// A change to an [`AgentState`].
pub type AgentDelta = AgentState;

impl AgentState {
    /// An agent that knows nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The skills.
    pub fn skills(&self) -> &SkillAccumulator {
        &self.skills
    }

    /// The episodes.
    pub fn episodes(&self) -> &EpisodeMemory {
        &self.episodes
    }

    /// Starts an edit made by `actor`: chain updates, then
    /// [`AgentEdit::commit`] them all or none.
    pub fn edit(&mut self, actor: NodeId) -> AgentEdit<'_> {
        AgentEdit {
            state: self,
            actor,
            skills: Vec::new(),
            episodes: Vec::new(),
        }
    }

    /// The episodes a peer that acknowledged `seen` (its
    /// [`EpisodeMemory::vector`]) lacks. Skills ship as the deltas their
    /// updates return, or by full merge.
    pub fn episodes_since(&self, seen: &VectorClock) -> AgentDelta {
        Self {
            skills: SkillAccumulator::new(),
            episodes: self.episodes.delta_since(seen),
        }
    }

    /// What this replica has seen: the digest to send peers for
    /// anti-entropy.
    pub fn version(&self) -> AgentVersion {
        AgentVersion::from_parts(self.skills.vector(), self.episodes.vector())
    }

    /// What a replica at version `seen` lacks of this state: applying it
    /// there (with [`DeltaCrdt::apply_delta`]) gives exactly the join with
    /// this state, and it is small when the peer is nearly up to date.
    ///
    /// - Episodes: those whose dot `seen` does not cover, with their dots as
    ///   the context (episodes are grow-only).
    /// - Skills: every skill with a value `seen` does not cover, with all
    ///   its values. The context is every dot seen here **except the values
    ///   of the skills left out**: it holds the dots dead here (superseded)
    ///   and the dots of the values it carries, never a live value it omits.
    ///   A dead dot tells the peer to drop that value if it still holds it
    ///   (the peer may have seen the write that superseded it without the
    ///   write's own context, so a version vector alone cannot tell which
    ///   dead dots it still holds); a live value omitted from both the
    ///   entries and the context stays as the peer has it, which is what
    ///   the join keeps too. As intervals, per writer, that is the dots
    ///   above `seen` plus the runs of dead dots below it: one entry per
    ///   writer while few values were superseded, and at most one interval
    ///   per live value the peer already holds however long the history
    ///   (the price of not assuming causal delivery of deltas; each
    ///   interval is 16 bytes).
    ///
    /// The delta is also a valid state: merging it instead of applying it
    /// gives the same result.
    pub fn delta_since(&self, seen: &AgentVersion) -> AgentDelta {
        Self {
            skills: self.skills.delta_since(seen.skills()),
            episodes: self.episodes.delta_since(seen.episodes()),
        }
    }

    /// Causal-stability compaction (see [`crate::CausalContext::gc`]).
    pub fn gc(&mut self, stable_skills: &VectorClock, stable_episodes: &VectorClock) {
        self.skills.gc(stable_skills);
        self.episodes.gc(stable_episodes);
    }

    /// Settles every skill with concurrent values through `resolver`, as
    /// `actor` at `now`. A resolved value is written as a new update that has
    /// seen every sibling, so it collapses them on every replica; skills the
    /// resolver queued for manual review stay as they are. Returns the delta
    /// and each skill's resolution.
    pub fn resolve_skills(
        &mut self,
        resolver: &mut ConflictResolver<f64>,
        actor: NodeId,
        now: Timestamp,
    ) -> Result<(AgentDelta, SkillResolutions), AgentError> {
        let names: Vec<String> = self.skills.conflicted().map(str::to_owned).collect();
        let mut outcomes = Vec::new();
        let mut edit = self.edit(actor);
        for name in names {
            let candidates = edit.state.skills.candidates(&name);
            let resolution = resolver.resolve(&name, &candidates)?;
            if let Some(level) = resolution.value() {
                edit = edit.update_skill(&name, *level, now);
            }
            outcomes.push((name, resolution));
        }
        Ok((edit.commit()?, outcomes))
    }
}

impl Crdt for AgentState {
    fn merge(&mut self, other: &Self) {
        self.skills.join(&other.skills, false);
        self.episodes.join(&other.episodes);
    }
}

impl DeltaCrdt for AgentState {
    type Delta = AgentDelta;
    const KIND: &'static str = "agent-state";

    /// Visits the episodes the delta names and every skill held here: a
    /// delta's context may name dead values of any skill (see
    /// [`AgentState::delta_since`]), and skill maps are small.
    fn apply_delta(&mut self, delta: &AgentDelta) {
        self.skills.join(&delta.skills, false);
        self.episodes.join(&delta.episodes);
    }
}

impl Encode for AgentState {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.skills);
        w.put(&self.episodes);
    }
}

impl Decode for AgentState {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            skills: r.get()?,
            episodes: r.get()?,
        })
    }
}

/// A chain of updates to an [`AgentState`], applied atomically by
/// [`AgentEdit::commit`].
#[derive(Debug)]
#[must_use = "an edit does nothing until committed"]
pub struct AgentEdit<'a> {
    state: &'a mut AgentState,
    actor: NodeId,
    skills: Vec<(String, f64, Timestamp)>,
    episodes: Vec<Episode>,
}

impl AgentEdit<'_> {
    /// Sets skill `name` to `level` (a proficiency in [0, 1]) at `at`.
    pub fn update_skill(mut self, name: &str, level: f64, at: Timestamp) -> Self {
        self.skills.push((name.to_owned(), level, at));
        self
    }

    /// Remembers `episode`. Its causes must be known, or added earlier in
    /// this edit. An id already known is ignored.
    pub fn add_episode(mut self, episode: Episode) -> Self {
        self.episodes.push(episode);
        self
    }

    /// Checks every update, then applies them all and returns the delta; on
    /// any error, applies none.
    pub fn commit(self) -> Result<AgentDelta, AgentError> {
        self.check()?;
        let mut delta = AgentDelta::new();
        for (name, level, at) in &self.skills {
            let d = self
                .state
                .skills
                .update(self.actor, name, *level, *at)
                .map_err(|source| AgentError::Skill {
                    name: name.clone(),
                    source,
                })?;
            delta.skills.join(&d, true);
        }
        for episode in self.episodes {
            let d = self.state.episodes.record(self.actor, episode);
            delta.episodes.join(&d);
        }
        Ok(delta)
    }

    fn check(&self) -> Result<(), AgentError> {
        for (name, level, _) in &self.skills {
            skills::check_skill(name, *level).map_err(|source| AgentError::Skill {
                name: name.clone(),
                source,
            })?;
        }
        let mut added: Vec<EpisodeId> = Vec::new();
        for e in &self.episodes {
            let bad_shape = e.causes.contains(&e.id)
                || e.summary.len() > MAX_SUMMARY_BYTES
                || e.causes.windows(2).any(|p| p[0] >= p[1]);
            if bad_shape {
                return Err(AgentError::InvalidEpisode { episode: e.id });
            }
            if let Some(cause) = e
                .causes
                .iter()
                .find(|c| !self.state.episodes.contains(c) && !added.contains(c))
            {
                return Err(AgentError::UnknownCause {
                    episode: e.id,
                    cause: *cause,
                });
            }
            added.push(e.id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(b: u8) -> NodeId {
        NodeId::new([b; 32])
    }

    fn ep(b: u8) -> EpisodeId {
        EpisodeId::new([b; 16])
    }

    #[test]
    fn refused_edits_apply_nothing() {
        let mut state = AgentState::new();
        let t = Timestamp::new(5, 0);
        let err = state
            .edit(node(1))
            .update_skill("rust", 0.5, t)
            .update_skill("go", f64::NAN, t)
            .commit()
            .unwrap_err();
        assert!(matches!(
            err,
            AgentError::Skill {
                source: SkillError::LevelOutOfRange { .. },
                ..
            }
        ));
        assert!(state.skills().is_empty());
        let err = state
            .edit(node(1))
            .add_episode(Episode::new(ep(2), t, "b").caused_by(ep(1)))
            .commit()
            .unwrap_err();
        assert_eq!(
            err,
            AgentError::UnknownCause {
                episode: ep(2),
                cause: ep(1)
            }
        );
        assert!(matches!(
            state.edit(node(1)).update_skill("", 0.1, t).commit(),
            Err(AgentError::Skill {
                source: SkillError::BadName { len: 0 },
                ..
            })
        ));
    }

    #[test]
    fn concurrent_levels_stay_visible_and_read_deterministically() {
        let mut a = AgentState::new();
        let mut b = AgentState::new();
        let da = a
            .edit(node(1))
            .update_skill("rust", 0.9, Timestamp::new(10, 0))
            .commit()
            .unwrap();
        let db = b
            .edit(node(2))
            .update_skill("rust", 0.2, Timestamp::new(11, 0))
            .commit()
            .unwrap();
        a.apply_delta(&db);
        b.apply_delta(&da);
        assert_eq!(a, b);
        assert_eq!(a.skills().level("rust"), Some(0.2));
        assert_eq!(a.skills().candidates("rust").len(), 2);
        let d = a
            .edit(node(1))
            .update_skill("rust", 0.6, Timestamp::new(12, 0))
            .commit()
            .unwrap();
        b.apply_delta(&d);
        assert_eq!(b.skills().candidates("rust").len(), 1);
        assert_eq!(b.skills().level("rust"), Some(0.6));
    }

    #[test]
    fn episodes_iterate_in_causal_order_and_dedupe() {
        let mut a = AgentState::new();
        // The effect has the earlier timestamp, yet comes after its cause.
        a.edit(node(1))
            .add_episode(Episode::new(ep(9), Timestamp::new(50, 0), "cause"))
            .add_episode(Episode::new(ep(1), Timestamp::new(10, 0), "effect").caused_by(ep(9)))
            .add_episode(Episode::new(ep(9), Timestamp::new(60, 0), "duplicate"))
            .commit()
            .unwrap();
        let order: Vec<_> = a.episodes().causal_order().iter().map(|e| e.id).collect();
        assert_eq!(order, vec![ep(9), ep(1)]);
        assert_eq!(a.episodes().get(&ep(9)).unwrap().summary, "cause");
        let b = AgentState::from_bytes(&a.to_bytes()).unwrap();
        assert_eq!(a, b);
        let none = a.episodes_since(&a.episodes().vector());
        assert!(none.episodes().is_empty());
    }
}
