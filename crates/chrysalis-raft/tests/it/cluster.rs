//! Three raft nodes over loopback QUIC: a leader is elected, writes through
//! a follower and the leader commit, the cluster survives the leader's
//! shutdown, and the old leader restarts from its database and catches up.

use chrysalis_consensus::{Height, StateMachine, Tx};
use chrysalis_crypto::ed25519::SigningKey;
use chrysalis_net::{Admission, Channel, Endpoint, NetConfig};
use chrysalis_raft::{EngineConfig, RaftEngine, Role, Validator};
use chrysalis_store::node_store::NodeStore;
use chrysalis_types::NodeId;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc;

/// A hash chain over the applied transactions, as the node's `TxChain`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Chain {
    head: [u8; 32],
    txs: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("bad chain snapshot")]
struct BadChain;

impl StateMachine for Chain {
    type Error = BadChain;

    fn apply(&mut self, height: Height, txs: &[Tx]) {
        for tx in txs {
            let mut h = blake3::Hasher::new();
            h.update(&self.head);
            h.update(&height.0.to_be_bytes());
            h.update(&tx.0);
            self.head = *h.finalize().as_bytes();
            self.txs += 1;
        }
    }

    fn snapshot(&self) -> Vec<u8> {
        let mut out = self.head.to_vec();
        out.extend_from_slice(&self.txs.to_be_bytes());
        out
    }

    fn restore(&mut self, s: &[u8]) -> Result<(), BadChain> {
        let (head, txs) = s.split_at_checked(32).ok_or(BadChain)?;
        self.head = head.try_into().map_err(|_| BadChain)?;
        self.txs = u64::from_be_bytes(txs.try_into().map_err(|_| BadChain)?);
        Ok(())
    }
}

struct Node {
    engine: RaftEngine<Chain>,
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
) -> Node {
    let store = Arc::new(NodeStore::open(dir).unwrap());
    let me = NodeId::new(key.verifying_key().to_bytes());
    let engine = RaftEngine::start(
        me,
        validators,
        store,
        Chain::default(),
        endpoint.clone(),
        inbox,
        EngineConfig::default(),
    )
    .await
    .unwrap();
    Node {
        engine,
        endpoint,
        pump,
    }
}

async fn leader(nodes: &[Option<Node>]) -> usize {
    let any = nodes.iter().flatten().next().unwrap();
    let m = any
        .engine
        .raft()
        .wait(Some(Duration::from_secs(20)))
        .metrics(|m| m.current_leader.is_some(), "a leader")
        .await
        .unwrap();
    let leader = m.current_leader.unwrap() as usize;
    // Wait until the leader itself knows it leads.
    nodes[leader]
        .as_ref()
        .unwrap()
        .engine
        .raft()
        .wait(Some(Duration::from_secs(20)))
        .metrics(|m| m.current_leader == Some(leader as u64), "leads")
        .await
        .unwrap();
    leader
}

async fn wait_height(node: &Node, height: u64) {
    let mut watch = node.engine.height();
    tokio::time::timeout(Duration::from_secs(30), watch.wait_for(|h| *h >= height))
        .await
        .expect("height reached in time")
        .unwrap();
}

fn head(node: &Node) -> Chain {
    node.engine.applied().machine.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_elect_commit_survive_the_leader_and_catch_up() {
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
    let mut nodes: Vec<Option<Node>> = Vec::new();
    for ((key, bound), dir) in keys.iter().zip(bound).zip(&dirs) {
        nodes.push(Some(start(key, bound, &validators, dir.path()).await));
    }

    let first = leader(&nodes).await;
    let follower = (first + 1) % 3;
    let mut height = 0;
    for i in 0..5u32 {
        let via = if i % 2 == 0 { follower } else { first };
        let txs = vec![
            format!("tx-{i}-a").into_bytes(),
            format!("tx-{i}-b").into_bytes(),
        ];
        height = nodes[via]
            .as_ref()
            .unwrap()
            .engine
            .write(txs)
            .await
            .unwrap();
    }
    assert_eq!(height, 5, "heights count application entries only");
    for node in nodes.iter().flatten() {
        wait_height(node, 5).await;
    }
    let heads: Vec<Chain> = nodes.iter().flatten().map(head).collect();
    assert_eq!(heads[0].txs, 10);
    assert!(heads.iter().all(|h| *h == heads[0]));
    let blocks = nodes[first]
        .as_ref()
        .unwrap()
        .engine
        .blocks(1, 100)
        .unwrap();
    assert_eq!(
        blocks.iter().map(|b| b.height).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    for node in nodes.iter().flatten() {
        assert_eq!(node.engine.blocks(1, 100).unwrap(), blocks);
    }
    let empty = nodes[first].as_ref().unwrap().engine.write(vec![]).await;
    assert!(matches!(empty, Err(chrysalis_raft::WriteError::Empty)));

    // A frame from a node that is not a validator, and garbage from one
    // that is, are dropped and counted.
    let target = &validators[follower];
    let stats = || {
        let node = nodes[follower].as_ref().unwrap();
        node.engine.net_stats().bad_frames.load(Ordering::Relaxed)
    };
    let bad_before = stats();
    let stranger = SigningKey::from_seed(&[9; 32]);
    let (outsider, _inbox, _pump) = bind(&stranger, SocketAddr::from(([127, 0, 0, 1], 0))).await;
    let frame = b"{\"Request\":{\"id\":1,\"body\":{\"Write\":[\"00\"]}}}";
    outsider
        .send(target.addr, Some(target.id), Channel::CONSENSUS, frame)
        .await
        .unwrap();
    let insider = &nodes[first].as_ref().unwrap().endpoint;
    insider
        .send(
            target.addr,
            Some(target.id),
            Channel::CONSENSUS,
            b"not json",
        )
        .await
        .unwrap();
    let counted = async {
        while stats() < bad_before + 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), counted)
        .await
        .expect("both frames counted as bad");
    assert_eq!(
        nodes[follower].as_ref().unwrap().engine.applied().height,
        5,
        "the outsider's write was not applied"
    );

    // The leader stops; the other two elect a new one and go on.
    let old = nodes[first].take().unwrap();
    let old_addr = old.endpoint.local_addr().unwrap();
    let Node {
        engine,
        endpoint,
        pump,
    } = old;
    engine.shutdown().await;
    // The engine holds the endpoint: drop it before closing, so quinn
    // releases the port.
    drop(engine);
    endpoint.close().await;
    pump.await.unwrap();
    drop(endpoint);
    let survivor = (first + 1) % 3;
    for i in 0..3u32 {
        let txs = vec![format!("after-{i}").into_bytes()];
        height = nodes[survivor]
            .as_ref()
            .unwrap()
            .engine
            .write(txs)
            .await
            .unwrap();
    }
    assert_eq!(height, 8);
    let second = leader(&nodes).await;
    assert_ne!(second, first);
    let term = nodes[second].as_ref().unwrap().engine.status().term;
    assert!(term > 1, "a new term: {term}");
    assert_eq!(
        nodes[second].as_ref().unwrap().engine.status().role,
        Role::Leader
    );

    // The old leader restarts from its database and catches up.
    let bound = bind(&keys[first], old_addr).await;
    let back = start(&keys[first], bound, &validators, dirs[first].path()).await;
    assert!(
        back.engine.applied().height >= 5,
        "restored from its database"
    );
    nodes[first] = Some(back);
    for node in nodes.iter().flatten() {
        wait_height(node, 8).await;
    }
    let heads: Vec<Chain> = nodes.iter().flatten().map(head).collect();
    assert_eq!(heads[0].txs, 13);
    assert!(heads.iter().all(|h| *h == heads[0]), "{heads:?}");
    let blocks = nodes[second]
        .as_ref()
        .unwrap()
        .engine
        .blocks(1, 100)
        .unwrap();
    assert_eq!(blocks.len(), 8);
    for node in nodes.iter().flatten() {
        assert_eq!(node.engine.blocks(1, 100).unwrap(), blocks);
    }
    // Endpoints are dropped, not closed: a graceful close waits for the
    // peers' connections to drain.
    for node in nodes.into_iter().flatten() {
        node.engine.shutdown().await;
    }
}
