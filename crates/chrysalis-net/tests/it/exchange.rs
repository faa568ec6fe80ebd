//! Admitted nodes exchange frames both ways, concurrently, and close cleanly.

use super::*;
use chrysalis_net::{Admission, Channel, NetError};
use std::collections::BTreeSet;

#[tokio::test]
async fn two_admitted_nodes_exchange_frames_both_ways() {
    let a = bind(1, &[2]);
    let b = bind(2, &[1]);
    assert_eq!(a.node_id(), node(1));

    a.send(addr(&b), Some(node(2)), Channel::GOSSIP, b"ping")
        .await
        .unwrap();
    let got = next(&b).await;
    assert_eq!(got.from, node(1));
    assert_eq!(got.addr, addr(&a));
    assert_eq!(got.channel, Channel::GOSSIP);
    assert_eq!(&got.payload[..], b"ping");

    // The reply rides the connection a opened.
    b.send(got.addr, Some(got.from), Channel::CONSENSUS, b"pong")
        .await
        .unwrap();
    let got = next(&a).await;
    assert_eq!((got.from, got.channel), (node(2), Channel::CONSENSUS));
    assert_eq!(&got.payload[..], b"pong");
    assert_eq!(b.metrics().connections_opened, 1);
    assert_eq!(a.metrics().connections_opened, 1);

    // Empty payloads and other channels are frames too.
    let custom = Channel::new(200).unwrap();
    a.send(addr(&b), None, custom, b"").await.unwrap();
    let got = next(&b).await;
    assert_eq!((got.channel, got.payload.len()), (custom, 0));
    assert_eq!(b.metrics().frames_received, 2);
    assert_eq!(a.metrics().handshakes_refused, 0);
}

fn payload(sender: u8, task: u32, i: u32) -> Vec<u8> {
    let len = 1 + ((i * 37 + task * 11) % 3000) as usize;
    let mut p: Vec<u8> = (0..len).map(|j| sender ^ (j as u8)).collect();
    p.extend_from_slice(&task.to_be_bytes());
    p.extend_from_slice(&i.to_be_bytes());
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_frames_arrive_intact() {
    const TASKS: u32 = 4;
    const FRAMES: u32 = 400;
    let hub = bind(1, &[2, 3]);
    let senders = [bind(2, &[1]), bind(3, &[1])];
    let to = addr(&hub);
    let mut handles = Vec::new();
    for (s, sender) in senders.iter().enumerate() {
        for task in 0..TASKS {
            let sender = sender.clone();
            handles.push(tokio::spawn(async move {
                for i in 0..FRAMES {
                    let p = payload(s as u8 + 2, task, i);
                    sender.send(to, None, Channel::SYNC, &p).await.unwrap();
                }
            }));
        }
    }
    let total = 2 * TASKS * FRAMES;
    let mut seen = BTreeSet::new();
    for _ in 0..total {
        let got = next(&hub).await;
        let p = &got.payload;
        let task = u32::from_be_bytes(p[p.len() - 8..p.len() - 4].try_into().unwrap());
        let i = u32::from_be_bytes(p[p.len() - 4..].try_into().unwrap());
        let n = if got.from == node(2) { 2 } else { 3 };
        assert_eq!(&p[..], &payload(n, task, i)[..], "frame intact");
        assert!(seen.insert((n, task, i)), "no duplicates");
    }
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(seen.len() as u32, total);
    assert_eq!(hub.metrics().frames_received, u64::from(total));
    let sent: u64 = senders.iter().map(|s| s.metrics().frames_sent).sum();
    assert_eq!(sent, u64::from(total));
}

#[tokio::test]
async fn close_flushes_queued_frames_then_refuses() {
    let a = bind(1, &[2]);
    let b = bind(2, &[1]);
    for i in 0..200u32 {
        a.send(addr(&b), Some(node(2)), Channel::GOSSIP, &i.to_be_bytes())
            .await
            .unwrap();
    }
    a.close().await;
    for i in 0..200u32 {
        assert_eq!(&next(&b).await.payload[..], &i.to_be_bytes(), "in order");
    }
    let err = a
        .send(addr(&b), None, Channel::GOSSIP, b"late")
        .await
        .unwrap_err();
    assert!(matches!(err, NetError::Closed), "{err:?}");
    b.close().await;
    assert_eq!(b.recv().await, None);
}

#[tokio::test]
async fn outgoing_payload_over_the_limit_is_refused() {
    let mut config = NetConfig::default();
    config.max_frame_bytes = 1000;
    let a = bind_with(1, &[2], config);
    let b = bind(2, &[1]);
    let err = a
        .send(addr(&b), None, Channel::GOSSIP, &[0; 1001])
        .await
        .unwrap_err();
    assert!(matches!(err, NetError::Frame(_)), "{err:?}");
    a.send(addr(&b), None, Channel::GOSSIP, &[0; 1000])
        .await
        .unwrap();
    assert_eq!(next(&b).await.payload.len(), 1000);
}

#[test]
fn bind_outside_a_runtime_is_an_error() {
    let err = Endpoint::bind(
        localhost(),
        &key(1),
        Admission::open(),
        NetConfig::default(),
    )
    .unwrap_err();
    assert!(matches!(err, NetError::NoRuntime), "{err:?}");
}

#[tokio::test]
async fn bad_config_is_an_error() {
    let mut config = NetConfig::default();
    config.send_queue_frames = 0;
    let err = Endpoint::bind(localhost(), &key(1), Admission::open(), config).unwrap_err();
    assert!(
        matches!(
            err,
            NetError::InvalidConfig {
                field: "send_queue_frames"
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_slow_peer_costs_dropped_frames_not_memory() {
    let mut config = NetConfig::default();
    config.send_queue_frames = 8;
    let a = bind_with(1, &[2], config);
    let mut slow_config = NetConfig::default();
    slow_config.recv_queue_frames = 2;
    let slow = bind_with(2, &[1], slow_config);
    let payload = vec![7u8; 64 << 10];
    // The slow peer reads nothing: its queue, the QUIC flow-control windows
    // and our 8-frame queue fill, then try_send refuses instead of growing.
    let mut accepted = 0u64;
    let mut refused = false;
    for _ in 0..100_000 {
        match a.try_send(addr(&slow), None, Channel::SYNC, &payload).await {
            Ok(()) => accepted += 1,
            Err(NetError::QueueFull { .. }) => {
                refused = true;
                break;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(refused, "the queue is bounded ({accepted} frames accepted)");
    assert_eq!(a.metrics().frames_dropped_on_send, 1);
    // Everything accepted is delivered once the peer reads.
    for _ in 0..accepted {
        assert_eq!(next(&slow).await.payload.len(), payload.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_peer_is_redialled() {
    let a = bind(1, &[2]);
    let b = bind(2, &[1]);
    let b_addr = addr(&b);
    a.send(b_addr, Some(node(2)), Channel::GOSSIP, b"before")
        .await
        .unwrap();
    assert_eq!(&next(&b).await.payload[..], b"before");
    b.close().await;
    drop(b);
    // quinn releases the socket when its driver task notices the last
    // handle is gone, just after close returns: let it run.
    let mut b2 = None;
    for _ in 0..100_000 {
        let admission = Admission::allowlist([node(1)]);
        match Endpoint::bind(b_addr, &key(2), admission, NetConfig::default()) {
            Ok(endpoint) => {
                b2 = Some(endpoint);
                break;
            }
            Err(NetError::Bind { .. }) => tokio::task::yield_now().await,
            Err(e) => panic!("{e:?}"),
        }
    }
    let b2 = b2.expect("the port is released");
    // A frame sent before `a` has seen the old connection close is lost
    // (and counted), as on any datagram network; the sender retries, as
    // gossip and consensus do, and a redial carries it.
    let mut delivered = false;
    for attempt in 0..20u8 {
        match a
            .send(b_addr, Some(node(2)), Channel::GOSSIP, &[attempt])
            .await
        {
            Ok(()) | Err(NetError::ConnectionLost { .. }) => {}
            Err(e) => panic!("{e:?}"),
        }
        let wait = tokio::time::timeout(Duration::from_secs(2), b2.recv()).await;
        if let Ok(Some(got)) = wait {
            assert_eq!(got.from, node(1));
            delivered = true;
            break;
        }
    }
    assert!(delivered, "a redialled");
    assert_eq!(a.metrics().connections_opened, 2);
}
