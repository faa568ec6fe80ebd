//! chrysalis-net integration tests: real QUIC sockets on 127.0.0.1.

// Test helpers outside #[test] functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used)]

mod exchange;
mod frames;
mod pinning;

use chrysalis_crypto::ed25519::SigningKey;
use chrysalis_net::{Admission, Endpoint, Incoming, NetConfig};
use chrysalis_types::NodeId;
use std::net::SocketAddr;
use std::time::Duration;

/// A deterministic node key.
fn key(n: u8) -> SigningKey {
    SigningKey::from_seed(&[n; 32])
}

fn node(n: u8) -> NodeId {
    NodeId::new(key(n).verifying_key().to_bytes())
}

fn localhost() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Node `n` listening on a fresh port, admitting `peers`.
fn bind(n: u8, peers: &[u8]) -> Endpoint {
    bind_with(n, peers, NetConfig::default())
}

fn bind_with(n: u8, peers: &[u8], config: NetConfig) -> Endpoint {
    let admission = Admission::allowlist(peers.iter().map(|p| node(*p)));
    Endpoint::bind(localhost(), &key(n), admission, config).unwrap()
}

fn addr(endpoint: &Endpoint) -> SocketAddr {
    endpoint.local_addr().unwrap()
}

/// The next frame, failing the test rather than hanging if none comes.
async fn next(endpoint: &Endpoint) -> Incoming {
    tokio::time::timeout(Duration::from_secs(20), endpoint.recv())
        .await
        .expect("a frame within 20 s")
        .expect("the endpoint is open")
}
