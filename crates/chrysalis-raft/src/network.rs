//! openraft's network over the node's QUIC endpoint, on
//! `Channel::CONSENSUS` (a node runs one consensus engine, so the channel
//! is raft's alone).
//!
//! Every frame is one JSON `Frame`: a request with an id, or the response
//! to one. A call registers its id, sends, and waits for the response from
//! the node it asked, up to a timeout. Incoming frames go through
//! [`serve`]: a frame from a node that is not a configured validator, one
//! that does not decode, or a response nobody waits for (late, or from the
//! wrong node) is dropped and counted, never a panic. Requests are handled
//! each in its own task, so a slow write never holds up heartbeats.

use crate::session::Outcome;
use crate::types::{Batch, Member, RaftNodeId, TypeConfig, encode};
use chrysalis_net::{Channel, Endpoint, Incoming};
use chrysalis_types::NodeId;
use openraft::Raft;
use openraft::error::{
    ClientWriteError, InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError,
    RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The largest frame payload sent; larger append requests are split (by
/// openraft, on [`PayloadTooLarge`]). The endpoint's default limit is 1 MiB.
pub const MAX_FRAME_BYTES: usize = 1000 * 1024;

/// What one node asks another.
#[derive(Debug, Serialize, Deserialize)]
enum Request {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<RaftNodeId>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
    /// A follower forwards a client's batch to the leader (its write id's
    /// origin is set to the sender's index on arrival).
    Write(Batch),
}

/// The answer to a [`Request`] of the same kind.
#[derive(Debug, Serialize, Deserialize)]
enum Response {
    Append(Result<AppendEntriesResponse<RaftNodeId>, RaftError<RaftNodeId>>),
    Vote(Result<VoteResponse<RaftNodeId>, RaftError<RaftNodeId>>),
    Snapshot(
        Result<InstallSnapshotResponse<RaftNodeId>, RaftError<RaftNodeId, InstallSnapshotError>>,
    ),
    Write(Result<Outcome, WriteRefused>),
}

/// Why the leader did not commit a forwarded batch.
pub(crate) type WriteRefused = RaftError<RaftNodeId, ClientWriteError<RaftNodeId, Member>>;

/// One frame on the wire.
#[derive(Debug, Serialize, Deserialize)]
enum Frame {
    Request { id: u64, body: Request },
    Response { id: u64, body: Response },
}

/// Counters of the raft network.
#[derive(Debug, Default)]
pub struct NetStats {
    /// Frames received from validators that decoded.
    pub frames_in: AtomicU64,
    /// Frames handed to the endpoint.
    pub frames_out: AtomicU64,
    /// Frames dropped: undecodable, from a non-validator, or a response
    /// nobody waits for.
    pub bad_frames: AtomicU64,
    /// Calls that failed: unreachable peer, send error or timeout.
    pub failed_calls: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Why a call to another node failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The target is not a configured validator.
    #[error("raft node {0} is not a configured validator")]
    UnknownTarget(RaftNodeId),
    /// The request could not be sent.
    #[error("could not send to raft node {target}: {source}")]
    Send {
        /// The node.
        target: RaftNodeId,
        /// The endpoint's error.
        #[source]
        source: chrysalis_net::NetError,
    },
    /// No response came in time.
    #[error("raft node {target} did not answer within {timeout_ms} ms")]
    Timeout {
        /// The node.
        target: RaftNodeId,
        /// The limit.
        timeout_ms: u64,
    },
    /// The response was of another kind than the request.
    #[error("raft node {0} answered with the wrong kind of response")]
    WrongKind(RaftNodeId),
    /// The request does not fit in one frame.
    #[error("request of {0} bytes does not fit in one frame")]
    TooLarge(usize),
}

type Waiter = (NodeId, oneshot::Sender<Response>);

/// The shared side of the network: the endpoint, the validators, and the
/// calls waiting for responses.
#[derive(Debug)]
pub struct Hub {
    endpoint: Endpoint,
    validators: Vec<(NodeId, SocketAddr)>,
    pending: Mutex<HashMap<u64, Waiter>>,
    next_id: AtomicU64,
    stats: NetStats,
}

impl Hub {
    /// The network of a node on `endpoint`, among `validators` (their
    /// index is their raft node id).
    pub fn new(endpoint: Endpoint, validators: Vec<(NodeId, SocketAddr)>) -> Arc<Self> {
        Arc::new(Self {
            endpoint,
            validators,
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            stats: NetStats::default(),
        })
    }

    /// The counters.
    pub fn stats(&self) -> &NetStats {
        &self.stats
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Waiter>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn send(&self, target: RaftNodeId, bytes: &[u8]) -> Result<(), CallError> {
        let (id, addr) = usize::try_from(target)
            .ok()
            .and_then(|i| self.validators.get(i))
            .copied()
            .ok_or(CallError::UnknownTarget(target))?;
        self.endpoint
            .send(addr, Some(id), Channel::CONSENSUS, bytes)
            .await
            .map_err(|source| CallError::Send { target, source })?;
        bump(&self.stats.frames_out);
        Ok(())
    }

    /// Sends `body` to `target` and waits up to `timeout` for its answer.
    async fn call(
        &self,
        target: RaftNodeId,
        body: Request,
        timeout: Duration,
    ) -> Result<Response, CallError> {
        let node = usize::try_from(target)
            .ok()
            .and_then(|i| self.validators.get(i))
            .map(|v| v.0)
            .ok_or(CallError::UnknownTarget(target))?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let bytes = encode(&Frame::Request { id, body });
        if bytes.len() > MAX_FRAME_BYTES {
            return Err(CallError::TooLarge(bytes.len()));
        }
        let (tx, rx) = oneshot::channel();
        self.pending().insert(id, (node, tx));
        let timeout_ms = timeout.as_millis() as u64;
        let outcome = tokio::time::timeout(timeout, async {
            self.send(target, &bytes).await?;
            rx.await
                .map_err(|_| CallError::Timeout { target, timeout_ms })
        })
        .await;
        self.pending().remove(&id);
        let result = outcome.unwrap_or(Err(CallError::Timeout { target, timeout_ms }));
        if result.is_err() {
            bump(&self.stats.failed_calls);
        }
        result
    }

    /// Forwards a batch to `leader` and waits for it to be committed there.
    pub(crate) async fn forward_write(
        &self,
        leader: RaftNodeId,
        batch: Batch,
        timeout: Duration,
    ) -> Result<Result<Outcome, WriteRefused>, CallError> {
        match self.call(leader, Request::Write(batch), timeout).await? {
            Response::Write(result) => Ok(result),
            _ => Err(CallError::WrongKind(leader)),
        }
    }
}

/// Routes frames from `inbox` until it closes: requests to `raft` (each in
/// its own task, answered to the sender's configured address), responses
/// to the calls waiting for them.
pub async fn serve(hub: Arc<Hub>, raft: Raft<TypeConfig>, mut inbox: mpsc::Receiver<Incoming>) {
    while let Some(frame) = inbox.recv().await {
        let Some(from) = hub.validators.iter().position(|v| v.0 == frame.from) else {
            bump(&hub.stats.bad_frames);
            continue;
        };
        let Ok(decoded) = serde_json::from_slice::<Frame>(&frame.payload) else {
            bump(&hub.stats.bad_frames);
            continue;
        };
        bump(&hub.stats.frames_in);
        match decoded {
            Frame::Response { id, body } => {
                let waiter = {
                    let mut pending = hub.pending();
                    match pending.get(&id) {
                        Some((node, _)) if *node == frame.from => pending.remove(&id),
                        _ => None,
                    }
                };
                match waiter {
                    Some((_, tx)) => {
                        let _ = tx.send(body);
                    }
                    None => bump(&hub.stats.bad_frames),
                }
            }
            Frame::Request { id, body } => {
                let hub = hub.clone();
                let raft = raft.clone();
                tokio::spawn(async move {
                    let body = answer(&raft, from as RaftNodeId, body).await;
                    let bytes = encode(&Frame::Response { id, body });
                    if let Err(err) = hub.send(from as u64, &bytes).await {
                        bump(&hub.stats.failed_calls);
                        tracing::debug!(%err, "raft response not sent");
                    }
                });
            }
        }
    }
}

/// Answers `request` from node `from`. A forwarded batch's write id
/// names its sender as origin whatever it claims, so one node cannot
/// spend another's sequence numbers.
async fn answer(raft: &Raft<TypeConfig>, from: RaftNodeId, request: Request) -> Response {
    match request {
        Request::Append(rpc) => Response::Append(raft.append_entries(rpc).await),
        Request::Vote(rpc) => Response::Vote(raft.vote(rpc).await),
        Request::Snapshot(rpc) => Response::Snapshot(raft.install_snapshot(rpc).await),
        Request::Write(mut batch) => {
            if let Some(id) = &mut batch.id {
                id.origin = from;
            }
            Response::Write(raft.client_write(batch).await.map(|r| r.data))
        }
    }
}

/// Makes a [`RaftClient`] per target.
#[derive(Debug, Clone)]
pub struct RaftNet {
    hub: Arc<Hub>,
}

impl RaftNet {
    /// The factory over `hub`.
    pub fn new(hub: Arc<Hub>) -> Self {
        Self { hub }
    }
}

impl RaftNetworkFactory<TypeConfig> for RaftNet {
    type Network = RaftClient;

    async fn new_client(&mut self, target: RaftNodeId, _node: &Member) -> RaftClient {
        RaftClient {
            hub: self.hub.clone(),
            target,
        }
    }
}

/// openraft's connection to one target.
#[derive(Debug)]
pub struct RaftClient {
    hub: Arc<Hub>,
    target: RaftNodeId,
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<RaftNodeId, Member, RaftError<RaftNodeId, E>>>;

impl RaftClient {
    async fn call<E: std::error::Error>(
        &self,
        request: Request,
        option: &RPCOption,
        entries: u64,
    ) -> RpcResult<Response, E> {
        match self.hub.call(self.target, request, option.hard_ttl()).await {
            Ok(response) => Ok(response),
            Err(CallError::TooLarge(bytes)) => {
                let fits = (entries as usize * MAX_FRAME_BYTES / bytes.max(1)).max(1);
                Err(RPCError::PayloadTooLarge(
                    PayloadTooLarge::new_entries_hint(fits as u64),
                ))
            }
            Err(err @ (CallError::Send { .. } | CallError::UnknownTarget(_))) => {
                Err(RPCError::Unreachable(Unreachable::new(&err)))
            }
            Err(err) => Err(RPCError::Network(NetworkError::new(&err))),
        }
    }

    fn remote<E: std::error::Error>(
        &self,
        e: RaftError<RaftNodeId, E>,
    ) -> RPCError<RaftNodeId, Member, RaftError<RaftNodeId, E>> {
        RPCError::RemoteError(RemoteError::new(self.target, e))
    }

    fn wrong_kind<E: std::error::Error>(
        &self,
    ) -> RPCError<RaftNodeId, Member, RaftError<RaftNodeId, E>> {
        RPCError::Network(NetworkError::new(&CallError::WrongKind(self.target)))
    }
}

impl RaftNetwork<TypeConfig> for RaftClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<RaftNodeId>> {
        let entries = rpc.entries.len() as u64;
        match self.call(Request::Append(rpc), &option, entries).await? {
            Response::Append(r) => r.map_err(|e| self.remote(e)),
            _ => Err(self.wrong_kind()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<RaftNodeId>, InstallSnapshotError> {
        match self.call(Request::Snapshot(rpc), &option, 1).await? {
            Response::Snapshot(r) => r.map_err(|e| self.remote(e)),
            _ => Err(self.wrong_kind()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<RaftNodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<RaftNodeId>> {
        match self.call(Request::Vote(rpc), &option, 1).await? {
            Response::Vote(r) => r.map_err(|e| self.remote(e)),
            _ => Err(self.wrong_kind()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_garbage_does_not_decode() {
        let frame = Frame::Request {
            id: 7,
            body: Request::Write(Batch::anonymous(vec![b"tx".to_vec()])),
        };
        let bytes = encode(&frame);
        let back: Frame = serde_json::from_slice(&bytes).unwrap();
        assert!(
            matches!(back, Frame::Request { id: 7, body: Request::Write(b) } if b.txs == [b"tx".to_vec()])
        );
        for bad in [&b""[..], b"{}", b"\xff\xfe", b"{\"Request\":{\"id\":1}}"] {
            assert!(serde_json::from_slice::<Frame>(bad).is_err());
        }
    }
}
