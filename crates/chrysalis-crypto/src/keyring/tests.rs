use super::*;
use proptest::prelude::*;

const BOTH: [AeadAlgorithm; 2] = [AeadAlgorithm::Aes256Gcm, AeadAlgorithm::XChaCha20Poly1305];

/// Decrypts both ways, checks they agree, returns the plaintext.
fn round_trip(ring: &Keyring, ct: &[u8], aad: &[u8]) -> Vec<u8> {
    let plain = ring.decrypt(ct, aad).unwrap().expose_secret().to_vec();
    assert_eq!(ring.decrypt_to_vec(ct, aad).unwrap(), plain);
    plain
}

#[test]
fn encrypt_decrypt_round_trips_for_both_algorithms() {
    for alg in BOTH {
        let mut ring = Keyring::new(alg);
        let ct = ring.encrypt(b"attack at dawn", b"ctx").unwrap();
        assert_eq!(round_trip(&ring, &ct, b"ctx"), b"attack at dawn");
        assert_eq!(Keyring::key_id_of(&ct), Ok(ring.primary_id()));
        assert_eq!(
            ct.len(),
            FIXED_HEADER_LEN + alg.nonce_len() + 14 + alg.tag_len()
        );
        assert_eq!(&ct[..4], b"CRYK");
        // Wrong AAD, or AAD moved into the plaintext, does not decrypt.
        assert_eq!(ring.decrypt(&ct, b"ctx2"), Err(KeyringError::Decrypt));
        assert_eq!(ring.decrypt(&ct, b""), Err(KeyringError::Decrypt));
        // Two encryptions of one plaintext differ (fresh nonces).
        assert_ne!(ring.encrypt(b"attack at dawn", b"ctx").unwrap(), ct);
        assert_eq!(ring.key_info(ring.primary_id()).unwrap().encryptions, 2);
    }
}

#[test]
fn structural_damage_has_distinct_errors() {
    let mut ring = Keyring::new(AeadAlgorithm::Aes256Gcm);
    let ct = ring.encrypt(b"x", b"").unwrap();
    assert!(matches!(
        ring.decrypt(&ct[..3], b""),
        Err(KeyringError::Truncated { needed: 10, .. })
    ));
    assert!(matches!(
        ring.decrypt(&ct[..FIXED_HEADER_LEN + 5], b""),
        Err(KeyringError::Truncated { .. })
    ));
    let mut bad = ct.clone();
    bad[0] = b'X';
    assert_eq!(ring.decrypt(&bad, b""), Err(KeyringError::BadMagic));
    let mut bad = ct.clone();
    bad[4] = 2;
    assert_eq!(
        ring.decrypt(&bad, b""),
        Err(KeyringError::UnsupportedVersion {
            found: 2,
            supported: 1
        })
    );
    let mut bad = ct.clone();
    bad[5] = 99;
    assert_eq!(
        ring.decrypt(&bad, b""),
        Err(KeyringError::UnknownAlgorithm { id: 99 })
    );
    let mut bad = ct.clone();
    bad[5] = AeadAlgorithm::XChaCha20Poly1305.id();
    // Longer nonce, so the header now also eats into the body; either way refused.
    assert!(ring.decrypt(&bad, b"").is_err());
    let mut bad = ct.clone();
    bad[9] ^= 1;
    let other = KeyId::new(ring.primary_id().get() ^ 1);
    assert_eq!(
        ring.decrypt(&bad, b""),
        Err(KeyringError::UnknownKey(other))
    );
}

#[test]
fn rotation_keeps_old_ciphertexts_readable_until_destroyed() {
    let mut ring = Keyring::new(AeadAlgorithm::Aes256Gcm);
    let first = ring.primary_id();
    let old = ring.encrypt(b"old secret", b"a").unwrap();
    let second = ring.rotate();
    assert_ne!(first, second);
    assert_eq!(ring.primary_id(), second);
    let new = ring.encrypt(b"new secret", b"a").unwrap();
    assert_eq!(Keyring::key_id_of(&new), Ok(second));
    assert_eq!(round_trip(&ring, &old, b"a"), b"old secret");

    // Rewrap moves old data to the primary, keeping the AAD.
    let rewrapped = ring.rewrap(&old, b"a").unwrap();
    assert_eq!(Keyring::key_id_of(&rewrapped), Ok(second));

    ring.destroy(first).unwrap();
    assert_eq!(
        ring.decrypt(&old, b"a"),
        Err(KeyringError::KeyDestroyed(first))
    );
    assert_eq!(
        ring.rewrap(&old, b"a"),
        Err(KeyringError::KeyDestroyed(first))
    );
    assert_eq!(round_trip(&ring, &rewrapped, b"a"), b"old secret");
    assert_eq!(round_trip(&ring, &new, b"a"), b"new secret");
    // Destruction is final.
    assert_eq!(ring.enable(first), Err(KeyringError::KeyDestroyed(first)));
    assert_eq!(ring.promote(first), Err(KeyringError::KeyDestroyed(first)));
    assert_eq!(ring.destroy(first), Ok(()));
    let info = ring.keys();
    assert_eq!(info.len(), 2);
    assert_eq!((info[0].id, info[0].version), (first, 1));
    assert_eq!(info[0].status, KeyStatus::Destroyed);
    assert_eq!(
        (info[1].id, info[1].version, info[1].is_primary),
        (second, 2, true)
    );
}

#[test]
fn disabled_keys_neither_decrypt_nor_become_primary() {
    let mut ring = Keyring::new(AeadAlgorithm::XChaCha20Poly1305);
    let first = ring.primary_id();
    let ct = ring.encrypt(b"data", b"").unwrap();
    let second = ring.rotate();
    ring.disable(first).unwrap();
    assert_eq!(
        ring.decrypt(&ct, b""),
        Err(KeyringError::KeyDisabled(first))
    );
    assert_eq!(ring.promote(first), Err(KeyringError::KeyDisabled(first)));
    ring.enable(first).unwrap();
    assert_eq!(round_trip(&ring, &ct, b""), b"data");
    ring.promote(first).unwrap();
    assert_eq!(ring.primary_id(), first);
    assert_eq!(
        Keyring::key_id_of(&ring.encrypt(b"", b"").unwrap()),
        Ok(first)
    );
    ring.promote(second).unwrap();
    let missing = KeyId::new(second.get().wrapping_add(1));
    assert_eq!(
        ring.disable(missing),
        Err(KeyringError::UnknownKey(missing))
    );
}

#[test]
fn the_primary_cannot_be_disabled_or_destroyed() {
    let mut ring = Keyring::new(AeadAlgorithm::Aes256Gcm);
    let primary = ring.primary_id();
    assert_eq!(
        ring.disable(primary),
        Err(KeyringError::PrimaryKey(primary))
    );
    assert_eq!(
        ring.destroy(primary),
        Err(KeyringError::PrimaryKey(primary))
    );
    assert!(ring.encrypt(b"still works", b"").is_ok());
}

#[test]
fn the_keyring_rotates_before_the_nonce_limit() {
    let policy = RotationPolicy {
        max_encryptions_per_key: 3,
    };
    let mut ring = Keyring::with_policy(AeadAlgorithm::Aes256Gcm, policy).unwrap();
    let first = ring.primary_id();
    let cts: Vec<_> = (0..7u8).map(|i| ring.encrypt(&[i], b"").unwrap()).collect();
    let ids: Vec<_> = cts
        .iter()
        .map(|ct| Keyring::key_id_of(ct).unwrap())
        .collect();
    assert_eq!(&ids[..3], &[first; 3]);
    assert!(ids[3..6].iter().all(|id| *id == ids[3] && *id != first));
    assert!(ids[6] != ids[3] && ids[6] != first);
    assert_eq!(ring.keys().len(), 3);
    assert!(ring.keys().iter().all(|k| k.encryptions <= 3));
    for (i, ct) in cts.iter().enumerate() {
        assert_eq!(round_trip(&ring, ct, b""), [i as u8]);
    }
    assert_eq!(
        RotationPolicy::default().max_encryptions_per_key,
        AES_GCM_RANDOM_NONCE_LIMIT / 4
    );
    for bad in [0, AES_GCM_RANDOM_NONCE_LIMIT + 1] {
        let policy = RotationPolicy {
            max_encryptions_per_key: bad,
        };
        assert_eq!(
            ring.set_policy(policy),
            Err(KeyringError::InvalidPolicy(bad))
        );
    }
}

#[test]
fn the_keyring_survives_its_encoding() {
    let mut ring = Keyring::new(AeadAlgorithm::Aes256Gcm);
    let first = ring.primary_id();
    let old = ring.encrypt(b"old", b"").unwrap();
    ring.rotate();
    let third = ring.rotate();
    ring.disable(first).unwrap();
    let gone = ring.keys()[1].id;
    ring.destroy(gone).unwrap();
    let new = ring.encrypt(b"new", b"").unwrap();

    let mut copy = Keyring::from_bytes(&ring.to_bytes()).unwrap();
    assert_eq!(copy.keys(), ring.keys());
    assert_eq!(copy.primary_id(), third);
    assert_eq!(round_trip(&copy, &new, b""), b"new");
    assert_eq!(
        copy.decrypt(&old, b""),
        Err(KeyringError::KeyDisabled(first))
    );
    copy.enable(first).unwrap();
    assert_eq!(round_trip(&copy, &old, b""), b"old");
    // The debug form shows ids and statuses, never material.
    let shown = format!("{ring:?}");
    assert!(shown.contains("Destroyed"));
    assert!(!shown.contains("material"));
}

#[test]
fn forged_encodings_are_refused() {
    let ring = Keyring::new(AeadAlgorithm::Aes256Gcm);
    let bytes = ring.to_bytes();
    // Primary id pointing nowhere.
    let mut forged = bytes.clone();
    forged[1 + 1 + 8] ^= 0xff;
    assert!(matches!(
        Keyring::from_bytes(&forged),
        Err(DecodeError::Invalid { .. })
    ));
    // Threshold of zero.
    let mut forged = bytes.clone();
    forged[2..10].copy_from_slice(&0u64.to_le_bytes());
    assert!(Keyring::from_bytes(&forged).is_err());
    // Every truncation fails cleanly.
    for len in 0..bytes.len() {
        assert!(Keyring::from_bytes(&bytes[..len]).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trip_any_plaintext(
        plaintext in proptest::collection::vec(any::<u8>(), 0..300),
        aad in proptest::collection::vec(any::<u8>(), 0..40),
        chacha in any::<bool>(),
    ) {
        let alg = BOTH[usize::from(chacha)];
        let mut ring = Keyring::new(alg);
        let ct = ring.encrypt(&plaintext, &aad).unwrap();
        prop_assert_eq!(round_trip(&ring, &ct, &aad), plaintext);
    }

    #[test]
    fn any_flipped_bit_is_refused(
        plaintext in proptest::collection::vec(any::<u8>(), 0..64),
        position in any::<proptest::sample::Index>(),
        bit in 0u8..8,
        chacha in any::<bool>(),
    ) {
        let alg = BOTH[usize::from(chacha)];
        let mut ring = Keyring::new(alg);
        let mut ct = ring.encrypt(&plaintext, b"aad").unwrap();
        let at = position.index(ct.len());
        ct[at] ^= 1 << bit;
        prop_assert!(ring.decrypt(&ct, b"aad").is_err());
        prop_assert!(ring.decrypt_to_vec(&ct, b"aad").is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn old_ciphertexts_decrypt_until_their_key_is_destroyed(
        rotations in 1usize..5,
        destroy_mask in any::<u8>(),
    ) {
        let mut ring = Keyring::new(AeadAlgorithm::Aes256Gcm);
        let mut cts = vec![ring.encrypt(b"v0", b"").unwrap()];
        for i in 1..=rotations {
            ring.rotate();
            cts.push(ring.encrypt(format!("v{i}").as_bytes(), b"").unwrap());
        }
        let mut destroyed = Vec::new();
        for (i, ct) in cts.iter().enumerate().take(rotations) {
            if destroy_mask & (1 << i) != 0 {
                let id = Keyring::key_id_of(ct).unwrap();
                ring.destroy(id).unwrap();
                destroyed.push(id);
            }
        }
        for (i, ct) in cts.iter().enumerate() {
            let id = Keyring::key_id_of(ct).unwrap();
            match ring.decrypt(ct, b"") {
                Ok(pt) => {
                    prop_assert!(!destroyed.contains(&id));
                    let expected = format!("v{i}");
                    prop_assert_eq!(pt.expose_secret(), expected.as_bytes());
                }
                Err(err) => {
                    prop_assert!(destroyed.contains(&id));
                    prop_assert_eq!(err, KeyringError::KeyDestroyed(id));
                }
            }
        }
    }
}
