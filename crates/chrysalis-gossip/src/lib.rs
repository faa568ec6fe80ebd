//! The gossip core of a Chrysalis node, sans-IO: SWIM membership and
//! failure detection ([`foca`]) and delta anti-entropy of replicated CRDT
//! state (by default `AgentId → AgentState`).
//!
//! A [`GossipNode`] is a deterministic state machine. The shell (the real
//! node over QUIC, or `chrysalis-sim` in tests) drives it:
//!
//! - inputs: [`GossipNode::handle_message`] (a frame from a peer address),
//!   [`GossipNode::handle_timer`] (a timer it asked for has fired),
//!   [`GossipNode::update`] / [`GossipNode::local_update`] (a local write),
//!   [`GossipNode::join`], [`GossipNode::leave`]; each takes `now_ms`;
//! - outputs: [`GossipNode::poll_transmit`] (frames to send),
//!   [`GossipNode::poll_timer`] (timers to schedule, with their delay),
//!   [`GossipNode::poll_event`] (members up/down, agents changed).
//!
//! Every round (default 200 ms) a node sends a digest of version vectors to
//! at most `fanout` (default 3) members; a member replies with signed deltas
//! for exactly what the sender lacks and asks for what it lacks itself.
//! Replies are bounded (`max_reply_frames` frames of `max_message_bytes`);
//! a delta too large for one frame streams in chunks across rounds. Deltas
//! are signed by the node that sends them (domain-separated Ed25519,
//! [`chrysalis_crdt::SignedDelta`]) and verified before they are applied;
//! acknowledged versions drive causal-stability garbage collection.
//!
//! The wire format is one versioned frame type, [`Frame`]. Malformed input
//! is an error, counted, never a panic.
//!
//! Layer L1: no I/O, no clocks, no entropy source; time and seeds come in
//! as arguments.

mod config;
mod frame;
mod identity;
mod node;
mod replica;
mod sync;

pub use config::{ConfigError, GossipConfig, MIN_MESSAGE_BYTES, swim_config};
pub use frame::{Chunk, Digest, Entry, Frame};
pub use identity::{AddrTooLong, MAX_ADDR_BYTES, MemberId, PeerAddr, SwimCodec};
pub use node::{
    GossipError, GossipEvent, GossipNode, GossipStats, GossipTimer, MemberInfo, MemberState,
    NewNodeError, Transmit,
};
pub use replica::Replicated;
