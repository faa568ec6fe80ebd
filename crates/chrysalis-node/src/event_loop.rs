//! The event loop: one task owns the [`NodeCore`] (and through it the
//! gossip core, the one owner of agent states) and the [`StateStore`], and
//! selects over local commands (from the HTTP API, through a
//! [`crate::NodeHandle`]), frames from peers, and the earliest timer the
//! gossip core asked for.
//!
//! After every input it drains the gossip core: timers go into a heap,
//! events update metrics and mark agents to persist, and frames go out over
//! `chrysalis-net` (QUIC, mutual TLS pinned to node keys, the allowlist
//! enforced at the handshake).
//!
//! A local write is persisted before its command is answered, so a write
//! the API acknowledged survives `kill -9`. States merged from peers are
//! persisted before anything else is sent (the gossip core's
//! acknowledgements, which drive causal-stability GC, never get ahead of
//! the disk).

use crate::core::{CoreError, NodeCore};
use crate::metrics::{DropReason, Metrics};
use crate::service::{ClusterView, Command, CommandError, Member, Reply};
use crate::store::{StateStore, StoreError};
use chrysalis_crdt::AgentState;
use chrysalis_gossip::{GossipEvent, GossipTimer, MemberInfo, MemberState, PeerAddr};
use chrysalis_net::{Channel, Endpoint, Incoming};
use chrysalis_types::codec::Encode;
use chrysalis_types::{AgentId, NodeId};
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// The most writes persisted together.
const MAX_BATCH: usize = 256;
/// The most frames from peers handled before one persistence pass.
const MAX_FRAMES_PER_PASS: usize = 64;
/// How long shutdown waits for the leave announcement to be sent.
const LEAVE_WAIT_MS: u64 = 300;
/// How long shutdown waits for the endpoint to close.
const CLOSE_WAIT_MS: u64 = 500;
/// The most sends in flight to one peer.
const MAX_IN_FLIGHT_PER_PEER: usize = 8;

type Ack = Box<dyn FnOnce(Result<(), Arc<StoreError>>) + Send>;

/// Local writes applied in memory, waiting for one persistence pass.
#[derive(Default)]
pub(crate) struct Batch {
    dirty: BTreeSet<AgentId>,
    acks: Vec<(AgentId, Ack)>,
}

/// A timer the gossip core asked for, due at `at_ms` on the loop's clock.
struct Deadline {
    at_ms: u64,
    seq: u64,
    timer: GossipTimer,
}

impl PartialEq for Deadline {
    fn eq(&self, other: &Self) -> bool {
        (self.at_ms, self.seq) == (other.at_ms, other.seq)
    }
}

impl Eq for Deadline {}

impl PartialOrd for Deadline {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Deadline {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at_ms, self.seq).cmp(&(other.at_ms, other.seq))
    }
}

/// Sends in flight per peer address.
type InFlightMap = Arc<std::sync::Mutex<BTreeMap<SocketAddr, usize>>>;

/// A slot for one send to one peer, given back on drop.
struct InFlight {
    map: InFlightMap,
    to: SocketAddr,
}

impl InFlight {
    fn take(map: &InFlightMap, to: SocketAddr) -> Option<Self> {
        let mut guard = map.lock().ok()?;
        let count = guard.entry(to).or_default();
        if *count >= MAX_IN_FLIGHT_PER_PEER {
            return None;
        }
        *count += 1;
        Some(Self {
            map: map.clone(),
            to,
        })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut guard) = self.map.lock()
            && let Some(count) = guard.get_mut(&self.to)
        {
            *count -= 1;
            if *count == 0 {
                guard.remove(&self.to);
            }
        }
    }
}

/// The address text a gossip [`PeerAddr`] carries for a QUIC socket address.
pub(crate) fn peer_addr(addr: SocketAddr) -> PeerAddr {
    // A socket address's text is far below the 128-byte bound.
    PeerAddr::new(addr.to_string()).unwrap_or_else(|_| PeerAddr::from_index(0))
}

/// The QUIC socket address in a gossip [`PeerAddr`], if it holds one.
pub(crate) fn socket_addr(addr: &PeerAddr) -> Option<SocketAddr> {
    std::str::from_utf8(addr.as_bytes()).ok()?.parse().ok()
}

/// One entry per node: its latest incarnation. SWIM keeps a restarted
/// node's old incarnation (down) beside its new one for a while.
fn latest_members(members: Vec<MemberInfo>) -> Vec<MemberInfo> {
    let mut latest: BTreeMap<NodeId, MemberInfo> = BTreeMap::new();
    for member in members {
        match latest.get(&member.id.node) {
            // Wrapping comparison, as SWIM's own: bumps may roll over.
            Some(held) if member.id.bump.wrapping_sub(held.id.bump) >= u16::MAX / 2 => {}
            Some(held) if held.id.bump == member.id.bump => {}
            _ => {
                latest.insert(member.id.node, member);
            }
        }
    }
    latest.into_values().collect()
}

/// Milliseconds since the Unix epoch: the clock of local edits' timestamps.
fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub(crate) struct EventLoop {
    pub(crate) core: NodeCore,
    pub(crate) store: Box<dyn StateStore>,
    pub(crate) endpoint: Endpoint,
    pub(crate) gossip_addr: SocketAddr,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) started: Instant,
    in_flight: InFlightMap,
    timers: BinaryHeap<Reverse<Deadline>>,
    next_seq: u64,
    /// Which node each active member's address belongs to: a frame from an
    /// address must come from that node's key (the TLS handshake proves it).
    peers: BTreeMap<PeerAddr, NodeId>,
    /// Agents changed by peers, not yet persisted.
    unsaved: BTreeSet<AgentId>,
    /// Agents held after the last persistence pass (an agent created empty
    /// elsewhere arrives without a change event).
    agents_seen: usize,
    /// Whether a local write brings the next anti-entropy round forward.
    push: bool,
    /// No early round before this time (loop clock): a quarter interval.
    early_round_after_ms: u64,
    /// Where consensus frames go (None: consensus is off).
    pub(crate) consensus: Option<mpsc::Sender<Incoming>>,
}

impl EventLoop {
    pub(crate) fn new(
        core: NodeCore,
        store: Box<dyn StateStore>,
        endpoint: Endpoint,
        gossip_addr: SocketAddr,
        metrics: Arc<Metrics>,
        push: bool,
    ) -> Self {
        let agents_seen = core.agent_count();
        Self {
            core,
            store,
            endpoint,
            gossip_addr,
            metrics,
            started: Instant::now(),
            in_flight: InFlightMap::default(),
            timers: BinaryHeap::new(),
            next_seq: 0,
            peers: BTreeMap::new(),
            unsaved: BTreeSet::new(),
            agents_seen,
            push,
            early_round_after_ms: 0,
            consensus: None,
        }
    }

    /// Milliseconds since the loop started: the gossip core's clock.
    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub(crate) async fn run(
        mut self,
        mut rx: mpsc::Receiver<Command>,
        mut stopped: watch::Receiver<bool>,
    ) {
        self.drive();
        loop {
            let next = self
                .timers
                .peek()
                .map(|Reverse(d)| self.started + Duration::from_millis(d.at_ms));
            let sleep = async move {
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = stopped.changed() => break,
                command = rx.recv() => match command {
                    Some(command) => self.on_commands(command, &mut rx),
                    None => break,
                },
                incoming = self.endpoint.recv() => match incoming {
                    Some(frame) => self.on_frames(frame).await,
                    None => break,
                },
                () = sleep => self.on_timers(),
            }
            self.drive();
        }
        self.leave().await;
        tracing::info!("event loop stopped");
    }

    /// Handles `first` and the commands queued behind it, as one group
    /// commit: they share one persistence pass before any is answered.
    fn on_commands(&mut self, first: Command, rx: &mut mpsc::Receiver<Command>) {
        let mut batch = Batch::default();
        self.on_command(first, &mut batch);
        while batch.acks.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(command) => self.on_command(command, &mut batch),
                Err(_) => break,
            }
        }
        self.commit(batch);
    }

    /// Handles `first` and the frames already waiting behind it.
    async fn on_frames(&mut self, first: Incoming) {
        self.on_frame(first);
        for _ in 1..MAX_FRAMES_PER_PASS {
            let ready = tokio::select! {
                biased;
                frame = self.endpoint.recv() => frame,
                () = std::future::ready(()) => None,
            };
            match ready {
                Some(frame) => self.on_frame(frame),
                None => break,
            }
        }
    }

    fn on_frame(&mut self, frame: Incoming) {
        if frame.channel == Channel::CONSENSUS
            && let Some(consensus) = &self.consensus
        {
            // A full queue drops the frame: the engine re-sends its round's
            // messages periodically.
            if consensus.try_send(frame).is_err() {
                self.metrics.frame_dropped(DropReason::Overloaded);
            }
            return;
        }
        if frame.channel != Channel::GOSSIP {
            self.metrics.frame_dropped(DropReason::Malformed);
            return;
        }
        let from = peer_addr(frame.addr);
        if self
            .peers
            .get(&from)
            .is_some_and(|node| *node != frame.from)
        {
            // Another key than the member known at this address.
            self.metrics.frame_dropped(DropReason::WrongSender);
            return;
        }
        let now = self.now_ms();
        match self
            .core
            .gossip()
            .handle_message(&from, &frame.payload, now)
        {
            Ok(()) => self.metrics.frame_received(frame.payload.len()),
            Err(err) => {
                tracing::debug!(from = %frame.addr, %err, "gossip frame refused");
                self.metrics.frame_dropped(DropReason::Malformed);
            }
        }
    }

    /// Fires every timer that is due.
    fn on_timers(&mut self) {
        let now = self.now_ms();
        while self.timers.peek().is_some_and(|Reverse(d)| d.at_ms <= now) {
            let Some(Reverse(due)) = self.timers.pop() else {
                break;
            };
            let round = matches!(due.timer, GossipTimer::Round);
            if let Err(err) = self.core.gossip().handle_timer(due.timer, now) {
                tracing::debug!(%err, "gossip timer failed");
            }
            if round {
                self.on_round();
            }
        }
    }

    /// Brings the pending anti-entropy round forward to now, so a local
    /// write spreads without waiting out the interval. At most one early
    /// round per quarter interval: a stream of writes costs no more than
    /// a few rounds more.
    fn round_now(&mut self) {
        let now = self.now_ms();
        if !self.push || now < self.early_round_after_ms {
            return;
        }
        let before = self.timers.len();
        self.timers
            .retain(|Reverse(d)| !matches!(d.timer, GossipTimer::Round));
        if self.timers.len() == before {
            return;
        }
        let interval_ms = self.core.gossip_ref().config().round_interval_ms;
        self.early_round_after_ms = now.saturating_add(interval_ms / 4);
        if let Err(err) = self.core.gossip().handle_timer(GossipTimer::Round, now) {
            tracing::debug!(%err, "early round failed");
        }
        self.on_round();
    }

    fn on_round(&mut self) {
        let members = latest_members(self.core.gossip_ref().members());
        let alive = members
            .iter()
            .filter(|m| m.state != MemberState::Down)
            .count();
        self.metrics.set_members(alive, members.len());
        self.metrics
            .set_handshakes_refused(self.endpoint.metrics().handshakes_refused);
    }

    /// Drains the gossip core: timers into the heap, events into metrics
    /// and the unsaved set, then persists, then sends.
    fn drive(&mut self) {
        let now = self.now_ms();
        while let Some((after_ms, timer)) = self.core.gossip().poll_timer() {
            self.next_seq += 1;
            self.timers.push(Reverse(Deadline {
                at_ms: now.saturating_add(after_ms),
                seq: self.next_seq,
                timer,
            }));
        }
        while let Some(event) = self.core.gossip().poll_event() {
            self.on_event(event);
        }
        self.persist_remote();
        self.send_out();
        self.metrics.set_core(self.core.gossip_ref().stats());
    }

    fn on_event(&mut self, event: GossipEvent) {
        match event {
            GossipEvent::MemberUp(id) => {
                tracing::info!(member = %id.node, addr = ?id.addr, "member up");
                self.peers.insert(id.addr, id.node);
                self.on_round();
            }
            GossipEvent::MemberDown(id) => {
                tracing::info!(member = %id.node, addr = ?id.addr, "member down");
                if self.peers.get(&id.addr) == Some(&id.node) {
                    self.peers.remove(&id.addr);
                }
                self.on_round();
            }
            GossipEvent::AgentChanged(agent) => {
                self.core.observe_agent(agent);
                self.unsaved.insert(agent);
            }
            GossipEvent::Rejoined(id) => {
                tracing::warn!(bump = id.bump, "declared down by the cluster; rejoined");
                if let Err(err) = self.store.put_setting(SWIM_BUMP, &id.bump.to_le_bytes()) {
                    tracing::error!(%err, "could not persist the SWIM incarnation");
                }
            }
        }
    }

    /// Persists the agents peers changed (and agents that arrived empty).
    fn persist_remote(&mut self) {
        let count = self.core.agent_count();
        if count > self.agents_seen {
            let empty = AgentState::new();
            let fresh: Vec<AgentId> = self
                .core
                .gossip_ref()
                .agents()
                .filter(|(_, state)| **state == empty)
                .map(|(id, _)| *id)
                .collect();
            self.unsaved.extend(fresh);
        }
        self.agents_seen = count;
        if self.unsaved.is_empty() {
            return;
        }
        let agents = std::mem::take(&mut self.unsaved);
        let rows = self.rows(&agents);
        if let Err(err) = self.store.put_many(&rows) {
            tracing::error!(%err, "could not persist merged states");
        }
    }

    fn rows(&self, agents: &BTreeSet<AgentId>) -> Vec<(AgentId, Vec<u8>)> {
        agents
            .iter()
            .filter_map(|agent| self.core.agent(*agent).map(|s| (*agent, s.to_bytes())))
            .collect()
    }

    /// Sends every frame the gossip core queued. A send may dial, and a dial
    /// may wait on a dead peer: never in the event loop itself, and never
    /// more than a few per peer (a dropped frame is repaired by a later
    /// round).
    fn send_out(&mut self) {
        while let Some(transmit) = self.core.gossip().poll_transmit() {
            let Some(to) = socket_addr(&transmit.to) else {
                self.metrics.frame_dropped(DropReason::SendFailed);
                continue;
            };
            let Some(permit) = InFlight::take(&self.in_flight, to) else {
                self.metrics.frame_dropped(DropReason::SendFailed);
                continue;
            };
            let expected = self.peers.get(&transmit.to).copied();
            let endpoint = self.endpoint.clone();
            let metrics = self.metrics.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let bytes = transmit.bytes;
                match endpoint.send(to, expected, Channel::GOSSIP, &bytes).await {
                    Ok(()) => metrics.frame_sent(bytes.len()),
                    Err(err) => {
                        tracing::debug!(%to, %err, "send failed");
                        metrics.frame_dropped(DropReason::SendFailed);
                    }
                }
            });
        }
    }

    /// Announces the leave to SWIM, waits briefly for it to go out, and
    /// closes the endpoint within a short bound.
    async fn leave(&mut self) {
        let now = self.now_ms();
        if let Err(err) = self.core.gossip().leave(now) {
            tracing::debug!(%err, "could not announce the leave");
        }
        let mut sends = Vec::new();
        while let Some(transmit) = self.core.gossip().poll_transmit() {
            let Some(to) = socket_addr(&transmit.to) else {
                continue;
            };
            let expected = self.peers.get(&transmit.to).copied();
            let endpoint = self.endpoint.clone();
            sends.push(tokio::spawn(async move {
                let _ = endpoint
                    .try_send(to, expected, Channel::GOSSIP, &transmit.bytes)
                    .await;
            }));
        }
        let wait = async {
            for send in sends {
                let _ = send.await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_millis(LEAVE_WAIT_MS), wait).await;
        let close = self.endpoint.close();
        let _ = tokio::time::timeout(Duration::from_millis(CLOSE_WAIT_MS), close).await;
    }

    /// Queues the answer to a local write until the batch is persisted; a
    /// refused write is answered at once.
    fn stage<T: Send + 'static>(
        batch: &mut Batch,
        agent: AgentId,
        result: Result<T, CoreError>,
        reply: Reply<T>,
    ) {
        match result {
            Err(err) => {
                let _ = reply.send(Err(err.into()));
            }
            Ok(value) => {
                batch.dirty.insert(agent);
                let ack = move |persisted: Result<(), Arc<StoreError>>| {
                    let _ = reply.send(persisted.map(|()| value).map_err(CommandError::Store));
                };
                batch.acks.push((agent, Box::new(ack)));
            }
        }
    }

    /// Persists every agent the batch changed (with what peers changed
    /// meanwhile), in one transaction, then answers its writes.
    fn commit(&mut self, batch: Batch) {
        if batch.acks.is_empty() {
            return;
        }
        let mut agents = batch.dirty;
        agents.append(&mut self.unsaved);
        let rows = self.rows(&agents);
        let persisted = self.store.put_many(&rows).map_err(Arc::new);
        self.agents_seen = self.core.agent_count();
        let written = persisted.is_ok();
        for (_, ack) in batch.acks {
            ack(persisted.clone());
        }
        if written {
            self.round_now();
        }
    }

    fn on_command(&mut self, command: Command, batch: &mut Batch) {
        if !command.writes() {
            // Reads see only persisted writes.
            self.commit(std::mem::take(batch));
        }
        let now = wall_ms();
        match command {
            Command::CreateAgent(agent, reply) => {
                let result = self.core.create_agent(agent);
                Self::stage(batch, agent, result, reply);
            }
            Command::GetAgent(agent, reply) => {
                let _ = reply.send(Ok(self.core.agent(agent).cloned()));
            }
            Command::ListAgents(reply) => {
                let _ = reply.send(Ok(self.core.agent_ids().collect()));
            }
            Command::UpdateSkill(agent, name, level, reply) => {
                let result = self.core.update_skill(agent, &name, level, now);
                Self::stage(batch, agent, result, reply);
            }
            Command::AddEpisode(agent, id, summary, causes, reply) => {
                let result = self.core.add_episode(agent, id, &summary, &causes, now);
                Self::stage(batch, agent, result, reply);
            }
            Command::Conflicts(reply) => {
                let _ = reply.send(self.core.conflicts().map_err(CommandError::from));
            }
            Command::Settle(id, how, reply) => {
                let result = self.core.settle(id, how, now);
                let agent = result.as_ref().map(|(a, _, _)| *a).unwrap_or_default();
                Self::stage(batch, agent, result, reply);
            }
            Command::Cluster(reply) => {
                let _ = reply.send(Ok(self.cluster_view()));
            }
            Command::Digest(reply) => {
                let count = self.core.agent_count();
                let _ = reply.send(Ok((self.core.cluster_digest(), count)));
            }
        }
    }

    fn cluster_view(&self) -> ClusterView {
        let members = latest_members(self.core.gossip_ref().members())
            .into_iter()
            .map(|m| {
                let alive = m.state == MemberState::Alive;
                let member = Member {
                    id: m.id.node,
                    addr: String::from_utf8_lossy(m.id.addr.as_bytes()).into_owned(),
                    bump: m.id.bump,
                    state: m.state,
                };
                (member, alive)
            })
            .collect();
        ClusterView {
            node: self.core.node_id(),
            gossip_addr: self.gossip_addr,
            members,
        }
    }
}

/// The setting that keeps the SWIM incarnation ("bump") across restarts.
pub(crate) const SWIM_BUMP: &str = "swim_bump";

#[cfg(test)]
mod tests {
    use super::*;
    use chrysalis_gossip::MemberId;

    fn member(node: u8, bump: u16, state: MemberState) -> MemberInfo {
        let id = MemberId {
            node: NodeId::new([node; 32]),
            addr: peer_addr(SocketAddr::from(([127, 0, 0, 1], 7000 + u16::from(node)))),
            bump,
        };
        MemberInfo { id, state }
    }

    #[test]
    fn a_restarted_node_shows_once_at_its_latest_incarnation() {
        let members = vec![
            member(1, 0, MemberState::Down),
            member(1, 1, MemberState::Alive),
            member(2, 0, MemberState::Suspect),
            member(3, u16::MAX, MemberState::Down),
            member(3, 0, MemberState::Alive),
        ];
        let latest = latest_members(members);
        let view: Vec<(u8, u16, MemberState)> = latest
            .iter()
            .map(|m| (m.id.node.as_bytes()[0], m.id.bump, m.state))
            .collect();
        assert_eq!(
            view,
            vec![
                (1, 1, MemberState::Alive),
                (2, 0, MemberState::Suspect),
                (3, 0, MemberState::Alive),
            ]
        );
    }

    #[test]
    fn peer_addresses_round_trip_and_junk_is_refused() {
        let addr = SocketAddr::from(([10, 1, 2, 3], 7946));
        assert_eq!(socket_addr(&peer_addr(addr)), Some(addr));
        assert_eq!(socket_addr(&PeerAddr::from_index(3)), None);
    }
}
