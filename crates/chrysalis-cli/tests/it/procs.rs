//! Real `chrysalis up` processes for the multi-process tests: identities,
//! start-up on loopback, and polling with a deadline.

use crate::chrysalis;
use chrysalis_node::client::Client;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One `chrysalis up` process; killed when dropped.
pub(crate) struct NodeProc {
    pub(crate) child: Child,
    pub(crate) dir: PathBuf,
    pub(crate) url: String,
    pub(crate) gossip: String,
    pub(crate) token: String,
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NodeProc {
    /// A client for its HTTP API, with its token.
    pub(crate) fn client(&self) -> Client {
        Client::new(&self.url, Some(self.token.clone())).unwrap()
    }
}

/// Creates a node's identity; returns (node id, token).
pub(crate) fn init(dir: &Path) -> (String, String) {
    let out = chrysalis()
        .args(["up", "--init", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no {key} in {text}"))
    };
    (field("node_id: "), field("api_token: "))
}

/// `n` distinct loopback UDP addresses free at the time of asking (the
/// sockets are held together, so no address is handed out twice).
pub(crate) fn free_udp_addrs(n: usize) -> Vec<String> {
    let sockets: Vec<std::net::UdpSocket> = (0..n)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    sockets
        .iter()
        .map(|s| s.local_addr().unwrap().to_string())
        .collect()
}

/// Polls `check` until it holds; fails after 60 seconds.
pub(crate) fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Starts `chrysalis up` with its HTTP API on an OS-chosen port, QUIC on
/// `listen`, and `args`; waits for its `ready` line and a healthy `/health`.
pub(crate) fn start_up(dir: &Path, token: &str, listen: &str, args: &[String]) -> NodeProc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chrysalis"))
        .args(["up", "--http", "127.0.0.1:0", "--listen", listen])
        .args(["--log", "warn"])
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (mut url, mut gossip) = (String::new(), String::new());
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(v) = line.strip_prefix("http: ") {
            url = v.to_owned();
        } else if let Some(v) = line.strip_prefix("gossip: ") {
            gossip = v.to_owned();
        } else if line == "ready" {
            break;
        }
    }
    assert!(
        !url.is_empty() && !gossip.is_empty(),
        "the node did not report its addresses"
    );
    let node = NodeProc {
        child,
        dir: dir.to_path_buf(),
        url,
        gossip,
        token: token.to_owned(),
    };
    eventually("/health", || {
        Client::new(&node.url, None)
            .unwrap()
            .get("/health")
            .is_ok_and(|r| r.status == 200)
    });
    node
}
