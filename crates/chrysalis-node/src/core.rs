//! The node's state, without I/O: agents, their digests, the hybrid logical
//! clock and the conflict review queue. The event loop owns one
//! [`NodeCore`]; time comes in as `now_ms`.

use chrysalis_crdt::resolver::{Resolution, ReviewTicket, Strategy};
use chrysalis_crdt::{AgentError, AgentState, ConflictResolver, Crdt, DeltaCrdt, Episode};
use chrysalis_crypto::hash::sha256;
use chrysalis_types::codec::{Decode, DecodeError, Encode};
use chrysalis_types::{AgentId, EpisodeId, HybridClock, NodeId, Timestamp};
use std::collections::BTreeMap;

/// How far ahead of local time a remote timestamp may be, in milliseconds.
const MAX_CLOCK_OFFSET_MS: u64 = 60_000;

/// A SHA-256 digest of a canonical encoding.
pub type Digest = [u8; 32];

/// Why a local operation on the node's state was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// No agent has this id here.
    #[error("no agent {0}")]
    NoSuchAgent(AgentId),
    /// An agent with this id already exists.
    #[error("agent {0} already exists")]
    AgentExists(AgentId),
    /// The edit was refused by the agent's state.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// A level outside [0, 1].
    #[error("level {0} is outside [0, 1]")]
    BadLevel(f64),
    /// No pending conflict has this id.
    #[error("no pending conflict {0}")]
    NoSuchConflict(u64),
    /// A settlement picked a candidate that does not exist.
    #[error("conflict {ticket} has {count} candidates; index {index} is out of range")]
    NoSuchCandidate {
        /// The conflict.
        ticket: u64,
        /// The index given.
        index: usize,
        /// How many there are.
        count: usize,
    },
}

/// One conflict awaiting review, as shown to users.
#[derive(Debug, Clone, PartialEq)]
pub struct ConflictView {
    /// The conflict's id on this node.
    pub id: u64,
    /// The agent.
    pub agent: AgentId,
    /// The skill.
    pub skill: String,
    /// The concurrent values: (level, author, timestamp).
    pub candidates: Vec<(f64, NodeId, Timestamp)>,
}

/// How a conflict is settled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Settlement {
    /// Write this level.
    Level(f64),
    /// Keep the candidate at this index.
    Candidate(usize),
}

/// Agents and what the node knows about them.
#[derive(Debug)]
pub struct NodeCore {
    node: NodeId,
    clock: HybridClock,
    agents: BTreeMap<AgentId, AgentState>,
    digests: BTreeMap<AgentId, Digest>,
    resolver: ConflictResolver<f64>,
    queued: BTreeMap<(AgentId, String), ReviewTicket>,
    ticket_agent: BTreeMap<ReviewTicket, AgentId>,
}

impl NodeCore {
    /// An empty node whose edits are authored by `node`.
    pub fn new(node: NodeId) -> Self {
        Self {
            node,
            clock: HybridClock::new(MAX_CLOCK_OFFSET_MS),
            agents: BTreeMap::new(),
            digests: BTreeMap::new(),
            resolver: ConflictResolver::for_levels(Strategy::ManualReview, 0.0),
            queued: BTreeMap::new(),
            ticket_agent: BTreeMap::new(),
        }
    }

    /// The node's id.
    pub fn node_id(&self) -> NodeId {
        self.node
    }

    /// Restores a persisted state (at start).
    pub fn restore(&mut self, agent: AgentId, bytes: &[u8]) -> Result<(), DecodeError> {
        let state = AgentState::from_bytes(bytes)?;
        self.observe_state(&state);
        self.digests.insert(agent, digest_of(&state));
        self.agents.insert(agent, state);
        Ok(())
    }

    /// Creates an empty agent.
    pub fn create_agent(&mut self, agent: AgentId) -> Result<(), CoreError> {
        if self.agents.contains_key(&agent) {
            return Err(CoreError::AgentExists(agent));
        }
        let state = AgentState::new();
        self.digests.insert(agent, digest_of(&state));
        self.agents.insert(agent, state);
        Ok(())
    }

    /// An agent's merged state.
    pub fn agent(&self, agent: AgentId) -> Option<&AgentState> {
        self.agents.get(&agent)
    }

    /// Every agent id, sorted.
    pub fn agent_ids(&self) -> impl Iterator<Item = AgentId> + '_ {
        self.agents.keys().copied()
    }

    /// Sets a skill level as this node at `now_ms`.
    pub fn update_skill(
        &mut self,
        agent: AgentId,
        name: &str,
        level: f64,
        now_ms: u64,
    ) -> Result<(), CoreError> {
        let at = self.clock.now(now_ms);
        let node = self.node;
        let state = self
            .agents
            .get_mut(&agent)
            .ok_or(CoreError::NoSuchAgent(agent))?;
        state.edit(node).update_skill(name, level, at).commit()?;
        self.refresh(agent);
        Ok(())
    }

    /// Records an episode as this node at `now_ms`; returns its timestamp.
    pub fn add_episode(
        &mut self,
        agent: AgentId,
        id: EpisodeId,
        summary: &str,
        causes: &[EpisodeId],
        now_ms: u64,
    ) -> Result<Timestamp, CoreError> {
        let at = self.clock.now(now_ms);
        let node = self.node;
        let state = self
            .agents
            .get_mut(&agent)
            .ok_or(CoreError::NoSuchAgent(agent))?;
        let episode = causes
            .iter()
            .fold(Episode::new(id, at, summary), |e, c| e.caused_by(*c));
        state.edit(node).add_episode(episode).commit()?;
        self.refresh(agent);
        Ok(at)
    }

    /// Joins a full state received from a peer; returns whether anything
    /// changed here.
    pub fn merge_remote(&mut self, agent: AgentId, remote: &AgentState) -> bool {
        self.observe_state(remote);
        let digest = digest_of(remote);
        if self.digests.get(&agent) == Some(&digest) {
            return false;
        }
        let state = self.agents.entry(agent).or_default();
        state.merge(remote);
        let before = self.digests.get(&agent).copied();
        self.refresh(agent);
        before != self.digests.get(&agent).copied()
    }

    /// Joins a delta; returns whether anything changed here.
    pub fn apply_delta(&mut self, agent: AgentId, delta: &AgentState) -> bool {
        self.observe_state(delta);
        let state = self.agents.entry(agent).or_default();
        state.apply_delta(delta);
        let before = self.digests.get(&agent).copied();
        self.refresh(agent);
        before != self.digests.get(&agent).copied()
    }

    /// Each agent's digest.
    pub fn digests(&self) -> &BTreeMap<AgentId, Digest> {
        &self.digests
    }

    /// One digest of every agent's state: equal on two nodes exactly when
    /// they hold the same agents in the same states.
    pub fn cluster_digest(&self) -> Digest {
        let mut all = Vec::with_capacity(self.digests.len() * 48);
        for (agent, digest) in &self.digests {
            all.extend_from_slice(agent.as_bytes());
            all.extend_from_slice(digest);
        }
        sha256(&all)
    }

    /// Queues every conflicted skill not queued yet, forgets conflicts that
    /// merged away, and lists what awaits review.
    pub fn conflicts(&mut self) -> Result<Vec<ConflictView>, CoreError> {
        let stale: Vec<(AgentId, String)> = self
            .queued
            .keys()
            .filter(|(agent, skill)| {
                self.agents
                    .get(agent)
                    .is_none_or(|s| !s.skills().conflicted().any(|c| c == skill))
            })
            .cloned()
            .collect();
        for key in stale {
            if let Some(ticket) = self.queued.remove(&key) {
                self.ticket_agent.remove(&ticket);
                // The review is moot: settle it with any value to drop it.
                let _ = self.resolver.settle(ticket, 0.0);
            }
        }
        for (agent, state) in &self.agents {
            for skill in state.skills().conflicted() {
                let key = (*agent, skill.to_owned());
                if self.queued.contains_key(&key) {
                    continue;
                }
                let candidates = state.skills().candidates(skill);
                let resolution = self
                    .resolver
                    .resolve(skill, &candidates)
                    .map_err(AgentError::from)?;
                if let Resolution::Queued { ticket, .. } = resolution {
                    self.queued.insert(key, ticket);
                    self.ticket_agent.insert(ticket, *agent);
                }
            }
        }
        Ok(self.pending())
    }

    fn pending(&self) -> Vec<ConflictView> {
        self.resolver
            .pending()
            .filter_map(|review| {
                let agent = *self.ticket_agent.get(&review.ticket)?;
                Some(ConflictView {
                    id: review.ticket.0,
                    agent,
                    skill: review.subject.clone(),
                    candidates: review
                        .candidates
                        .iter()
                        .map(|c| (c.value, c.author, c.at))
                        .collect(),
                })
            })
            .collect()
    }

    /// Settles conflict `id` at `now_ms`: writes the chosen level as a new
    /// update that supersedes every concurrent value seen here. Returns the
    /// agent and skill written.
    pub fn settle(
        &mut self,
        id: u64,
        how: Settlement,
        now_ms: u64,
    ) -> Result<(AgentId, String, f64), CoreError> {
        let ticket = ReviewTicket(id);
        let agent = *self
            .ticket_agent
            .get(&ticket)
            .ok_or(CoreError::NoSuchConflict(id))?;
        let settled = match how {
            Settlement::Level(level) => {
                if !(0.0..=1.0).contains(&level) {
                    return Err(CoreError::BadLevel(level));
                }
                self.resolver.settle(ticket, level)
            }
            Settlement::Candidate(index) => self.resolver.settle_with_candidate(ticket, index),
        };
        let (skill, level) = settled.map_err(|err| match err {
            chrysalis_crdt::resolver::ResolveError::NoSuchCandidate { index, count, .. } => {
                CoreError::NoSuchCandidate {
                    ticket: id,
                    index,
                    count,
                }
            }
            _ => CoreError::NoSuchConflict(id),
        })?;
        self.ticket_agent.remove(&ticket);
        self.queued.remove(&(agent, skill.clone()));
        self.update_skill(agent, &skill, level, now_ms)?;
        Ok((agent, skill, level))
    }

    fn refresh(&mut self, agent: AgentId) {
        if let Some(state) = self.agents.get(&agent) {
            self.digests.insert(agent, digest_of(state));
        }
    }

    /// Moves the clock past every timestamp in `state`, so local writes
    /// after a merge are ordered after what was merged.
    fn observe_state(&mut self, state: &AgentState) {
        let latest = state
            .skills()
            .names()
            .flat_map(|n| state.skills().candidates(n))
            .map(|c| c.at)
            .max();
        if let Some(at) = latest {
            if at > self.clock.last() {
                self.clock = HybridClock::resume(at, MAX_CLOCK_OFFSET_MS);
            }
        }
    }
}

/// The digest of an agent's canonical encoding.
pub fn digest_of(state: &AgentState) -> Digest {
    sha256(&state.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent() -> AgentId {
        AgentId::new([5; 16])
    }

    #[test]
    fn concurrent_levels_queue_a_conflict_that_settles_everywhere() {
        let (a, b) = (NodeId::new([1; 32]), NodeId::new([2; 32]));
        let mut na = NodeCore::new(a);
        let mut nb = NodeCore::new(b);
        na.create_agent(agent()).unwrap();
        nb.create_agent(agent()).unwrap();
        na.update_skill(agent(), "rust", 0.2, 10).unwrap();
        nb.update_skill(agent(), "rust", 0.9, 10).unwrap();
        let sb = nb.agent(agent()).unwrap().clone();
        assert!(na.merge_remote(agent(), &sb));
        let pending = na.conflicts().unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].candidates.len(), 2);
        let err = na.settle(pending[0].id, Settlement::Candidate(7), 20);
        assert!(matches!(
            err,
            Err(CoreError::NoSuchCandidate { count: 2, .. })
        ));
        let (_, skill, level) = na
            .settle(pending[0].id, Settlement::Candidate(1), 20)
            .unwrap();
        assert_eq!((skill.as_str(), level), ("rust", 0.9));
        assert!(na.conflicts().unwrap().is_empty());
        let sa = na.agent(agent()).unwrap().clone();
        nb.merge_remote(agent(), &sa);
        assert_eq!(na.cluster_digest(), nb.cluster_digest());
        assert!(nb.conflicts().unwrap().is_empty());
    }

    #[test]
    fn settling_with_a_bad_level_is_refused() {
        let mut n = NodeCore::new(NodeId::new([1; 32]));
        n.create_agent(agent()).unwrap();
        let mut other = NodeCore::new(NodeId::new([2; 32]));
        other.create_agent(agent()).unwrap();
        n.update_skill(agent(), "go", 0.1, 1).unwrap();
        other.update_skill(agent(), "go", 0.5, 1).unwrap();
        let s = other.agent(agent()).unwrap().clone();
        n.merge_remote(agent(), &s);
        let id = n.conflicts().unwrap()[0].id;
        assert!(matches!(
            n.settle(id, Settlement::Level(7.0), 2),
            Err(CoreError::BadLevel(_))
        ));
        assert_eq!(n.conflicts().unwrap().len(), 1);
    }

    #[test]
    fn unknown_agents_and_duplicates_are_refused() {
        let mut n = NodeCore::new(NodeId::new([1; 32]));
        assert!(matches!(
            n.update_skill(agent(), "x", 0.5, 1),
            Err(CoreError::NoSuchAgent(_))
        ));
        n.create_agent(agent()).unwrap();
        assert!(matches!(
            n.create_agent(agent()),
            Err(CoreError::AgentExists(_))
        ));
        assert!(matches!(
            n.update_skill(agent(), "x", 2.0, 1),
            Err(CoreError::Agent(_))
        ));
    }

    #[test]
    fn restore_round_trips_the_digest() {
        let mut n = NodeCore::new(NodeId::new([1; 32]));
        n.create_agent(agent()).unwrap();
        n.update_skill(agent(), "x", 0.5, 1).unwrap();
        n.add_episode(agent(), EpisodeId::new([9; 16]), "met", &[], 2)
            .unwrap();
        let bytes = n.agent(agent()).unwrap().to_bytes();
        let mut m = NodeCore::new(NodeId::new([1; 32]));
        m.restore(agent(), &bytes).unwrap();
        assert_eq!(m.cluster_digest(), n.cluster_digest());
        assert!(m.restore(agent(), b"\x01\xff").is_err());
    }
}
