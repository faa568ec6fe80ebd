//! The handlers and their JSON shapes.

use super::error::ApiError;
use super::openapi;
use crate::core::{ConflictView, Settlement};
use crate::service::NodeHandle;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrysalis_crdt::AgentState;
use chrysalis_crypto::secret::random_array;
use chrysalis_types::{AgentId, EpisodeId};
use serde::Deserialize;
use serde_json::{Value, json};

type Body<T> = Result<Json<T>, JsonRejection>;
type ApiResult = Result<axum::response::Response, ApiError>;

fn body<T>(body: Body<T>) -> Result<T, ApiError> {
    body.map(|Json(v)| v).map_err(ApiError::from)
}

fn agent_id(raw: &str) -> Result<AgentId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_id("agent id (32 hex digits)", raw))
}

fn episode_id(raw: &str) -> Result<EpisodeId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_id("episode id (32 hex digits)", raw))
}

fn ok(status: StatusCode, value: Value) -> ApiResult {
    Ok((status, Json(value)).into_response())
}

pub(super) async fn health(State(node): State<NodeHandle>) -> Json<Value> {
    Json(json!({"status": "ok", "node": node.node_id().to_string()}))
}

pub(super) async fn metrics(State(node): State<NodeHandle>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        {
            let mut text = node.metrics().render();
            if let Some(c) = node.consensus() {
                text.push_str(&c.metrics().render());
            }
            text
        },
    )
}

pub(super) async fn openapi() -> Json<Value> {
    Json(openapi::document())
}

/// `POST /v1/agents`: `{"id"?: hex}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateAgent {
    id: Option<String>,
}

pub(super) async fn create_agent(
    State(node): State<NodeHandle>,
    req: Body<CreateAgent>,
) -> ApiResult {
    let req = body(req)?;
    let id = match req.id {
        Some(raw) => agent_id(&raw)?,
        None => AgentId::new(random_array()),
    };
    node.create_agent(id).await?;
    ok(StatusCode::CREATED, json!({"id": id.to_string()}))
}

pub(super) async fn list_agents(State(node): State<NodeHandle>) -> ApiResult {
    let ids: Vec<String> = node
        .agents()
        .await?
        .iter()
        .map(ToString::to_string)
        .collect();
    ok(StatusCode::OK, json!({"agents": ids}))
}

pub(super) async fn get_agent(
    State(node): State<NodeHandle>,
    Path(raw): Path<String>,
) -> ApiResult {
    let id = agent_id(&raw)?;
    match node.agent(id).await? {
        Some(state) => ok(StatusCode::OK, agent_json(id, &state)),
        None => Err(ApiError::not_found(format!("no agent {id}"))),
    }
}

/// The merged state of an agent as JSON.
pub(crate) fn agent_json(id: AgentId, state: &AgentState) -> Value {
    let skills: Vec<Value> = state
        .skills()
        .names()
        .map(|name| {
            json!({
                "name": name,
                "level": state.skills().level(name),
                "concurrent_values": state.skills().candidates(name).len(),
            })
        })
        .collect();
    let episodes: Vec<Value> = state
        .episodes()
        .causal_order()
        .into_iter()
        .map(|e| {
            json!({
                "id": e.id.to_string(),
                "at": e.at.to_string(),
                "summary": e.summary,
                "causes": e.causes.iter().map(ToString::to_string).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "id": id.to_string(),
        "skills": skills,
        "episodes": episodes,
        "digest": hex::encode(crate::core::digest_of(state)),
    })
}

/// `POST /v1/agents/{id}/skills`: `{"name": str, "level": number}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpdateSkill {
    name: String,
    level: f64,
}

pub(super) async fn update_skill(
    State(node): State<NodeHandle>,
    Path(raw): Path<String>,
    req: Body<UpdateSkill>,
) -> ApiResult {
    let id = agent_id(&raw)?;
    let req = body(req)?;
    node.update_skill(id, req.name.clone(), req.level).await?;
    ok(
        StatusCode::OK,
        json!({"agent": id.to_string(), "name": req.name, "level": req.level}),
    )
}

/// `POST /v1/agents/{id}/episodes`: `{"summary": str, "id"?: hex, "causes"?: [hex]}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AddEpisode {
    summary: String,
    id: Option<String>,
    #[serde(default)]
    causes: Vec<String>,
}

pub(super) async fn add_episode(
    State(node): State<NodeHandle>,
    Path(raw): Path<String>,
    req: Body<AddEpisode>,
) -> ApiResult {
    let agent = agent_id(&raw)?;
    let req = body(req)?;
    let id = match &req.id {
        Some(raw) => episode_id(raw)?,
        None => EpisodeId::new(random_array()),
    };
    let causes = req
        .causes
        .iter()
        .map(|c| episode_id(c))
        .collect::<Result<Vec<_>, _>>()?;
    let at = node.add_episode(agent, id, req.summary, causes).await?;
    ok(
        StatusCode::CREATED,
        json!({"id": id.to_string(), "at": at.to_string()}),
    )
}

fn conflict_json(c: &ConflictView) -> Value {
    let candidates: Vec<Value> = c
        .candidates
        .iter()
        .enumerate()
        .map(|(i, (level, author, at))| {
            json!({"index": i, "level": level, "author": author.to_string(), "at": at.to_string()})
        })
        .collect();
    json!({"id": c.id, "agent": c.agent.to_string(), "skill": c.skill, "candidates": candidates})
}

pub(super) async fn list_conflicts(State(node): State<NodeHandle>) -> ApiResult {
    let all: Vec<Value> = node.conflicts().await?.iter().map(conflict_json).collect();
    ok(StatusCode::OK, json!({"conflicts": all}))
}

fn conflict_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_id("conflict id (a number)", raw))
}

pub(super) async fn get_conflict(
    State(node): State<NodeHandle>,
    Path(raw): Path<String>,
) -> ApiResult {
    let id = conflict_id(&raw)?;
    let all = node.conflicts().await?;
    match all.iter().find(|c| c.id == id) {
        Some(c) => ok(StatusCode::OK, conflict_json(c)),
        None => Err(ApiError::not_found(format!("no pending conflict {id}"))),
    }
}

/// `POST /v1/conflicts/{id}/settle`: `{"level": number}` or `{"candidate": index}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Settle {
    level: Option<f64>,
    candidate: Option<usize>,
}

pub(super) async fn settle_conflict(
    State(node): State<NodeHandle>,
    Path(raw): Path<String>,
    req: Body<Settle>,
) -> ApiResult {
    let id = conflict_id(&raw)?;
    let how = match body(req)? {
        Settle {
            level: Some(level),
            candidate: None,
        } => Settlement::Level(level),
        Settle {
            level: None,
            candidate: Some(index),
        } => Settlement::Candidate(index),
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "give exactly one of \"level\" and \"candidate\"",
            ));
        }
    };
    let (agent, skill, level) = node.settle(id, how).await?;
    ok(
        StatusCode::OK,
        json!({"id": id, "agent": agent.to_string(), "skill": skill, "level": level}),
    )
}

pub(super) async fn members(State(node): State<NodeHandle>) -> ApiResult {
    let view = node.cluster().await?;
    let members: Vec<Value> = view
        .members
        .iter()
        .map(|(m, alive)| {
            json!({
                "id": m.id.to_string(),
                "addr": m.addr,
                "alive": alive,
                "state": member_state(m.state),
                "bump": m.bump,
            })
        })
        .collect();
    ok(
        StatusCode::OK,
        json!({"node": view.node.to_string(), "gossip_addr": view.gossip_addr.to_string(), "members": members}),
    )
}

/// The SWIM state's name in the API.
fn member_state(state: chrysalis_gossip::MemberState) -> &'static str {
    match state {
        chrysalis_gossip::MemberState::Alive => "alive",
        chrysalis_gossip::MemberState::Suspect => "suspect",
        chrysalis_gossip::MemberState::Down => "down",
    }
}

pub(super) async fn digest(State(node): State<NodeHandle>) -> ApiResult {
    let (digest, agents) = node.digest().await?;
    ok(
        StatusCode::OK,
        json!({"digest": hex::encode(digest), "agents": agents}),
    )
}

pub(super) async fn gossip(State(node): State<NodeHandle>) -> ApiResult {
    let stats = node.metrics().gossip();
    let value = serde_json::to_value(stats).unwrap_or(Value::Null);
    ok(StatusCode::OK, value)
}
