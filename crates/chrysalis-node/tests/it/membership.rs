//! SWIM membership and anti-entropy through the node: an agent created
//! empty replicates and is persisted where it arrives; a node that leaves is
//! seen down, and comes back alive under a higher incarnation.

use crate::harness::{TestNode, eventually};
use chrysalis_node::client::Client;
use serde_json::{Value, json};

/// `(state, bump)` of each member `c`'s node lists.
fn members(c: &Client) -> Vec<(String, u64)> {
    let view = c.get("/v1/cluster/members").unwrap().json();
    view["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["alive"] == true, m["state"] == "alive", "{m}");
            (
                m["state"].as_str().unwrap().to_owned(),
                m["bump"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn agents(c: &Client) -> Value {
    c.get("/v1/agents").unwrap().json()["agents"].clone()
}

#[test]
fn an_empty_agent_replicates_and_a_restarted_node_rejoins_at_a_higher_bump() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = TestNode::start(da.path(), &[]);
    let b = TestNode::start(db.path(), &[a.gossip_addr()]);
    let (ca, cb) = (a.client(), b.client());
    eventually("both members alive", || {
        members(&ca) == [("alive".to_owned(), 0)] && members(&cb) == [("alive".to_owned(), 0)]
    });
    let id = "00112233445566778899aabbccddeeff";
    let r = ca.post("/v1/agents", &json!({"id": id})).unwrap();
    assert_eq!(r.status, 201, "{}", r.text);
    eventually("the empty agent on b", || agents(&cb) == json!([id]));

    // B leaves gracefully: A sees it down at once (no suspicion timeout).
    let b_addr = b.gossip_addr();
    b.stop();
    eventually("b down on a", || members(&ca) == [("down".to_owned(), 0)]);

    // B comes back at the same address: what it received was persisted,
    // and SWIM takes it back under its next incarnation.
    let b = TestNode::start_at(db.path(), &[a.gossip_addr()], b_addr);
    let cb = b.client();
    assert_eq!(
        agents(&cb),
        json!([id]),
        "a replicated agent was not persisted"
    );
    eventually("b alive again on a", || {
        members(&ca) == [("alive".to_owned(), 1)]
    });
    let r = cb
        .post(
            &format!("/v1/agents/{id}/skills"),
            &json!({"name": "swim", "level": 0.5}),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    let digest = |c: &Client| c.get("/v1/cluster/digest").unwrap().json();
    eventually("the write on a", || digest(&ca) == digest(&cb));
    let gossip = ca.get("/v1/cluster/gossip").unwrap().json();
    assert!(gossip["deltas_applied"].as_u64().unwrap() >= 1, "{gossip}");
    assert!(
        gossip["swim_frames_received"].as_u64().unwrap() >= 1,
        "{gossip}"
    );
}
