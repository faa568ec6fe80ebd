//! The canonical binary encoding used everywhere in Chrysalis.
//!
//! Every value has exactly one encoding, so an encoding can be hashed and
//! signed, and two nodes that hold equal values hold equal bytes.
//!
//! A message is one format-version byte ([`FORMAT_VERSION`]) followed by the
//! body. In the body:
//!
//! | value | encoding |
//! |---|---|
//! | `u8`…`u128`, `i64` | fixed width, little-endian |
//! | `bool` | `0x00` or `0x01`; any other byte is refused |
//! | `f64` | its IEEE-754 bits as a `u64` |
//! | byte string, `String`, `Vec<T>` | `u32` length (bytes or items), then the contents |
//! | `[u8; N]` | the N bytes, no prefix |
//! | `Option<T>` | `0x00`, or `0x01` then the value |
//! | `BTreeMap`, `BTreeSet` | `u32` count, then entries in strictly increasing order |
//! | struct, tuple | the fields in order |
//! | enum | a `u8` tag, then the variant's fields |
//!
//! Decoding refuses, with a [`DecodeError`] that says where: truncated input,
//! a length over the [`Limits`], trailing bytes, an unknown version or tag,
//! invalid UTF-8, and non-canonical forms (a map whose keys are not strictly
//! increasing). Decoding never panics and never allocates more than the
//! input could justify.

use std::collections::{BTreeMap, BTreeSet};

/// The format version written as the first byte of every message.
pub const FORMAT_VERSION: u8 = 1;

/// Bounds a decoder enforces on untrusted input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest whole message accepted, in bytes.
    pub max_message_bytes: usize,
    /// The largest length prefix accepted (bytes of a string, items of a sequence).
    pub max_len: usize,
}

impl Limits {
    /// 64 MiB messages, 16 Mi-element sequences.
    pub const DEFAULT: Limits = Limits {
        max_message_bytes: 64 << 20,
        max_len: 16 << 20,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before the value did.
    #[error(
        "truncated input: needed {needed} bytes at offset {offset}, but only {remaining} remain"
    )]
    Truncated {
        /// Where the missing bytes were expected.
        offset: usize,
        /// How many bytes were needed.
        needed: usize,
        /// How many bytes were left.
        remaining: usize,
    },
    /// A length or the message itself exceeds the decoder's [`Limits`].
    #[error("oversized {what}: {len} exceeds the limit of {max}")]
    Oversized {
        /// What was too long.
        what: &'static str,
        /// The length found.
        len: u64,
        /// The limit in force.
        max: u64,
    },
    /// Bytes remained after the value was decoded.
    #[error("{count} trailing bytes after the value (at offset {offset})")]
    TrailingBytes {
        /// Where the trailing bytes start.
        offset: usize,
        /// How many there are.
        count: usize,
    },
    /// The message was written in a format version this build does not read.
    #[error("unsupported format version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// The version byte found.
        found: u8,
        /// The version this build reads.
        supported: u8,
    },
    /// A string was not valid UTF-8.
    #[error("invalid UTF-8 in the string at offset {offset}")]
    InvalidUtf8 {
        /// Where the string's bytes start.
        offset: usize,
    },
    /// An enum tag (or a bool, or an option marker) had no meaning.
    #[error("invalid {what} tag {tag} at offset {offset}")]
    InvalidTag {
        /// The type being decoded.
        what: &'static str,
        /// The tag found.
        tag: u8,
        /// Where the tag is.
        offset: usize,
    },
    /// The bytes decode, but not in the one canonical form.
    #[error("non-canonical encoding at offset {offset}: {reason}")]
    NonCanonical {
        /// Where the problem was seen.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// The bytes decode, but the value breaks an invariant of its type.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// The type being decoded.
        what: &'static str,
        /// The broken invariant.
        reason: &'static str,
    },
}

/// Appends canonical encodings to a byte buffer.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Consumes the writer, returning its bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Writes bytes as they are, with no length prefix.
    pub fn put_raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Writes one byte.
    pub fn put_u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// Writes a `u32` length prefix.
    ///
    /// # Panics
    /// If `len` exceeds `u32::MAX`: no encodable value is that large.
    pub fn put_len(&mut self, len: usize) {
        let len = u32::try_from(len).expect("a length prefix never exceeds u32::MAX");
        self.put_raw(&len.to_le_bytes());
    }

    /// Writes a length-prefixed byte string.
    pub fn put_bytes(&mut self, bytes: &[u8]) {
        self.put_len(bytes.len());
        self.put_raw(bytes);
    }

    /// Writes any encodable value.
    pub fn put<T: Encode + ?Sized>(&mut self, value: &T) {
        value.encode(self);
    }
}

/// Reads canonical encodings from a byte slice, enforcing [`Limits`].
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    limits: Limits,
}

impl<'a> Reader<'a> {
    /// A reader over `buf` with the default limits.
    pub fn new(buf: &'a [u8]) -> Self {
        Self::with_limits(buf, Limits::DEFAULT)
    }

    /// A reader over `buf` with the given limits.
    pub fn with_limits(buf: &'a [u8], limits: Limits) -> Self {
        Self {
            buf,
            pos: 0,
            limits,
        }
    }

    /// The current offset into the input.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// How many bytes are left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Takes exactly `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated {
                offset: self.pos,
                needed: n,
                remaining: self.remaining(),
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Takes exactly `N` bytes as an array.
    pub fn take_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take_array::<1>()?[0])
    }

    /// Reads a `u32` length prefix and checks it against the limits.
    pub fn len(&mut self, what: &'static str) -> Result<usize, DecodeError> {
        let len = u32::from_le_bytes(self.take_array()?);
        let len = len as usize;
        if len > self.limits.max_len {
            return Err(DecodeError::Oversized {
                what,
                len: len as u64,
                max: self.limits.max_len as u64,
            });
        }
        Ok(len)
    }

    /// Reads a length-prefixed byte string.
    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.len("byte string")?;
        self.take(len)
    }

    /// Reads any decodable value.
    pub fn get<T: Decode>(&mut self) -> Result<T, DecodeError> {
        T::decode(self)
    }

    /// An [`DecodeError::InvalidTag`] for the byte just read.
    pub fn invalid_tag(&self, what: &'static str, tag: u8) -> DecodeError {
        DecodeError::InvalidTag {
            what,
            tag,
            offset: self.pos.saturating_sub(1),
        }
    }

    /// Refuses any bytes left over.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes {
                offset: self.pos,
                count,
            }),
        }
    }

    /// A capacity to reserve for `count` items: never more than the input
    /// could hold, so a forged count cannot force a huge allocation.
    fn capacity_for(&self, count: usize) -> usize {
        count.min(self.remaining())
    }
}

/// A value with a canonical encoding.
pub trait Encode {
    /// Appends this value's body encoding (no version byte) to `w`.
    fn encode(&self, w: &mut Writer);

    /// The body encoding alone, as embedded inside other values or signed.
    fn encode_body(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.into_bytes()
    }

    /// The full message: the format-version byte, then the body.
    fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.put_u8(FORMAT_VERSION);
        self.encode(&mut w);
        w.into_bytes()
    }
}

/// A value that can be decoded from its canonical encoding.
pub trait Decode: Sized {
    /// Reads this value's body encoding from `r`.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Decodes a full message (version byte, body, nothing after) with the
    /// default [`Limits`].
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_bytes_with_limits(bytes, Limits::DEFAULT)
    }

    /// Decodes a full message with the given limits.
    fn from_bytes_with_limits(bytes: &[u8], limits: Limits) -> Result<Self, DecodeError> {
        if bytes.len() > limits.max_message_bytes {
            return Err(DecodeError::Oversized {
                what: "message",
                len: bytes.len() as u64,
                max: limits.max_message_bytes as u64,
            });
        }
        let mut r = Reader::with_limits(bytes, limits);
        let version = r.u8()?;
        if version != FORMAT_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let value = Self::decode(&mut r)?;
        r.finish()?;
        Ok(value)
    }

    /// Decodes a bare body (no version byte, nothing after) with the default limits.
    fn from_body(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let value = Self::decode(&mut r)?;
        r.finish()?;
        Ok(value)
    }
}

macro_rules! int_codec {
    ($($ty:ty),*) => {$(
        impl Encode for $ty {
            fn encode(&self, w: &mut Writer) {
                w.put_raw(&self.to_le_bytes());
            }
        }
        impl Decode for $ty {
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok(<$ty>::from_le_bytes(r.take_array()?))
            }
        }
    )*};
}
int_codec!(u8, u16, u32, u64, u128, i32, i64);

impl Encode for f64 {
    fn encode(&self, w: &mut Writer) {
        self.to_bits().encode(w);
    }
}

impl Decode for f64 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(f64::from_bits(u64::decode(r)?))
    }
}

impl Encode for bool {
    fn encode(&self, w: &mut Writer) {
        w.put_u8(u8::from(*self));
    }
}

impl Decode for bool {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(r.invalid_tag("bool", tag)),
        }
    }
}

impl<const N: usize> Encode for [u8; N] {
    fn encode(&self, w: &mut Writer) {
        w.put_raw(self);
    }
}

impl<const N: usize> Decode for [u8; N] {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.take_array()
    }
}

impl Encode for str {
    fn encode(&self, w: &mut Writer) {
        w.put_bytes(self.as_bytes());
    }
}

impl Encode for String {
    fn encode(&self, w: &mut Writer) {
        self.as_str().encode(w);
    }
}

impl Decode for String {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let len = r.len("string")?;
        let offset = r.offset();
        let bytes = r.take(len)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| DecodeError::InvalidUtf8 { offset })
    }
}

impl<T: Encode> Encode for [T] {
    fn encode(&self, w: &mut Writer) {
        w.put_len(self.len());
        for item in self {
            item.encode(w);
        }
    }
}

impl<T: Encode> Encode for Vec<T> {
    fn encode(&self, w: &mut Writer) {
        self.as_slice().encode(w);
    }
}

impl<T: Decode> Decode for Vec<T> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let count = r.len("sequence")?;
        let mut out = Vec::with_capacity(r.capacity_for(count));
        for _ in 0..count {
            out.push(T::decode(r)?);
        }
        Ok(out)
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode(&self, w: &mut Writer) {
        match self {
            None => w.put_u8(0),
            Some(v) => {
                w.put_u8(1);
                v.encode(w);
            }
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            0 => Ok(None),
            1 => Ok(Some(T::decode(r)?)),
            tag => Err(r.invalid_tag("option", tag)),
        }
    }
}

impl<T: Encode + ?Sized> Encode for &T {
    fn encode(&self, w: &mut Writer) {
        (**self).encode(w);
    }
}

impl<T: Encode + ?Sized> Encode for Box<T> {
    fn encode(&self, w: &mut Writer) {
        (**self).encode(w);
    }
}

impl<T: Decode> Decode for Box<T> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        T::decode(r).map(Box::new)
    }
}

impl<K: Encode, V: Encode> Encode for BTreeMap<K, V> {
    fn encode(&self, w: &mut Writer) {
        w.put_len(self.len());
        for (k, v) in self {
            k.encode(w);
            v.encode(w);
        }
    }
}

impl<K: Decode + Ord, V: Decode> Decode for BTreeMap<K, V> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let count = r.len("map")?;
        let mut out = BTreeMap::new();
        for _ in 0..count {
            let offset = r.offset();
            let k = K::decode(r)?;
            if out.last_key_value().is_some_and(|(last, _)| *last >= k) {
                return Err(DecodeError::NonCanonical {
                    offset,
                    reason: "map keys must be strictly increasing",
                });
            }
            let v = V::decode(r)?;
            out.insert(k, v);
        }
        Ok(out)
    }
}

impl<T: Encode> Encode for BTreeSet<T> {
    fn encode(&self, w: &mut Writer) {
        w.put_len(self.len());
        for item in self {
            item.encode(w);
        }
    }
}

impl<T: Decode + Ord> Decode for BTreeSet<T> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let count = r.len("set")?;
        let mut out = BTreeSet::new();
        for _ in 0..count {
            let offset = r.offset();
            let item = T::decode(r)?;
            if out.last().is_some_and(|last| *last >= item) {
                return Err(DecodeError::NonCanonical {
                    offset,
                    reason: "set items must be strictly increasing",
                });
            }
            out.insert(item);
        }
        Ok(out)
    }
}

macro_rules! tuple_codec {
    ($($name:ident)+) => {
        impl<$($name: Encode),+> Encode for ($($name,)+) {
            #[allow(non_snake_case)]
            fn encode(&self, w: &mut Writer) {
                let ($($name,)+) = self;
                $($name.encode(w);)+
            }
        }
        impl<$($name: Decode),+> Decode for ($($name,)+) {
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok(($($name::decode(r)?,)+))
            }
        }
    };
}
tuple_codec!(A B);
tuple_codec!(A B C);
tuple_codec!(A B C D);

/// Implements [`Encode`] and [`Decode`] for a struct with named fields,
/// encoding the fields in the order listed.
///
/// ```
/// use chrysalis_types::{impl_codec, Decode, Encode};
///
/// #[derive(Debug, PartialEq)]
/// struct Skill { name: String, level: f64 }
/// impl_codec!(Skill { name, level });
///
/// let skill = Skill { name: "rust".into(), level: 0.9 };
/// assert_eq!(Skill::from_bytes(&skill.to_bytes()).unwrap(), skill);
/// ```
#[macro_export]
macro_rules! impl_codec {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        impl $crate::codec::Encode for $ty {
            fn encode(&self, w: &mut $crate::codec::Writer) {
                $( $crate::codec::Encode::encode(&self.$field, w); )*
            }
        }
        impl $crate::codec::Decode for $ty {
            fn decode(
                r: &mut $crate::codec::Reader<'_>,
            ) -> ::core::result::Result<Self, $crate::codec::DecodeError> {
                Ok(Self { $( $field: $crate::codec::Decode::decode(r)?, )* })
            }
        }
    };
}

#[cfg(test)]
mod tests;
