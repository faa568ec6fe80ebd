use super::*;
use crate::kdf::Argon2Params;
use chrysalis_types::codec::Encode;
use proptest::prelude::*;

/// Cheap Argon2id parameters: tests stay fast, the defaults stay strong.
const FAST_KDF: PasswordKdf = PasswordKdf::Argon2id(Argon2Params {
    memory_kib: 64,
    iterations: 1,
    parallelism: 1,
});

const OPENAI_KEY: &str = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789wxyz";
const ANTHROPIC_KEY: &str = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789";

fn filled() -> SecurityContext {
    let mut ctx = SecurityContext::new();
    ctx.store_api_key(Provider::OpenAI, OPENAI_KEY, 1_000)
        .unwrap();
    ctx.store_api_key(Provider::Anthropic, ANTHROPIC_KEY, 2_000)
        .unwrap();
    ctx.store_api_key("my-llm".parse().unwrap(), "tok", 3_000)
        .unwrap();
    let agent = AgentKeypair::from_seed(AgentId::new([5; 16]), "scout", 42, &[6; 32]).unwrap();
    ctx.add_agent(agent).unwrap();
    ctx
}

#[test]
fn api_keys_store_get_list_remove() {
    let mut ctx = filled();
    assert_eq!(
        ctx.api_key(&Provider::OpenAI).unwrap().expose_secret(),
        OPENAI_KEY
    );
    let listed = ctx.list_api_keys();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0].provider, Provider::OpenAI);
    assert_eq!(listed[0].redacted, "sk-...wxyz");
    assert_eq!(listed[0].added_at_ms, 1_000);
    assert_eq!(listed[2].redacted, "[REDACTED]");
    // Replacing reports it.
    let newer = "sk-ant-api03-ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210";
    assert_eq!(ctx.store_api_key(Provider::Anthropic, newer, 9), Ok(true));
    assert_eq!(
        ctx.api_key(&Provider::Anthropic).unwrap().expose_secret(),
        newer
    );
    assert_eq!(ctx.remove_api_key(&Provider::OpenAI), Ok(()));
    assert_eq!(
        ctx.remove_api_key(&Provider::OpenAI),
        Err(VaultError::NotFound {
            provider: Provider::OpenAI
        })
    );
    assert!(matches!(
        ctx.api_key(&Provider::Groq),
        Err(VaultError::NotFound { .. })
    ));
    // Nothing secret in the debug form.
    let shown = format!("{ctx:?}");
    assert!(!shown.contains("abcdefghij"), "{shown}");
}

#[test]
fn providers_parse_display_and_encode() {
    let cases = [
        ("openai", Provider::OpenAI),
        ("OpenAI", Provider::OpenAI),
        ("anthropic", Provider::Anthropic),
        ("nomic", Provider::Nomic),
        ("Cohere", Provider::Cohere),
        ("mistralai", Provider::Mistral),
        ("groq", Provider::Groq),
        ("hf", Provider::HuggingFace),
        ("Hugging-Face", Provider::HuggingFace),
        ("My_LLM.v2", Provider::Custom("my_llm.v2".into())),
    ];
    for (name, expected) in cases {
        let parsed: Provider = name.parse().unwrap();
        assert_eq!(parsed, expected, "{name}");
        assert_eq!(parsed.to_string().parse::<Provider>().unwrap(), parsed);
        assert_eq!(Provider::from_bytes(&parsed.to_bytes()).unwrap(), parsed);
    }
    assert_eq!("".parse::<Provider>(), Err(ProviderParseError::Empty));
    assert_eq!(
        "a b".parse::<Provider>(),
        Err(ProviderParseError::BadCharacter { found: ' ' })
    );
    assert!(matches!(
        "x".repeat(65).parse::<Provider>(),
        Err(ProviderParseError::TooLong { .. })
    ));
    // A custom name spelling a known provider, or in capitals, is not canonical.
    for forged in ["openai", "MyLLM"] {
        let mut w = Writer::new();
        w.put_u8(chrysalis_types::codec::FORMAT_VERSION);
        w.put_u8(8);
        w.put(forged);
        assert!(Provider::from_bytes(w.as_bytes()).is_err(), "{forged}");
    }
}

#[test]
fn key_formats_are_checked_per_provider() {
    let long = "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0";
    let good = [
        (Provider::OpenAI, OPENAI_KEY.to_owned()),
        (Provider::OpenAI, format!("sk-{long}")),
        (Provider::Anthropic, ANTHROPIC_KEY.to_owned()),
        (Provider::Nomic, "nk-abcdefghijklmnopqrstu".to_owned()),
        (Provider::Groq, format!("gsk_{long}")),
        (Provider::HuggingFace, format!("hf_{}", &long[..34])),
        (Provider::Cohere, long.to_owned()),
        (Provider::Mistral, long[..32].to_owned()),
        (Provider::Custom("x".into()), "anything!@#".to_owned()),
    ];
    for (provider, key) in good {
        assert_eq!(
            validate_key_format(&provider, &key),
            Ok(()),
            "{provider} {key}"
        );
    }
    let bad = [
        (Provider::OpenAI, format!("pk-{long}"), "start with \"sk-\""),
        (Provider::OpenAI, ANTHROPIC_KEY.to_owned(), "Anthropic key"),
        (Provider::OpenAI, "sk-short".to_owned(), "too short"),
        (Provider::OpenAI, format!("sk-{long}\n"), "whitespace"),
        (
            Provider::OpenAI,
            format!("sk-{long}!"),
            "other than letters",
        ),
        (Provider::Anthropic, OPENAI_KEY.to_owned(), "\"sk-ant-\""),
        (Provider::Nomic, "nk-short".to_owned(), "too short"),
        (Provider::Groq, format!("sk-{long}"), "\"gsk_\""),
        (Provider::HuggingFace, format!("hf-{long}"), "\"hf_\""),
        (
            Provider::Cohere,
            format!("{long}-x"),
            "letters and digits only",
        ),
        (Provider::Mistral, "abc".to_owned(), "too short"),
        (Provider::Custom("x".into()), String::new(), "empty"),
        (Provider::Custom("x".into()), "a b".to_owned(), "whitespace"),
        (Provider::Custom("x".into()), "é".repeat(20), "non-ASCII"),
        (
            Provider::Custom("x".into()),
            "k".repeat(4097),
            "longer than",
        ),
    ];
    for (provider, key, why) in bad {
        match validate_key_format(&provider, &key) {
            Err(VaultError::InvalidKeyFormat {
                provider: p,
                reason,
            }) => {
                assert_eq!(p, provider);
                assert!(reason.contains(why), "{provider}: {reason:?} lacks {why:?}");
                assert!(!reason.contains(&key[..key.len().min(8)]) || key.len() < 4);
            }
            other => panic!("{provider} {key:?}: {other:?}"),
        }
    }
    let mut ctx = SecurityContext::new();
    assert!(matches!(
        ctx.store_api_key(Provider::OpenAI, "nope", 0),
        Err(VaultError::InvalidKeyFormat { .. })
    ));
    assert!(ctx.list_api_keys().is_empty());
}

#[test]
fn redaction() {
    assert_eq!(redact(OPENAI_KEY), "sk-...wxyz");
    assert_eq!(redact(ANTHROPIC_KEY), "sk-...6789");
    assert_eq!(redact("hf_abcdefghijklmnopqrstuvwxyz"), "hf_...wxyz");
    assert_eq!(redact("gsk_abcdefghijklmnopqrstuvwxyz"), "gsk_...wxyz");
    assert_eq!(redact("abcdefghijklmnopqrstuvwxyz12"), "...yz12");
    assert_eq!(redact("short"), "[REDACTED]");
    assert_eq!(redact("sk-12345678"), "[REDACTED]");
    assert_eq!(redact(""), "[REDACTED]");
    // Never shows most of a key: a long prefix on a short key hides it all.
    assert_eq!(redact("abcdefg-hijklmn"), "[REDACTED]");
    // Multi-byte characters never split.
    assert_eq!(redact(&"é".repeat(20)), "...éééé");
}

#[test]
fn session_keys_derive_and_rotate() {
    let mut ctx = SecurityContext::new();
    let a = ctx.session_key("session-a");
    assert_eq!(a.len(), 32);
    assert_eq!(ctx.session_key("session-a"), a);
    assert_ne!(ctx.session_key("session-b"), a);
    assert!(ctx.verify_session_key("session-a", a.expose_secret()));
    assert!(!ctx.verify_session_key("session-b", a.expose_secret()));
    assert_eq!(ctx.session_epoch(), 1);
    ctx.rotate_session_secret();
    assert_eq!(ctx.session_epoch(), 2);
    assert_ne!(ctx.session_key("session-a"), a);
    assert!(!ctx.verify_session_key("session-a", a.expose_secret()));
    // Another vault derives other keys for the same session id.
    assert_ne!(SecurityContext::new().session_key("session-a"), a);
}

#[test]
fn seal_unseal_round_trips_everything() {
    let mut ctx = filled();
    let stored = ctx.encrypt_for_storage(b"episode 7", b"episodes").unwrap();
    let session = ctx.session_key("s1");
    let sealed = ctx.seal(b"correct horse", FAST_KDF).unwrap();
    assert_eq!(&sealed[..8], b"CHRYSVLT");
    assert_eq!(sealed_kdf(&sealed), Ok(FAST_KDF));

    let (back, key) = SecurityContext::unseal_keeping_key(&sealed, b"correct horse").unwrap();
    assert_eq!(key.kdf(), FAST_KDF);
    assert_eq!(back.list_api_keys(), ctx.list_api_keys());
    assert_eq!(
        back.api_key(&Provider::OpenAI).unwrap().expose_secret(),
        OPENAI_KEY
    );
    let agent = back.agent(AgentId::new([5; 16])).unwrap();
    assert_eq!(
        agent.fingerprint(),
        ctx.agent(AgentId::new([5; 16])).unwrap().fingerprint()
    );
    assert_eq!(back.agents().len(), 1);
    assert_eq!(back.session_key("s1"), session);
    assert_eq!(
        back.decrypt_from_storage(&stored, b"episodes")
            .unwrap()
            .expose_secret(),
        b"episode 7"
    );
    assert_eq!(back.keyring().keys(), ctx.keyring().keys());

    // Sealing again with the kept key: fresh nonce, same passphrase works.
    let resealed = back.seal_with_key(&key).unwrap();
    assert_ne!(resealed, sealed);
    assert!(SecurityContext::unseal(&resealed, b"correct horse").is_ok());
}

#[test]
fn passphrase_rotation_is_a_reseal() {
    let ctx = filled();
    let old = ctx.seal(b"old pass", FAST_KDF).unwrap();
    let opened = SecurityContext::unseal(&old, b"old pass").unwrap();
    let new = opened.seal(b"new pass", FAST_KDF).unwrap();
    assert!(SecurityContext::unseal(&new, b"new pass").is_ok());
    assert_eq!(
        SecurityContext::unseal(&new, b"old pass").map(|_| ()),
        Err(VaultError::WrongPassphraseOrModified)
    );
}

#[test]
fn wrong_or_empty_passphrase_is_refused() {
    let sealed = filled().seal(b"right", FAST_KDF).unwrap();
    assert_eq!(
        SecurityContext::unseal(&sealed, b"wrong").map(|_| ()),
        Err(VaultError::WrongPassphraseOrModified)
    );
    assert_eq!(
        SecurityContext::unseal(&sealed, b"").map(|_| ()),
        Err(VaultError::EmptyPassphrase)
    );
    assert_eq!(
        filled().seal(b"", FAST_KDF).map(|_| ()),
        Err(VaultError::EmptyPassphrase)
    );
    let too_big = PasswordKdf::Argon2id(Argon2Params {
        memory_kib: u32::MAX,
        iterations: 1,
        parallelism: 1,
    });
    assert!(matches!(
        filled().seal(b"pass", too_big),
        Err(VaultError::Kdf(_))
    ));
}

#[test]
fn every_flipped_byte_and_every_truncation_is_refused() {
    let sealed = filled().seal(b"pass", FAST_KDF).unwrap();
    for at in 0..sealed.len() {
        let mut bad = sealed.clone();
        bad[at] ^= 0x40;
        assert!(
            SecurityContext::unseal(&bad, b"pass").is_err(),
            "flip at {at} accepted"
        );
    }
    for len in 0..sealed.len() {
        assert_eq!(
            SecurityContext::unseal(&sealed[..len], b"pass").map(|_| ()),
            Err(VaultError::Truncated),
            "truncated to {len}"
        );
    }
    // Modifying the ciphertext itself reads as "wrong passphrase or modified".
    let mut bad = sealed.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(
        SecurityContext::unseal(&bad, b"pass").map(|_| ()),
        Err(VaultError::WrongPassphraseOrModified)
    );
}

#[test]
fn structural_errors_are_told_apart() {
    let sealed = filled().seal(b"pass", FAST_KDF).unwrap();
    let unseal = |bytes: &[u8]| SecurityContext::unseal(bytes, b"pass").map(|_| ());

    let mut bad = sealed.clone();
    bad[0] = b'X';
    assert_eq!(unseal(&bad), Err(VaultError::NotAVault));
    assert_eq!(unseal(b"{\"json\": true}"), Err(VaultError::NotAVault));

    let mut bad = sealed.clone();
    bad[8] = 2;
    assert_eq!(
        unseal(&bad),
        Err(VaultError::UnsupportedVersion {
            found: 2,
            supported: 1
        })
    );

    // Forge huge Argon2 memory: refused before any derivation runs.
    let mut bad = sealed.clone();
    bad[10..14].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(unseal(&bad), Err(VaultError::KdfParamsRefused));
    assert_eq!(sealed_kdf(&bad), Err(VaultError::KdfParamsRefused));

    let mut bad = sealed.clone();
    bad.push(0);
    assert!(matches!(unseal(&bad), Err(VaultError::Malformed(_))));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn contents_round_trip(
        keys in proptest::collection::btree_map("[a-z]{1,8}", "[!-~]{1,60}", 0..6),
        epochs in 0u32..3,
    ) {
        let mut ctx = SecurityContext::new();
        for (i, (name, key)) in keys.iter().enumerate() {
            let provider = Provider::Custom(format!("c-{name}"));
            ctx.store_api_key(provider, key, i as u64).unwrap();
        }
        for _ in 0..epochs {
            ctx.rotate_session_secret();
        }
        let bytes = ctx.encode_contents();
        let back = SecurityContext::decode_contents(&bytes).unwrap();
        prop_assert_eq!(back.list_api_keys(), ctx.list_api_keys());
        prop_assert_eq!(back.session_key("s"), ctx.session_key("s"));
        prop_assert_eq!(back.encode_contents(), bytes);
    }
}
