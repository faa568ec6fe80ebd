//! Capability, gate and concurrency tests.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrysalis_crypto::ed25519::SigningKey;
use chrysalis_types::{AgentId, Timestamp};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::*;

const NOW_MS: u64 = 1_800_000_000_000;

/// One uncompiled covenant shared by property-test cases (loading verifies
/// signatures, which is slow in a debug build).
static UNCOMPILED: std::sync::OnceLock<Covenant> = std::sync::OnceLock::new();

fn agent(n: u8) -> AgentId {
    AgentId::new([n; 16])
}

fn issuer(seed: u8) -> (Issuer, chrysalis_crypto::ed25519::VerifyingKey) {
    let key = SigningKey::from_seed(&[seed; 32]);
    (Issuer::new(&key).unwrap(), key.verifying_key())
}

fn grant(action: &str, prefix: &str) -> Grant {
    Grant {
        action: action.into(),
        resource_prefix: prefix.into(),
    }
}

fn req<'a>(principal: AgentId, action: &'a str, resource: &'a str) -> Request<'a> {
    Request {
        principal,
        action,
        resource,
        cost: 0,
    }
}

fn root_covenant(rng: &mut StdRng) -> (Covenant, chrysalis_crypto::ed25519::VerifyingKey) {
    let (issuer, root) = issuer(7);
    let grants = [grant("read", "/data/"), grant("write", "/data/tmp/")];
    (issuer.issue(&grants, rng).unwrap(), root)
}

#[test]
fn issued_covenant_round_trips_and_compiles() {
    let mut rng = StdRng::seed_from_u64(1);
    let (cov, root) = root_covenant(&mut rng);
    assert!(cov.is_compiled());
    let loaded = Covenant::from_bytes(&cov.to_bytes().unwrap(), &root).unwrap();
    assert!(loaded.is_compiled());
    assert_eq!(loaded.token_id(), cov.token_id());
    let a = agent(1);
    assert_eq!(loaded.authorize(&req(a, "read", "/data/x"), NOW_MS), Ok(()));
    assert_eq!(
        loaded.authorize(&req(a, "write", "/data/x"), NOW_MS),
        Err(Denial::NoGrant)
    );
    assert_eq!(
        loaded.authorize_datalog(&req(a, "read", "/data/x"), NOW_MS),
        Ok(())
    );
    assert!(
        loaded
            .authorize_datalog(&req(a, "write", "/data/x"), NOW_MS)
            .is_err()
    );
}

#[test]
fn sub_agent_cannot_exceed_parent_rights() {
    let mut rng = StdRng::seed_from_u64(2);
    let (parent, root) = root_covenant(&mut rng);
    let sub = agent(9);
    let narrowed = Attenuation {
        actions: Some(BTreeSet::from(["read".to_owned()])),
        resource_prefix: Some("/data/public/".into()),
        holder: Some(sub),
        not_after_s: Some(NOW_MS / 1000 + 60),
        max_cost: Some(10),
    };
    let child = parent.attenuate(&narrowed, &mut rng).unwrap();
    let child = Covenant::from_bytes(&child.to_bytes().unwrap(), &root).unwrap();
    assert!(child.is_compiled());
    assert_eq!(child.block_count(), 2);
    let ok = req(sub, "read", "/data/public/a");
    for path in [true, false] {
        let decide = |r: &Request<'_>, now: u64| {
            if path {
                child.authorize(r, now)
            } else {
                child.authorize_datalog(r, now)
            }
        };
        assert_eq!(decide(&ok, NOW_MS), Ok(()));
        // Everything the parent could do but the block forbids is refused.
        assert!(decide(&req(sub, "write", "/data/tmp/a"), NOW_MS).is_err());
        assert!(decide(&req(sub, "read", "/data/private"), NOW_MS).is_err());
        assert!(decide(&req(agent(1), "read", "/data/public/a"), NOW_MS).is_err());
        assert!(decide(&ok, NOW_MS + 61_000).is_err());
        assert!(decide(&Request { cost: 11, ..ok }, NOW_MS).is_err());
    }
    // A widening attenuation cannot add what the authority block lacks.
    let widen = Attenuation {
        actions: Some(BTreeSet::from(["delete".to_owned(), "read".to_owned()])),
        ..Attenuation::default()
    };
    let wider = child.attenuate(&widen, &mut rng).unwrap();
    let delete = req(sub, "delete", "/data/public/a");
    // Block 1 (the parent's narrowing) still refuses it.
    assert_eq!(
        wider.authorize(&delete, NOW_MS),
        Err(Denial::ActionNotAllowed { block: 1 })
    );
    assert!(wider.authorize_datalog(&delete, NOW_MS).is_err());
    assert_eq!(wider.authorize(&ok, NOW_MS), Ok(()));
}

#[test]
fn forged_and_resigned_tokens_are_refused() {
    let mut rng = StdRng::seed_from_u64(3);
    let (cov, root) = root_covenant(&mut rng);
    let bytes = cov.to_bytes().unwrap();
    // A token signed by another root key.
    let (mallory, _) = issuer(66);
    let forged = mallory.issue(&[grant("read", "")], &mut rng).unwrap();
    assert!(matches!(
        Covenant::from_bytes(&forged.to_bytes().unwrap(), &root),
        Err(CapabilityError::Token(_))
    ));
    // Every single flipped bit is refused (or, if it lands in an unsigned
    // length prefix, still cannot yield a different valid token).
    for i in (0..bytes.len()).step_by(7) {
        let mut tampered = bytes.clone();
        tampered[i] ^= 0x01;
        if let Ok(t) = Covenant::from_bytes(&tampered, &root) {
            assert_eq!(
                t.to_bytes().unwrap(),
                bytes,
                "bit {i} changed a valid token"
            );
        }
    }
    // Garbage and truncation are errors, not panics.
    assert!(Covenant::from_bytes(&[], &root).is_err());
    assert!(Covenant::from_bytes(&bytes[..bytes.len() / 2], &root).is_err());
}

#[test]
fn hand_written_blocks_fall_back_to_datalog() {
    let mut rng = StdRng::seed_from_u64(4);
    let (cov, root) = root_covenant(&mut rng);
    // An attenuation appended with raw biscuit code, not our vocabulary.
    let token = biscuit_auth::Biscuit::from(
        cov.to_bytes().unwrap(),
        biscuit_auth::PublicKey::from_bytes(root.as_bytes(), biscuit_auth::Algorithm::Ed25519)
            .unwrap(),
    )
    .unwrap();
    let block = biscuit_auth::BlockBuilder::new()
        .code(r#"check if resource($r), $r.ends_with(".txt")"#)
        .unwrap();
    let appended = token.append(block).unwrap().to_vec().unwrap();
    let loaded = Covenant::from_bytes(&appended, &root).unwrap();
    assert!(!loaded.is_compiled());
    let a = agent(1);
    assert_eq!(
        loaded.authorize(&req(a, "read", "/data/a.txt"), NOW_MS),
        Ok(())
    );
    assert!(matches!(
        loaded.authorize(&req(a, "read", "/data/a.bin"), NOW_MS),
        Err(Denial::Refused {
            failed_checks: 1,
            ..
        })
    ));
}

/// A covenant with a hand-written block (never compiled): `.txt` resources
/// only, until `NOW_MS / 1000 + 60` seconds.
fn uncompiled_covenant() -> Covenant {
    let mut rng = StdRng::seed_from_u64(5);
    let (cov, root) = root_covenant(&mut rng);
    let root_key =
        biscuit_auth::PublicKey::from_bytes(root.as_bytes(), biscuit_auth::Algorithm::Ed25519)
            .unwrap();
    let token = biscuit_auth::Biscuit::from(cov.to_bytes().unwrap(), root_key).unwrap();
    let expiry = NOW_MS / 1000 + 60;
    let params = std::collections::HashMap::from([(
        "expiry".to_owned(),
        biscuit_auth::builder::Term::Date(expiry),
    )]);
    let block = biscuit_auth::BlockBuilder::new()
        .code_with_params(
            r#"check if resource($r), $r.ends_with(".txt"); check if time($t), $t <= {expiry}"#,
            params,
            std::collections::HashMap::new(),
        )
        .unwrap();
    let appended = token.append(block).unwrap().to_vec().unwrap();
    let loaded = Covenant::from_bytes(&appended, &root).unwrap();
    assert!(!loaded.is_compiled());
    loaded
}

#[test]
fn uncompiled_covenants_remember_decisions_exactly() {
    let cov = uncompiled_covenant();
    let a = agent(1);
    let ok = req(a, "read", "/data/a.txt");
    let refused = req(a, "read", "/data/a.bin");
    assert_eq!(cov.authorize(&ok, NOW_MS), Ok(()));
    assert_eq!(cov.cached_decisions(), 1);
    // The same request in the same second is answered from memory, and the
    // answer is the authorizer's.
    assert_eq!(cov.authorize(&ok, NOW_MS + 999), Ok(()));
    assert_eq!(cov.cached_decisions(), 1);
    let denial = cov.authorize(&refused, NOW_MS);
    assert!(matches!(denial, Err(Denial::Refused { .. })));
    assert_eq!(cov.authorize(&refused, NOW_MS), denial);
    // Time is part of the key: the expiry bites at the same second as
    // without the cache.
    let late = NOW_MS + 61_000;
    assert!(matches!(
        cov.authorize(&ok, late),
        Err(Denial::Refused { .. })
    ));
    assert_eq!(cov.authorize(&ok, late), cov.authorize_datalog(&ok, late));
    assert_eq!(cov.cached_decisions(), 3);
    // A clone starts with an empty memory but decides the same.
    let clone = cov.clone();
    assert_eq!(clone.cached_decisions(), 0);
    assert_eq!(clone.authorize(&ok, NOW_MS), Ok(()));
}

#[test]
fn gate_records_allowed_and_refused_decisions() {
    let mut rng = StdRng::seed_from_u64(5);
    let (cov, _) = root_covenant(&mut rng);
    let budget = Budget::new(Amount {
        cost: 10,
        tokens: 100,
        time_ms: 1000,
        calls: 2,
    });
    let mut gate = CovenantGate::new(budget.clone(), MemoryRecorder::new());
    let a = agent(1);
    let now = Timestamp::new(NOW_MS, 0);
    let amount = Amount {
        cost: 4,
        ..Amount::ONE_CALL
    };
    let admitted = gate
        .check(&cov, &req(a, "read", "/data/x"), amount, now)
        .unwrap();
    admitted.reservation.commit(Amount::ONE_CALL).unwrap();
    let denied = gate.check(&cov, &req(a, "delete", "/data/x"), amount, now);
    assert!(matches!(
        denied,
        Err(GateError::Refused {
            refusal: Refusal::Capability(Denial::NoGrant),
            ..
        })
    ));
    let big = Amount {
        cost: 11,
        ..Amount::ONE_CALL
    };
    let broke = gate.check(&cov, &req(a, "read", "/data/x"), big, now);
    assert!(matches!(
        broke,
        Err(GateError::Refused {
            refusal: Refusal::Budget(BudgetError::Exhausted {
                requested: 11,
                available: 10,
                ..
            }),
            ..
        })
    ));
    let log = gate.recorder().decisions();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].trace, admitted.trace);
    assert!(log[0].refusal.is_none());
    assert_eq!(
        log[1].refusal.as_ref().map(Refusal::code),
        Some("capability.no_grant")
    );
    assert_eq!(
        log[2].refusal.as_ref().map(Refusal::code),
        Some("budget.exhausted")
    );
    assert_ne!(log[1].payload, log[2].payload);
    // Only the committed call was charged; the 4 reserved cost came back.
    assert_eq!(budget.snapshot().spent, Amount::ONE_CALL);
    assert_eq!(budget.snapshot().available.cost, 10);
}

#[test]
fn gate_records_real_trace_nodes() {
    let mut rng = StdRng::seed_from_u64(6);
    let (cov, _) = root_covenant(&mut rng);
    let budget = Budget::new(Amount {
        cost: 100,
        tokens: 100,
        time_ms: 100,
        calls: 100,
    });
    let recorder = TraceRecorder::new(Vec::new()).unwrap();
    let mut gate = CovenantGate::new(budget, recorder);
    let a = agent(3);
    let now = Timestamp::new(NOW_MS, 4);
    let ok = gate
        .check(&cov, &req(a, "read", "/data/y"), Amount::ONE_CALL, now)
        .unwrap();
    ok.reservation.commit_all();
    let Err(GateError::Refused { trace: refused, .. }) =
        gate.check(&cov, &req(a, "write", "/etc"), Amount::ONE_CALL, now)
    else {
        panic!("write on /etc must be refused");
    };
    let nodes = gate.recorder().sink();
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0].id(), ok.trace);
    assert_eq!(nodes[1].id(), refused);
    assert_eq!(nodes[1].parents(), &[ok.trace]);
    for n in nodes {
        assert_eq!(n.kind().as_str(), DECISION_KIND);
        assert_eq!(n.origin(), a);
        assert_eq!(n.timestamp(), now);
    }
    let refused_json = nodes[1].payload().as_json().unwrap();
    assert!(
        refused_json.contains(r#""allowed":false"#),
        "{refused_json}"
    );
    assert!(
        refused_json.contains(r#""code":"capability.no_grant""#),
        "{refused_json}"
    );
    assert!(
        nodes[0]
            .payload()
            .as_json()
            .unwrap()
            .contains(r#""allowed":true"#)
    );
}

#[test]
fn gate_appends_decisions_to_the_trace_ledger() {
    use chrysalis_ledger::{FsyncPolicy, MemoryStorage, TraceLedger};
    let mut rng = StdRng::seed_from_u64(8);
    let (cov, _) = root_covenant(&mut rng);
    let (ledger, _) = TraceLedger::open(MemoryStorage::new(), FsyncPolicy::Always).unwrap();
    let recorder = TraceRecorder::new(ledger).unwrap();
    let mut gate = CovenantGate::new(Budget::new(Amount::ONE_CALL), recorder);
    let now = Timestamp::new(NOW_MS, 0);
    let a = agent(4);
    let first = gate
        .check(&cov, &req(a, "read", "/data/z"), Amount::ONE_CALL, now)
        .unwrap();
    first.reservation.commit_all();
    let second = gate.check(&cov, &req(a, "read", "/data/z"), Amount::ONE_CALL, now);
    assert!(matches!(second, Err(GateError::Refused { .. })));
    let ledger = gate.recorder().sink();
    assert_eq!(ledger.len(), 2);
    assert_eq!(ledger.get(0).unwrap().id(), first.trace);
    assert_eq!(ledger.get(1).unwrap().parents(), &[first.trace]);
}

#[test]
fn decision_json_is_valid_and_escaped() {
    let refusal = Refusal::Capability(Denial::NoGrant);
    let weird = "a\"b\\c\nd\u{1}é";
    let decision = Decision {
        request: Request {
            principal: agent(5),
            action: weird,
            resource: "/r",
            cost: 7,
        },
        amount: Amount {
            cost: 7,
            ..Amount::ONE_CALL
        },
        at: Timestamp::new(NOW_MS, 0),
        token_id: &[0xab, 0xcd],
        refusal: Some(&refusal),
    };
    let v: serde_json::Value = serde_json::from_str(&decision.to_json()).unwrap();
    assert_eq!(v["action"], weird);
    assert_eq!(v["principal"], agent(5).to_string());
    assert_eq!(v["amount"]["cost"], 7);
    assert_eq!(v["amount"]["calls"], 1);
    assert_eq!(v["token_id"], "abcd");
    assert_eq!(v["allowed"], false);
    assert_eq!(v["code"], "capability.no_grant");
    let allowed = Decision {
        refusal: None,
        ..decision
    };
    let v: serde_json::Value = serde_json::from_str(&allowed.to_json()).unwrap();
    assert_eq!(v["allowed"], true);
    assert!(v["code"].is_null() && v["reason"].is_null());
}

fn attenuation_strategy() -> impl Strategy<Value = Attenuation> {
    let actions = prop::option::of(prop::collection::btree_set(
        prop::sample::select(vec!["read", "write", "exec"]).prop_map(str::to_owned),
        0..3,
    ));
    let prefix = prop::option::of(prop::sample::select(vec!["", "/a", "/a/b", "/c"]));
    let holder = prop::option::of((1u8..3).prop_map(agent));
    let expiry = prop::option::of(0u64..4);
    let cap = prop::option::of(0u64..4);
    (actions, prefix, holder, expiry, cap).prop_map(|(actions, prefix, holder, expiry, cap)| {
        Attenuation {
            actions,
            resource_prefix: prefix.map(str::to_owned),
            holder,
            not_after_s: expiry.map(|e| NOW_MS / 1000 + e),
            max_cost: cap,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The native check of a compiled covenant decides exactly as the
    /// biscuit authorizer does.
    #[test]
    fn native_check_agrees_with_biscuit(
        seed in any::<u64>(),
        blocks in prop::collection::vec(attenuation_strategy(), 0..3),
        probes in prop::collection::vec(
            (1u8..3, prop::sample::select(vec!["read", "write", "exec"]),
             prop::sample::select(vec!["/a", "/a/b/c", "/c/d", "/e"]), 0u64..5, 0u64..5),
            8),
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let (issuer, root) = issuer(11);
        let grants = [grant("read", "/a"), grant("write", "/a/b"), grant("exec", "/c")];
        let mut cov = issuer.issue(&grants, &mut rng).unwrap();
        for b in &blocks {
            cov = cov.attenuate(b, &mut rng).unwrap();
        }
        let cov = Covenant::from_bytes(&cov.to_bytes().unwrap(), &root).unwrap();
        prop_assert!(cov.is_compiled());
        for (who, action, resource, cost, late_s) in probes {
            let r = Request { principal: agent(who), action, resource, cost };
            let now = NOW_MS + late_s * 1000;
            prop_assert_eq!(
                cov.authorize(&r, now).is_ok(),
                cov.authorize_datalog(&r, now).is_ok(),
                "request {:?} at +{}s", r, late_s
            );
        }
    }

    /// Threads hammering reserve / commit / release never overdraw any
    /// dimension, and at rest every unit is accounted for.
    #[test]
    fn remembered_decisions_equal_the_authorizer(
        requests in proptest::collection::vec(
            (0u8..3, 0usize..4, 0u64..3, 0u64..90),
            1..12,
        ),
    ) {
        let cov = UNCOMPILED.get_or_init(uncompiled_covenant);
        let resources = ["/data/a.txt", "/data/a.bin", "/other/b.txt", "/data/tmp/c.txt"];
        // Each request twice: the second is usually a hit (or a collision's miss).
        for (who, resource, cost, offset_s) in requests.iter().chain(requests.iter()) {
            let request = Request {
                principal: agent(*who),
                action: if *who == 2 { "write" } else { "read" },
                resource: resources[*resource],
                cost: *cost,
            };
            let now_ms = NOW_MS + offset_s * 1000;
            prop_assert_eq!(cov.authorize(&request, now_ms), cov.authorize_datalog(&request, now_ms));
        }
    }

    #[test]
    fn budget_never_negative_under_concurrency(
        limit in 1u64..64,
        plans in prop::collection::vec(
            prop::collection::vec((0u64..8, 0u8..3, 0u64..8), 1..200), 4),
    ) {
        let budget = Budget::new(Amount { cost: limit, tokens: limit * 2, time_ms: limit, calls: limit });
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = {
            let (budget, stop) = (budget.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut worst = 0u64;
                while !stop.load(Ordering::Acquire) {
                    for d in Dimension::ALL {
                        worst = worst.max(budget.available(d));
                    }
                    std::hint::spin_loop();
                }
                worst
            })
        };
        let workers: Vec<_> = plans.into_iter().map(|plan| {
            let budget = budget.clone();
            std::thread::spawn(move || {
                let mut spent = Amount::ZERO;
                for (n, op, used) in plan {
                    let want = Amount { cost: n, tokens: 2 * n, time_ms: n, calls: 1 };
                    let Ok(r) = budget.reserve(want) else { continue };
                    match op {
                        0 => r.release(),
                        1 => {
                            let actual = Amount { cost: used.min(n), tokens: used.min(n), time_ms: 0, calls: 1 };
                            r.commit(actual).unwrap();
                            spent = add(spent, actual);
                        }
                        _ => drop(r),
                    }
                }
                spent
            })
        }).collect();
        let spent = workers.into_iter().map(|w| w.join().unwrap()).fold(Amount::ZERO, add);
        stop.store(true, Ordering::Release);
        let worst_available = watcher.join().unwrap();
        // An underflow would wrap to a huge value; nothing may exceed the limit.
        prop_assert!(worst_available <= limit * 2);
        let s = budget.snapshot();
        prop_assert_eq!(s.reserved, Amount::ZERO);
        prop_assert_eq!(s.spent, spent);
        for d in Dimension::ALL {
            prop_assert_eq!(s.available.get(d) + s.spent.get(d), s.limit.get(d));
        }
    }
}

fn add(a: Amount, b: Amount) -> Amount {
    Amount {
        cost: a.cost + b.cost,
        tokens: a.tokens + b.tokens,
        time_ms: a.time_ms + b.time_ms,
        calls: a.calls + b.calls,
    }
}
