//! The consensus routes: propose transactions, page through the decided
//! log, and read where consensus stands.

use super::error::ApiError;
use crate::consensus::{BlockView, ConsensusHandle, MAX_LOG_PAGE, ProposeError, SignedView};
use crate::service::NodeHandle;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

/// The largest transaction accepted, in bytes (the mempool's own bound).
const MAX_TX_BYTES: usize = 64 * 1024;

fn off() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "consensus_off",
        "consensus is not running on this node (no validators configured)",
    )
}

impl From<ProposeError> for ApiError {
    fn from(_: ProposeError) -> Self {
        off()
    }
}

fn handle(node: &NodeHandle) -> Result<&ConsensusHandle, ApiError> {
    node.consensus().ok_or_else(off)
}

fn block_json(b: &BlockView) -> Value {
    json!({
        "height": b.height,
        "round": b.round,
        "hash": hex::encode(b.hash),
        "proposer": b.proposer,
        "txs": b.txs.iter().map(|t| String::from_utf8_lossy(t).into_owned()).collect::<Vec<_>>(),
    })
}

/// `POST /v1/consensus/propose`: `{"tx": "..."}` or `{"txs": ["...", ...]}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Propose {
    tx: Option<String>,
    txs: Option<Vec<String>>,
}

pub(super) async fn propose(
    State(node): State<NodeHandle>,
    req: Result<Json<Propose>, JsonRejection>,
) -> Result<Response, ApiError> {
    let consensus = handle(&node)?.clone();
    let Json(req) = req.map_err(ApiError::from)?;
    let mut txs: Vec<Vec<u8>> = req
        .txs
        .unwrap_or_default()
        .into_iter()
        .map(String::into_bytes)
        .collect();
    if let Some(tx) = req.tx {
        txs.push(tx.into_bytes());
    }
    let invalid = |m: &str| ApiError::new(StatusCode::BAD_REQUEST, "invalid_value", m);
    if txs.is_empty() {
        return Err(invalid("give `tx` or a non-empty `txs`"));
    }
    if txs.iter().any(|t| t.is_empty() || t.len() > MAX_TX_BYTES) {
        return Err(invalid("a transaction is empty or over 64 KiB"));
    }
    let (accepted, refused) = consensus.propose(txs).await?;
    let body = json!({"accepted": accepted, "refused": refused});
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// `GET /v1/consensus/log?from=&limit=`: the query parsed by hand (two
/// integers; unknown keys are refused).
fn log_query(uri: &Uri) -> Result<(u64, usize), ApiError> {
    let (mut from, mut limit) = (1u64, 100usize);
    for pair in uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let bad = || {
            let shown: String = pair.chars().take(80).collect();
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_value",
                format!("{shown:?}: expected from=<height> or limit=<count>"),
            )
        };
        match pair.split_once('=').ok_or_else(bad)? {
            ("from", v) => from = v.parse().map_err(|_| bad())?,
            ("limit", v) => limit = v.parse().map_err(|_| bad())?,
            _ => return Err(bad()),
        }
    }
    Ok((from, limit.clamp(1, MAX_LOG_PAGE)))
}

pub(super) async fn log(State(node): State<NodeHandle>, uri: Uri) -> Result<Response, ApiError> {
    let consensus = handle(&node)?;
    let (from, limit) = log_query(&uri)?;
    let blocks = consensus.log(from, limit).await?;
    let next = blocks.last().map_or(from, |b| b.height + 1);
    let body = json!({
        "blocks": blocks.iter().map(block_json).collect::<Vec<_>>(),
        "next": next,
    });
    Ok((StatusCode::OK, Json(body)).into_response())
}

/// `GET /v1/consensus/status`.
pub(super) async fn status(State(node): State<NodeHandle>) -> Result<Response, ApiError> {
    let s = handle(&node)?.status().await?;
    let body = json!({
        "engine": s.engine,
        "height": s.height,
        "round": s.round,
        "step": s.step,
        "validators": s.validators.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "me": s.me,
        "last_decision": s.last_decision.as_ref().map(block_json),
        "evidence": s.evidence,
        "mempool": s.mempool,
        "applied_txs": s.applied_txs,
        "state_head": hex::encode(s.state_head),
    });
    Ok((StatusCode::OK, Json(body)).into_response())
}

fn signed_json(s: &SignedView) -> Value {
    json!({"value": s.value.map(hex::encode), "encoding": hex::encode(&s.encoding)})
}

/// `GET /v1/consensus/evidence`.
pub(super) async fn evidence(State(node): State<NodeHandle>) -> Result<Response, ApiError> {
    let records = handle(&node)?.evidence().await?;
    let body = json!({
        "evidence": records.iter().map(|e| json!({
            "step": e.step,
            "validator": e.validator,
            "node": e.node.map(|n| n.to_string()),
            "height": e.height,
            "round": e.round,
            "first": signed_json(&e.first),
            "second": signed_json(&e.second),
        })).collect::<Vec<_>>(),
    });
    Ok((StatusCode::OK, Json(body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_queries_parse_and_bad_ones_are_refused() {
        let q = |s: &str| log_query(&s.parse::<Uri>().unwrap());
        assert_eq!(q("/v1/consensus/log").unwrap(), (1, 100));
        assert_eq!(q("/x?from=5&limit=7").unwrap(), (5, 7));
        assert_eq!(q("/x?limit=999999").unwrap(), (1, MAX_LOG_PAGE));
        assert!(q("/x?from=abc").is_err());
        assert!(q("/x?frm=1").is_err());
        assert!(q("/x?from").is_err());
    }
}
