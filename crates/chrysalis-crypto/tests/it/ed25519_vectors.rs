//! Ed25519: RFC 8032 section 7.1 vectors (`tests/data/rfc8032/`), the
//! Wycheproof Ed25519 suite under strict verification, and agreement with
//! ring's signer.

use chrysalis_crypto::ed25519::{self, Signature, SigningKey, VerifyingKey};
use chrysalis_crypto::hash::HashAlgorithm;
use wycheproof::TestResult;

struct Rfc8032Vector {
    name: String,
    secret: [u8; 32],
    public: [u8; 32],
    message: Vec<u8>,
    signature: [u8; 64],
}

fn rfc8032_vectors() -> Vec<Rfc8032Vector> {
    let text = std::fs::read_to_string(crate::data_path("rfc8032/ed25519.txt")).unwrap();
    let mut out = Vec::new();
    for block in text.split("\n\n").filter(|b| b.contains("name = ")) {
        let field = |key: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(" = "))
                .unwrap_or_else(|| panic!("missing {key} in {block}"))
                .to_owned()
        };
        out.push(Rfc8032Vector {
            name: field("name"),
            secret: crate::unhex(&field("secret")).try_into().unwrap(),
            public: crate::unhex(&field("public")).try_into().unwrap(),
            message: crate::unhex(&field("message")),
            signature: crate::unhex(&field("signature")).try_into().unwrap(),
        });
    }
    out
}

#[test]
fn rfc8032_section_7_1() {
    let vectors = rfc8032_vectors();
    assert_eq!(vectors.len(), 5, "TEST 1, 2, 3, 1024 and SHA(abc)");
    for v in &vectors {
        let key = SigningKey::from_seed(&v.secret);
        let public = key.verifying_key();
        assert_eq!(public.to_bytes(), v.public, "{}", v.name);
        let sig = key.sign(&v.message);
        assert_eq!(sig.to_bytes(), v.signature, "{}", v.name);
        assert_eq!(public.verify(&v.message, &sig), Ok(()), "{}", v.name);
        let mut tampered = v.signature;
        tampered[10] ^= 1;
        assert!(
            public
                .verify(&v.message, &Signature::from_bytes(&tampered))
                .is_err()
        );
    }
    let t1024 = vectors.iter().find(|v| v.name == "TEST 1024").unwrap();
    assert_eq!(t1024.message.len(), 1023);
    let abc = vectors.iter().find(|v| v.name == "TEST SHA(abc)").unwrap();
    assert_eq!(abc.message, HashAlgorithm::Sha512.digest(b"abc").as_bytes());
}

/// What our strict verifier says about one Wycheproof case, through both
/// the single and the batch path (which must agree).
fn verdict(public: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let Ok(public) = <[u8; 32]>::try_from(public) else {
        return false;
    };
    let Ok(sig) = <[u8; 64]>::try_from(sig) else {
        return false;
    };
    let Ok(key) = VerifyingKey::from_bytes(&public) else {
        return false;
    };
    let sig = Signature::from_bytes(&sig);
    let single = key.verify(msg, &sig).is_ok();
    let batch = ed25519::verify_batch(&[msg], &[sig], &[key]).is_ok();
    assert_eq!(single, batch, "batch and single verification disagree");
    single
}

#[test]
fn wycheproof_ed25519_strict() {
    let set = wycheproof::eddsa::TestSet::load(wycheproof::eddsa::TestName::Ed25519).unwrap();
    let mut checked = 0;
    for group in &set.test_groups {
        for test in &group.tests {
            let accepted = verdict(&group.key.pk, &test.msg, &test.sig);
            match test.result {
                TestResult::Valid => assert!(accepted, "tcId {} refused", test.tc_id),
                TestResult::Invalid => assert!(!accepted, "tcId {} accepted", test.tc_id),
                // The Ed25519 file has no "acceptable" cases; were one
                // added, either verdict would be allowed by Wycheproof.
                TestResult::Acceptable => {}
            }
            checked += 1;
        }
    }
    assert!(checked >= 140, "only {checked} cases");
}

#[test]
fn signatures_equal_rings_and_aws_lc() {
    // Ed25519 is deterministic: any correct signer gives the same bytes.
    for i in 0..32u8 {
        let seed = [i.wrapping_mul(37).wrapping_add(1); 32];
        let msg: Vec<u8> = (0..i as usize * 13).map(|j| j as u8 ^ i).collect();
        let ours = SigningKey::from_seed(&seed).sign(&msg).to_bytes();
        let ring_key = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
        assert_eq!(ring_key.sign(&msg).as_ref(), &ours[..]);
        let aws_key = aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
        assert_eq!(aws_key.sign(&msg).as_ref(), &ours[..]);
    }
}
