use super::*;
use proptest::prelude::*;

#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    level: f64,
    tags: BTreeSet<String>,
    counts: BTreeMap<u32, u64>,
    parent: Option<[u8; 4]>,
    flag: bool,
    history: Vec<(u16, i64)>,
}
crate::impl_codec!(Sample {
    name,
    level,
    tags,
    counts,
    parent,
    flag,
    history
});

fn sample() -> impl Strategy<Value = Sample> {
    (
        ".{0,12}",
        any::<f64>(),
        proptest::collection::btree_set(".{0,4}", 0..4),
        proptest::collection::btree_map(any::<u32>(), any::<u64>(), 0..4),
        any::<Option<[u8; 4]>>(),
        any::<bool>(),
        proptest::collection::vec(any::<(u16, i64)>(), 0..4),
    )
        .prop_map(
            |(name, level, tags, counts, parent, flag, history)| Sample {
                name,
                level,
                tags,
                counts,
                parent,
                flag,
                history,
            },
        )
}

proptest! {
    #[test]
    fn round_trips(value in sample()) {
        let bytes = value.to_bytes();
        let back = Sample::from_bytes(&bytes).unwrap();
        // Compare through the encoding so NaN levels compare equal.
        prop_assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn every_truncation_is_refused(value in sample()) {
        let bytes = value.to_bytes();
        for cut in 0..bytes.len() {
            let err = Sample::from_bytes(&bytes[..cut]).unwrap_err();
            prop_assert!(matches!(err, DecodeError::Truncated { .. }), "cut {cut}: {err}");
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = Sample::from_bytes(&bytes);
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = 7u32.to_bytes();
    bytes.push(0);
    assert_eq!(
        u32::from_bytes(&bytes),
        Err(DecodeError::TrailingBytes {
            offset: 5,
            count: 1
        })
    );
}

#[test]
fn wrong_version_is_refused() {
    let mut bytes = 7u32.to_bytes();
    bytes[0] = 9;
    assert_eq!(
        u32::from_bytes(&bytes),
        Err(DecodeError::UnsupportedVersion {
            found: 9,
            supported: FORMAT_VERSION
        })
    );
    assert!(matches!(
        u32::from_bytes(&[]),
        Err(DecodeError::Truncated { needed: 1, .. })
    ));
}

#[test]
fn oversized_lengths_are_refused_before_allocating() {
    // A sequence claiming u32::MAX items in a 9-byte message.
    let mut bytes = vec![FORMAT_VERSION];
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    bytes.extend_from_slice(&[0; 4]);
    let err = Vec::<u64>::from_bytes(&bytes).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::Oversized {
                what: "sequence",
                ..
            }
        ),
        "{err}"
    );

    let limits = Limits {
        max_message_bytes: 4,
        max_len: 16,
    };
    let err = u64::from_bytes_with_limits(&7u64.to_bytes(), limits).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::Oversized {
                what: "message",
                ..
            }
        ),
        "{err}"
    );

    // A count within the limit but beyond the input is truncation, found
    // without reserving memory for the claimed count.
    let limits = Limits {
        max_message_bytes: 1 << 20,
        max_len: 1 << 20,
    };
    let mut bytes = vec![FORMAT_VERSION];
    bytes.extend_from_slice(&(1u32 << 20).to_le_bytes());
    let err = Vec::<u64>::from_bytes_with_limits(&bytes, limits).unwrap_err();
    assert!(matches!(err, DecodeError::Truncated { .. }), "{err}");
}

#[test]
fn non_canonical_forms_are_refused() {
    // bool must be 0 or 1.
    assert!(matches!(
        bool::from_bytes(&[FORMAT_VERSION, 2]),
        Err(DecodeError::InvalidTag {
            what: "bool",
            tag: 2,
            offset: 1
        })
    ));
    // Option marker must be 0 or 1.
    assert!(matches!(
        Option::<u8>::from_bytes(&[FORMAT_VERSION, 7]),
        Err(DecodeError::InvalidTag { what: "option", .. })
    ));
    // Map keys out of order.
    let mut w = Writer::new();
    w.put_u8(FORMAT_VERSION);
    w.put_len(2);
    w.put(&5u8);
    w.put(&0u8);
    w.put(&3u8);
    w.put(&0u8);
    assert!(matches!(
        BTreeMap::<u8, u8>::from_bytes(w.as_bytes()),
        Err(DecodeError::NonCanonical { offset: 7, .. })
    ));
    // Duplicate set items.
    let mut w = Writer::new();
    w.put_u8(FORMAT_VERSION);
    w.put_len(2);
    w.put(&1u8);
    w.put(&1u8);
    assert!(matches!(
        BTreeSet::<u8>::from_bytes(w.as_bytes()),
        Err(DecodeError::NonCanonical { .. })
    ));
}

#[test]
fn invalid_utf8_is_refused() {
    let mut w = Writer::new();
    w.put_u8(FORMAT_VERSION);
    w.put_bytes(&[0xff, 0xfe]);
    assert_eq!(
        String::from_bytes(w.as_bytes()),
        Err(DecodeError::InvalidUtf8 { offset: 5 })
    );
}

#[test]
fn length_prefixes_keep_concatenations_apart() {
    let ab_c = ("ab".to_owned(), "c".to_owned()).to_bytes();
    let a_bc = ("a".to_owned(), "bc".to_owned()).to_bytes();
    assert_ne!(ab_c, a_bc);
}

#[test]
fn encoding_is_little_endian_and_length_prefixed() {
    assert_eq!(0x0102_0304u32.encode_body(), [4, 3, 2, 1]);
    assert_eq!("hi".encode_body(), [2, 0, 0, 0, b'h', b'i']);
    assert_eq!(Some(true).to_bytes(), [FORMAT_VERSION, 1, 1]);
}
