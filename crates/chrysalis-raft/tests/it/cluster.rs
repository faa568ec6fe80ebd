//! Three raft nodes over loopback QUIC: a leader is elected, writes through
//! a follower and the leader commit, the cluster survives the leader's
//! shutdown, and the old leader restarts from its database and catches up.
//! A write sent again under its id, before and after a leader change, is
//! applied once; every transaction is in the log exactly once.

use chrysalis_consensus::TxChain;
use chrysalis_crypto::ed25519::SigningKey;
use chrysalis_net::{Admission, Channel, Endpoint, NetConfig};
use chrysalis_raft::{EngineConfig, RaftEngine, Role, Validator, WriteError, Written};
use chrysalis_store::node_store::NodeStore;
use chrysalis_types::NodeId;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc;

struct Node {
    engine: RaftEngine<TxChain>,
    endpoint: Endpoint,
    pump: tokio::task::JoinHandle<()>,
}

type Bound = (
    Endpoint,
    mpsc::Receiver<chrysalis_net::Incoming>,
    tokio::task::JoinHandle<()>,
);

fn net_config() -> NetConfig {
    let mut config = NetConfig::default();
    config.connect_timeout_ms = 500;
    config
}

/// Binds an endpoint and routes its consensus frames to the returned inbox.
/// A restarted node rebinds its old address, which quinn releases shortly
/// after the old endpoint closes: the bind is retried for up to 5 s.
async fn bind(key: &SigningKey, addr: SocketAddr) -> Bound {
    let mut tries = 0;
    let endpoint = loop {
        match Endpoint::bind(addr, key, Admission::open(), net_config()) {
            Ok(endpoint) => break endpoint,
            Err(err) if tries < 250 => {
                tries += 1;
                tracing::debug!(%err, "address not released yet");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(err) => panic!("could not rebind {addr}: {err}"),
        }
    };
    let (tx, rx) = mpsc::channel(1024);
    let pump = endpoint.clone();
    let task = tokio::spawn(async move {
        while let Some(frame) = pump.recv().await {
            if frame.channel == Channel::CONSENSUS && tx.send(frame).await.is_err() {
                break;
            }
        }
    });
    (endpoint, rx, task)
}

async fn start(
    key: &SigningKey,
    (endpoint, inbox, pump): Bound,
    validators: &[Validator],
    dir: &Path,
    config: &EngineConfig,
) -> Node {
    let store = Arc::new(NodeStore::open(dir).unwrap());
    let me = NodeId::new(key.verifying_key().to_bytes());
    let engine = RaftEngine::start(
        me,
        validators,
        store,
        TxChain::default(),
        endpoint.clone(),
        inbox,
        config.clone(),
    )
    .await
    .unwrap();
    Node {
        engine,
        endpoint,
        pump,
    }
}

/// The node that leads the newest term, once another node follows it (a
/// node of an older term may still believe it leads until it hears of the
/// new one).
async fn leader(nodes: &[Option<Node>]) -> usize {
    let find = || {
        let status: Vec<_> = nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (i, n.engine.status())))
            .collect();
        let newest = status.iter().map(|(_, s)| s.term).max()?;
        let (leader, _) = status
            .iter()
            .find(|(_, s)| s.role == Role::Leader && s.term == newest)?;
        let followed = status
            .iter()
            .any(|(i, s)| i != leader && s.leader == Some(*leader as u64) && s.term == newest);
        followed.then_some(*leader)
    };
    let wait = async {
        loop {
            if let Some(leader) = find() {
                return leader;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .expect("a leader in time")
}

async fn wait_height(node: &Node, height: u64) {
    let mut watch = node.engine.height();
    tokio::time::timeout(Duration::from_secs(30), watch.wait_for(|h| *h >= height))
        .await
        .expect("height reached in time")
        .unwrap();
}

fn head(node: &Node) -> TxChain {
    node.engine.applied().machine.clone()
}

/// Three nodes on loopback, each with its own database directory.
struct Cluster {
    keys: Vec<SigningKey>,
    dirs: Vec<tempfile::TempDir>,
    validators: Vec<Validator>,
    nodes: Vec<Option<Node>>,
    config: EngineConfig,
}

impl Cluster {
    async fn start(config: EngineConfig) -> Self {
        let keys: Vec<SigningKey> = (1..=3u8).map(|i| SigningKey::from_seed(&[i; 32])).collect();
        let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let mut bound = Vec::new();
        for key in &keys {
            bound.push(bind(key, SocketAddr::from(([127, 0, 0, 1], 0))).await);
        }
        let validators: Vec<Validator> = keys
            .iter()
            .zip(&bound)
            .map(|(k, (e, _, _))| Validator {
                id: NodeId::new(k.verifying_key().to_bytes()),
                addr: e.local_addr().unwrap(),
            })
            .collect();
        let mut nodes = Vec::new();
        for ((key, bound), dir) in keys.iter().zip(bound).zip(&dirs) {
            nodes.push(Some(
                start(key, bound, &validators, dir.path(), &config).await,
            ));
        }
        Self {
            keys,
            dirs,
            validators,
            nodes,
            config,
        }
    }

    fn node(&self, i: usize) -> &Node {
        self.nodes[i].as_ref().unwrap()
    }

    /// Writes `txs` through node `via`; returns the new block's height.
    async fn write(&self, via: usize, txs: &[String]) -> u64 {
        let txs = txs.iter().map(|t| t.as_bytes().to_vec()).collect();
        match self.node(via).engine.write(txs).await.unwrap() {
            Written::Block(height) => height,
            other => panic!("a new write was answered {other:?}"),
        }
    }

    /// Waits until every running node applied `height`, then checks that
    /// they hold the same chain and the same blocks; returns the blocks.
    async fn agree(&self, height: u64, txs: u64) -> Vec<chrysalis_raft::Block> {
        for node in self.nodes.iter().flatten() {
            wait_height(node, height).await;
        }
        let heads: Vec<TxChain> = self.nodes.iter().flatten().map(head).collect();
        assert_eq!(heads[0].applied_txs, txs);
        assert!(heads.iter().all(|h| *h == heads[0]), "{heads:?}");
        let any = self.nodes.iter().flatten().next().unwrap();
        let blocks = any.engine.blocks(1, 100).unwrap();
        let heights: Vec<u64> = blocks.iter().map(|b| b.height).collect();
        assert_eq!(heights, (1..=height).collect::<Vec<_>>(), "no gaps");
        for node in self.nodes.iter().flatten() {
            assert_eq!(node.engine.blocks(1, 100).unwrap(), blocks);
        }
        let mut txs: Vec<&Vec<u8>> = blocks.iter().flat_map(|b| &b.txs).collect();
        assert_eq!(
            txs.len() as u64,
            heads[0].applied_txs,
            "blocks hold what was applied"
        );
        txs.sort();
        txs.dedup();
        assert_eq!(
            txs.len() as u64,
            heads[0].applied_txs,
            "every tx exactly once"
        );
        blocks
    }

    /// Stops node `i` (engine and endpoint); returns its address.
    async fn stop(&mut self, i: usize) -> SocketAddr {
        let Node {
            engine,
            endpoint,
            pump,
        } = self.nodes[i].take().unwrap();
        let addr = endpoint.local_addr().unwrap();
        engine.shutdown().await;
        // The engine holds the endpoint: drop it before closing, so quinn
        // releases the port.
        drop(engine);
        endpoint.close().await;
        pump.await.unwrap();
        addr
    }

    /// Restarts node `i` on `addr` from its database.
    async fn restart(&mut self, i: usize, addr: SocketAddr) {
        let bound = bind(&self.keys[i], addr).await;
        let dir = self.dirs[i].path();
        let node = start(&self.keys[i], bound, &self.validators, dir, &self.config).await;
        self.nodes[i] = Some(node);
    }
}

/// A frame from a node that is not a validator, and garbage from one that
/// is, are dropped and counted; neither changes the state.
async fn bad_frames_are_dropped(cluster: &Cluster, target: usize, insider: usize) {
    let to = &cluster.validators[target];
    let stats = || {
        let stats = cluster.node(target).engine.net_stats();
        stats.bad_frames.load(Ordering::Relaxed)
    };
    let before = (stats(), cluster.node(target).engine.applied().height);
    let stranger = SigningKey::from_seed(&[9; 32]);
    let (outsider, _inbox, _pump) = bind(&stranger, SocketAddr::from(([127, 0, 0, 1], 0))).await;
    let frame = b"{\"Request\":{\"id\":1,\"body\":{\"Write\":[\"00\"]}}}";
    let send = |endpoint: &Endpoint, bytes: &'static [u8]| {
        let endpoint = endpoint.clone();
        async move {
            let sent = endpoint.send(to.addr, Some(to.id), Channel::CONSENSUS, bytes);
            sent.await.unwrap();
        }
    };
    send(&outsider, frame).await;
    send(&cluster.node(insider).endpoint, b"not json").await;
    let counted = async {
        while stats() < before.0 + 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), counted)
        .await
        .expect("both frames counted as bad");
    let height = cluster.node(target).engine.applied().height;
    assert_eq!(height, before.1, "the outsider's write was not applied");
}

fn retried() -> Vec<Vec<u8>> {
    vec![b"retried".to_vec()]
}

/// A write sent again through node `via` under its id is appended again but
/// applied once, as block `height`; node `other` may not send it (the id is
/// not its own). Returns the id.
async fn resent_write_applies_once(
    cluster: &Cluster,
    via: usize,
    other: usize,
    height: u64,
) -> chrysalis_raft::WriteId {
    let engine = &cluster.node(via).engine;
    let id = engine.next_write_id();
    let sent = engine.write_as(id, retried()).await.unwrap();
    assert_eq!(sent, Written::Block(height));
    let again = engine.write_as(id, retried()).await.unwrap();
    assert_eq!(again, Written::AlreadyApplied(Some(height)));
    let foreign = cluster.node(other).engine.write_as(id, retried()).await;
    assert!(
        matches!(foreign, Err(WriteError::ForeignId(_))),
        "{foreign:?}"
    );
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_elect_commit_survive_the_leader_and_catch_up() {
    let mut cluster = Cluster::start(EngineConfig::default()).await;
    let first = leader(&cluster.nodes).await;
    let first_term = cluster.node(first).engine.status().term;
    let follower = (first + 1) % 3;
    let mut height = 0;
    for i in 0..5 {
        let via = if i % 2 == 0 { follower } else { first };
        height = cluster
            .write(via, &[format!("tx-{i}-a"), format!("tx-{i}-b")])
            .await;
    }
    assert_eq!(height, 5, "heights count application entries only");
    cluster.agree(5, 10).await;
    let empty = cluster.node(first).engine.write(vec![]).await;
    assert!(matches!(empty, Err(chrysalis_raft::WriteError::Empty)));
    bad_frames_are_dropped(&cluster, follower, first).await;

    let id = resent_write_applies_once(&cluster, follower, first, 6).await;
    let old_session = cluster.node(first).engine.session();

    // The leader stops; the other two elect a new one and go on.
    let old_addr = cluster.stop(first).await;
    for i in 0..3 {
        height = cluster.write(follower, &[format!("after-{i}")]).await;
    }
    assert_eq!(height, 9);
    // A node of the old term may still believe it leads until it hears
    // of the new one: wait for a leader of a later term.
    let newer = async {
        loop {
            let leads = cluster.nodes.iter().flatten().any(|n| {
                let s = n.engine.status();
                s.role == Role::Leader && s.term > first_term
            });
            if leads {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), newer)
        .await
        .expect("a leader of a later term");
    // The retry under the new leader is still known as applied.
    let engine = &cluster.node(follower).engine;
    let late = engine.write_as(id, retried()).await.unwrap();
    assert_eq!(late, Written::AlreadyApplied(Some(6)));

    // The old leader restarts from its database, in a new session, and
    // catches up.
    cluster.restart(first, old_addr).await;
    let restarted = &cluster.node(first).engine;
    assert!(restarted.session() > old_session);
    let restored = restarted.applied().height;
    assert!(restored >= 6, "restored from its database: {restored}");
    let blocks = cluster.agree(9, 14).await;
    let old_term = blocks[5].term;
    assert!(blocks[6..].iter().all(|b| b.term > old_term), "{blocks:?}");
    let ids: Vec<_> = blocks.iter().filter_map(|b| b.write).collect();
    assert!(ids.contains(&id), "the block records its write id");
    // Endpoints are dropped, not closed: a graceful close waits for the
    // peers' connections to drain.
    for node in cluster.nodes.into_iter().flatten() {
        node.engine.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_behind_the_purged_log_catches_up_from_a_snapshot() {
    let mut config = EngineConfig::default();
    config.snapshot_every = Some(4);
    config.logs_kept_after_snapshot = 0;
    let mut cluster = Cluster::start(config).await;
    let first = leader(&cluster.nodes).await;
    let lagging = (first + 1) % 3;
    cluster.write(first, &["before".to_owned()]).await;
    cluster.agree(1, 1).await;
    let addr = cluster.stop(lagging).await;
    for i in 0..12 {
        cluster.write(first, &[format!("while-away-{i}")]).await;
    }
    let leader_node = cluster.node(first);
    let purged = leader_node
        .engine
        .raft()
        .wait(Some(Duration::from_secs(20)))
        .metrics(|m| m.purged.is_some_and(|p| p.index >= 8), "log purged")
        .await
        .unwrap();
    assert!(purged.snapshot.is_some());
    cluster.restart(lagging, addr).await;
    wait_height(cluster.node(lagging), 13).await;
    let heads: Vec<TxChain> = cluster.nodes.iter().flatten().map(head).collect();
    assert!(heads.iter().all(|h| *h == heads[0]), "{heads:?}");
    assert_eq!(heads[0].applied_txs, 13);
    let snapshot = cluster
        .node(lagging)
        .engine
        .raft()
        .metrics()
        .borrow()
        .snapshot;
    assert!(snapshot.is_some(), "the lagging node installed a snapshot");
    // New blocks after the snapshot continue the heights everywhere.
    assert_eq!(cluster.write(lagging, &["after".to_owned()]).await, 14);
    for node in cluster.nodes.iter().flatten() {
        wait_height(node, 14).await;
        let last = node.engine.applied().last_block.clone().unwrap();
        assert_eq!(
            (last.height, last.txs.clone()),
            (14, vec![b"after".to_vec()])
        );
    }
    for node in cluster.nodes.into_iter().flatten() {
        node.engine.shutdown().await;
    }
}
