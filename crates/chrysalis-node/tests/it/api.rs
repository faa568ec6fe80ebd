//! Authentication, limits, error codes, and a write then a read.

use crate::harness::TestNode;
use serde_json::json;

#[test]
fn health_is_open_and_everything_else_wants_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path(), &[]);
    let anon = node.anonymous();
    assert_eq!(anon.get("/health").unwrap().status, 200);
    for path in [
        "/v1/agents",
        "/metrics",
        "/openapi.json",
        "/v1/cluster/members",
    ] {
        let r = anon.get(path).unwrap();
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.error_code().as_deref(), Some("unauthorized"));
    }
    let wrong = chrysalis_node::client::Client::new(&node.url(), Some("chr_wrong".into())).unwrap();
    assert_eq!(wrong.post("/v1/agents", &json!({})).unwrap().status, 401);
    assert_eq!(node.client().get("/v1/agents").unwrap().status, 200);
    node.stop();
}

#[test]
fn bad_bodies_get_stable_codes() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path(), &[]);
    let c = node.client();
    let r = c.request("POST", "/v1/agents", Some(b"{not json")).unwrap();
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (400, Some("bad_json"))
    );
    let big = format!("{{\"id\": \"{}\"}}", "a".repeat(8192));
    let r = c
        .request("POST", "/v1/agents", Some(big.as_bytes()))
        .unwrap();
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (413, Some("body_too_large"))
    );
    let r = c.post("/v1/agents", &json!({"id": 7})).unwrap();
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (400, Some("invalid_body"))
    );
    let r = c.post("/v1/agents", &json!({"id": "zz"})).unwrap();
    assert_eq!((r.status, r.error_code().as_deref()), (400, Some("bad_id")));
    let r = c
        .get("/v1/agents/00000000000000000000000000000000")
        .unwrap();
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (404, Some("not_found"))
    );
    let r = c.get("/v1/nothing").unwrap();
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (404, Some("route_not_found"))
    );
    let r = c.request("DELETE", "/v1/agents", None).unwrap();
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (405, Some("method_not_allowed"))
    );
    let id = c.post("/v1/agents", &json!({})).unwrap().json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = c
        .post(
            &format!("/v1/agents/{id}/skills"),
            &json!({"name": "x", "level": 3.0}),
        )
        .unwrap();
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (400, Some("invalid_value"))
    );
    let r = c.post("/v1/agents", &json!({"id": id})).unwrap();
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (409, Some("agent_exists"))
    );
    node.stop();
}

#[test]
fn a_skill_update_then_a_read_shows_it_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path(), &[]);
    let c = node.client();
    let created = c.post("/v1/agents", &json!({})).unwrap();
    assert_eq!(created.status, 201);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let r = c
        .post(
            &format!("/v1/agents/{id}/skills"),
            &json!({"name": "rust", "level": 0.75}),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    let r = c
        .post(
            &format!("/v1/agents/{id}/episodes"),
            &json!({"summary": "shipped"}),
        )
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text);
    let agent = c.get(&format!("/v1/agents/{id}")).unwrap().json();
    assert_eq!(agent["skills"][0]["name"], "rust");
    assert_eq!(agent["skills"][0]["level"], 0.75);
    assert_eq!(agent["episodes"][0]["summary"], "shipped");
    let metrics = c.get("/metrics").unwrap().text;
    assert!(
        metrics.contains("route=\"/v1/agents/{id}/skills\",status=\"200\""),
        "{metrics}"
    );
    node.stop();

    let again = TestNode::start(dir.path(), &[]);
    let agent = again
        .client()
        .get(&format!("/v1/agents/{id}"))
        .unwrap()
        .json();
    assert_eq!(agent["skills"][0]["level"], 0.75);
    again.stop();
}
