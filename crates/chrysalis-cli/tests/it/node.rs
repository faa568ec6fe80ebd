//! `chrysalis up|status|agent` as real processes on loopback: five nodes
//! converge under concurrent writes and a SIGKILL, a node outside the
//! allowlist is refused, and bad arguments fail clearly.

use crate::chrysalis;
use crate::procs::{NodeProc, eventually, init, start_up};
use predicates::prelude::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Starts a node on OS-chosen ports that joins `join` and admits `allow`.
fn start(dir: &Path, token: &str, join: &[&str], allow: &[String]) -> NodeProc {
    let mut args = Vec::new();
    for addr in join {
        args.extend(["--join".to_owned(), (*addr).to_owned()]);
    }
    for id in allow {
        args.extend(["--allow".to_owned(), id.clone()]);
    }
    start_up(dir, token, "127.0.0.1:0", &args)
}

/// What the tests read from and write to a node.
trait Api {
    fn get(&self, path: &str) -> Value;
    fn post(&self, path: &str, body: Value) -> Value;
    fn alive_members(&self) -> usize;
    fn digest(&self) -> Value;
}

impl Api for NodeProc {
    fn get(&self, path: &str) -> Value {
        let r = self.client().get(path).unwrap();
        assert_eq!(r.status, 200, "GET {path}: {}", r.text);
        r.json()
    }

    fn post(&self, path: &str, body: Value) -> Value {
        let r = self.client().post(path, &body).unwrap();
        assert!((200..300).contains(&r.status), "POST {path}: {}", r.text);
        r.json()
    }

    fn alive_members(&self) -> usize {
        let m = self.get("/v1/cluster/members");
        m["members"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["alive"] == true)
            .count()
    }

    fn digest(&self) -> Value {
        self.get("/v1/cluster/digest")
    }
}

fn agent_id(i: usize) -> String {
    format!("{i:032x}")
}

#[test]
fn five_nodes_converge_through_concurrent_writes_and_a_sigkill() {
    let root = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = (0..5).map(|i| root.path().join(format!("n{i}"))).collect();
    let ids: Vec<(String, String)> = dirs.iter().map(|d| init(d)).collect();
    let allow: Vec<String> = ids.iter().map(|(id, _)| id.clone()).collect();
    let first = start(&dirs[0], &ids[0].1, &[], &allow);
    let seed = first.gossip.clone();
    let mut nodes = vec![first];
    for i in 1..5 {
        nodes.push(start(&dirs[i], &ids[i].1, &[&seed], &allow));
    }
    for n in &nodes {
        eventually("full membership", || n.alive_members() == 4);
    }
    // A shared agent every node writes to, and one agent per node.
    nodes[0].post("/v1/agents", json!({"id": agent_id(100)}));
    eventually("the shared agent everywhere", || {
        nodes.iter().all(|n| {
            n.client()
                .get(&format!("/v1/agents/{}", agent_id(100)))
                .unwrap()
                .status
                == 200
        })
    });
    std::thread::scope(|s| {
        for (i, n) in nodes.iter().enumerate() {
            s.spawn(move || {
                n.post("/v1/agents", json!({"id": agent_id(i)}));
                for k in 0..10 {
                    let level = f64::from(k as u32) / 10.0;
                    n.post(
                        &format!("/v1/agents/{}/skills", agent_id(i)),
                        json!({"name": format!("s{k}"), "level": level}),
                    );
                    n.post(
                        &format!("/v1/agents/{}/skills", agent_id(100)),
                        json!({"name": format!("n{i}"), "level": level}),
                    );
                    n.post(
                        &format!("/v1/agents/{}/skills", agent_id(100)),
                        json!({"name": "contended", "level": level}),
                    );
                }
                n.post(
                    &format!("/v1/agents/{}/episodes", agent_id(i)),
                    json!({"summary": format!("node {i} wrote")}),
                );
            });
        }
    });
    // Node 2 acknowledged more writes, then dies without warning.
    nodes[2].post(
        &format!("/v1/agents/{}/skills", agent_id(2)),
        json!({"name": "last", "level": 0.42}),
    );
    let victim = nodes.remove(2);
    let victim_dir = victim.dir.clone();
    drop(victim); // SIGKILL
    // The others go on writing while it is down.
    nodes[0].post(
        &format!("/v1/agents/{}/skills", agent_id(100)),
        json!({"name": "while-down", "level": 0.5}),
    );
    let restarted = start(&victim_dir, &ids[2].1, &[&seed], &allow);
    let own = restarted.get(&format!("/v1/agents/{}", agent_id(2)));
    let last = own["skills"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "last")
        .cloned();
    assert_eq!(
        last.map(|s| s["level"].clone()),
        Some(json!(0.42)),
        "an acknowledged write was lost"
    );
    nodes.insert(2, restarted);
    eventually("all five digests equal", || {
        let digests: Vec<Value> = nodes.iter().map(NodeProc::digest).collect();
        digests.iter().all(|d| d == &digests[0]) && digests[0]["agents"] == 6
    });
    let shared = nodes[3].get(&format!("/v1/agents/{}", agent_id(100)));
    let names: Vec<&str> = shared["skills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for expected in ["contended", "n0", "n1", "n2", "n3", "n4", "while-down"] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    // The CLI reads the same node.
    chrysalis()
        .args(["status", "--url", &nodes[1].url, "--token", &nodes[1].token])
        .assert()
        .success()
        .stdout(predicate::str::contains("members  4"));
    chrysalis()
        .args([
            "agent",
            "--url",
            &nodes[4].url,
            "--token",
            &nodes[4].token,
            "get",
            &agent_id(2),
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"last\""));
    // SIGTERM: a node with live peers shuts down gracefully, and promptly.
    let mut leaving = nodes.remove(0);
    let pid = leaving.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = leaving.child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "the node did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(25));
    };
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn a_node_outside_the_allowlist_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let (da, db, df) = (
        root.path().join("a"),
        root.path().join("b"),
        root.path().join("f"),
    );
    let (ia, ta) = init(&da);
    let (ib, tb) = init(&db);
    let (_if, tf) = init(&df);
    let allow = vec![ia.clone(), ib.clone()];
    let a = start(&da, &ta, &[], &allow);
    let b = start(&db, &tb, &[&a.gossip], &allow);
    // The foreign node admits A and joins it; A has never heard of it.
    let foreign = start(&df, &tf, &[&a.gossip], &[ia]);
    foreign.post("/v1/agents", json!({"id": agent_id(7)}));
    eventually("A to refuse the foreign node's handshakes", || {
        a.get("/v1/cluster/gossip")["handshakes_refused"]
            .as_u64()
            .unwrap()
            >= 2
    });
    eventually("A and B to see each other", || {
        a.alive_members() == 1 && b.alive_members() == 1
    });
    for n in [&a, &b] {
        let members = n.get("/v1/cluster/members");
        assert!(
            !members.to_string().contains(&_if),
            "the foreign node became a member"
        );
        assert_eq!(
            n.get("/v1/agents")["agents"],
            json!([]),
            "the foreign node's agent leaked in"
        );
    }
    assert_eq!(foreign.alive_members(), 0);
}

#[test]
fn bad_arguments_fail_clearly() {
    chrysalis()
        .args([
            "agent",
            "--url",
            "http://127.0.0.1:1",
            "--token",
            "x",
            "skill",
            &agent_id(1),
            "rust",
            "1.5",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("outside [0, 1]"));
    chrysalis()
        .args(["agent", "get", "not-an-id"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("agent id"));
    chrysalis()
        .args(["up", "--allow", "abc", "--init"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("node id"));
    chrysalis()
        .args(["status", "--url", "http://127.0.0.1:1", "--token", "x"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("error: could not reach"));
    chrysalis()
        .args(["status", "--url", "ftp://nope"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not an http://host:port URL"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("node.toml");
    std::fs::write(&config, "gossip_interval_ms = \"fast\"\n").unwrap();
    chrysalis()
        .args(["up", "--init", "--config"])
        .arg(&config)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("node.toml"));
}

#[test]
fn status_and_agent_commands_against_a_running_node() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("n");
    let (_, token) = init(&data);
    let node = start(&data, &token, &[], &[]);
    let data_arg = data.to_str().unwrap();
    // The token is read from the data directory's vault.
    let out = chrysalis()
        .args([
            "agent",
            "--url",
            &node.url,
            "--data-dir",
            data_arg,
            "create",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    chrysalis()
        .args([
            "agent",
            "--url",
            &node.url,
            "--data-dir",
            data_arg,
            "skill",
            &id,
            "rust",
            "0.8",
        ])
        .assert()
        .success();
    chrysalis()
        .args([
            "agent",
            "--url",
            &node.url,
            "--data-dir",
            data_arg,
            "episode",
            &id,
            "learned rust",
        ])
        .assert()
        .success();
    chrysalis()
        .env("CHRYSALIS_TOKEN", &token)
        .args(["agent", "--url", &node.url, "list"])
        .assert()
        .success()
        .stdout(format!("{id}\n"));
    let agent = node.get(&format!("/v1/agents/{id}"));
    assert_eq!(agent["skills"][0]["level"], 0.8);
    assert_eq!(agent["episodes"][0]["summary"], "learned rust");
    chrysalis()
        .args(["agent", "--url", &node.url, "list"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("unauthorized"));
    chrysalis()
        .args(["status", "--url", &node.url, "--data-dir", data_arg])
        .assert()
        .success()
        .stdout(predicate::str::contains("health   ok"));
}
