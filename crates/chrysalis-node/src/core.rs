//! The node's state, without I/O: the gossip core (which owns every agent's
//! state and replicates it), the hybrid logical clock and the conflict
//! review queue. The event loop owns one [`NodeCore`]; time comes in as
//! `now_ms`.

use chrysalis_crdt::resolver::{Resolution, ReviewTicket, Strategy};
use chrysalis_crdt::{AgentError, AgentState, ConflictResolver, Episode};
use chrysalis_crypto::hash::sha256;
use chrysalis_gossip::GossipNode;
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
///
/// The agent states have one owner: the [`GossipNode`] inside, which merges
/// what peers send and ships local edits. `NodeCore` adds what the gossip
/// core does not know about: the clock that stamps local edits and the
/// conflict review queue.
pub struct NodeCore {
    node: NodeId,
    clock: HybridClock,
    gossip: GossipNode,
    resolver: ConflictResolver<f64>,
    queued: BTreeMap<(AgentId, String), ReviewTicket>,
    ticket_agent: BTreeMap<ReviewTicket, AgentId>,
}

impl std::fmt::Debug for NodeCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCore")
            .field("node", &self.node)
            .field("gossip", &self.gossip.id())
            .finish_non_exhaustive()
    }
}

impl NodeCore {
    /// A node over `gossip`, whose edits are authored by its node id.
    pub fn new(gossip: GossipNode) -> Self {
        Self {
            node: gossip.id().node,
            clock: HybridClock::new(MAX_CLOCK_OFFSET_MS),
            gossip,
            resolver: ConflictResolver::for_levels(Strategy::ManualReview, 0.0),
            queued: BTreeMap::new(),
            ticket_agent: BTreeMap::new(),
        }
    }

    /// The node's id.
    pub fn node_id(&self) -> NodeId {
        self.node
    }

    /// The gossip core, to feed it frames and timers and drain its output.
    pub fn gossip(&mut self) -> &mut GossipNode {
        &mut self.gossip
    }

    /// The gossip core, read-only.
    pub fn gossip_ref(&self) -> &GossipNode {
        &self.gossip
    }

    /// Merges a persisted (or otherwise received) encoded state into the
    /// agent's state.
    pub fn restore(&mut self, agent: AgentId, bytes: &[u8]) -> Result<(), DecodeError> {
        let state = AgentState::from_bytes(bytes)?;
        self.observe_state(&state);
        self.gossip.restore(agent, &state);
        Ok(())
    }

    /// Moves the clock past what a peer's delta brought into `agent`, so
    /// later local edits are ordered after it. Call on
    /// [`chrysalis_gossip::GossipEvent::AgentChanged`].
    pub fn observe_agent(&mut self, agent: AgentId) {
        if let Some(state) = self.gossip.state(&agent).cloned() {
            self.observe_state(&state);
        }
    }

    /// Creates an empty agent.
    pub fn create_agent(&mut self, agent: AgentId) -> Result<(), CoreError> {
        if self.gossip.state(&agent).is_some() {
            return Err(CoreError::AgentExists(agent));
        }
        self.gossip.restore(agent, &AgentState::new());
        Ok(())
    }

    /// An agent's merged state.
    pub fn agent(&self, agent: AgentId) -> Option<&AgentState> {
        self.gossip.state(&agent)
    }

    /// Every agent id, sorted.
    pub fn agent_ids(&self) -> impl Iterator<Item = AgentId> + '_ {
        self.gossip.agents().map(|(id, _)| *id)
    }

    /// Sets a skill level as this node at `now_ms`.
    pub fn update_skill(
        &mut self,
        agent: AgentId,
        name: &str,
        level: f64,
        now_ms: u64,
    ) -> Result<(), CoreError> {
        if self.gossip.state(&agent).is_none() {
            return Err(CoreError::NoSuchAgent(agent));
        }
        let at = self.clock.now(now_ms);
        self.gossip
            .update(agent, |e| e.update_skill(name, level, at))?;
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
        if self.gossip.state(&agent).is_none() {
            return Err(CoreError::NoSuchAgent(agent));
        }
        let at = self.clock.now(now_ms);
        let episode = causes
            .iter()
            .fold(Episode::new(id, at, summary), |e, c| e.caused_by(*c));
        self.gossip.update(agent, |e| e.add_episode(episode))?;
        Ok(at)
    }

    /// One digest of every agent's state: equal on two nodes exactly when
    /// they hold the same agents in the same states.
    pub fn cluster_digest(&self) -> Digest {
        let mut all = Vec::new();
        for (agent, state) in self.gossip.agents() {
            all.extend_from_slice(agent.as_bytes());
            all.extend_from_slice(&digest_of(state));
        }
        sha256(&all)
    }

    /// How many agents this node holds.
    pub fn agent_count(&self) -> usize {
        self.gossip.agents().count()
    }

    /// Queues every conflicted skill not queued yet, forgets conflicts that
    /// merged away, and lists what awaits review.
    pub fn conflicts(&mut self) -> Result<Vec<ConflictView>, CoreError> {
        let stale: Vec<(AgentId, String)> = self
            .queued
            .keys()
            .filter(|(agent, skill)| {
                self.gossip
                    .state(agent)
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
        for (agent, state) in self.gossip.agents() {
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

    /// Moves the clock past every timestamp in `state`, so local writes
    /// after a merge are ordered after what was merged.
    fn observe_state(&mut self, state: &AgentState) {
        let latest = state
            .skills()
            .names()
            .flat_map(|n| state.skills().candidates(n))
            .map(|c| c.at)
            .max();
        if let Some(at) = latest
            && at > self.clock.last()
        {
            self.clock = HybridClock::resume(at, MAX_CLOCK_OFFSET_MS);
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

    /// A core whose node key comes from `seed`.
    fn core(seed: u8) -> NodeCore {
        let key = chrysalis_crypto::ed25519::SigningKey::from_seed(&[seed; 32]);
        let addr = chrysalis_gossip::PeerAddr::new(format!("127.0.0.1:{seed}")).unwrap();
        let config = chrysalis_gossip::GossipConfig::default();
        NodeCore::new(GossipNode::new(key, addr, config, u64::from(seed)).unwrap())
    }

    /// Merges `from`'s state of the test agent into `into`.
    fn merge(into: &mut NodeCore, from: &NodeCore) {
        let bytes = from.agent(agent()).unwrap().to_bytes();
        into.restore(agent(), &bytes).unwrap();
    }

    #[test]
    fn concurrent_levels_queue_a_conflict_that_settles_everywhere() {
        let mut na = core(1);
        let mut nb = core(2);
        na.create_agent(agent()).unwrap();
        nb.create_agent(agent()).unwrap();
        na.update_skill(agent(), "rust", 0.2, 10).unwrap();
        nb.update_skill(agent(), "rust", 0.9, 10).unwrap();
        merge(&mut na, &nb);
        let pending = na.conflicts().unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].candidates.len(), 2);
        let err = na.settle(pending[0].id, Settlement::Candidate(7), 20);
        assert!(matches!(
            err,
            Err(CoreError::NoSuchCandidate { count: 2, .. })
        ));
        let high = pending[0]
            .candidates
            .iter()
            .position(|c| c.0 == 0.9)
            .unwrap();
        let (_, skill, level) = na
            .settle(pending[0].id, Settlement::Candidate(high), 20)
            .unwrap();
        assert_eq!((skill.as_str(), level), ("rust", 0.9));
        assert!(na.conflicts().unwrap().is_empty());
        merge(&mut nb, &na);
        assert_eq!(na.cluster_digest(), nb.cluster_digest());
        assert!(nb.conflicts().unwrap().is_empty());
    }

    #[test]
    fn settling_with_a_bad_level_is_refused() {
        let mut n = core(1);
        n.create_agent(agent()).unwrap();
        let mut other = core(2);
        other.create_agent(agent()).unwrap();
        n.update_skill(agent(), "go", 0.1, 1).unwrap();
        other.update_skill(agent(), "go", 0.5, 1).unwrap();
        merge(&mut n, &other);
        let id = n.conflicts().unwrap()[0].id;
        assert!(matches!(
            n.settle(id, Settlement::Level(7.0), 2),
            Err(CoreError::BadLevel(_))
        ));
        assert_eq!(n.conflicts().unwrap().len(), 1);
    }

    #[test]
    fn unknown_agents_and_duplicates_are_refused() {
        let mut n = core(1);
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
        let mut n = core(1);
        n.create_agent(agent()).unwrap();
        n.update_skill(agent(), "x", 0.5, 1).unwrap();
        n.add_episode(agent(), EpisodeId::new([9; 16]), "met", &[], 2)
            .unwrap();
        let bytes = n.agent(agent()).unwrap().to_bytes();
        let mut m = core(1);
        m.restore(agent(), &bytes).unwrap();
        assert_eq!(m.cluster_digest(), n.cluster_digest());
        assert!(m.restore(agent(), b"\x01\xff").is_err());
    }
}
