//! The QUIC endpoint: one UDP socket, one connection per peer address
//! (cached, redialled when it fails), frames out through a bounded queue
//! per peer, frames in through one bounded queue for the whole endpoint.
//!
//! Each side of a connection writes its frames on one unidirectional
//! stream it opens as soon as the connection is up; a dial counts as
//! accepted only once the peer's stream arrives, because a TLS 1.3 client
//! finishes its handshake before the server has judged the client's
//! certificate. A server that refuses us closes the connection instead, and
//! [`Endpoint::send`] returns [`NetError::Refused`].

use crate::admission::Admission;
use crate::frame::{Channel, FrameError, encode_frame};
use crate::identity::{IdentityError, SERVER_NAME, node_id_from_cert, tls_identity};
use crate::metrics::{Counters, NetMetrics, bump};
use crate::stream::{ReadCtx, read_connection, write_link};
use crate::tls::{TlsConfigError, TlsConfigs};
use bytes::Bytes;
use chrysalis_crypto::ed25519::SigningKey;
use chrysalis_types::NodeId;
use rustls_pki_types::CertificateDer;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Endpoint settings. Start from [`NetConfig::default`] and change fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NetConfig {
    /// Largest frame payload sent or accepted; larger incoming frames are
    /// skipped without being buffered. Default 1 MiB.
    pub max_frame_bytes: u32,
    /// Frames queued per peer before [`Endpoint::send`] waits and
    /// [`Endpoint::try_send`] refuses. Default 1024.
    pub send_queue_frames: usize,
    /// Received frames queued for [`Endpoint::recv`] before readers stop
    /// reading (and QUIC flow control slows the peers). Default 4096.
    pub recv_queue_frames: usize,
    /// How long a dial may take, handshake and acceptance. Default 5 s.
    pub connect_timeout_ms: u64,
    /// A connection with no traffic for this long is closed. Default 30 s.
    pub idle_timeout_ms: u64,
    /// Keep-alive interval for open connections. Default 10 s.
    pub keep_alive_ms: u64,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            max_frame_bytes: crate::frame::DEFAULT_MAX_FRAME_BYTES,
            send_queue_frames: 1024,
            recv_queue_frames: 4096,
            connect_timeout_ms: 5_000,
            idle_timeout_ms: 30_000,
            keep_alive_ms: 10_000,
        }
    }
}

/// A frame received from an admitted peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// The sender, as proven by its TLS key.
    pub from: NodeId,
    /// The sender's address.
    pub addr: SocketAddr,
    /// The frame's channel.
    pub channel: Channel,
    /// The frame's payload.
    pub payload: Bytes,
}

/// Why an endpoint operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// [`Endpoint::bind`] was called outside a tokio runtime.
    #[error("the endpoint needs a tokio runtime")]
    NoRuntime,
    /// A [`NetConfig`] field is out of range.
    #[error("invalid network config: {field} must be positive and in range")]
    InvalidConfig {
        /// The field.
        field: &'static str,
    },
    /// The node certificate could not be built.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The TLS configuration could not be built.
    #[error(transparent)]
    Tls(#[from] TlsConfigError),
    /// The UDP socket could not be bound.
    #[error("could not bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// quinn refused to start a dial (bad address, endpoint closing).
    #[error("could not dial {addr}: {source}")]
    Connect {
        /// The address dialled.
        addr: SocketAddr,
        /// quinn's error.
        #[source]
        source: quinn::ConnectError,
    },
    /// The handshake failed; our own verifier's refusals (wrong pinned
    /// key, unadmitted server) land here.
    #[error("handshake with {addr} failed: {source}")]
    Handshake {
        /// The address dialled.
        addr: SocketAddr,
        /// quinn's error.
        #[source]
        source: quinn::ConnectionError,
    },
    /// The peer closed the connection without accepting us (it does not
    /// admit this node).
    #[error("{addr} refused this node: {reason}")]
    Refused {
        /// The address dialled.
        addr: SocketAddr,
        /// How the peer closed the connection.
        reason: quinn::ConnectionError,
    },
    /// The dial did not complete within `connect_timeout_ms`.
    #[error("dial to {addr} timed out after {timeout_ms} ms")]
    Timeout {
        /// The address dialled.
        addr: SocketAddr,
        /// The limit.
        timeout_ms: u64,
    },
    /// The connection to this address is with another node than the one
    /// the caller pinned.
    #[error("{addr} is node {found}, not the expected {expected}")]
    PeerMismatch {
        /// The address.
        addr: SocketAddr,
        /// The node the caller expected.
        expected: NodeId,
        /// The node at the address.
        found: NodeId,
    },
    /// The peer's certificate could not be read back after the handshake,
    /// or the connection did not negotiate ALPN `chrysalis/1`.
    #[error("connection to {addr} has no usable peer identity or protocol")]
    NoPeerIdentity {
        /// The address.
        addr: SocketAddr,
    },
    /// The payload cannot be sent as a frame (too large).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The peer's send queue is full ([`Endpoint::try_send`]).
    #[error("send queue to {addr} is full")]
    QueueFull {
        /// The peer's address.
        addr: SocketAddr,
    },
    /// The connection failed while the frame was being queued.
    #[error("connection to {addr} was lost")]
    ConnectionLost {
        /// The peer's address.
        addr: SocketAddr,
    },
    /// The endpoint was closed.
    #[error("the endpoint is closed")]
    Closed,
    /// The socket's local address could not be read.
    #[error("could not read the local address: {0}")]
    LocalAddr(#[source] std::io::Error),
}

/// An open connection and the queue feeding its writer.
#[derive(Debug, Clone)]
struct Link {
    node: NodeId,
    conn: quinn::Connection,
    tx: mpsc::Sender<Bytes>,
}

impl Link {
    fn is_alive(&self) -> bool {
        self.conn.close_reason().is_none() && !self.tx.is_closed()
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<Link>>>;

#[derive(Debug)]
struct Inner {
    quinn: quinn::Endpoint,
    node_id: NodeId,
    tls: TlsConfigs,
    transport: Arc<quinn::TransportConfig>,
    config: NetConfig,
    counters: Arc<Counters>,
    peers: Mutex<HashMap<SocketAddr, Slot>>,
    /// Taken by [`Endpoint::close`], so `recv` ends once readers finish.
    incoming_tx: Mutex<Option<mpsc::Sender<Incoming>>>,
    incoming_rx: tokio::sync::Mutex<mpsc::Receiver<Incoming>>,
    /// Every writer holds a clone; `close` waits for the channel to close.
    drain_tx: Mutex<Option<mpsc::Sender<()>>>,
    drain_rx: tokio::sync::Mutex<mpsc::Receiver<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.quinn.close(0u32.into(), b"endpoint dropped");
    }
}

/// A node's network endpoint. Cheap to clone; clones share everything.
#[derive(Debug, Clone)]
pub struct Endpoint {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl NetConfig {
    fn validate(&self) -> Result<(), NetError> {
        let bad = |field| Err(NetError::InvalidConfig { field });
        if self.max_frame_bytes == 0 {
            return bad("max_frame_bytes");
        }
        if self.send_queue_frames == 0 {
            return bad("send_queue_frames");
        }
        if self.recv_queue_frames == 0 {
            return bad("recv_queue_frames");
        }
        if self.connect_timeout_ms == 0 {
            return bad("connect_timeout_ms");
        }
        if self.keep_alive_ms == 0 || self.keep_alive_ms >= self.idle_timeout_ms {
            return bad("keep_alive_ms");
        }
        Ok(())
    }

    fn transport(&self) -> Result<quinn::TransportConfig, NetError> {
        let idle = quinn::IdleTimeout::try_from(Duration::from_millis(self.idle_timeout_ms))
            .map_err(|_| NetError::InvalidConfig {
                field: "idle_timeout_ms",
            })?;
        let mut transport = quinn::TransportConfig::default();
        transport
            .max_idle_timeout(Some(idle))
            .keep_alive_interval(Some(Duration::from_millis(self.keep_alive_ms)))
            .max_concurrent_bidi_streams(0u32.into())
            .max_concurrent_uni_streams(16u32.into());
        Ok(transport)
    }
}

impl Endpoint {
    /// Binds a UDP socket at `listen` and starts accepting connections from
    /// nodes `admission` admits. Must be called inside a tokio runtime.
    pub fn bind(
        listen: SocketAddr,
        key: &SigningKey,
        admission: Admission,
        config: NetConfig,
    ) -> Result<Endpoint, NetError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| NetError::NoRuntime)?;
        config.validate()?;
        let counters = Arc::new(Counters::default());
        let tls = TlsConfigs::new(tls_identity(key)?, admission, Arc::clone(&counters));
        let transport = Arc::new(config.transport()?);
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(tls.server()?));
        server.transport_config(Arc::clone(&transport));
        let quinn = quinn::Endpoint::server(server, listen).map_err(|source| NetError::Bind {
            addr: listen,
            source,
        })?;
        let (incoming_tx, incoming_rx) = mpsc::channel(config.recv_queue_frames);
        let (drain_tx, drain_rx) = mpsc::channel(1);
        let inner = Arc::new(Inner {
            quinn: quinn.clone(),
            node_id: NodeId::new(key.verifying_key().to_bytes()),
            tls,
            transport,
            config,
            counters,
            peers: Mutex::new(HashMap::new()),
            incoming_tx: Mutex::new(Some(incoming_tx)),
            incoming_rx: tokio::sync::Mutex::new(incoming_rx),
            drain_tx: Mutex::new(Some(drain_tx)),
            drain_rx: tokio::sync::Mutex::new(drain_rx),
        });
        runtime.spawn(accept_loop(quinn, Arc::downgrade(&inner)));
        Ok(Endpoint { inner })
    }

    /// The address the socket is bound to (with the real port when bound
    /// to port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, NetError> {
        self.inner.quinn.local_addr().map_err(NetError::LocalAddr)
    }

    /// This node's id (its Ed25519 verifying key).
    pub fn node_id(&self) -> NodeId {
        self.inner.node_id
    }

    /// The endpoint's counters.
    pub fn metrics(&self) -> NetMetrics {
        self.inner.counters.snapshot()
    }

    /// Queues a frame for the peer at `to`, dialling it first if there is
    /// no live connection (and so returning dial errors, refusals
    /// included). With `expected`, the peer must be that node. Waits while
    /// the peer's queue is full. A frame queued is sent unless the
    /// connection fails first (then it is counted in
    /// `frames_dropped_on_send`, and the next send redials).
    pub async fn send(
        &self,
        to: SocketAddr,
        expected: Option<NodeId>,
        channel: Channel,
        payload: &[u8],
    ) -> Result<(), NetError> {
        let frame = encode_frame(channel, payload, self.inner.config.max_frame_bytes)?;
        let link = self.link(to, expected).await?;
        link.tx
            .send(frame)
            .await
            .map_err(|_| NetError::ConnectionLost { addr: to })
    }

    /// Like [`Endpoint::send`], but refuses with [`NetError::QueueFull`]
    /// instead of waiting when the peer's queue is full, so a slow peer
    /// costs a dropped frame rather than a stalled caller.
    pub async fn try_send(
        &self,
        to: SocketAddr,
        expected: Option<NodeId>,
        channel: Channel,
        payload: &[u8],
    ) -> Result<(), NetError> {
        let frame = encode_frame(channel, payload, self.inner.config.max_frame_bytes)?;
        let link = self.link(to, expected).await?;
        link.tx.try_send(frame).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                bump(&self.inner.counters.frames_dropped_on_send);
                NetError::QueueFull { addr: to }
            }
            mpsc::error::TrySendError::Closed(_) => NetError::ConnectionLost { addr: to },
        })
    }

    /// Connects to `to` (or reuses the live connection) and returns the
    /// peer's node id, without sending anything.
    pub async fn connect(
        &self,
        to: SocketAddr,
        expected: Option<NodeId>,
    ) -> Result<NodeId, NetError> {
        Ok(self.link(to, expected).await?.node)
    }

    /// The next frame received, or `None` once the endpoint is closed and
    /// every frame already received has been taken.
    pub async fn recv(&self) -> Option<Incoming> {
        self.inner.incoming_rx.lock().await.recv().await
    }

    /// Closes the endpoint: frames already queued are written and
    /// acknowledged by their peers (waiting at most `connect_timeout_ms`
    /// for all of them), then every connection is closed. Later sends fail
    /// with [`NetError::Closed`]. quinn releases the UDP socket just after
    /// this returns, once its driver task sees the last handle go.
    pub async fn close(&self) {
        lock(&self.inner.incoming_tx).take();
        let slots: Vec<Slot> = lock(&self.inner.peers).drain().map(|(_, s)| s).collect();
        for slot in slots {
            slot.lock().await.take();
        }
        lock(&self.inner.drain_tx).take();
        {
            // A writer stuck behind a peer that stopped reading must not
            // hold close up forever: closing the endpoint below ends it.
            let linger = Duration::from_millis(self.inner.config.connect_timeout_ms);
            let mut drain = self.inner.drain_rx.lock().await;
            let _ =
                tokio::time::timeout(linger, async { while drain.recv().await.is_some() {} }).await;
        }
        self.inner.quinn.close(0u32.into(), b"closing");
        self.inner.quinn.wait_idle().await;
    }

    /// The live link to `to`, dialling if needed; concurrent callers for
    /// one address share one dial.
    async fn link(&self, to: SocketAddr, expected: Option<NodeId>) -> Result<Link, NetError> {
        if lock(&self.inner.drain_tx).is_none() {
            return Err(NetError::Closed);
        }
        let slot = Arc::clone(lock(&self.inner.peers).entry(to).or_default());
        let mut guard = slot.lock().await;
        if let Some(link) = guard.as_ref().filter(|l| l.is_alive()) {
            return match expected {
                Some(expected) if expected != link.node => Err(NetError::PeerMismatch {
                    addr: to,
                    expected,
                    found: link.node,
                }),
                _ => Ok(link.clone()),
            };
        }
        let link = self.dial(to, expected).await?;
        *guard = Some(link.clone());
        Ok(link)
    }

    /// Dials `to` and waits until the peer accepts us.
    async fn dial(&self, to: SocketAddr, expected: Option<NodeId>) -> Result<Link, NetError> {
        let timeout_ms = self.inner.config.connect_timeout_ms;
        let timeout = Duration::from_millis(timeout_ms);
        let mut client = quinn::ClientConfig::new(Arc::new(self.inner.tls.client(expected)?));
        client.transport_config(Arc::clone(&self.inner.transport));
        let connecting = self
            .inner
            .quinn
            .connect_with(client, to, SERVER_NAME)
            .map_err(|source| NetError::Connect { addr: to, source })?;
        let conn = tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| NetError::Timeout {
                addr: to,
                timeout_ms,
            })?
            .map_err(|source| NetError::Handshake { addr: to, source })?;
        let Some(node) = peer_node(&conn) else {
            conn.close(1u32.into(), b"no peer identity or protocol");
            return Err(NetError::NoPeerIdentity { addr: to });
        };
        let (ready_tx, ready_rx) = oneshot::channel();
        let link = self
            .inner
            .adopt(conn.clone(), node, Some(ready_tx))
            .ok_or(NetError::Closed)?;
        match tokio::time::timeout(timeout, ready_rx).await {
            Ok(Ok(())) => Ok(link),
            Ok(Err(_)) => Err(match conn.close_reason() {
                Some(reason) => NetError::Refused { addr: to, reason },
                None => NetError::ConnectionLost { addr: to },
            }),
            Err(_) => {
                conn.close(0u32.into(), b"not accepted in time");
                Err(NetError::Timeout {
                    addr: to,
                    timeout_ms,
                })
            }
        }
    }
}

impl Inner {
    /// Starts the reader and writer for a new connection and returns its
    /// link; `None` when the endpoint is closing.
    fn adopt(
        &self,
        conn: quinn::Connection,
        node: NodeId,
        ready: Option<oneshot::Sender<()>>,
    ) -> Option<Link> {
        let incoming = lock(&self.incoming_tx).clone()?;
        let drain = lock(&self.drain_tx).clone()?;
        bump(&self.counters.connections_opened);
        let ctx = ReadCtx {
            from: node,
            addr: conn.remote_address(),
            max_frame_bytes: self.config.max_frame_bytes,
            incoming,
            counters: Arc::clone(&self.counters),
        };
        tokio::spawn(read_connection(conn.clone(), ctx, ready));
        let (tx, rx) = mpsc::channel(self.config.send_queue_frames);
        let timeout = Duration::from_millis(self.config.connect_timeout_ms);
        let counters = Arc::clone(&self.counters);
        tokio::spawn(write_link(conn.clone(), rx, counters, timeout, drain));
        Some(Link { node, conn, tx })
    }

    /// Caches an accepted connection's link for replies, unless a link to
    /// that address is being dialled right now.
    ///
    /// A cached link that still looks alive is replaced too: a peer that
    /// dials us again from the same address has most likely restarted, and
    /// the old connection would otherwise swallow frames until its idle
    /// timeout (a restarted peer cannot reset it: the new process does not
    /// know the old connection's stateless-reset key).
    fn adopt_accepted(&self, conn: quinn::Connection, node: NodeId) {
        let addr = conn.remote_address();
        let Some(link) = self.adopt(conn, node, None) else {
            return;
        };
        let slot = Arc::clone(lock(&self.peers).entry(addr).or_default());
        if let Ok(mut guard) = slot.try_lock() {
            *guard = Some(link);
        }
    }
}

/// The node id of a connection's peer, from its TLS certificate; `None`
/// if there is none or the connection did not negotiate ALPN `chrysalis/1`.
fn peer_node(conn: &quinn::Connection) -> Option<NodeId> {
    let handshake = conn.handshake_data()?;
    let handshake = handshake
        .downcast::<quinn::crypto::rustls::HandshakeData>()
        .ok()?;
    if handshake.protocol.as_deref() != Some(crate::tls::ALPN) {
        return None;
    }
    let identity = conn.peer_identity()?;
    let certs = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    node_id_from_cert(certs.first()?).ok()
}

/// Accepts connections until the endpoint closes or is dropped.
async fn accept_loop(quinn: quinn::Endpoint, inner: Weak<Inner>) {
    while let Some(incoming) = quinn.accept().await {
        let inner = Weak::clone(&inner);
        tokio::spawn(async move {
            let conn = match incoming.await {
                Ok(conn) => conn,
                Err(error) => {
                    tracing::debug!(%error, "incoming handshake failed");
                    return;
                }
            };
            let Some(inner) = inner.upgrade() else { return };
            match peer_node(&conn) {
                Some(node) => inner.adopt_accepted(conn, node),
                None => conn.close(1u32.into(), b"no peer identity"),
            }
        });
    }
}
