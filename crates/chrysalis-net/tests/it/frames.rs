//! Bad frames from an admitted peer (a raw quinn client holding an
//! admitted key) are dropped and counted, and the good frames after them
//! still arrive on the same connection.

use super::*;
use chrysalis_net::frame::{FRAME_VERSION, STREAM_PREFACE};
use chrysalis_net::identity::SERVER_NAME;
use chrysalis_net::{Admission, Channel, tls};

const MAX: u32 = 64 << 10;

/// A raw QUIC connection to `server` as node `n`.
async fn raw_connection(n: u8, server: &Endpoint) -> (quinn::Endpoint, quinn::Connection) {
    let mut client = quinn::Endpoint::client(localhost()).unwrap();
    let config = tls::client_config(&key(n), Admission::open(), Some(server.node_id())).unwrap();
    client.set_default_client_config(config);
    let conn = client
        .connect(addr(server), SERVER_NAME)
        .unwrap()
        .await
        .unwrap();
    (client, conn)
}

fn frame(version: u8, channel: u8, length: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![version, channel];
    f.extend_from_slice(&length.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn good(payload: &[u8]) -> Vec<u8> {
    frame(
        FRAME_VERSION,
        Channel::GOSSIP.tag(),
        payload.len() as u32,
        payload,
    )
}

#[tokio::test]
async fn malformed_and_oversized_frames_are_dropped_and_counted() {
    let mut config = NetConfig::default();
    config.max_frame_bytes = MAX;
    let b = bind_with(2, &[1], config);
    let (_client, conn) = raw_connection(1, &b).await;
    let mut stream = conn.open_uni().await.unwrap();
    stream.write_all(&STREAM_PREFACE).await.unwrap();
    stream.write_all(&good(b"first")).await.unwrap();
    // Unknown version, then the reserved channel: malformed.
    stream.write_all(&frame(9, 1, 5, b"vers!")).await.unwrap();
    stream
        .write_all(&frame(FRAME_VERSION, 0, 3, b"ch0"))
        .await
        .unwrap();
    // Larger than the limit: skipped without being buffered.
    let big = vec![0xee; MAX as usize + 1];
    stream
        .write_all(&frame(FRAME_VERSION, 1, MAX + 1, &big))
        .await
        .unwrap();
    stream.write_all(&good(b"second")).await.unwrap();

    assert_eq!(&next(&b).await.payload[..], b"first");
    let got = next(&b).await;
    assert_eq!(&got.payload[..], b"second");
    assert_eq!(got.from, node(1));
    let m = b.metrics();
    assert_eq!(m.frames_malformed, 2);
    assert_eq!(m.frames_oversized, 1);
    assert_eq!(m.frames_received, 2);
    assert_eq!(m.streams_broken, 0);

    // A frame at exactly the limit is fine.
    let exact = vec![0x11; MAX as usize];
    stream.write_all(&good(&exact)).await.unwrap();
    assert_eq!(next(&b).await.payload.len(), MAX as usize);
}

#[tokio::test]
async fn broken_streams_do_not_take_the_connection_down() {
    let b = bind(2, &[1]);
    let (_client, conn) = raw_connection(1, &b).await;

    // A stream with a bad preface is given up on: the node stops it. (It
    // is left unfinished so the stop, not an acknowledged end, ends it.)
    let mut bad = conn.open_uni().await.unwrap();
    bad.write_all(b"HTTP/1.1 200 OK\r\n").await.unwrap();
    // A stream cut off in the middle of a payload is given up on.
    let mut cut = conn.open_uni().await.unwrap();
    cut.write_all(&STREAM_PREFACE).await.unwrap();
    cut.write_all(&frame(FRAME_VERSION, 1, 100, b"only ten.."))
        .await
        .unwrap();
    cut.finish().unwrap();
    // A new stream on the same connection still delivers.
    let mut fresh = conn.open_uni().await.unwrap();
    fresh.write_all(&STREAM_PREFACE).await.unwrap();
    fresh.write_all(&good(b"still here")).await.unwrap();
    fresh.finish().unwrap();

    let got = next(&b).await;
    assert_eq!(&got.payload[..], b"still here");
    // The bad stream's verdict may come before or after the good frame:
    // its stop is the signal (counted before the stop is sent).
    assert!(
        bad.stopped().await.unwrap().is_some(),
        "bad preface stopped"
    );
    assert!(b.metrics().streams_broken >= 1);
    assert_eq!(b.metrics().frames_received, 1);
    assert!(conn.close_reason().is_none(), "connection still open");
    // And the connection carries more frames after all that.
    let mut again = conn.open_uni().await.unwrap();
    again.write_all(&STREAM_PREFACE).await.unwrap();
    again.write_all(&good(b"and again")).await.unwrap();
    assert_eq!(&next(&b).await.payload[..], b"and again");
}
