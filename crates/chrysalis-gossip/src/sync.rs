//! Delta anti-entropy: rounds, digests, replies with exactly what a peer
//! lacks, chunked transfers for large states, acknowledgements and
//! causal-stability garbage collection.
//!
//! A round sends one digest to at most `fanout` active members. A member
//! receiving a digest replies with signed deltas for what the sender lacks
//! (at most `max_reply_frames` frames; the rest waits for later rounds) and a
//! `Want` with its own versions of what it lacks, which the sender answers
//! the same way. Receivers acknowledge what they applied with their new
//! versions; the acknowledged versions of live members give the causally
//! stable version each key is compacted to.

use std::collections::BTreeSet;

use chrysalis_crdt::SignedDelta;
use chrysalis_crypto::ed25519::VerifyingKey;
use chrysalis_types::AgentId;
use chrysalis_types::codec::{Decode, Encode, Writer};

use crate::frame::{Chunk, DELTAS_OVERHEAD, Digest, Entry, Frame, deltas_frame};
use crate::identity::PeerAddr;
use crate::node::{GossipError, GossipNode};
use crate::replica::Replicated;

/// Room kept in every frame for its fixed fields.
const FRAME_SLACK: usize = 96;

/// A large signed delta being streamed to one peer.
pub(crate) struct OutTransfer {
    id: u64,
    bytes: Vec<u8>,
    next: u32,
    count: u32,
    last_ms: u64,
}

/// The last delta signed for a key: valid while the key's version here
/// is still `mine`, for a peer at `seen`.
pub(crate) struct SignedCache<V> {
    seen: V,
    mine: V,
    entry: Vec<u8>,
}

/// A large signed delta being reassembled from one peer.
pub(crate) struct InTransfer {
    key: AgentId,
    count: u32,
    parts: Vec<Option<Vec<u8>>>,
    have: u32,
    bytes: usize,
    last_ms: u64,
}

fn entry_len<V: Encode>(key: &AgentId, version: &V) -> usize {
    let mut w = Writer::new();
    w.put(key);
    w.put(version);
    w.as_bytes().len()
}

impl<R: Replicated> GossipNode<R> {
    fn chunk_payload(&self) -> usize {
        self.config.max_message_bytes - FRAME_SLACK
    }

    /// One anti-entropy round.
    pub(crate) fn run_round(&mut self) {
        self.round += 1;
        self.stats.rounds += 1;
        self.expire_transfers();
        let gc_every = self.config.gc_every_rounds;
        if gc_every > 0 && self.round.is_multiple_of(gc_every) {
            self.collect_garbage();
        }
        let peers = self.pick_peers();
        if peers.is_empty() {
            return;
        }
        let bytes = Frame::<R>::Digest(self.build_digest()).to_bytes();
        for peer in &peers {
            self.stats.digests_sent += 1;
            self.send(peer, bytes.clone());
        }
    }

    /// Up to `fanout` distinct active members, chosen at random.
    fn pick_peers(&mut self) -> Vec<PeerAddr> {
        let n = self.active.len();
        let k = self.config.fanout.min(n);
        let mut picks: Vec<usize> = Vec::with_capacity(k);
        // Floyd's sampling: k distinct indices in k draws, no allocation of
        // the member list.
        for j in n - k..n {
            let t = self.rng.below(j + 1);
            picks.push(if picks.contains(&t) { j } else { t });
        }
        picks.sort_unstable();
        let mut out = Vec::with_capacity(k);
        let mut members = self.active.keys().enumerate();
        for i in picks {
            if let Some((_, addr)) = members.find(|(at, _)| *at == i) {
                out.push(addr.clone());
            }
        }
        out
    }

    /// The hot keys, then one page of the keyspace from the cursor, within
    /// one frame.
    fn build_digest(&mut self) -> Digest<R::Version> {
        let budget = self.config.max_message_bytes - FRAME_SLACK;
        let horizon = self.round.saturating_sub(self.config.hot_rounds);
        self.hot.retain(|_, changed| *changed >= horizon);
        let mut used = 0;
        let mut hot = Vec::new();
        for key in self.hot.keys() {
            let Some(state) = self.store.get(key) else {
                continue;
            };
            let v = state.version();
            let len = entry_len(key, &v);
            if used + len > budget / 2 {
                break;
            }
            used += len;
            hot.push((*key, v));
        }
        let start = self.cursor;
        let mut page = Vec::new();
        let mut end = None;
        let range = match start {
            Some(s) => self.store.range(s..),
            None => self.store.range(..),
        };
        for (key, state) in range {
            let v = state.version();
            let len = entry_len(key, &v);
            if used + len > budget && !page.is_empty() {
                end = Some(*key);
                break;
            }
            used += len;
            page.push((*key, v));
        }
        self.cursor = end;
        Digest {
            round: self.round,
            hot,
            start,
            end,
            page,
        }
    }

    pub(crate) fn on_digest(&mut self, from: &PeerAddr, digest: Digest<R::Version>) {
        let listed: BTreeSet<AgentId> = digest
            .hot
            .iter()
            .chain(&digest.page)
            .map(|(k, _)| *k)
            .collect();
        let mut lacks_there = Vec::new();
        let mut wants = Vec::new();
        for (key, theirs) in digest.hot.iter().chain(&digest.page) {
            let mine = self.store.get(key).map(R::version).unwrap_or_default();
            if !R::covers(theirs, &mine) {
                lacks_there.push((*key, theirs.clone()));
            }
            if !R::covers(&mine, theirs) {
                wants.push((*key, mine));
            }
        }
        let start = digest.start;
        let range = match start {
            Some(s) => self.store.range(s..),
            None => self.store.range(..),
        };
        for (key, _) in range {
            if !digest.in_range(key) {
                break;
            }
            if !listed.contains(key) {
                lacks_there.push((*key, R::Version::default()));
            }
        }
        let mut acked: Vec<Entry<R::Version>> = digest.hot;
        acked.extend(digest.page);
        acked.extend(
            lacks_there
                .iter()
                .filter(|(k, _)| !listed.contains(k))
                .cloned(),
        );
        self.record_acks(from, acked);
        self.send_deltas(from, &lacks_there);
        self.send_entries(from, wants, Frame::Want);
    }

    pub(crate) fn on_want(&mut self, from: &PeerAddr, entries: Vec<Entry<R::Version>>) {
        let lacks: Vec<Entry<R::Version>> = entries
            .iter()
            .filter(|(k, theirs)| {
                self.store
                    .get(k)
                    .is_some_and(|s| !R::covers(theirs, &s.version()))
            })
            .cloned()
            .collect();
        self.record_acks(from, entries);
        self.send_deltas(from, &lacks);
    }

    /// Remembers what an active member said it has (strangers are ignored,
    /// so the table stays bounded by the membership).
    pub(crate) fn record_acks(&mut self, from: &PeerAddr, entries: Vec<Entry<R::Version>>) {
        if !self.active.contains_key(from) {
            return;
        }
        let table = self.acks.entry(from.clone()).or_default();
        for (key, version) in entries {
            table.insert(key, version);
        }
    }

    /// Sends `entries` (versions) as frames made by `make`, each within the
    /// frame limit.
    fn send_entries(
        &mut self,
        to: &PeerAddr,
        entries: Vec<Entry<R::Version>>,
        make: fn(Vec<Entry<R::Version>>) -> Frame<R>,
    ) {
        let budget = self.config.max_message_bytes - FRAME_SLACK;
        let mut batch = Vec::new();
        let mut used = 0;
        for (key, v) in entries {
            let len = entry_len(&key, &v);
            if used + len > budget && !batch.is_empty() {
                self.send(to, make(std::mem::take(&mut batch)).to_bytes());
                used = 0;
            }
            used += len;
            batch.push((key, v));
        }
        if !batch.is_empty() {
            self.send(to, make(batch).to_bytes());
        }
    }

    /// Signs and sends what `to` lacks of each key, within the reply budget;
    /// a delta too large for a frame streams as chunks.
    fn send_deltas(&mut self, to: &PeerAddr, lacks: &[Entry<R::Version>]) {
        let max = self.config.max_message_bytes;
        let mut frames_left = self.config.max_reply_frames;
        let mut batch: Vec<Vec<u8>> = Vec::new();
        let mut used = DELTAS_OVERHEAD;
        for (key, seen) in lacks {
            if frames_left == 0 {
                break;
            }
            if self.outgoing.contains_key(&(to.clone(), *key)) {
                frames_left -= self.continue_transfer(to, key, frames_left);
                continue;
            }
            let Some(entry) = self.signed_entry(key, seen) else {
                continue;
            };
            if DELTAS_OVERHEAD + entry.len() > max {
                let body = entry[key.encode_body().len()..].to_vec();
                self.start_transfer(to, key, body);
                frames_left -= self.continue_transfer(to, key, frames_left);
                continue;
            }
            if used + entry.len() > max {
                self.flush_deltas(to, &mut batch);
                used = DELTAS_OVERHEAD;
                frames_left -= 1;
                if frames_left == 0 {
                    break;
                }
            }
            used += entry.len();
            batch.push(entry);
        }
        if !batch.is_empty() && frames_left > 0 {
            self.flush_deltas(to, &mut batch);
        }
    }

    /// `(key, signed delta since seen)` encoded. Signing costs a scalar
    /// multiplication, and a node often sends the same delta to several
    /// peers at the same version: the last one signed per key is kept while
    /// this node's version of the key stays the same.
    fn signed_entry(&mut self, key: &AgentId, seen: &R::Version) -> Option<Vec<u8>> {
        let state = self.store.get(key)?;
        let mine = state.version();
        if let Some(c) = self.sign_cache.get(key)
            && c.seen == *seen
            && c.mine == mine
        {
            return Some(c.entry.clone());
        }
        let signed = SignedDelta::<R>::sign(&state.delta_since(seen), &self.key);
        let mut w = Writer::new();
        w.put(key);
        w.put(&signed);
        let entry = w.into_bytes();
        if entry.len() <= self.config.max_message_bytes {
            let cached = SignedCache {
                seen: seen.clone(),
                mine,
                entry: entry.clone(),
            };
            self.sign_cache.insert(*key, cached);
        }
        Some(entry)
    }

    fn flush_deltas(&mut self, to: &PeerAddr, batch: &mut Vec<Vec<u8>>) {
        self.stats.deltas_sent += batch.len() as u64;
        let bytes = deltas_frame(batch);
        batch.clear();
        self.send(to, bytes);
    }

    fn start_transfer(&mut self, to: &PeerAddr, key: &AgentId, bytes: Vec<u8>) {
        let payload = self.chunk_payload();
        let count = bytes.len().div_ceil(payload) as u32;
        self.next_transfer += 1;
        let t = OutTransfer {
            id: self.next_transfer,
            bytes,
            next: 0,
            count,
            last_ms: self.now_ms,
        };
        self.outgoing.insert((to.clone(), *key), t);
    }

    /// Sends up to `frames` more chunks of the transfer to `to` for `key`;
    /// returns how many it sent.
    fn continue_transfer(&mut self, to: &PeerAddr, key: &AgentId, frames: usize) -> usize {
        let payload = self.chunk_payload();
        let slot = (to.clone(), *key);
        let Some(t) = self.outgoing.get_mut(&slot) else {
            return 0;
        };
        t.last_ms = self.now_ms;
        let mut frames_out = Vec::new();
        while frames_out.len() < frames && t.next < t.count {
            let from = t.next as usize * payload;
            let until = (from + payload).min(t.bytes.len());
            let chunk = Chunk {
                transfer: t.id,
                key: *key,
                index: t.next,
                count: t.count,
                bytes: t.bytes[from..until].to_vec(),
            };
            frames_out.push(Frame::<R>::Chunk(chunk).to_bytes());
            t.next += 1;
        }
        if t.next >= t.count {
            self.outgoing.remove(&slot);
        }
        let sent = frames_out.len();
        for bytes in frames_out {
            self.stats.chunks_sent += 1;
            self.send(to, bytes);
        }
        sent
    }

    pub(crate) fn on_chunk(&mut self, from: &PeerAddr, chunk: Chunk) -> Result<(), GossipError> {
        self.stats.chunks_received += 1;
        let payload = self.chunk_payload();
        if chunk.count == 0 || chunk.index >= chunk.count {
            return Err(GossipError::BadChunk("index out of range"));
        }
        if chunk.bytes.len() > payload
            || (chunk.count as usize).saturating_mul(payload) > self.config.max_pending_bytes
        {
            return Err(GossipError::BadChunk(
                "transfer larger than the pending bound",
            ));
        }
        let slot = (from.clone(), chunk.transfer);
        let now = self.now_ms;
        let t = self
            .incoming
            .entry(slot.clone())
            .or_insert_with(|| InTransfer {
                key: chunk.key,
                count: chunk.count,
                parts: vec![None; chunk.count as usize],
                have: 0,
                bytes: 0,
                last_ms: now,
            });
        if t.key != chunk.key || t.count != chunk.count {
            return Err(GossipError::BadChunk("chunk disagrees with its transfer"));
        }
        t.last_ms = now;
        let part = &mut t.parts[chunk.index as usize];
        if part.is_none() {
            t.have += 1;
            t.bytes += chunk.bytes.len();
            self.pending_bytes += chunk.bytes.len();
            *part = Some(chunk.bytes);
        }
        if self.pending_bytes > self.config.max_pending_bytes {
            self.drop_incoming(&slot);
            return Ok(());
        }
        if t.have == t.count {
            self.complete_transfer(from, &slot);
        }
        Ok(())
    }

    fn drop_incoming(&mut self, slot: &(PeerAddr, u64)) {
        if let Some(t) = self.incoming.remove(slot) {
            self.pending_bytes -= t.bytes;
            self.stats.transfers_dropped += 1;
        }
    }

    fn complete_transfer(&mut self, from: &PeerAddr, slot: &(PeerAddr, u64)) {
        let Some(t) = self.incoming.remove(slot) else {
            return;
        };
        self.pending_bytes -= t.bytes;
        let mut body = Vec::with_capacity(t.bytes);
        for part in t.parts.into_iter().flatten() {
            body.extend_from_slice(&part);
        }
        self.stats.transfers_completed += 1;
        match SignedDelta::<R>::from_body(&body) {
            Ok(signed) => {
                let changed = self.apply_signed(from, t.key, &signed);
                if changed {
                    self.ack(from, &[t.key]);
                }
            }
            Err(_) => self.stats.malformed += 1,
        }
    }

    fn expire_transfers(&mut self) {
        let timeout = self.config.transfer_timeout_ms;
        let now = self.now_ms;
        self.outgoing
            .retain(|_, t| now.saturating_sub(t.last_ms) <= timeout);
        let stale: Vec<(PeerAddr, u64)> = self
            .incoming
            .iter()
            .filter(|(_, t)| now.saturating_sub(t.last_ms) > timeout)
            .map(|(slot, _)| slot.clone())
            .collect();
        for slot in stale {
            self.drop_incoming(&slot);
        }
    }

    pub(crate) fn on_deltas(&mut self, from: &PeerAddr, deltas: Vec<(AgentId, SignedDelta<R>)>) {
        let mut changed = Vec::new();
        for (key, signed) in deltas {
            if self.apply_signed(from, key, &signed) {
                changed.push(key);
            }
        }
        if !changed.is_empty() {
            self.ack(from, &changed);
        }
    }

    /// Checks the author is the sending member and the signature holds,
    /// then applies; true when the state changed.
    fn apply_signed(&mut self, from: &PeerAddr, key: AgentId, signed: &SignedDelta<R>) -> bool {
        if self.active.get(from) != Some(&signed.author()) {
            self.stats.unknown_authors += 1;
            return false;
        }
        let delta = match signed.verify(|id| VerifyingKey::from_bytes(id.as_bytes()).ok()) {
            Ok(delta) => delta,
            Err(chrysalis_crdt::SignedDeltaError::Decode(_)) => {
                self.stats.malformed += 1;
                return false;
            }
            Err(_) => {
                self.stats.bad_signatures += 1;
                return false;
            }
        };
        let state = self.store.entry(key).or_default();
        let before = state.version();
        state.apply_delta(&delta);
        if state.version() == before {
            self.stats.deltas_redundant += 1;
            return false;
        }
        self.stats.deltas_applied += 1;
        self.hot.insert(key, self.round);
        self.events.push_back(crate::GossipEvent::AgentChanged(key));
        true
    }

    fn ack(&mut self, to: &PeerAddr, keys: &[AgentId]) {
        let entries: Vec<Entry<R::Version>> = keys
            .iter()
            .filter_map(|k| self.store.get(k).map(|s| (*k, s.version())))
            .collect();
        self.send_entries(to, entries, Frame::Ack);
    }

    /// Compacts every key to what all live members have acknowledged.
    pub(crate) fn collect_garbage(&mut self) {
        if self.active.is_empty() {
            return;
        }
        self.stats.gc_runs += 1;
        let empty = R::Version::default();
        let peers: Vec<&PeerAddr> = self.active.keys().collect();
        for (key, state) in self.store.iter_mut() {
            let mine = state.version();
            let mut versions = vec![&mine];
            for peer in &peers {
                let v = self
                    .acks
                    .get(*peer)
                    .and_then(|t| t.get(key))
                    .unwrap_or(&empty);
                versions.push(v);
            }
            let stable = R::stable_of(&versions);
            state.gc(&stable);
        }
    }

    /// The version of `agent` every live member has acknowledged (what GC
    /// compacts to).
    pub fn stable_version(&self, agent: &AgentId) -> R::Version {
        let empty = R::Version::default();
        let mine = self.store.get(agent).map(R::version).unwrap_or_default();
        let mut versions = vec![&mine];
        for peer in self.active.keys() {
            versions.push(
                self.acks
                    .get(peer)
                    .and_then(|t| t.get(agent))
                    .unwrap_or(&empty),
            );
        }
        R::stable_of(&versions)
    }
}
