//! Nodes in this process, each on its own runtime, driven over loopback.

use chrysalis_node::client::Client;
use chrysalis_node::{Node, NodeConfig, NodeIdentity, NodeStore, ValidatorAddr};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

/// Data directories for `n` validators, their identities created, and the
/// validator list naming each at a loopback UDP address free at the time of
/// asking (the sockets are held together, so no address repeats).
pub(crate) fn validators(n: usize) -> (Vec<tempfile::TempDir>, Vec<ValidatorAddr>) {
    let dirs: Vec<_> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
    let sockets: Vec<std::net::UdpSocket> = (0..n)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let validators = dirs
        .iter()
        .zip(&sockets)
        .map(|(d, s)| ValidatorAddr {
            id: NodeIdentity::load_or_create(d.path(), None, 1)
                .unwrap()
                .node_id(),
            addr: s.local_addr().unwrap(),
        })
        .collect();
    (dirs, validators)
}

/// A two-thread runtime for one node.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub(crate) struct TestNode {
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) node: Option<Node>,
    pub(crate) token: String,
}

impl TestNode {
    /// Starts a node whose data lives in `dir`, joining `join`.
    pub(crate) fn start(dir: &Path, join: &[SocketAddr]) -> Self {
        Self::start_at(dir, join, "127.0.0.1:0".parse().unwrap())
    }

    /// Like [`TestNode::start`], with the gossip endpoint at `gossip_listen`.
    pub(crate) fn start_at(dir: &Path, join: &[SocketAddr], gossip_listen: SocketAddr) -> Self {
        let rt = runtime();
        let config = NodeConfig {
            data_dir: dir.to_path_buf(),
            http_listen: "127.0.0.1:0".parse().unwrap(),
            gossip_listen,
            join: join.to_vec(),
            gossip_interval_ms: 50,
            max_body_bytes: 4096,
            ..NodeConfig::default()
        };
        let identity = NodeIdentity::load_or_create(dir, None, 1).unwrap();
        let store = std::sync::Arc::new(NodeStore::open(dir).unwrap());
        let node = rt
            .block_on(Node::start(&config, &identity, Box::new(store)))
            .unwrap();
        Self {
            rt,
            node: Some(node),
            token: identity.api_token.expose_secret().clone(),
        }
    }

    fn node(&self) -> &Node {
        self.node.as_ref().unwrap()
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.node().http_addr)
    }

    pub(crate) fn gossip_addr(&self) -> SocketAddr {
        self.node().gossip_addr
    }

    pub(crate) fn client(&self) -> Client {
        Client::new(&self.url(), Some(self.token.clone())).unwrap()
    }

    pub(crate) fn anonymous(&self) -> Client {
        Client::new(&self.url(), None).unwrap()
    }

    pub(crate) fn stop(mut self) {
        if let Some(node) = self.node.take() {
            self.rt.block_on(node.shutdown());
        }
    }
}

/// Polls `check` until it holds or ten seconds pass.
pub(crate) fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
