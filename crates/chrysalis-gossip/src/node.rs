//! The sans-IO gossip node: inputs in (`handle_message`, `handle_timer`,
//! local updates), outputs drained (`poll_transmit`, `poll_timer`,
//! `poll_event`).

use std::collections::{BTreeMap, VecDeque};

use chrysalis_crdt::{AgentDelta, AgentEdit, AgentError, AgentState};
use chrysalis_crypto::ed25519::SigningKey;
use chrysalis_types::codec::{DecodeError, Encode};
use chrysalis_types::{AgentId, NodeId};
use foca::{AccumulatingRuntime, Foca, NoCustomBroadcast, OwnedNotification, State};

use crate::config::{ConfigError, GossipConfig, SeededRng};
use crate::frame::Frame;
use crate::identity::{MemberId, PeerAddr, SwimCodec};
use crate::replica::Replicated;
use crate::sync::{InTransfer, OutTransfer, SignedCache};

/// A timer the shell must fire with [`GossipNode::handle_timer`] after the
/// delay [`GossipNode::poll_timer`] gave with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GossipTimer {
    /// Start the next anti-entropy round.
    Round,
    /// A SWIM (foca) timer: probes, suspicion timeouts, periodic gossip.
    Swim(foca::Timer<MemberId>),
}

/// Bytes to send to one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send them.
    pub to: PeerAddr,
    /// One encoded frame.
    pub bytes: Vec<u8>,
}

/// A member's liveness as this node sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MemberState {
    /// Answering probes.
    Alive,
    /// Missed a probe; will be declared down unless it refutes.
    Suspect,
    /// Declared down.
    Down,
}

/// One member as [`GossipNode::members`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    /// Its identity (node id, address, bump).
    pub id: MemberId,
    /// Its liveness.
    pub state: MemberState,
}

/// Something the shell may want to react to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GossipEvent {
    /// A member joined or came back.
    MemberUp(MemberId),
    /// A member was declared down (or left).
    MemberDown(MemberId),
    /// A remote delta changed this agent's state.
    AgentChanged(AgentId),
    /// This node was declared down by the cluster and rejoined under a new
    /// identity (a higher bump).
    Rejoined(MemberId),
}

/// Counters for the shell's metrics and the HTTP API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GossipStats {
    /// Anti-entropy rounds run.
    pub rounds: u64,
    /// Round digests sent (at most `fanout` per round).
    pub digests_sent: u64,
    /// Frames sent, all kinds.
    pub frames_sent: u64,
    /// Bytes sent, all kinds.
    pub bytes_sent: u64,
    /// Frames received, all kinds.
    pub frames_received: u64,
    /// Bytes received, all kinds.
    pub bytes_received: u64,
    /// SWIM frames sent (included in `frames_sent`).
    pub swim_frames_sent: u64,
    /// SWIM bytes sent (included in `bytes_sent`).
    pub swim_bytes_sent: u64,
    /// SWIM frames received.
    pub swim_frames_received: u64,
    /// Signed deltas sent (whole, not chunked).
    pub deltas_sent: u64,
    /// Deltas that verified and changed the state.
    pub deltas_applied: u64,
    /// Deltas that verified but brought nothing new.
    pub deltas_redundant: u64,
    /// Deltas dropped for a bad signature.
    pub bad_signatures: u64,
    /// Deltas dropped because their author is not the sending member.
    pub unknown_authors: u64,
    /// Frames that failed to decode or broke the protocol.
    pub malformed: u64,
    /// Chunks sent.
    pub chunks_sent: u64,
    /// Chunks received.
    pub chunks_received: u64,
    /// Chunked transfers reassembled.
    pub transfers_completed: u64,
    /// Chunked transfers dropped (timed out or over the memory bound).
    pub transfers_dropped: u64,
    /// Causal-stability garbage collections run.
    pub gc_runs: u64,
}

/// Why an input was refused. The node's state is unchanged by a refused
/// frame, apart from statistics.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GossipError {
    /// The bytes are not a valid frame.
    #[error("malformed gossip frame: {0}")]
    Decode(#[from] DecodeError),
    /// foca refused a SWIM packet or failed.
    #[error("swim: {0}")]
    Swim(#[from] foca::Error),
    /// A chunk contradicts its transfer or the limits.
    #[error("bad chunk: {0}")]
    BadChunk(&'static str),
}

/// Why a node could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NewNodeError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

type Swim = Foca<MemberId, SwimCodec, SeededRng, NoCustomBroadcast>;

/// A gossip participant: SWIM membership plus delta anti-entropy of a
/// keyspace `AgentId → R`.
///
/// Sans-IO: it never reads a clock or touches a socket. The shell feeds it
/// frames and fired timers with the current time, and drains what it asks
/// for: frames to send ([`Self::poll_transmit`]), timers to schedule
/// ([`Self::poll_timer`]) and events ([`Self::poll_event`]).
pub struct GossipNode<R: Replicated = AgentState> {
    pub(crate) key: SigningKey,
    pub(crate) config: GossipConfig,
    pub(crate) swim: Swim,
    pub(crate) swim_out: AccumulatingRuntime<MemberId>,
    pub(crate) rng: SeededRng,
    pub(crate) store: BTreeMap<AgentId, R>,
    /// Keys changed recently, with the round they changed in.
    pub(crate) hot: BTreeMap<AgentId, u64>,
    /// Active members by address, with their node ids.
    pub(crate) active: BTreeMap<PeerAddr, NodeId>,
    /// What each active member last said it has.
    pub(crate) acks: BTreeMap<PeerAddr, BTreeMap<AgentId, R::Version>>,
    /// Where the next digest page starts.
    pub(crate) cursor: Option<AgentId>,
    pub(crate) round: u64,
    pub(crate) now_ms: u64,
    pub(crate) outgoing: BTreeMap<(PeerAddr, AgentId), OutTransfer>,
    pub(crate) incoming: BTreeMap<(PeerAddr, u64), InTransfer>,
    pub(crate) pending_bytes: usize,
    pub(crate) next_transfer: u64,
    pub(crate) transmits: VecDeque<Transmit>,
    pub(crate) timers: VecDeque<(u64, GossipTimer)>,
    pub(crate) events: VecDeque<GossipEvent>,
    pub(crate) stats: GossipStats,
    /// The last signed delta per key, reused while valid.
    pub(crate) sign_cache: BTreeMap<AgentId, SignedCache<R::Version>>,
    /// Addresses given to [`GossipNode::join`]: announced to again every
    /// round while this node knows no member (a lost announce is retried).
    pub(crate) seeds: Vec<PeerAddr>,
}

impl<R: Replicated> GossipNode<R> {
    /// A node signing with `key`, reachable at `addr`; `seed` fixes every
    /// random choice it makes (give each node its own).
    pub fn new(
        key: SigningKey,
        addr: PeerAddr,
        config: GossipConfig,
        seed: u64,
    ) -> Result<Self, NewNodeError> {
        config.validate()?;
        let id = MemberId {
            node: NodeId::new(key.verifying_key().to_bytes()),
            addr,
            bump: 0,
        };
        Ok(Self::with_identity(key, id, config, seed))
    }

    /// A node with an explicit identity (a restart uses a higher `bump`).
    /// `id.node` should be `key`'s node id, or peers drop its deltas.
    pub fn with_identity(key: SigningKey, id: MemberId, config: GossipConfig, seed: u64) -> Self {
        let swim = Foca::new(id, config.swim.clone(), SeededRng::new(seed), SwimCodec);
        Self {
            key,
            config,
            swim,
            swim_out: AccumulatingRuntime::new(),
            rng: SeededRng::new(seed ^ 0x6055_1900_0000_0001),
            store: BTreeMap::new(),
            hot: BTreeMap::new(),
            active: BTreeMap::new(),
            acks: BTreeMap::new(),
            cursor: None,
            round: 0,
            now_ms: 0,
            outgoing: BTreeMap::new(),
            incoming: BTreeMap::new(),
            pending_bytes: 0,
            next_transfer: 0,
            transmits: VecDeque::new(),
            timers: VecDeque::new(),
            events: VecDeque::new(),
            stats: GossipStats::default(),
            seeds: Vec::new(),
            sign_cache: BTreeMap::new(),
        }
    }

    /// This node's identity.
    pub fn id(&self) -> &MemberId {
        self.swim.identity()
    }

    /// The configuration in force.
    pub fn config(&self) -> &GossipConfig {
        &self.config
    }

    /// Starts the round timer (first round after a seeded fraction of the
    /// interval, so nodes do not tick in lockstep).
    pub fn start(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
        let first = 1 + self.rng.below(self.config.round_interval_ms as usize) as u64;
        self.timers.push_back((first, GossipTimer::Round));
    }

    /// Announces this node to the member at `seed` to join its cluster.
    /// While this node knows no member, every round announces to its seeds
    /// again, so a lost announce (or a seed that was down) is retried.
    pub fn join(&mut self, seed: PeerAddr, now_ms: u64) -> Result<(), GossipError> {
        self.now_ms = now_ms;
        if !self.seeds.contains(&seed) {
            self.seeds.push(seed.clone());
        }
        self.announce(seed)
    }

    fn announce(&mut self, seed: PeerAddr) -> Result<(), GossipError> {
        let dst = MemberId {
            node: NodeId::new([0; 32]),
            addr: seed,
            bump: 0,
        };
        let result = self.swim.announce(dst, &mut self.swim_out);
        self.flush_swim();
        Ok(result?)
    }

    /// Adds members known out of band (a static member list, or the member
    /// table persisted before a restart) without broadcasting them: a large
    /// cluster then starts without a join storm.
    pub fn add_members(
        &mut self,
        members: impl IntoIterator<Item = MemberId>,
        now_ms: u64,
    ) -> Result<(), GossipError> {
        self.now_ms = now_ms;
        let updates = members.into_iter().map(foca::Member::alive);
        let result = self.swim.apply_many(updates, false, &mut self.swim_out);
        self.flush_swim();
        Ok(result?)
    }

    /// Leaves the cluster gracefully (members mark this node down at once).
    pub fn leave(&mut self, now_ms: u64) -> Result<(), GossipError> {
        self.now_ms = now_ms;
        let result = self.swim.leave_cluster(&mut self.swim_out);
        self.flush_swim();
        Ok(result?)
    }

    /// Handles one frame received from `from`. Bad bytes are an error (and
    /// counted in [`GossipStats::malformed`]), never a panic.
    pub fn handle_message(
        &mut self,
        from: &PeerAddr,
        bytes: &[u8],
        now_ms: u64,
    ) -> Result<(), GossipError> {
        self.now_ms = now_ms;
        self.stats.frames_received += 1;
        self.stats.bytes_received += bytes.len() as u64;
        let result = match Frame::<R>::decode_frame(bytes, self.config.max_message_bytes) {
            Ok(frame) => self.handle_frame(from, frame),
            Err(e) => Err(GossipError::Decode(e)),
        };
        if result.is_err() {
            self.stats.malformed += 1;
        }
        result
    }

    fn handle_frame(&mut self, from: &PeerAddr, frame: Frame<R>) -> Result<(), GossipError> {
        match frame {
            Frame::Swim(packet) => {
                self.stats.swim_frames_received += 1;
                let result = self.swim.handle_data(&packet, &mut self.swim_out);
                self.flush_swim();
                result.map_err(GossipError::Swim)
            }
            Frame::Digest(digest) => {
                self.on_digest(from, digest);
                Ok(())
            }
            Frame::Want(entries) => {
                self.on_want(from, entries);
                Ok(())
            }
            Frame::Deltas(deltas) => {
                self.on_deltas(from, deltas);
                Ok(())
            }
            Frame::Chunk(chunk) => self.on_chunk(from, chunk),
            Frame::Ack(entries) => {
                self.record_acks(from, entries);
                Ok(())
            }
        }
    }

    /// Handles a timer this node asked for.
    pub fn handle_timer(&mut self, timer: GossipTimer, now_ms: u64) -> Result<(), GossipError> {
        self.now_ms = now_ms;
        match timer {
            GossipTimer::Round => {
                self.run_round();
                self.timers
                    .push_back((self.config.round_interval_ms, GossipTimer::Round));
                if self.swim.num_members() == 0 {
                    for seed in self.seeds.clone() {
                        self.announce(seed)?;
                    }
                }
                Ok(())
            }
            GossipTimer::Swim(t) => {
                let result = self.swim.handle_timer(t, &mut self.swim_out);
                self.flush_swim();
                Ok(result?)
            }
        }
    }

    /// Applies a local change to `agent` made by `change` (given the state
    /// and this node's id), schedules it for gossip, and returns its delta so
    /// the shell can persist it before acknowledging.
    pub fn local_update<E>(
        &mut self,
        agent: AgentId,
        change: impl FnOnce(&mut R, NodeId) -> Result<R::Delta, E>,
    ) -> Result<R::Delta, E> {
        let me = self.id().node;
        let state = self.store.entry(agent).or_default();
        let delta = change(state, me)?;
        self.hot.insert(agent, self.round);
        Ok(delta)
    }

    /// Merges a state loaded from disk (or received out of band) without
    /// gossiping it specially; anti-entropy spreads it if others lack it.
    pub fn restore(&mut self, agent: AgentId, state: &R) {
        self.store.entry(agent).or_default().merge(state);
    }

    /// The state of `agent`, if this node has any.
    pub fn state(&self, agent: &AgentId) -> Option<&R> {
        self.store.get(agent)
    }

    /// Every agent this node holds, in order.
    pub fn agents(&self) -> impl Iterator<Item = (&AgentId, &R)> {
        self.store.iter()
    }

    /// BLAKE3 over the canonical encoding of the whole keyspace: equal on
    /// two nodes exactly when they hold the same encoded states.
    pub fn state_digest(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        h.update(&(self.store.len() as u64).to_le_bytes());
        for (agent, state) in &self.store {
            h.update(agent.as_bytes());
            let body = state.encode_body();
            h.update(&(body.len() as u64).to_le_bytes());
            h.update(&body);
        }
        *h.finalize().as_bytes()
    }

    /// Every member foca knows (not this node), with its state.
    pub fn members(&self) -> Vec<MemberInfo> {
        self.swim
            .iter_membership_state()
            .map(|m| MemberInfo {
                id: m.id().clone(),
                state: match m.state() {
                    State::Alive => MemberState::Alive,
                    State::Suspect => MemberState::Suspect,
                    State::Down => MemberState::Down,
                },
            })
            .collect()
    }

    /// Number of active (alive or suspect) members, not counting this node.
    pub fn active_members(&self) -> usize {
        self.swim.num_members()
    }

    /// Counters so far.
    pub fn stats(&self) -> &GossipStats {
        &self.stats
    }

    /// The anti-entropy round number.
    pub fn round(&self) -> u64 {
        self.round
    }

    /// The next frame to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next timer to schedule: fire it `after_ms` from now.
    pub fn poll_timer(&mut self) -> Option<(u64, GossipTimer)> {
        self.timers.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<GossipEvent> {
        self.events.pop_front()
    }

    /// Queues one frame for `to`.
    pub(crate) fn send(&mut self, to: &PeerAddr, bytes: Vec<u8>) {
        self.stats.frames_sent += 1;
        self.stats.bytes_sent += bytes.len() as u64;
        self.transmits.push_back(Transmit {
            to: to.clone(),
            bytes,
        });
    }

    /// Moves foca's output into the outbox, timers and events.
    fn flush_swim(&mut self) {
        while let Some((to, data)) = self.swim_out.to_send() {
            let bytes = Frame::<R>::Swim(data.to_vec()).to_bytes();
            self.stats.swim_frames_sent += 1;
            self.stats.swim_bytes_sent += bytes.len() as u64;
            self.send(&to.addr, bytes);
        }
        while let Some((after, timer)) = self.swim_out.to_schedule() {
            let after_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
            self.timers.push_back((after_ms, GossipTimer::Swim(timer)));
        }
        while let Some(note) = self.swim_out.to_notify() {
            self.on_notification(note);
        }
    }

    fn on_notification(&mut self, note: OwnedNotification<MemberId>) {
        match note {
            OwnedNotification::MemberUp(id) => {
                self.active.insert(id.addr.clone(), id.node);
                self.events.push_back(GossipEvent::MemberUp(id));
            }
            OwnedNotification::MemberDown(id) => {
                if self.active.get(&id.addr) == Some(&id.node) {
                    self.active.remove(&id.addr);
                    self.acks.remove(&id.addr);
                }
                self.events.push_back(GossipEvent::MemberDown(id));
            }
            OwnedNotification::Rename(old, new) => {
                self.active.remove(&old.addr);
                self.active.insert(new.addr.clone(), new.node);
            }
            OwnedNotification::Rejoin(id) => self.events.push_back(GossipEvent::Rejoined(id)),
            _ => {}
        }
    }
}

impl GossipNode<AgentState> {
    /// Edits `agent` as this node: `build` chains updates on the edit, which
    /// is committed all-or-nothing. Returns the delta to persist.
    ///
    /// ```
    /// # use chrysalis_crypto::ed25519::SigningKey;
    /// # use chrysalis_gossip::{GossipConfig, GossipNode, PeerAddr};
    /// # use chrysalis_types::{AgentId, Timestamp};
    /// let key = SigningKey::from_seed(&[7; 32]);
    /// let addr = PeerAddr::new("127.0.0.1:7000")?;
    /// let mut node: GossipNode = GossipNode::new(key, addr, GossipConfig::default(), 1)?;
    /// let agent = AgentId::new([1; 16]);
    /// let delta = node.update(agent, |e| e.update_skill("rust", 0.9, Timestamp::new(1, 0)))?;
    /// assert_eq!(delta.skills().level("rust"), Some(0.9));
    /// assert_eq!(node.state(&agent).and_then(|s| s.skills().level("rust")), Some(0.9));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn update(
        &mut self,
        agent: AgentId,
        build: impl FnOnce(AgentEdit<'_>) -> AgentEdit<'_>,
    ) -> Result<AgentDelta, AgentError> {
        self.local_update(agent, |state, me| build(state.edit(me)).commit())
    }
}
