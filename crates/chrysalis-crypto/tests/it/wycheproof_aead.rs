//! Wycheproof AEAD suites through our API: AES-256-GCM (256-bit keys,
//! 96-bit nonces, 128-bit tags) and XChaCha20-Poly1305; plus the
//! ChaCha20-Poly1305 suite against the backend crate that our
//! XChaCha20-Poly1305 is built on.

use chrysalis_crypto::aead::{AeadAlgorithm, AeadError, AeadKey};
use wycheproof::TestResult;
use wycheproof::aead::{TestName, TestSet};

/// Runs every case of `name` whose shape `alg` supports; returns how many
/// cases ran. Cases with other nonce sizes must be refused cleanly.
fn run_suite(name: TestName, alg: AeadAlgorithm) -> usize {
    let set = TestSet::load(name).unwrap();
    let mut ran = 0;
    for group in &set.test_groups {
        if group.key_size != alg.key_len() * 8 || group.tag_size != alg.tag_len() * 8 {
            continue;
        }
        for test in &group.tests {
            let key = AeadKey::from_bytes(alg, &test.key).unwrap();
            let mut sealed = test.ct.to_vec();
            sealed.extend_from_slice(&test.tag);
            if test.nonce.len() != alg.nonce_len() {
                assert!(matches!(
                    key.open(&test.nonce, &test.aad, &sealed),
                    Err(AeadError::BadNonceLength { .. })
                ));
                continue;
            }
            let opened = key.open(&test.nonce, &test.aad, &sealed);
            match test.result {
                TestResult::Valid => {
                    assert_eq!(
                        opened.unwrap().expose_secret(),
                        &test.pt[..],
                        "tcId {}",
                        test.tc_id
                    );
                    let resealed = key.seal(&test.nonce, &test.aad, &test.pt).unwrap();
                    assert_eq!(resealed, sealed, "tcId {}", test.tc_id);
                }
                TestResult::Invalid => {
                    assert_eq!(opened, Err(AeadError::Decrypt), "tcId {}", test.tc_id)
                }
                // None in these suites; either verdict would be allowed.
                TestResult::Acceptable => {}
            }
            ran += 1;
        }
    }
    ran
}

#[test]
fn wycheproof_aes_256_gcm() {
    let ran = run_suite(TestName::AesGcm, AeadAlgorithm::Aes256Gcm);
    assert!(ran >= 60, "only {ran} AES-256-GCM cases");
}

#[test]
fn wycheproof_xchacha20_poly1305() {
    let ran = run_suite(
        TestName::XChaCha20Poly1305,
        AeadAlgorithm::XChaCha20Poly1305,
    );
    assert!(ran >= 200, "only {ran} XChaCha20-Poly1305 cases");
}

#[test]
fn wycheproof_chacha20_poly1305_backend() {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    let set = TestSet::load(TestName::ChaCha20Poly1305).unwrap();
    let mut ran = 0;
    for group in &set.test_groups {
        if group.nonce_size != 96 || group.key_size != 256 {
            continue;
        }
        for test in &group.tests {
            let cipher = chacha20poly1305::ChaCha20Poly1305::new_from_slice(&test.key).unwrap();
            let mut sealed = test.ct.to_vec();
            sealed.extend_from_slice(&test.tag);
            let payload = Payload {
                msg: &sealed,
                aad: &test.aad,
            };
            let opened = cipher.decrypt(test.nonce[..].into(), payload);
            assert_eq!(
                opened.is_ok(),
                test.result == TestResult::Valid,
                "tcId {}",
                test.tc_id
            );
            ran += 1;
        }
    }
    assert!(ran >= 200, "only {ran} ChaCha20-Poly1305 cases");
}
