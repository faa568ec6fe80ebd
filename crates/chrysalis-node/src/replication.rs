//! Signed anti-entropy between admitted peers: membership and agent states.
//!
//! A sans-IO state machine: the event loop hands it verified datagrams and
//! ticks, and sends the `(address, bytes)` pairs it returns. It knows
//! nothing of sockets or clocks (`now_ms` comes in).
//!
//! Every frame is `"CHRF" ‖ version ‖ sender public key (32) ‖ Ed25519
//! signature (64) ‖ body`, the signature over the body under the domain
//! [`FRAME_DOMAIN`]. A frame whose signature fails, or whose sender is not on
//! the allowlist (when one is configured), is dropped and counted before its
//! body is decoded. Bodies use the canonical encoding of `chrysalis-types`.
//!
//! Messages:
//! - `Digest`: the members the sender knows and a digest per agent. The
//!   receiver pushes the states that differ or that the sender lacks (when
//!   the digest list is complete), and asks (`Want`) for the ones it lacks
//!   or holds differently.
//! - `States`: full agent states; the receiver joins them (CRDT merge, so
//!   duplicates and reordering are harmless) and pushes what changed on to
//!   `fanout` peers, so a write spreads in a few hops without waiting for a
//!   round.
//! - `Want`: agent ids whose states the sender asks for.
//!
//! Frames travel over `chrysalis-net` (QUIC, mutual TLS pinned to node
//! keys, the same allowlist enforced at the handshake); the frame signature
//! is checked against the key the handshake proved. This anti-entropy is
//! the node's own until `chrysalis-gossip` (SWIM + delta anti-entropy)
//! takes its place behind the same event loop.

use crate::core::{Digest, NodeCore};
use crate::metrics::{DropReason, Metrics};
use chrysalis_crdt::AgentState;
use chrysalis_crypto::ed25519::{Signature, SigningKey, VerifyingKey};
use chrysalis_types::codec::{Decode, DecodeError, Encode, Limits, Reader, Writer};
use chrysalis_types::{AgentId, NodeId};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

/// The signature domain of replication frames.
pub const FRAME_DOMAIN: &str = "chrysalis/v1/node-replication";
/// The largest frame sent or accepted, in bytes: the endpoint's frame
/// limit (1 MiB) less room for its header. An agent state larger than one
/// frame is not replicated (counted as an oversized drop).
pub const MAX_FRAME_BYTES: usize = (1 << 20) - 1024;

const MAGIC: &[u8; 4] = b"CHRF";
const VERSION: u8 = 1;
const HEADER_BYTES: usize = 4 + 1 + 32 + 64;
/// Body budget per frame, leaving room for list headers.
const BODY_BUDGET: usize = MAX_FRAME_BYTES - HEADER_BYTES - 64;

/// One replication message.
#[derive(Debug, Clone, PartialEq)]
enum Message {
    Digest {
        members: Vec<(NodeId, String)>,
        digests: Vec<(AgentId, Digest)>,
        complete: bool,
    },
    States(Vec<(AgentId, Vec<u8>)>),
    Want(Vec<AgentId>),
}

impl Encode for Message {
    fn encode(&self, w: &mut Writer) {
        match self {
            Message::Digest {
                members,
                digests,
                complete,
            } => {
                w.put_u8(1);
                w.put(members);
                w.put(digests);
                w.put(complete);
            }
            Message::States(states) => {
                w.put_u8(2);
                w.put(states);
            }
            Message::Want(agents) => {
                w.put_u8(3);
                w.put(agents);
            }
        }
    }
}

impl Decode for Message {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            1 => Ok(Message::Digest {
                members: r.get()?,
                digests: r.get()?,
                complete: r.get()?,
            }),
            2 => Ok(Message::States(r.get()?)),
            3 => Ok(Message::Want(r.get()?)),
            tag => Err(r.invalid_tag("replication message", tag)),
        }
    }
}

/// A peer known to this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The peer's node id.
    pub id: NodeId,
    /// Where it sends from (and listens).
    pub addr: SocketAddr,
    /// When a frame from it last verified here; `None` if only heard of.
    pub last_seen_ms: Option<u64>,
    /// When it was first heard of or last heard from: a member silent for
    /// the forget window is dropped, so a dead address stops being chosen.
    pub since_ms: u64,
}

/// What a handled frame or tick asks the event loop to do.
#[derive(Debug, Default)]
pub struct Output {
    /// Frames to send.
    pub send: Vec<(SocketAddr, Vec<u8>)>,
    /// Agents whose state changed here and must be persisted.
    pub changed: Vec<AgentId>,
}

/// The replication state machine.
#[derive(Debug)]
pub struct Replicator {
    key: SigningKey,
    me: NodeId,
    allow: BTreeSet<NodeId>,
    join: Vec<SocketAddr>,
    fanout: usize,
    push: bool,
    alive_window_ms: u64,
    members: BTreeMap<NodeId, Member>,
    rng: u64,
}

impl Replicator {
    /// A replicator signing as `key`, admitting `allow` (empty: any signer),
    /// contacting `join` until members are known.
    pub fn new(
        key: SigningKey,
        allow: BTreeSet<NodeId>,
        join: Vec<SocketAddr>,
        fanout: usize,
        interval_ms: u64,
        seed: u64,
    ) -> Self {
        let me = NodeId::new(key.verifying_key().to_bytes());
        Self {
            key,
            me,
            allow,
            join,
            fanout: fanout.max(1),
            push: true,
            alive_window_ms: (interval_ms * 10).max(2_000),
            members: BTreeMap::new(),
            rng: seed | 1,
        }
    }

    /// Whether writes and merged changes are pushed at once (the default),
    /// or only spread by rounds.
    pub fn set_push(&mut self, push: bool) {
        self.push = push;
    }

    /// Known peers.
    pub fn members(&self) -> impl Iterator<Item = &Member> + '_ {
        self.members.values()
    }

    /// Peers heard from within the liveness window before `now_ms`.
    pub fn alive(&self, now_ms: u64) -> usize {
        self.members
            .values()
            .filter(|m| {
                m.last_seen_ms
                    .is_some_and(|t| now_ms.saturating_sub(t) <= self.alive_window_ms)
            })
            .count()
    }

    fn admitted(&self, id: &NodeId) -> bool {
        *id != self.me && (self.allow.is_empty() || self.allow.contains(id))
    }

    /// A round: digests to `fanout` peers.
    /// `now_ms` also ages members out: one silent for the forget window (ten
    /// liveness windows) is dropped.
    pub fn tick(&mut self, core: &NodeCore, now_ms: u64, metrics: &Metrics) -> Output {
        metrics.gossip_round();
        let forget_ms = self.alive_window_ms * 10;
        self.members
            .retain(|_, m| now_ms.saturating_sub(m.since_ms) <= forget_ms);
        let mut out = Output::default();
        let targets = self.pick(None);
        if targets.is_empty() {
            return out;
        }
        for frame in self.digest_frames(core) {
            for addr in &targets {
                out.send.push((*addr, frame.clone()));
            }
        }
        out
    }

    /// A local write to `agent`: push its state to `fanout` peers now.
    pub fn push(&mut self, core: &NodeCore, agent: AgentId, metrics: &Metrics) -> Output {
        let mut out = Output::default();
        if !self.push {
            return out;
        }
        let frames = self.state_frames(core, &[agent], metrics);
        for addr in self.pick(None) {
            for frame in &frames {
                out.send.push((addr, frame.clone()));
            }
        }
        out
    }

    /// Handles one datagram from `from` at `now_ms`.
    /// `peer` is the node the transport proved the frame came from (its
    /// TLS key), when it knows: a frame signed by another node is dropped.
    pub fn handle(
        &mut self,
        from: SocketAddr,
        peer: Option<NodeId>,
        bytes: &[u8],
        now_ms: u64,
        core: &mut NodeCore,
        metrics: &Metrics,
    ) -> Output {
        let (sender, message) = match self.open(bytes) {
            Ok(opened) => opened,
            Err(reason) => {
                metrics.frame_dropped(reason);
                return Output::default();
            }
        };
        if peer.is_some_and(|p| p != sender) {
            metrics.frame_dropped(DropReason::BadSignature);
            return Output::default();
        }
        metrics.frame_received(bytes.len());
        self.members.insert(
            sender,
            Member {
                id: sender,
                addr: from,
                last_seen_ms: Some(now_ms),
                since_ms: now_ms,
            },
        );
        match message {
            Message::Digest {
                members,
                digests,
                complete,
            } => {
                self.learn(&members, now_ms);
                self.on_digest(from, &digests, complete, core, metrics)
            }
            Message::Want(agents) => Output {
                send: self
                    .state_frames(core, &agents, metrics)
                    .into_iter()
                    .map(|f| (from, f))
                    .collect(),
                changed: Vec::new(),
            },
            Message::States(states) => self.on_states(from, states, core, metrics),
        }
    }

    fn open(&self, bytes: &[u8]) -> Result<(NodeId, Message), DropReason> {
        if bytes.len() > MAX_FRAME_BYTES {
            return Err(DropReason::Oversized);
        }
        if bytes.len() < HEADER_BYTES || &bytes[..4] != MAGIC || bytes[4] != VERSION {
            return Err(DropReason::Malformed);
        }
        let mut public = [0u8; 32];
        public.copy_from_slice(&bytes[5..37]);
        let mut sig = [0u8; 64];
        sig.copy_from_slice(&bytes[37..101]);
        let body = &bytes[HEADER_BYTES..];
        let sender = NodeId::new(public);
        if !self.admitted(&sender) {
            return Err(DropReason::NotAdmitted);
        }
        let key = VerifyingKey::from_bytes(&public).map_err(|_| DropReason::BadSignature)?;
        key.verify_domain(FRAME_DOMAIN, &[body], &Signature::from_bytes(&sig))
            .map_err(|_| DropReason::BadSignature)?;
        let limits = Limits {
            max_message_bytes: MAX_FRAME_BYTES,
            ..Limits::DEFAULT
        };
        let mut r = Reader::with_limits(body, limits);
        let message = Message::decode(&mut r).map_err(|_| DropReason::Malformed)?;
        r.finish().map_err(|_| DropReason::Malformed)?;
        Ok((sender, message))
    }

    fn seal(&self, message: &Message) -> Vec<u8> {
        let body = message.encode_body();
        let sig = self.key.sign_domain(FRAME_DOMAIN, &[&body]);
        let mut frame = Vec::with_capacity(HEADER_BYTES + body.len());
        frame.extend_from_slice(MAGIC);
        frame.push(VERSION);
        frame.extend_from_slice(self.me.as_bytes());
        frame.extend_from_slice(&sig.to_bytes());
        frame.extend_from_slice(&body);
        frame
    }

    fn learn(&mut self, members: &[(NodeId, String)], now_ms: u64) {
        for (id, addr) in members {
            if !self.admitted(id) || self.members.contains_key(id) {
                continue;
            }
            if let Ok(addr) = addr.parse() {
                let member = Member {
                    id: *id,
                    addr,
                    last_seen_ms: None,
                    since_ms: now_ms,
                };
                self.members.insert(*id, member);
            }
        }
    }

    fn on_digest(
        &mut self,
        from: SocketAddr,
        theirs: &[(AgentId, Digest)],
        complete: bool,
        core: &NodeCore,
        metrics: &Metrics,
    ) -> Output {
        let ours = core.digests();
        let mut push = Vec::new();
        let mut want = Vec::new();
        for (agent, digest) in theirs {
            match ours.get(agent) {
                Some(mine) if mine == digest => {}
                Some(_) => {
                    push.push(*agent);
                    want.push(*agent);
                }
                None => want.push(*agent),
            }
        }
        if complete {
            let listed: BTreeSet<AgentId> = theirs.iter().map(|(a, _)| *a).collect();
            push.extend(ours.keys().filter(|a| !listed.contains(a)).copied());
        }
        let mut send: Vec<(SocketAddr, Vec<u8>)> = self
            .state_frames(core, &push, metrics)
            .into_iter()
            .map(|f| (from, f))
            .collect();
        for chunk in want.chunks(BODY_BUDGET / 20) {
            send.push((from, self.seal(&Message::Want(chunk.to_vec()))));
        }
        Output {
            send,
            changed: Vec::new(),
        }
    }

    fn on_states(
        &mut self,
        from: SocketAddr,
        states: Vec<(AgentId, Vec<u8>)>,
        core: &mut NodeCore,
        metrics: &Metrics,
    ) -> Output {
        let mut changed = Vec::new();
        for (agent, bytes) in states {
            match AgentState::from_bytes(&bytes) {
                Ok(state) => {
                    if core.merge_remote(agent, &state) {
                        changed.push(agent);
                    }
                }
                Err(_) => metrics.frame_dropped(DropReason::Malformed),
            }
        }
        let mut send = Vec::new();
        if self.push && !changed.is_empty() {
            let frames = self.state_frames(core, &changed, metrics);
            for addr in self.pick(Some(from)) {
                for frame in &frames {
                    send.push((addr, frame.clone()));
                }
            }
        }
        Output { send, changed }
    }

    fn digest_frames(&self, core: &NodeCore) -> Vec<Vec<u8>> {
        let members: Vec<(NodeId, String)> = self
            .members
            .values()
            .filter(|m| m.last_seen_ms.is_some())
            .map(|m| (m.id, m.addr.to_string()))
            .take(64)
            .collect();
        let digests: Vec<(AgentId, Digest)> =
            core.digests().iter().map(|(a, d)| (*a, *d)).collect();
        let per_frame = BODY_BUDGET / 56 - members.len();
        let chunks: Vec<&[(AgentId, Digest)]> = if digests.is_empty() {
            vec![&[]]
        } else {
            digests.chunks(per_frame).collect()
        };
        let complete = chunks.len() == 1;
        chunks
            .into_iter()
            .map(|chunk| {
                self.seal(&Message::Digest {
                    members: members.clone(),
                    digests: chunk.to_vec(),
                    complete,
                })
            })
            .collect()
    }

    /// `States` frames carrying `agents`, packed up to the frame budget. A
    /// state too large for one frame is counted as dropped.
    fn state_frames(&self, core: &NodeCore, agents: &[AgentId], metrics: &Metrics) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        let mut batch: Vec<(AgentId, Vec<u8>)> = Vec::new();
        let mut size = 0;
        for agent in agents {
            let Some(state) = core.agent(*agent) else {
                continue;
            };
            let bytes = state.to_bytes();
            if bytes.len() + 32 > BODY_BUDGET {
                metrics.frame_dropped(DropReason::Oversized);
                continue;
            }
            if size + bytes.len() + 32 > BODY_BUDGET {
                frames.push(self.seal(&Message::States(std::mem::take(&mut batch))));
                size = 0;
            }
            size += bytes.len() + 32;
            batch.push((*agent, bytes));
        }
        if !batch.is_empty() {
            frames.push(self.seal(&Message::States(batch)));
        }
        frames
    }

    /// Up to `fanout` distinct peer addresses, at random, never `except`.
    /// With no members known yet, the join addresses.
    fn pick(&mut self, except: Option<SocketAddr>) -> Vec<SocketAddr> {
        let mut pool: Vec<SocketAddr> = self.members.values().map(|m| m.addr).collect();
        let known: BTreeSet<SocketAddr> = pool.iter().copied().collect();
        pool.extend(self.join.iter().filter(|a| !known.contains(a)).copied());
        pool.retain(|a| Some(*a) != except);
        pool.sort();
        pool.dedup();
        let mut out = Vec::new();
        while !pool.is_empty() && out.len() < self.fanout {
            let i = (self.next_random() % pool.len() as u64) as usize;
            out.push(pool.swap_remove(i));
        }
        out
    }

    /// SplitMix64: peer choice needs spread, not secrecy.
    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(seed: u8, allow: &[NodeId]) -> (Replicator, NodeCore) {
        let key = SigningKey::from_seed(&[seed; 32]);
        let id = NodeId::new(key.verifying_key().to_bytes());
        let rep = Replicator::new(key, allow.iter().copied().collect(), Vec::new(), 3, 100, 7);
        (rep, NodeCore::new(id))
    }

    fn id_of(seed: u8) -> NodeId {
        NodeId::new(
            SigningKey::from_seed(&[seed; 32])
                .verifying_key()
                .to_bytes(),
        )
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// Delivers frames between two replicators until both are quiet.
    fn exchange(a: &mut (Replicator, NodeCore), b: &mut (Replicator, NodeCore), first: Output) {
        let m = Metrics::default();
        let mut queue: Vec<(SocketAddr, SocketAddr, Vec<u8>)> = first
            .send
            .into_iter()
            .map(|(to, f)| (addr(1), to, f))
            .collect();
        let mut steps = 0;
        while let Some((from, to, frame)) = queue.pop() {
            steps += 1;
            assert!(steps < 1000, "replication did not quiesce");
            let target = if to == addr(1) { &mut *a } else { &mut *b };
            let out = target.0.handle(from, None, &frame, 1, &mut target.1, &m);
            queue.extend(out.send.into_iter().map(|(next, f)| (to, next, f)));
        }
    }

    #[test]
    fn digests_converge_two_nodes_that_both_wrote() {
        let mut a = node(1, &[]);
        let mut b = node(2, &[]);
        let agent = AgentId::new([3; 16]);
        a.1.create_agent(agent).unwrap();
        b.1.create_agent(agent).unwrap();
        a.1.update_skill(agent, "rust", 0.5, 10).unwrap();
        b.1.update_skill(agent, "go", 0.7, 10).unwrap();
        b.1.create_agent(AgentId::new([4; 16])).unwrap();
        a.0.join = vec![addr(2)];
        let out = a.0.tick(&a.1, 1, &Metrics::default());
        exchange(&mut a, &mut b, out);
        assert_eq!(a.1.cluster_digest(), b.1.cluster_digest());
        assert_eq!(a.1.agent(agent).unwrap().skills().level("go"), Some(0.7));
        assert_eq!(a.0.members().count(), 1);
        // A member silent past the forget window is dropped.
        a.0.tick(&a.1, 1 + 20_000 * 10 + 1, &Metrics::default());
        assert_eq!(a.0.members().count(), 0);
    }

    #[test]
    fn large_states_replicate() {
        let mut a = node(1, &[]);
        let mut b = node(2, &[]);
        let agent = AgentId::new([3; 16]);
        a.1.create_agent(agent).unwrap();
        for i in 0..8u8 {
            let summary = "x".repeat(60 * 1024);
            let id = chrysalis_types::EpisodeId::new([i; 16]);
            a.1.add_episode(agent, id, &summary, &[], 10).unwrap();
        }
        a.0.join = vec![addr(2)];
        let out = a.0.tick(&a.1, 1, &Metrics::default());
        exchange(&mut a, &mut b, out);
        assert_eq!(b.1.agent(agent).unwrap().episodes().len(), 8);
    }

    #[test]
    fn frames_from_outside_the_allowlist_or_tampered_are_dropped() {
        let (mut a, mut core_a) = node(1, &[id_of(2)]);
        let (mut intruder, mut core_i) = node(9, &[]);
        let m = Metrics::default();
        core_i.create_agent(AgentId::new([1; 16])).unwrap();
        intruder.join = vec![addr(1)];
        let out = intruder.tick(&core_i, 1, &m);
        let frame = &out.send[0].1;
        let handled = a.handle(addr(9), None, frame, 1, &mut core_a, &m);
        assert!(handled.send.is_empty());
        assert_eq!(a.members().count(), 0);
        assert_eq!(m.dropped(DropReason::NotAdmitted), 1);

        let (mut friend, core_f) = node(2, &[]);
        friend.join = vec![addr(1)];
        let mut frame = friend.tick(&core_f, 1, &m).send.remove(0).1;
        let last = frame.len() - 1;
        frame[last] ^= 1;
        a.handle(addr(2), Some(id_of(2)), &frame, 1, &mut core_a, &m);
        assert_eq!(m.dropped(DropReason::BadSignature), 1);
        a.handle(addr(2), None, b"junk", 1, &mut core_a, &m);
        assert_eq!(m.dropped(DropReason::Malformed), 1);
        assert_eq!(a.members().count(), 0);
    }
}
