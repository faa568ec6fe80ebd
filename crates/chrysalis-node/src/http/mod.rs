//! The HTTP API: JSON under `/v1`, `/health` (open), `/metrics`
//! (Prometheus text) and `/openapi.json` (OpenAPI 3.1, see [`openapi`]).
//!
//! Every route but `/health` wants `Authorization: Bearer <token>` (the
//! token is drawn at the node's first start and kept in its vault); bodies
//! over the configured limit are refused with 413. Errors are JSON with a
//! stable code (see [`error`]). Handlers only talk to the [`NodeHandle`].

mod api;
mod consensus;
pub mod error;
pub mod openapi;

use crate::service::NodeHandle;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrysalis_crypto::secret::ct_eq;
pub use error::ApiError;

/// Every route, as (method, path template): what the router serves and
/// what the OpenAPI document must describe.
pub const ROUTES: &[(Method, &str)] = &[
    (Method::GET, "/health"),
    (Method::GET, "/metrics"),
    (Method::GET, "/openapi.json"),
    (Method::GET, "/v1/agents"),
    (Method::POST, "/v1/agents"),
    (Method::GET, "/v1/agents/{id}"),
    (Method::POST, "/v1/agents/{id}/skills"),
    (Method::POST, "/v1/agents/{id}/episodes"),
    (Method::GET, "/v1/conflicts"),
    (Method::GET, "/v1/conflicts/{id}"),
    (Method::POST, "/v1/conflicts/{id}/settle"),
    (Method::GET, "/v1/cluster/members"),
    (Method::GET, "/v1/cluster/digest"),
    (Method::GET, "/v1/cluster/gossip"),
    (Method::POST, "/v1/consensus/propose"),
    (Method::GET, "/v1/consensus/log"),
    (Method::GET, "/v1/consensus/status"),
    (Method::GET, "/v1/consensus/evidence"),
];

/// The API's router over `node`, refusing bodies over `max_body_bytes`.
pub fn router(node: NodeHandle, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/metrics", get(api::metrics))
        .route("/openapi.json", get(api::openapi))
        .route("/v1/agents", get(api::list_agents).post(api::create_agent))
        .route("/v1/agents/{id}", get(api::get_agent))
        .route("/v1/agents/{id}/skills", post(api::update_skill))
        .route("/v1/agents/{id}/episodes", post(api::add_episode))
        .route("/v1/conflicts", get(api::list_conflicts))
        .route("/v1/conflicts/{id}", get(api::get_conflict))
        .route("/v1/conflicts/{id}/settle", post(api::settle_conflict))
        .route("/v1/cluster/members", get(api::members))
        .route("/v1/cluster/digest", get(api::digest))
        .route("/v1/cluster/gossip", get(api::gossip))
        .route("/v1/consensus/propose", post(consensus::propose))
        .route("/v1/consensus/log", get(consensus::log))
        .route("/v1/consensus/status", get(consensus::status))
        .route("/v1/consensus/evidence", get(consensus::evidence))
        .route_layer(middleware::from_fn_with_state(node.clone(), require_token))
        .route("/health", get(api::health))
        .route_layer(middleware::from_fn_with_state(node.clone(), count_request))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(node)
}

/// Serves `router` on `listener` until `stopped` turns true, then lets
/// in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let shutdown = async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    if let Err(err) = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(%err, "HTTP server stopped");
    }
}

async fn require_token(State(node): State<NodeHandle>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let expected = node.token().expose_secret().as_bytes();
    match presented {
        Some(token) if ct_eq(token.trim().as_bytes(), expected) => next.run(request).await,
        _ => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token",
        )
        .into_response(),
    }
}

async fn count_request(State(node): State<NodeHandle>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    node.metrics()
        .http_request(&route, response.status().as_u16());
    response
}

async fn route_not_found(State(node): State<NodeHandle>) -> ApiError {
    node.metrics().http_request("unmatched", 404);
    ApiError::new(StatusCode::NOT_FOUND, "route_not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take this method",
    )
}
