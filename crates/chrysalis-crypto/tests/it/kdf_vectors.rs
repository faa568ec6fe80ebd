//! RFC 9106 (Argon2id, section 5.3) and RFC 7914 (scrypt, section 12)
//! vectors.

use chrysalis_crypto::kdf::{Argon2Params, PasswordKdf, ScryptParams};

#[test]
fn rfc9106_argon2id_vector() {
    // Section 5.3: m = 32 KiB, t = 3, p = 4, tag 32 bytes, P = 32 × 0x01,
    // S = 16 × 0x02, K = 8 × 0x03, X = 12 × 0x04.
    let params = Argon2Params {
        memory_kib: 32,
        iterations: 3,
        parallelism: 4,
    };
    let mut tag = [0u8; 32];
    params
        .derive_keyed(&[1; 32], &[2; 16], &[3; 8], &[4; 12], &mut tag)
        .unwrap();
    assert_eq!(
        hex::encode(tag),
        "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
    );
    // Without K and X the tag differs: both are really mixed in.
    let mut plain = [0u8; 32];
    PasswordKdf::Argon2id(params)
        .derive(&[1; 32], &[2; 16], &mut plain)
        .unwrap();
    assert_ne!(plain, tag);
}

fn scrypt_hex(password: &str, salt: &str, log_n: u8, r: u32, p: u32) -> String {
    let mut out = [0u8; 64];
    PasswordKdf::Scrypt(ScryptParams { log_n, r, p })
        .derive(password.as_bytes(), salt.as_bytes(), &mut out)
        .unwrap();
    hex::encode(out)
}

#[test]
fn rfc7914_scrypt_vectors() {
    assert_eq!(
        scrypt_hex("", "", 4, 1, 1),
        "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442\
         fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906"
    );
    assert_eq!(
        scrypt_hex("password", "NaCl", 10, 8, 16),
        "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162\
         2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"
    );
    assert_eq!(
        scrypt_hex("pleaseletmein", "SodiumChloride", 14, 8, 1),
        "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2\
         d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887"
    );
}

/// RFC 7914's fourth vector (N = 2^20, 1 GiB). Too heavy for every debug
/// run: it runs here when `CHRYSALIS_SLOW_VECTORS` is set, and always in
/// release in the bench target (`benches/crypto.rs` checks it before
/// measuring, so `cargo bench -- --test` covers it).
#[test]
fn rfc7914_scrypt_vector_4_when_asked() {
    let params = ScryptParams {
        log_n: 20,
        r: 8,
        p: 1,
    };
    // At the memory cap exactly: accepted.
    assert_eq!(params.memory_bytes(), ScryptParams::MAX_MEMORY_BYTES);
    assert_eq!(PasswordKdf::Scrypt(params).validate(), Ok(()));
    if std::env::var_os("CHRYSALIS_SLOW_VECTORS").is_none() {
        return;
    }
    assert_eq!(
        scrypt_hex("pleaseletmein", "SodiumChloride", 20, 8, 1),
        "2101cb9b6a511aaeaddbbe09cf70f881ec568d574a2ffd4dabe5ee9820adaa47\
         8e56fd8f4ba5d09ffa1c6d927c40f4c337304049e8a952fbcbf45c6fa77a41a4"
    );
}
