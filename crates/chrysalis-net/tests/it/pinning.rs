//! Admission and pinning: unadmitted nodes and impersonators are refused
//! during the handshake, on both sides.

use super::*;
use chrysalis_net::{Admission, Channel, NetError};

#[tokio::test]
async fn unknown_node_is_refused_by_the_server() {
    let a = bind(1, &[2]);
    // Node 9 admits node 1, but node 1 does not admit node 9.
    let stranger = bind(9, &[1]);
    let err = stranger
        .send(addr(&a), Some(node(1)), Channel::GOSSIP, b"let me in")
        .await
        .unwrap_err();
    assert!(matches!(err, NetError::Refused { .. }), "{err:?}");
    assert_eq!(a.metrics().handshakes_refused, 1);
    assert_eq!(a.metrics().connections_opened, 0);
    assert_eq!(stranger.metrics().handshakes_refused, 0);
}

#[tokio::test]
async fn unknown_node_is_refused_by_the_client() {
    let a = bind(1, &[2]);
    // The stranger would accept node 1, but node 1 refuses to dial it.
    let stranger = bind(9, &[1]);
    let err = a
        .send(addr(&stranger), None, Channel::GOSSIP, b"hello?")
        .await
        .unwrap_err();
    assert!(matches!(err, NetError::Handshake { .. }), "{err:?}");
    assert_eq!(a.metrics().handshakes_refused, 1);
    assert_eq!(a.metrics().connections_opened, 0);
}

#[tokio::test]
async fn admitting_at_runtime_lets_a_node_in() {
    let admission = Admission::allowlist([]);
    let a = Endpoint::bind(
        localhost(),
        &key(1),
        admission.clone(),
        NetConfig::default(),
    )
    .unwrap();
    let b = bind(2, &[1]);
    let err = b.connect(addr(&a), None).await.unwrap_err();
    assert!(matches!(err, NetError::Refused { .. }), "{err:?}");
    admission.admit(node(2));
    assert_eq!(b.connect(addr(&a), None).await.unwrap(), node(1));
    b.send(addr(&a), Some(node(1)), Channel::GOSSIP, b"in")
        .await
        .unwrap();
    assert_eq!(next(&a).await.from, node(2));
}

#[tokio::test]
async fn impersonator_at_a_pinned_address_is_refused() {
    let a = bind(1, &[2, 3]);
    // The address we believe is node 2's is served by node 3, a node we
    // admit: admission alone would let it through; the pin does not.
    let impostor = bind(3, &[1]);
    let err = a
        .send(addr(&impostor), Some(node(2)), Channel::CONSENSUS, b"vote")
        .await
        .unwrap_err();
    assert!(matches!(err, NetError::Handshake { .. }), "{err:?}");
    assert_eq!(a.metrics().handshakes_refused, 1);
    assert_eq!(impostor.metrics().frames_received, 0);

    // Once connected unpinned, a pinned send to that address names the
    // mismatch instead of dialling again.
    assert_eq!(a.connect(addr(&impostor), None).await.unwrap(), node(3));
    let err = a
        .send(addr(&impostor), Some(node(2)), Channel::CONSENSUS, b"vote")
        .await
        .unwrap_err();
    assert!(
        matches!(err, NetError::PeerMismatch { expected, found, .. } if expected == node(2) && found == node(3)),
        "{err:?}"
    );
}

#[tokio::test]
async fn open_admission_admits_any_key_but_pins_still_hold() {
    let open = Endpoint::bind(
        localhost(),
        &key(1),
        Admission::open(),
        NetConfig::default(),
    )
    .unwrap();
    let anyone = bind(7, &[1]);
    anyone
        .send(addr(&open), Some(node(1)), Channel::GOSSIP, b"hi")
        .await
        .unwrap();
    assert_eq!(next(&open).await.from, node(7));
    let other = bind(8, &[1]);
    let err = open.connect(addr(&other), Some(node(9))).await.unwrap_err();
    assert!(matches!(err, NetError::Handshake { .. }), "{err:?}");
}
