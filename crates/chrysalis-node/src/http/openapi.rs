//! The OpenAPI 3.1 document of the API, built by hand with `serde_json`
//! (no derive machinery to compile). A test checks it parses as an OpenAPI
//! document and describes exactly [`super::ROUTES`].

use super::error::ERROR_CODES;
use serde_json::{Map, Value, json};

fn obj(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required})
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn hex_id(len: usize) -> Value {
    json!({"type": "string", "pattern": format!("^[0-9a-f]{{{len}}}$")})
}

fn response(description: &str, schema: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": reference(schema)}}})
}

fn error(description: &str) -> Value {
    response(description, "Error")
}

/// An operation: id, summary, success status and schema, error statuses,
/// optional request body schema and path parameter.
fn op(
    id: &str,
    summary: &str,
    ok: (&str, &str),
    errors: &[(&str, &str)],
    body: Option<&str>,
    param: Option<Value>,
) -> Value {
    let mut responses = Map::new();
    responses.insert(ok.0.to_owned(), response(summary, ok.1));
    responses.insert(
        "401".to_owned(),
        error("Missing or wrong bearer token (`unauthorized`)."),
    );
    for (status, what) in errors {
        responses.insert((*status).to_owned(), error(what));
    }
    let mut o = json!({"operationId": id, "summary": summary, "responses": responses});
    if let Some(schema) = body {
        o["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": reference(schema)}},
        });
        o["responses"]["400"] = error("`bad_json`, `invalid_body`, `bad_id` or `invalid_value`.");
        o["responses"]["413"] = error("`body_too_large`.");
        o["responses"]["415"] = error("`unsupported_media_type`.");
    }
    if let Some(p) = param {
        o["parameters"] = json!([p]);
    }
    o
}

fn path_param(description: &str, schema: Value) -> Value {
    json!({"name": "id", "in": "path", "required": true, "description": description, "schema": schema})
}

fn schemas() -> Value {
    json!({
        "Error": obj(json!({"error": obj(json!({
            "code": {"type": "string", "enum": ERROR_CODES},
            "message": {"type": "string"},
        }), &["code", "message"])}), &["error"]),
        "Health": obj(json!({"status": {"type": "string"}, "node": hex_id(64)}), &["status", "node"]),
        "NewAgent": obj(json!({"id": hex_id(32)}), &[]),
        "Created": obj(json!({"id": {"type": "string"}, "at": {"type": "string"}}), &["id"]),
        "AgentList": obj(json!({"agents": {"type": "array", "items": hex_id(32)}}), &["agents"]),
        "Skill": obj(json!({
            "name": {"type": "string"},
            "level": {"type": "number", "minimum": 0, "maximum": 1},
            "concurrent_values": {"type": "integer", "minimum": 1},
        }), &["name", "level", "concurrent_values"]),
        "Episode": obj(json!({
            "id": hex_id(32), "at": {"type": "string"}, "summary": {"type": "string"},
            "causes": {"type": "array", "items": hex_id(32)},
        }), &["id", "at", "summary", "causes"]),
        "Agent": obj(json!({
            "id": hex_id(32),
            "skills": {"type": "array", "items": reference("Skill")},
            "episodes": {"type": "array", "items": reference("Episode")},
            "digest": hex_id(64),
        }), &["id", "skills", "episodes", "digest"]),
        "SkillUpdate": obj(json!({
            "name": {"type": "string", "minLength": 1},
            "level": {"type": "number", "minimum": 0, "maximum": 1},
        }), &["name", "level"]),
        "SkillWritten": obj(json!({
            "agent": hex_id(32), "name": {"type": "string"}, "level": {"type": "number"},
        }), &["agent", "name", "level"]),
        "NewEpisode": obj(json!({
            "summary": {"type": "string"}, "id": hex_id(32),
            "causes": {"type": "array", "items": hex_id(32)},
        }), &["summary"]),
        "Candidate": obj(json!({
            "index": {"type": "integer"}, "level": {"type": "number"},
            "author": hex_id(64), "at": {"type": "string"},
        }), &["index", "level", "author", "at"]),
        "Conflict": obj(json!({
            "id": {"type": "integer"}, "agent": hex_id(32), "skill": {"type": "string"},
            "candidates": {"type": "array", "items": reference("Candidate")},
        }), &["id", "agent", "skill", "candidates"]),
        "ConflictList": obj(json!({"conflicts": {"type": "array", "items": reference("Conflict")}}), &["conflicts"]),
        "Settle": {
            "description": "Exactly one of `level` (a new level) and `candidate` (keep that candidate).",
            "type": "object",
            "properties": {"level": {"type": "number", "minimum": 0, "maximum": 1}, "candidate": {"type": "integer", "minimum": 0}},
        },
        "Settled": obj(json!({
            "id": {"type": "integer"}, "agent": hex_id(32), "skill": {"type": "string"}, "level": {"type": "number"},
        }), &["id", "agent", "skill", "level"]),
        "Member": obj(json!({
            "id": hex_id(64), "addr": {"type": "string"}, "alive": {"type": "boolean"},
            "state": {"type": "string", "enum": ["alive", "suspect", "down"]},
            "bump": {"type": "integer"},
        }), &["id", "addr", "alive", "state", "bump"]),
        "Members": obj(json!({
            "node": hex_id(64), "gossip_addr": {"type": "string"},
            "members": {"type": "array", "items": reference("Member")},
        }), &["node", "gossip_addr", "members"]),
        "Propose": {
            "description": "One transaction (`tx`) or a batch (`txs`), as strings.",
            "type": "object",
            "properties": {"tx": {"type": "string"}, "txs": {"type": "array", "items": {"type": "string"}}},
        },
        "Proposed": obj(json!({"accepted": {"type": "integer"}, "refused": {"type": "integer"}}), &["accepted", "refused"]),
        "Block": obj(json!({
            "height": {"type": "integer"}, "round": {"type": "integer"}, "hash": hex_id(64),
            "proposer": {"type": "integer"}, "txs": {"type": "array", "items": {"type": "string"}},
        }), &["height", "round", "hash", "proposer", "txs"]),
        "ConsensusLog": obj(json!({"blocks": {"type": "array", "items": reference("Block")}, "next": {"type": "integer"}}), &["blocks", "next"]),
        "ConsensusStatus": obj(json!({
            "engine": {"type": "string", "enum": ["tendermint", "raft"], "description": "`tendermint`: Byzantine-tolerant; `raft`: crash-tolerant."},
            "height": {"type": "integer"}, "round": {"type": "integer", "description": "Tendermint: the round; raft: the term."}, "step": {"type": "string"},
            "validators": {"type": "array", "items": hex_id(64)}, "me": {"type": "integer", "description": "This node's validator index; null for an observer."},
            "last_decision": reference("Block"),
            "evidence": {"type": "integer"}, "mempool": {"type": "integer"},
            "applied_txs": {"type": "integer"}, "state_head": hex_id(64),
        }), &["engine", "height", "round", "step", "validators", "evidence"]),
        "Signed": obj(json!({
            "value": {"type": "string", "nullable": true, "description": "The block hash it names; null for a nil vote."},
            "encoding": {"type": "string", "description": "The signed vote or proposal in its canonical encoding, hex."},
        }), &["value", "encoding"]),
        "Evidence": obj(json!({
            "step": {"type": "string", "enum": ["prevote", "precommit", "proposal"]},
            "validator": {"type": "integer"}, "node": hex_id(64),
            "height": {"type": "integer"}, "round": {"type": "integer"},
            "first": reference("Signed"), "second": reference("Signed"),
        }), &["step", "validator", "height", "round", "first", "second"]),
        "EvidenceList": obj(json!({"evidence": {"type": "array", "items": reference("Evidence")}}), &["evidence"]),
        "Digest": obj(json!({"digest": hex_id(64), "agents": {"type": "integer"}}), &["digest", "agents"]),
        "GossipStats": obj(json!({
            "rounds": {"type": "integer"}, "frames_sent": {"type": "integer"},
            "bytes_sent": {"type": "integer"}, "frames_received": {"type": "integer"},
            "bytes_received": {"type": "integer"}, "frames_dropped": {"type": "integer"},
            "frames_refused": {"type": "integer"}, "handshakes_refused": {"type": "integer"}, "members_alive": {"type": "integer"},
            "members_known": {"type": "integer"},
            "swim_frames_sent": {"type": "integer"}, "swim_frames_received": {"type": "integer"},
            "deltas_sent": {"type": "integer"}, "deltas_applied": {"type": "integer"},
            "deltas_redundant": {"type": "integer"}, "bad_signatures": {"type": "integer"},
            "unknown_authors": {"type": "integer"}, "malformed": {"type": "integer"},
            "chunks_sent": {"type": "integer"}, "chunks_received": {"type": "integer"},
            "gc_runs": {"type": "integer"},
        }), &["rounds", "frames_sent", "frames_received", "frames_dropped", "members_alive"]),
    })
}

/// The document.
pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Chrysalis node API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Agents, their skills and episodes, the conflict review queue, and the cluster.",
        },
        "security": [{"bearer": []}],
        "paths": paths(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas(),
        },
    })
}

/// Every path and its operations.
fn paths() -> Value {
    let agent = || Some(path_param("Agent id.", hex_id(32)));
    let conflict = || {
        Some(path_param(
            "Conflict id on this node.",
            json!({"type": "integer"}),
        ))
    };
    let nf = [("404", "`not_found`.")];
    let health = {
        let mut h = op(
            "health",
            "Liveness; open, no token.",
            ("200", "Health"),
            &[],
            None,
            None,
        );
        h["security"] = json!([]);
        if let Some(r) = h["responses"].as_object_mut() {
            r.remove("401");
        }
        h
    };
    let metrics = json!({
        "operationId": "metrics", "summary": "Prometheus text exposition.",
        "responses": {
            "200": {"description": "Metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}},
            "401": error("`unauthorized`."),
        },
    });
    let openapi = json!({
        "operationId": "openapi", "summary": "This document.",
        "responses": {
            "200": {"description": "OpenAPI 3.1.", "content": {"application/json": {"schema": {"type": "object"}}}},
            "401": error("`unauthorized`."),
        },
    });
    json!({
        "/health": {"get": health},
        "/metrics": {"get": metrics},
        "/openapi.json": {"get": openapi},
        "/v1/agents": {
            "get": op("listAgents", "Every agent id.", ("200", "AgentList"), &[], None, None),
            "post": op("createAgent", "Creates an agent (random id unless given).", ("201", "Created"),
                &[("409", "`agent_exists`."), ("500", "`storage`.")], Some("NewAgent"), None),
        },
        "/v1/agents/{id}": {
            "get": op("getAgent", "An agent's merged state.", ("200", "Agent"),
                &[("400", "`bad_id`."), nf[0]], None, agent()),
        },
        "/v1/agents/{id}/skills": {
            "post": op("updateSkill", "Sets a skill level; persisted before the answer.", ("200", "SkillWritten"),
                &[nf[0], ("500", "`storage`.")], Some("SkillUpdate"), agent()),
        },
        "/v1/agents/{id}/episodes": {
            "post": op("addEpisode", "Records an episode; persisted before the answer.", ("201", "Created"),
                &[nf[0], ("500", "`storage`.")], Some("NewEpisode"), agent()),
        },
        "/v1/conflicts": {
            "get": op("listConflicts", "Conflicts awaiting review.", ("200", "ConflictList"), &[], None, None),
        },
        "/v1/conflicts/{id}": {
            "get": op("getConflict", "One conflict.", ("200", "Conflict"),
                &[("400", "`bad_id`."), nf[0]], None, conflict()),
        },
        "/v1/conflicts/{id}/settle": {
            "post": op("settleConflict", "Settles a conflict by a level or a candidate.", ("200", "Settled"),
                &[nf[0], ("500", "`storage`.")], Some("Settle"), conflict()),
        },
        "/v1/cluster/members": {
            "get": op("members", "Known peers and their SWIM state (alive, suspect, down).", ("200", "Members"), &[], None, None),
        },
        "/v1/cluster/digest": {
            "get": op("digest", "One digest of every agent's state: equal across converged nodes.",
                ("200", "Digest"), &[], None, None),
        },
        "/v1/cluster/gossip": {
            "get": op("gossipStats", "Replication counters.", ("200", "GossipStats"), &[], None, None),
        },
        "/v1/consensus/propose": {
            "post": op("consensusPropose", "Submits transactions for ordering. Tendermint: answered once they are durable in this node's pending set and forwarded to the validators; raft: once committed.",
                ("202", "Proposed"), &[("400", "`invalid_value`."), ("503", "`consensus_off`.")], Some("Propose"), None),
        },
        "/v1/consensus/log": {
            "get": op("consensusLog", "Decided blocks from `from` (query; default 1), at most `limit` (default 100, max 1000).",
                ("200", "ConsensusLog"), &[("503", "`consensus_off`.")], None, None),
        },
        "/v1/consensus/status": {
            "get": op("consensusStatus", "Height, round, step, validators, last decision, evidence count.",
                ("200", "ConsensusStatus"), &[("503", "`consensus_off`.")], None, None),
        },
        "/v1/consensus/evidence": {
            "get": op("consensusEvidence", "Double-signing evidence this node has seen: both conflicting signed messages, canonically encoded, so a client can verify them against the validator's key.",
                ("200", "EvidenceList"), &[("503", "`consensus_off`.")], None, None),
        },
    })
}
