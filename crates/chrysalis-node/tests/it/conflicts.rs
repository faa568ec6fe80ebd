//! Concurrent writes on two nodes, merged, queued for review, settled.

use crate::harness::{TestNode, eventually};
use serde_json::json;

#[test]
fn concurrent_levels_queue_a_conflict_that_settling_clears_on_both_nodes() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let id = "0123456789abcdef0123456789abcdef";
    // Two nodes that do not know each other write the same skill.
    let a = TestNode::start(da.path(), &[]);
    let b = TestNode::start(db.path(), &[]);
    for (node, level) in [(&a, 0.2), (&b, 0.9)] {
        let c = node.client();
        assert_eq!(
            c.post("/v1/agents", &json!({"id": id})).unwrap().status,
            201
        );
        let r = c.post(
            &format!("/v1/agents/{id}/skills"),
            &json!({"name": "go", "level": level}),
        );
        assert_eq!(r.unwrap().status, 200);
    }
    // B restarts joined to A: the writes meet.
    let a_addr = a.gossip_addr();
    b.stop();
    let b = TestNode::start(db.path(), &[a_addr]);
    let (ca, cb) = (a.client(), b.client());
    let digest = |c: &chrysalis_node::client::Client| {
        c.get("/v1/cluster/digest").unwrap().json()["digest"].clone()
    };
    eventually("the nodes to converge", || digest(&ca) == digest(&cb));
    let conflicts = ca.get("/v1/conflicts").unwrap().json();
    let list = conflicts["conflicts"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{conflicts}");
    assert_eq!(list[0]["skill"], "go");
    let cid = list[0]["id"].as_u64().unwrap();
    assert_eq!(ca.get(&format!("/v1/conflicts/{cid}")).unwrap().status, 200);
    let r = ca
        .post(
            &format!("/v1/conflicts/{cid}/settle"),
            &json!({"level": 0.5, "candidate": 0}),
        )
        .unwrap();
    assert_eq!(r.error_code().as_deref(), Some("invalid_body"));
    let r = ca
        .post(
            &format!("/v1/conflicts/{cid}/settle"),
            &json!({"level": 0.5}),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    let r = ca
        .post(
            &format!("/v1/conflicts/{cid}/settle"),
            &json!({"level": 0.5}),
        )
        .unwrap();
    assert_eq!(r.status, 404);
    eventually("the settlement to reach B", || {
        cb.get(&format!("/v1/agents/{id}")).unwrap().json()["skills"][0]["level"] == 0.5
    });
    assert_eq!(
        cb.get("/v1/conflicts").unwrap().json()["conflicts"],
        json!([])
    );
    let members = cb.get("/v1/cluster/members").unwrap().json();
    assert_eq!(members["members"].as_array().unwrap().len(), 1, "{members}");
    a.stop();
    b.stop();
}
