//! The tasks that move frames between queues and QUIC streams.
//!
//! A refused frame (bad version, reserved channel, over the size limit) is
//! skipped in place: its payload is read and discarded chunk by chunk,
//! never buffered whole, and the next frame on the stream is read as usual.
//! A stream is given up on only when it cannot be parsed on (a bad
//! preface, or it ends or fails in the middle of a frame); the connection
//! and its other streams go on.

use crate::endpoint::Incoming;
use crate::frame::{FrameError, HEADER_LEN, RawHeader, STREAM_PREFACE};
use crate::metrics::{Counters, bump};
use bytes::{Bytes, BytesMut};
use chrysalis_types::NodeId;
use quinn::{ReadExactError, RecvStream};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Frames gathered into one stream write when several are queued.
const WRITE_BATCH_FRAMES: usize = 64;
/// The largest piece read at a time while skipping a refused payload.
const SKIP_CHUNK_BYTES: usize = 64 << 10;
/// The code a reader stops a broken stream with.
const STOP_BROKEN: u32 = 1;

/// What a connection's readers need: who the peer is, the limit, and where
/// frames go.
#[derive(Debug, Clone)]
pub(crate) struct ReadCtx {
    pub(crate) from: NodeId,
    pub(crate) addr: SocketAddr,
    pub(crate) max_frame_bytes: u32,
    pub(crate) incoming: mpsc::Sender<Incoming>,
    pub(crate) counters: Arc<Counters>,
}

/// Accepts the peer's streams until the connection ends; signals `ready`
/// when the first one arrives (the peer has accepted us).
pub(crate) async fn read_connection(
    conn: quinn::Connection,
    ctx: ReadCtx,
    mut ready: Option<oneshot::Sender<()>>,
) {
    loop {
        match conn.accept_uni().await {
            Ok(stream) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(());
                }
                tokio::spawn(read_stream(stream, ctx.clone()));
            }
            Err(error) => {
                tracing::debug!(peer = %ctx.from, %error, "connection ended");
                return;
            }
        }
    }
}

/// Why a stream cannot be read on.
enum StreamEnd {
    /// Finished cleanly between frames.
    Finished,
    /// Cut off or failed mid-frame, or a bad preface.
    Broken(&'static str),
    /// The endpoint no longer takes frames.
    Closed,
}

/// Reads one peer stream to its end, delivering good frames and skipping
/// refused ones.
async fn read_stream(mut stream: RecvStream, ctx: ReadCtx) {
    let end = read_frames(&mut stream, &ctx).await;
    if let StreamEnd::Broken(why) = end {
        bump(&ctx.counters.streams_broken);
        tracing::warn!(peer = %ctx.from, addr = %ctx.addr, why, "gave up on a frame stream");
        let _ = stream.stop(STOP_BROKEN.into());
    }
}

async fn read_frames(stream: &mut RecvStream, ctx: &ReadCtx) -> StreamEnd {
    let mut preface = [0u8; STREAM_PREFACE.len()];
    if stream.read_exact(&mut preface).await.is_err() || preface != STREAM_PREFACE {
        return StreamEnd::Broken("bad stream preface");
    }
    loop {
        let mut header = [0u8; HEADER_LEN];
        match stream.read_exact(&mut header).await {
            Ok(()) => {}
            Err(ReadExactError::FinishedEarly(0)) => return StreamEnd::Finished,
            Err(_) => return StreamEnd::Broken("cut off in a frame header"),
        }
        let raw = RawHeader::parse(header);
        match raw.check(ctx.max_frame_bytes) {
            Ok((channel, length)) => {
                let mut payload = BytesMut::zeroed(length);
                if stream.read_exact(&mut payload).await.is_err() {
                    return StreamEnd::Broken("cut off in a frame payload");
                }
                let frame = Incoming {
                    from: ctx.from,
                    addr: ctx.addr,
                    channel,
                    payload: payload.freeze(),
                };
                if ctx.incoming.send(frame).await.is_err() {
                    return StreamEnd::Closed;
                }
                bump(&ctx.counters.frames_received);
            }
            Err(error) => {
                refuse(ctx, &error);
                if !skip(stream, u64::from(raw.length)).await {
                    return StreamEnd::Broken("cut off in a refused frame");
                }
            }
        }
    }
}

fn refuse(ctx: &ReadCtx, error: &FrameError) {
    if error.is_oversized() {
        bump(&ctx.counters.frames_oversized);
    } else {
        bump(&ctx.counters.frames_malformed);
    }
    tracing::warn!(peer = %ctx.from, addr = %ctx.addr, %error, "dropped a frame");
}

/// Reads and discards `length` bytes; `false` if the stream ends first.
async fn skip(stream: &mut RecvStream, mut length: u64) -> bool {
    while length > 0 {
        let want = usize::try_from(length).map_or(SKIP_CHUNK_BYTES, |l| l.min(SKIP_CHUNK_BYTES));
        match stream.read_chunk(want, true).await {
            Ok(Some(chunk)) => length -= chunk.bytes.len() as u64,
            Ok(None) | Err(_) => return false,
        }
    }
    true
}

/// Opens this side's frame stream on `conn` and writes queued frames to it
/// until the queue closes (then finishes the stream and waits, up to
/// `linger`, for the peer to acknowledge it) or the connection fails.
/// `_drain` is held until the writer ends, so close can wait for writers.
pub(crate) async fn write_link(
    conn: quinn::Connection,
    mut rx: mpsc::Receiver<Bytes>,
    counters: Arc<Counters>,
    linger: Duration,
    _drain: mpsc::Sender<()>,
) {
    let drop_queued = |rx: &mut mpsc::Receiver<Bytes>, lost: usize| {
        rx.close();
        let mut dropped = lost;
        while rx.try_recv().is_ok() {
            dropped += 1;
        }
        for _ in 0..dropped {
            bump(&counters.frames_dropped_on_send);
        }
    };
    let mut stream = match conn.open_uni().await {
        Ok(stream) => stream,
        Err(_) => return drop_queued(&mut rx, 0),
    };
    if stream.write_all(&STREAM_PREFACE).await.is_err() {
        return drop_queued(&mut rx, 0);
    }
    let mut batch: Vec<Bytes> = Vec::with_capacity(WRITE_BATCH_FRAMES);
    while rx.recv_many(&mut batch, WRITE_BATCH_FRAMES).await > 0 {
        let frames = batch.len();
        if let Err(error) = stream.write_all_chunks(&mut batch).await {
            tracing::debug!(%error, "frame stream write failed");
            return drop_queued(&mut rx, frames);
        }
        for _ in 0..frames {
            bump(&counters.frames_sent);
        }
        batch.clear();
    }
    if stream.finish().is_ok() {
        let _ = tokio::time::timeout(linger, stream.stopped()).await;
    }
}
