//! The OpenAPI document parses as OpenAPI and describes exactly the routes
//! the router serves.

use crate::harness::TestNode;
use chrysalis_node::http::ROUTES;
use std::collections::BTreeSet;

#[test]
fn the_document_is_valid_and_matches_the_router() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path(), &[]);
    let c = node.client();
    let r = c.get("/openapi.json").unwrap();
    assert_eq!(r.status, 200);
    let doc: openapiv3::OpenAPI = serde_json::from_str(&r.text).expect("a valid OpenAPI document");
    assert!(doc.openapi.starts_with("3.1"));
    let mut described = BTreeSet::new();
    let mut operation_ids = BTreeSet::new();
    for (path, item) in &doc.paths.paths {
        let item = item.as_item().expect("inline path items");
        for (method, op) in item.iter() {
            described.insert((method.to_uppercase(), path.clone()));
            assert!(
                !op.responses.responses.is_empty(),
                "{method} {path} has no responses"
            );
            let id = op.operation_id.clone().expect("every operation has an id");
            assert!(operation_ids.insert(id), "duplicate operation id");
            for p in &op.parameters {
                let p = p.as_item().unwrap().parameter_data_ref();
                assert!(
                    path.contains(&format!("{{{}}}", p.name)),
                    "{path} lacks {{{}}}",
                    p.name
                );
            }
        }
    }
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.as_str().to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(described, routed);
    // Every listed route is really served: none falls through to the fallback.
    for (method, path) in ROUTES {
        let concrete = path.replace("{id}", "1");
        let body = (*method == axum::http::Method::POST).then_some(&b"{}"[..]);
        let r = c.request(method.as_str(), &concrete, body).unwrap();
        assert_ne!(
            r.error_code().as_deref(),
            Some("route_not_found"),
            "{method} {path}"
        );
        assert_ne!(r.status, 405, "{method} {path}");
    }
    node.stop();
}
