//! Property tests for the laws the primitives promise.

use chrysalis_crypto::aead::{AeadAlgorithm, AeadError, AeadKey};
use chrysalis_crypto::ed25519::{self, SigningKey};
use chrysalis_crypto::hash::HashAlgorithm;
use chrysalis_crypto::kdf::{Argon2Params, PasswordKdf, ScryptParams};
use chrysalis_types::codec::{Decode, DecodeError, Encode};
use proptest::prelude::*;

fn any_hash() -> impl Strategy<Value = HashAlgorithm> {
    prop::sample::select(HashAlgorithm::all().to_vec())
}

fn any_aead() -> impl Strategy<Value = AeadAlgorithm> {
    prop::sample::select(vec![
        AeadAlgorithm::Aes256Gcm,
        AeadAlgorithm::XChaCha20Poly1305,
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn streaming_in_random_chunks_equals_one_shot(
        alg in any_hash(),
        data in prop::collection::vec(any::<u8>(), 0..3000),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
        points.sort_unstable();
        let mut hasher = alg.hasher();
        let mut start = 0;
        for p in points.into_iter().chain([data.len()]) {
            hasher.update(&data[start..p]);
            start = p;
        }
        prop_assert_eq!(hasher.finalize(), alg.digest(&data));
    }

    #[test]
    fn hash_names_round_trip(alg in any_hash(), upper in any::<bool>(), sep in "[-_]?") {
        prop_assert_eq!(alg.to_string().parse::<HashAlgorithm>(), Ok(alg));
        let mut name = alg.name().replace('-', &sep);
        if upper {
            name = name.to_uppercase();
        }
        prop_assert_eq!(name.parse::<HashAlgorithm>(), Ok(alg));
        prop_assert_eq!(HashAlgorithm::from_bytes(&alg.to_bytes()), Ok(alg));
    }

    #[test]
    fn aead_round_trips(
        alg in any_aead(),
        key in any::<[u8; 32]>(),
        aad in prop::collection::vec(any::<u8>(), 0..64),
        plaintext in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let key = AeadKey::from_bytes(alg, &key).unwrap();
        let nonce = key.random_nonce();
        let sealed = key.seal(&nonce, &aad, &plaintext).unwrap();
        prop_assert_eq!(sealed.len(), plaintext.len() + alg.tag_len());
        let opened = key.open(&nonce, &aad, &sealed).unwrap();
        prop_assert_eq!(opened.expose_secret(), &plaintext[..]);
        let mut in_place = plaintext.clone();
        key.seal_in_place(&nonce, &aad, &mut in_place).unwrap();
        prop_assert_eq!(&in_place, &sealed);
    }

    #[test]
    fn any_flipped_bit_or_changed_aad_is_refused(
        alg in any_aead(),
        plaintext in prop::collection::vec(any::<u8>(), 0..256),
        aad in prop::collection::vec(any::<u8>(), 0..32),
        where_ in 0usize..3,
        which in any::<prop::sample::Index>(),
        bit in 0u8..8,
        extra_aad in any::<u8>(),
    ) {
        let key = AeadKey::generate(alg);
        let mut nonce = key.random_nonce();
        let mut sealed = key.seal(&nonce, &aad, &plaintext).unwrap();
        let mut aad2 = aad.clone();
        match where_ {
            0 => {
                let i = which.index(nonce.len());
                nonce[i] ^= 1 << bit;
            }
            // Ciphertext and tag: any byte of the sealed output.
            1 => {
                let i = which.index(sealed.len());
                sealed[i] ^= 1 << bit;
            }
            _ => {
                if aad2.is_empty() || bit % 2 == 0 {
                    aad2.push(extra_aad);
                } else {
                    let i = which.index(aad2.len());
                    aad2[i] ^= 1 << bit;
                }
            }
        }
        prop_assert_eq!(key.open(&nonce, &aad2, &sealed), Err(AeadError::Decrypt));
    }

    #[test]
    fn kdf_params_round_trip_within_caps(
        memory_kib in 128u32..=Argon2Params::MAX.memory_kib,
        iterations in 1u32..=16,
        parallelism in 1u32..=16,
        log_n in 1u8..=16,
        r in 1u32..=32,
        p in 1u32..=16,
    ) {
        let argon = PasswordKdf::Argon2id(Argon2Params { memory_kib, iterations, parallelism });
        prop_assert_eq!(PasswordKdf::from_bytes(&argon.to_bytes()), Ok(argon));
        let scrypt = PasswordKdf::Scrypt(ScryptParams { log_n, r, p });
        prop_assert_eq!(PasswordKdf::from_bytes(&scrypt.to_bytes()), Ok(scrypt));
    }

    #[test]
    fn over_cap_kdf_params_are_refused_on_decode(
        memory_kib in any::<u32>(),
        iterations in any::<u32>(),
        parallelism in any::<u32>(),
    ) {
        let max = Argon2Params::MAX;
        prop_assume!(memory_kib > max.memory_kib || iterations > max.iterations
            || parallelism > max.parallelism);
        let kdf = PasswordKdf::Argon2id(Argon2Params { memory_kib, iterations, parallelism });
        let refused = matches!(
            PasswordKdf::from_bytes(&kdf.to_bytes()),
            Err(DecodeError::Invalid { .. })
        );
        prop_assert!(refused);
    }

    #[test]
    fn over_cap_scrypt_params_are_refused_on_decode(log_n in 21u8.., r in 1u32..=32, p in 1u32..=16) {
        let kdf = PasswordKdf::Scrypt(ScryptParams { log_n, r, p });
        let refused = matches!(
            PasswordKdf::from_bytes(&kdf.to_bytes()),
            Err(DecodeError::Invalid { .. })
        );
        prop_assert!(refused);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn batch_verdict_equals_one_by_one(
        seeds in prop::collection::vec(any::<[u8; 32]>(), 1..8),
        corrupt in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let keys: Vec<_> = seeds.iter().map(SigningKey::from_seed).collect();
        let msgs: Vec<Vec<u8>> = seeds.iter().map(|s| s[..7].to_vec()).collect();
        let msg_refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
        let mut sigs: Vec<_> = keys.iter().zip(&msg_refs).map(|(k, m)| k.sign(m)).collect();
        if let Some(i) = corrupt {
            let i = i.index(sigs.len());
            let mut bytes = sigs[i].to_bytes();
            bytes[0] ^= 1;
            sigs[i] = ed25519::Signature::from_bytes(&bytes);
        }
        let publics: Vec<_> = keys.iter().map(SigningKey::verifying_key).collect();
        let one_by_one = msg_refs
            .iter()
            .zip(&sigs)
            .zip(&publics)
            .all(|((m, s), k)| k.verify(m, s).is_ok());
        prop_assert_eq!(ed25519::verify_batch(&msg_refs, &sigs, &publics).is_ok(), one_by_one);
        prop_assert_eq!(one_by_one, corrupt.is_none());
    }
}
