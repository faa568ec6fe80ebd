//! BLAKE3's official vectors (`tests/data/blake3/`, from the BLAKE3
//! repository): hash, keyed_hash and derive_key for every input length.

use chrysalis_crypto::hash::{self, HashAlgorithm};

/// The vector input: the repeating byte sequence 0, 1, …, 250.
fn input(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn every_official_vector_matches() {
    let text = std::fs::read_to_string(crate::data_path("blake3/test_vectors.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let key: [u8; 32] = json["key"].as_str().unwrap().as_bytes().try_into().unwrap();
    let context = json["context_string"].as_str().unwrap();
    let cases = json["cases"].as_array().unwrap();
    assert!(cases.len() >= 35, "expected the full vector set");
    for case in cases {
        let len = case["input_len"].as_u64().unwrap() as usize;
        let data = input(len);
        // The vectors give 131 bytes of extended output; the default
        // 32-byte output is its prefix.
        let expect = |field: &str| crate::unhex(case[field].as_str().unwrap())[..32].to_vec();
        assert_eq!(
            hash::blake3(&data).to_vec(),
            expect("hash"),
            "hash, len {len}"
        );
        let digest = HashAlgorithm::Blake3.digest(&data);
        assert_eq!(digest.as_bytes(), &expect("hash")[..], "digest, len {len}");
        let mut streamed = HashAlgorithm::Blake3.hasher();
        for chunk in data.chunks(1000) {
            streamed.update(chunk);
        }
        assert_eq!(streamed.finalize(), digest, "streamed, len {len}");
        assert_eq!(
            hash::blake3_keyed(&key, &data).to_vec(),
            expect("keyed_hash"),
            "keyed_hash, len {len}"
        );
        assert_eq!(
            hash::blake3_derive_key(context, &data).to_vec(),
            expect("derive_key"),
            "derive_key, len {len}"
        );
    }
}
