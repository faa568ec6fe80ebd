//! The skill accumulator: skill name → proficiency in [0, 1].
//!
//! Each skill is a multi-value register, all sharing one causal context.
//! An update supersedes every value of that skill its writer had seen.
//! **Concurrent updates** (neither writer saw the other's) are both kept as
//! siblings, and:
//!
//! - [`SkillAccumulator::level`] reads the sibling with the greatest
//!   (HLC timestamp, node id): every replica reads the same number, at once,
//!   with no coordination, and it is the most recent knowledge available;
//! - [`SkillAccumulator::candidates`] shows all siblings, so the
//!   disagreement stays visible (0.9 on one node and 0.2 on another is a
//!   fact worth knowing, not noise to hide) and a
//!   [`crate::ConflictResolver`] can settle it by writing a value that has
//!   seen them all, which collapses the siblings everywhere.
//!
//! A plain last-writer-wins register would lose the disagreement; a bare
//! multi-value register would give readers no number to act on. This gives
//! both.

use crate::CausalContext;
use crate::actor::{LocalDot, fast_hasher};
use crate::dotstore::Join;
use crate::register::{decode_tagged, encode_tagged};
use crate::resolver::Candidate;
use chrysalis_types::codec::{Decode, DecodeError, Encode, Reader, Writer};
use chrysalis_types::{NodeId, Timestamp};
use std::collections::{BTreeMap, HashSet};

/// The longest skill name accepted, in bytes.
pub const MAX_SKILL_NAME_BYTES: usize = 128;

/// Why a skill update was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SkillError {
    /// The level is NaN, infinite, or outside [0, 1].
    #[error("skill level {level} is not a proficiency in [0, 1]")]
    LevelOutOfRange {
        /// The level given.
        level: f64,
    },
    /// The name is empty or longer than [`MAX_SKILL_NAME_BYTES`].
    #[error("skill name must be 1 to {MAX_SKILL_NAME_BYTES} bytes, got {len}")]
    BadName {
        /// The name's length in bytes.
        len: usize,
    },
}

/// Checks a level and a name before they enter replicated state.
pub(crate) fn check_skill(name: &str, level: f64) -> Result<(), SkillError> {
    if name.is_empty() || name.len() > MAX_SKILL_NAME_BYTES {
        return Err(SkillError::BadName { len: name.len() });
    }
    if !(0.0..=1.0).contains(&level) {
        return Err(SkillError::LevelOutOfRange { level });
    }
    Ok(())
}

/// One written level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SkillValue {
    level: f64,
    at: Timestamp,
}

impl Encode for SkillValue {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.level);
        w.put(&self.at);
    }
}

impl Decode for SkillValue {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let level: f64 = r.get()?;
        if !(0.0..=1.0).contains(&level) {
            return Err(DecodeError::Invalid {
                what: "skill level",
                reason: "not a proficiency in [0, 1]",
            });
        }
        Ok(Self {
            level,
            at: r.get()?,
        })
    }
}

/// Skills and their proficiencies, replicated.
#[derive(Debug, Clone, Default)]
pub struct SkillAccumulator {
    ctx: CausalContext,
    skills: BTreeMap<String, Vec<(LocalDot, SkillValue)>>,
}

impl SkillAccumulator {
    /// No skills.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `level` at `at` as `actor`, superseding every value of
    /// it seen here; returns the delta.
    pub fn update(
        &mut self,
        actor: NodeId,
        name: &str,
        level: f64,
        at: Timestamp,
    ) -> Result<SkillAccumulator, SkillError> {
        check_skill(name, level)?;
        let dot = self.ctx.next_local(actor);
        let mut delta = Self::new();
        let entry = self.skills.entry(name.to_owned()).or_default();
        for (old, _) in entry.iter() {
            let i = delta.ctx.intern(self.ctx.actor_id(old.actor()));
            delta.ctx.insert_local(LocalDot::new(i, old.counter()));
        }
        let value = SkillValue { level, at };
        entry.clear();
        entry.push((dot, value));
        let new = LocalDot::new(delta.ctx.intern(actor), dot.counter());
        delta.ctx.insert_local(new);
        delta.skills.insert(name.to_owned(), vec![(new, value)]);
        Ok(delta)
    }

    /// The level of `name`: among concurrent values, the one with the
    /// greatest (timestamp, node id).
    pub fn level(&self, name: &str) -> Option<f64> {
        self.candidates(name)
            .into_iter()
            .max_by(|a, b| (a.at, a.author).cmp(&(b.at, b.author)))
            .map(|c| c.value)
    }

    /// Every concurrent value of `name`, ordered by (timestamp, node id).
    pub fn candidates(&self, name: &str) -> Vec<Candidate<f64>> {
        let mut out: Vec<Candidate<f64>> = self
            .skills
            .get(name)
            .map(|values| {
                values
                    .iter()
                    .map(|(d, v)| Candidate::new(v.level, self.ctx.actor_id(d.actor()), v.at))
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by_key(|c| (c.at, c.author));
        out
    }

    /// Skill names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.skills.keys().map(String::as_str)
    }

    /// Skills with more than one concurrent value.
    pub fn conflicted(&self) -> impl Iterator<Item = &str> + '_ {
        self.skills
            .iter()
            .filter(|(_, v)| v.len() > 1)
            .map(|(k, _)| k.as_str())
    }

    /// How many skills.
    pub fn len(&self) -> usize {
        self.skills.len()
    }

    /// Whether there are no skills.
    pub fn is_empty(&self) -> bool {
        self.skills.is_empty()
    }

    /// The dots seen.
    pub fn context(&self) -> &CausalContext {
        &self.ctx
    }

    /// The version vector to acknowledge to peers: the contiguous prefix of
    /// dots seen, per node.
    pub fn vector(&self) -> crate::VectorClock {
        self.ctx.vector()
    }

    /// What a peer that acknowledged `seen` needs to reach the join with
    /// this state (see [`crate::AgentState::delta_since`] for why it is
    /// sound): every skill with a value the peer has not seen, with all its
    /// values, and a context of every dot seen here except the values of
    /// the skills left out.
    pub fn delta_since(&self, seen: &crate::VectorClock) -> SkillAccumulator {
        let bound = self.ctx.bounds_in(seen);
        let acknowledged = |d: &LocalDot| d.counter() <= bound[d.actor() as usize];
        let mut skills = BTreeMap::new();
        let mut holes = Vec::new();
        for (name, values) in &self.skills {
            if values.iter().all(|(d, _)| acknowledged(d)) {
                holes.extend(values.iter().map(|(d, _)| *d));
            } else {
                skills.insert(name.clone(), values.clone());
            }
        }
        Self {
            ctx: self.ctx.without_local(&holes),
            skills,
        }
    }

    /// Causal-stability compaction of the context (see [`CausalContext::gc`]).
    pub fn gc(&mut self, stable: &crate::VectorClock) {
        self.ctx.gc(stable);
    }

    /// Joins `other`, visiting only its skills when `only_theirs` (a delta
    /// names every skill it can change: skills are never removed, and a dot
    /// is only ever seen together with the skill it tags).
    pub(crate) fn join(&mut self, other: &Self, only_theirs: bool) {
        let to_mine = self.ctx.import_actors(&other.ctx);
        let join = Join::new(&self.ctx, &other.ctx, &to_mine, None);
        let empty = Vec::new();
        if !only_theirs {
            for (name, values) in self.skills.iter_mut() {
                join.join_values(values, other.skills.get(name).unwrap_or(&empty));
            }
        }
        for (name, theirs) in &other.skills {
            let values = self.skills.entry(name.clone()).or_default();
            if only_theirs || values.is_empty() {
                join.join_values(values, theirs);
            }
        }
        self.skills.retain(|_, v| !v.is_empty());
        self.ctx.merge_mapped(&other.ctx, &to_mine);
    }
}

impl Encode for SkillAccumulator {
    fn encode(&self, w: &mut Writer) {
        let position = self.ctx.encode_canonical(w);
        w.put_len(self.skills.len());
        for (name, values) in &self.skills {
            w.put(name);
            encode_tagged(w, &position, values);
        }
    }
}

impl Decode for SkillAccumulator {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let ctx: CausalContext = r.get()?;
        let count = r.len("skills")?;
        let mut skills = BTreeMap::new();
        let mut seen = HashSet::with_hasher(fast_hasher());
        for _ in 0..count {
            let offset = r.offset();
            let name: String = r.get()?;
            if skills
                .last_key_value()
                .is_some_and(|(last, _)| *last >= name)
            {
                return Err(DecodeError::NonCanonical {
                    offset,
                    reason: "skill names must be strictly increasing",
                });
            }
            let values: Vec<(LocalDot, SkillValue)> = decode_tagged(r, &ctx, &mut seen)?;
            if values.is_empty() || check_skill(&name, 0.0).is_err() {
                return Err(DecodeError::Invalid {
                    what: "skill",
                    reason: "a skill needs a valid name and at least one value",
                });
            }
            skills.insert(name, values);
        }
        Ok(Self { ctx, skills })
    }
}

impl PartialEq for SkillAccumulator {
    fn eq(&self, other: &Self) -> bool {
        self.encode_body() == other.encode_body()
    }
}
