//! Identifiers. Every id is a newtype over fixed-size bytes, never a bare
//! string, shown as lowercase hex and parsed back from it.

use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use std::fmt;
use std::str::FromStr;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdParseError {
    /// The string has the wrong number of hex digits.
    #[error("a {kind} is {expected} hex digits, got {found}")]
    Length {
        /// The id type.
        kind: &'static str,
        /// Digits expected.
        expected: usize,
        /// Digits found.
        found: usize,
    },
    /// The string holds a character that is not a hex digit.
    #[error("a {kind} is hex digits only, found {found:?}")]
    NotHex {
        /// The id type.
        kind: &'static str,
        /// The offending character.
        found: char,
    },
}

fn parse_hex<const N: usize>(kind: &'static str, s: &str) -> Result<[u8; N], IdParseError> {
    if s.len() != 2 * N {
        return Err(IdParseError::Length {
            kind,
            expected: 2 * N,
            found: s.chars().count(),
        });
    }
    let digit = |c: u8| -> Result<u8, IdParseError> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(IdParseError::NotHex {
                kind,
                found: char::from(c),
            }),
        }
    };
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Ok(out)
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    bytes.iter().try_for_each(|b| write!(f, "{b:02x}"))
}

macro_rules! byte_id {
    ($(#[$doc:meta])* $name:ident, $len:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name([u8; $len]);

        impl $name {
            /// The id's length in bytes.
            pub const LEN: usize = $len;

            /// An id from its bytes.
            pub const fn new(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// The id's bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_hex(f, &self.0)
            }
        }

        impl fmt::Debug for $name {
            /// Short form: the first four bytes, enough to tell ids apart in logs.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "("))?;
                write_hex(f, &self.0[..4])?;
                write!(f, "…)")
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_hex($kind, s).map(Self)
            }
        }

        impl Encode for $name {
            fn encode(&self, w: &mut Writer) {
                w.put_raw(&self.0);
            }
        }

        impl Decode for $name {
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                r.take_array().map(Self)
            }
        }
    };
}

byte_id!(
    /// An agent: 16 random bytes, fixed at creation. The agent's key is bound
    /// to it by its fingerprint.
    AgentId, 16, "agent id"
);
byte_id!(
    /// A node: the 32 bytes of its Ed25519 public key, so a node's id is
    /// also what its certificate is pinned to.
    NodeId, 32, "node id"
);
byte_id!(
    /// An episode in an agent's memory: 16 random bytes.
    EpisodeId, 16, "episode id"
);
byte_id!(
    /// A trace record in the ledger: the hash of its canonical encoding.
    TraceId, 32, "trace id"
);

/// A key in a keyring: 32 random bits, as in Tink keysets. Shown as 8 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct KeyId(u32);

impl KeyId {
    /// A key id from its number.
    pub const fn new(id: u32) -> Self {
        Self(id)
    }

    /// The key id's number.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({:08x})", self.0)
    }
}

impl FromStr for KeyId {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex::<4>("key id", s).map(|b| Self(u32::from_be_bytes(b)))
    }
}

impl Encode for KeyId {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.0);
    }
}

impl Decode for KeyId {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.get().map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        let id = AgentId::new(*b"0123456789abcdef");
        let shown = id.to_string();
        assert_eq!(shown, "30313233343536373839616263646566");
        assert_eq!(shown.parse::<AgentId>().unwrap(), id);
        assert_eq!(format!("{id:?}"), "AgentId(30313233…)");
        let key = KeyId::new(0xdead_beef);
        assert_eq!(key.to_string(), "deadbeef");
        assert_eq!("DEADBEEF".parse::<KeyId>().unwrap(), key);
    }

    #[test]
    fn bad_strings_are_refused() {
        assert_eq!(
            "abc".parse::<NodeId>(),
            Err(IdParseError::Length {
                kind: "node id",
                expected: 64,
                found: 3
            })
        );
        assert_eq!(
            "zz".repeat(16).parse::<AgentId>(),
            Err(IdParseError::NotHex {
                kind: "agent id",
                found: 'z'
            })
        );
        // Multi-byte characters never panic on slicing.
        assert!("é".repeat(16).parse::<AgentId>().is_err());
    }

    #[test]
    fn ids_encode_as_their_bytes() {
        let id = TraceId::new([7; 32]);
        assert_eq!(id.encode_body(), [7; 32]);
        assert_eq!(<TraceId as Decode>::from_bytes(&id.to_bytes()).unwrap(), id);
        assert!(<TraceId as Decode>::from_bytes(&[1, 7, 7]).is_err());
    }
}
