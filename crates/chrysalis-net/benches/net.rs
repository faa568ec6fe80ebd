//! Loopback frame throughput and round-trip latency, 64 B and 64 KiB
//! frames: our [`Endpoint`] beside raw quinn streams carrying the same
//! bytes over the same TLS configuration (the peer), so the ratio is the
//! cost of the endpoint's queues, tasks and framing.

// criterion_group! generates undocumented public functions.
#![allow(missing_docs)]

use chrysalis_crypto::ed25519::SigningKey;
use chrysalis_net::frame::{HEADER_LEN, RawHeader, encode_frame};
use chrysalis_net::identity::SERVER_NAME;
use chrysalis_net::{Admission, Channel, Endpoint, NetConfig, tls};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

const SIZES: [(usize, u64, &str); 2] = [(64, 2_000, "64B"), (64 << 10, 64, "64KiB")];

fn key(n: u8) -> SigningKey {
    SigningKey::from_seed(&[n; 32])
}

fn localhost() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

struct Ours {
    a: Endpoint,
    b: Endpoint,
    b_addr: SocketAddr,
}

fn ours(rt: &Runtime) -> Ours {
    rt.block_on(async {
        let a = Endpoint::bind(
            localhost(),
            &key(1),
            Admission::open(),
            NetConfig::default(),
        )
        .expect("bind a");
        let b = Endpoint::bind(
            localhost(),
            &key(2),
            Admission::open(),
            NetConfig::default(),
        )
        .expect("bind b");
        let b_addr = b.local_addr().expect("addr");
        a.connect(b_addr, Some(b.node_id())).await.expect("connect");
        Ours { a, b, b_addr }
    })
}

/// A raw quinn client connection to a raw quinn server, with the server's
/// accepted connection.
struct Raw {
    _client: quinn::Endpoint,
    _server: quinn::Endpoint,
    client_conn: quinn::Connection,
    server_conn: quinn::Connection,
}

fn raw(rt: &Runtime) -> Raw {
    rt.block_on(async {
        let server_config = tls::server_config(&key(2), Admission::open()).expect("server");
        let server = quinn::Endpoint::server(server_config, localhost()).expect("server");
        let mut client = quinn::Endpoint::client(localhost()).expect("client");
        client.set_default_client_config(
            tls::client_config(&key(1), Admission::open(), None).expect("client"),
        );
        let addr = server.local_addr().expect("addr");
        let connecting = client.connect(addr, SERVER_NAME).expect("connect");
        let accepting = async { server.accept().await.expect("incoming").await };
        let (client_conn, server_conn) = tokio::join!(connecting, accepting);
        Raw {
            _client: client,
            _server: server,
            client_conn: client_conn.expect("connected"),
            server_conn: server_conn.expect("accepted"),
        }
    })
}

/// Reads frames off a raw stream forever, announcing each one.
async fn raw_reader(mut stream: quinn::RecvStream, out: mpsc::Sender<bytes::Bytes>) {
    loop {
        let mut header = [0u8; HEADER_LEN];
        if stream.read_exact(&mut header).await.is_err() {
            return;
        }
        let len = RawHeader::parse(header).length as usize;
        let mut payload = bytes::BytesMut::zeroed(len);
        if stream.read_exact(&mut payload).await.is_err() {
            return;
        }
        if out.send(payload.freeze()).await.is_err() {
            return;
        }
    }
}

fn throughput(c: &mut Criterion) {
    let rt = runtime();
    let o = ours(&rt);
    let r = raw(&rt);
    let (raw_tx, mut raw_rx) = mpsc::channel(4096);
    let mut raw_send = rt.block_on(async {
        let mut send = r.client_conn.open_uni().await.expect("open");
        send.write_all(b"go").await.expect("write");
        let mut recv = r.server_conn.accept_uni().await.expect("accept");
        let mut go = [0u8; 2];
        recv.read_exact(&mut go).await.expect("read");
        tokio::spawn(raw_reader(recv, raw_tx));
        send
    });
    let mut group = c.benchmark_group("net_throughput");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    for (size, frames, name) in SIZES {
        let payload = vec![0x5a; size];
        group.throughput(Throughput::Bytes(size as u64 * frames));
        group.bench_function(BenchmarkId::new("chrysalis_endpoint", name), |bench| {
            bench.iter(|| {
                rt.block_on(async {
                    let (a, to, p) = (o.a.clone(), o.b_addr, payload.clone());
                    let sender = tokio::spawn(async move {
                        for _ in 0..frames {
                            a.send(to, None, Channel::SYNC, &p).await.expect("send");
                        }
                    });
                    for _ in 0..frames {
                        o.b.recv().await.expect("frame");
                    }
                    sender.await.expect("sender");
                })
            })
        });
        group.bench_function(BenchmarkId::new("raw_quinn_stream", name), |bench| {
            bench.iter(|| {
                rt.block_on(async {
                    for _ in 0..frames {
                        let frame = encode_frame(Channel::SYNC, &payload, u32::MAX).expect("frame");
                        raw_send.write_chunk(frame).await.expect("write");
                    }
                    for _ in 0..frames {
                        raw_rx.recv().await.expect("frame");
                    }
                })
            })
        });
    }
    group.finish();
}

fn round_trip(c: &mut Criterion) {
    let rt = runtime();
    let o = ours(&rt);
    let r = raw(&rt);
    // Ours: b echoes every frame back to its sender.
    let echo = o.b.clone();
    rt.spawn(async move {
        while let Some(frame) = echo.recv().await {
            let _ = echo
                .send(frame.addr, Some(frame.from), frame.channel, &frame.payload)
                .await;
        }
    });
    // Raw: the server echoes each frame on a bidirectional stream.
    let (mut raw_send, mut raw_recv) = rt.block_on(async {
        let (mut send, recv) = r.client_conn.open_bi().await.expect("open");
        send.write_all(b"go").await.expect("write");
        let (mut s_send, mut s_recv) = r.server_conn.accept_bi().await.expect("accept");
        let mut go = [0u8; 2];
        s_recv.read_exact(&mut go).await.expect("read");
        let (tx, mut rx) = mpsc::channel::<bytes::Bytes>(16);
        tokio::spawn(raw_reader(s_recv, tx));
        tokio::spawn(async move {
            while let Some(p) = rx.recv().await {
                let frame = encode_frame(Channel::SYNC, &p, u32::MAX).expect("frame");
                if s_send.write_chunk(frame).await.is_err() {
                    return;
                }
            }
        });
        (send, recv)
    });
    let mut group = c.benchmark_group("net_round_trip");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    for (size, _, name) in SIZES {
        let payload = vec![0xa5; size];
        group.bench_function(BenchmarkId::new("chrysalis_endpoint", name), |bench| {
            bench.iter(|| {
                rt.block_on(async {
                    o.a.send(o.b_addr, None, Channel::CONSENSUS, &payload)
                        .await
                        .expect("send");
                    o.a.recv().await.expect("echo")
                })
            })
        });
        group.bench_function(BenchmarkId::new("raw_quinn_stream", name), |bench| {
            bench.iter(|| {
                rt.block_on(async {
                    let frame = encode_frame(Channel::SYNC, &payload, u32::MAX).expect("frame");
                    raw_send.write_chunk(frame).await.expect("write");
                    let mut header = [0u8; HEADER_LEN];
                    raw_recv.read_exact(&mut header).await.expect("read");
                    let mut back = vec![0u8; RawHeader::parse(header).length as usize];
                    raw_recv.read_exact(&mut back).await.expect("read");
                    back
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, throughput, round_trip);
criterion_main!(benches);
