//! A local cluster for the demo: `chrysalis up` processes on loopback, each
//! with its own data directory, ports, sealed identity and API token.
//!
//! Every node's identity is created before any node starts, so each one can
//! be told exactly which peers to admit (the allowlist pins their keys).

use anyhow::{Context, Result, bail};
use chrysalis_node::NodeIdentity;
use chrysalis_node::client::Client;
use chrysalis_node::identity::read_api_token;
use chrysalis_types::NodeId;
use std::fs::File;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a node may take to answer `/health` after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// One node of the local cluster.
pub(super) struct LocalNode {
    /// Its position, from 1.
    pub(super) number: usize,
    /// Its public key.
    pub(super) id: NodeId,
    pub(super) http: SocketAddr,
    pub(super) gossip: SocketAddr,
    pub(super) dir: PathBuf,
    token: String,
    child: Option<Child>,
}

impl LocalNode {
    /// A client for its HTTP API.
    pub(super) fn client(&self) -> Result<Client> {
        Ok(Client::new(
            &format!("http://{}", self.http),
            Some(self.token.clone()),
        )?)
    }

    /// The process id while it runs.
    pub(super) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether its process is running.
    pub(super) fn is_up(&self) -> bool {
        self.child.is_some()
    }

    /// A short form of its id for tables.
    pub(super) fn short_id(&self) -> String {
        self.id.to_string()[..8].to_owned()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("node.log")
    }
}

/// The nodes, their processes, and the binary that runs them.
pub(super) struct Cluster {
    exe: PathBuf,
    pub(super) nodes: Vec<LocalNode>,
    gossip_interval_ms: u64,
}

impl Cluster {
    /// Creates `count` nodes' identities under `root`; starts nothing yet.
    pub(super) fn prepare(root: &Path, count: usize, gossip_interval_ms: u64) -> Result<Self> {
        let exe = std::env::current_exe().context("cannot find the chrysalis binary")?;
        let mut nodes = Vec::with_capacity(count);
        // Hold every chosen port until all are chosen, so none repeats.
        let mut held = Vec::with_capacity(count);
        for number in 1..=count {
            let dir = root.join(format!("node-{number}"));
            let identity = NodeIdentity::load_or_create(&dir, None, crate::now_ms())
                .with_context(|| format!("node {number}: creating its identity"))?;
            let token = read_api_token(&dir, None)?.expose_secret().clone();
            let http = TcpListener::bind("127.0.0.1:0")?;
            let gossip = UdpSocket::bind("127.0.0.1:0")?;
            nodes.push(LocalNode {
                number,
                id: identity.node_id(),
                http: http.local_addr()?,
                gossip: gossip.local_addr()?,
                dir,
                token,
                child: None,
            });
            held.push((http, gossip));
        }
        drop(held);
        Ok(Self {
            exe,
            nodes,
            gossip_interval_ms,
        })
    }

    /// Starts node `index` (from 0) and waits until it answers `/health`.
    pub(super) fn start(&mut self, index: usize) -> Result<()> {
        let seed = self.nodes[0].gossip;
        // Every node is a validator; consensus shares the QUIC endpoint.
        let validators: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("{}@{}", n.id, n.gossip))
            .collect();
        let allow: Vec<String> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != index)
            .map(|(_, n)| n.id.to_string())
            .collect();
        let node = &mut self.nodes[index];
        let log = File::options()
            .create(true)
            .append(true)
            .open(node.log_path())?;
        let mut cmd = Command::new(&self.exe);
        cmd.arg("up")
            .arg("--data-dir")
            .arg(&node.dir)
            .arg("--http")
            .arg(node.http.to_string())
            .arg("--listen")
            .arg(node.gossip.to_string())
            .arg("--gossip-interval-ms")
            .arg(self.gossip_interval_ms.to_string())
            .arg("--log")
            .arg("warn");
        if index != 0 {
            cmd.arg("--join").arg(seed.to_string());
        }
        for id in &allow {
            cmd.arg("--allow").arg(id);
        }
        for validator in &validators {
            cmd.arg("--validator").arg(validator);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting node {}", node.number))?;
        node.child = Some(child);
        wait_healthy(node)
    }

    /// Kills node `index` with SIGKILL: no shutdown, no flush.
    pub(super) fn kill(&mut self, index: usize) -> Result<()> {
        if let Some(mut child) = self.nodes[index].child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// The gossip period the nodes run with.
    pub(super) fn gossip_interval_ms(&self) -> u64 {
        self.gossip_interval_ms
    }

    /// Stops every node: SIGTERM to all, a bounded wait for them together,
    /// then SIGKILL for any still running.
    pub(super) fn stop_all(&mut self) {
        let mut children: Vec<Child> = self
            .nodes
            .iter_mut()
            .filter_map(|n| n.child.take())
            .collect();
        for child in &children {
            terminate(child);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            children.retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_))));
            if children.is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for mut child in children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Sends SIGTERM: the node shuts down gracefully.
fn terminate(child: &Child) {
    if let Some(pid) = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
}

fn wait_healthy(node: &mut LocalNode) -> Result<()> {
    let client = node.client()?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(resp) = client.get("/health")
            && resp.status == 200
        {
            return Ok(());
        }
        if let Some(child) = node.child.as_mut()
            && let Some(status) = child.try_wait()?
        {
            node.child = None;
            bail!(
                "node {} exited ({status}) before it was ready; its log:\n{}",
                node.number,
                log_tail(&node.log_path())
            );
        }
        if Instant::now() > deadline {
            bail!(
                "node {} did not answer /health within {:?}; its log:\n{}",
                node.number,
                START_TIMEOUT,
                log_tail(&node.log_path())
            );
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
