//! A `std::hash::Hasher` that feeds BLAKE3 with a platform-independent byte
//! stream, so that a run's trace hash depends on what happened and nothing
//! else.

use std::hash::Hasher;

/// Writes every hashed value into a BLAKE3 hasher, integers little-endian
/// and `usize` widened to 64 bits.
pub(crate) struct StableHasher<'a>(pub(crate) &'a mut blake3::Hasher);

impl Hasher for StableHasher<'_> {
    fn finish(&self) -> u64 {
        // Only the BLAKE3 state matters; `Hash` impls never call this.
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn write_u8(&mut self, i: u8) {
        self.0.update(&[i]);
    }

    fn write_u16(&mut self, i: u16) {
        self.0.update(&i.to_le_bytes());
    }

    fn write_u32(&mut self, i: u32) {
        self.0.update(&i.to_le_bytes());
    }

    fn write_u64(&mut self, i: u64) {
        self.0.update(&i.to_le_bytes());
    }

    fn write_u128(&mut self, i: u128) {
        self.0.update(&i.to_le_bytes());
    }

    fn write_usize(&mut self, i: usize) {
        self.0.update(&(i as u64).to_le_bytes());
    }

    fn write_i8(&mut self, i: i8) {
        self.write_u8(i as u8);
    }

    fn write_i16(&mut self, i: i16) {
        self.write_u16(i as u16);
    }

    fn write_i32(&mut self, i: i32) {
        self.write_u32(i as u32);
    }

    fn write_i64(&mut self, i: i64) {
        self.write_u64(i as u64);
    }

    fn write_i128(&mut self, i: i128) {
        self.write_u128(i as u128);
    }

    fn write_isize(&mut self, i: isize) {
        self.write_u64(i as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hash;

    fn digest<T: Hash>(value: &T) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        value.hash(&mut StableHasher(&mut h));
        *h.finalize().as_bytes()
    }

    #[test]
    fn integers_hash_little_endian() {
        let mut h = blake3::Hasher::new();
        h.update(&7u64.to_le_bytes());
        assert_eq!(digest(&7u64), *h.finalize().as_bytes());
        assert_eq!(digest(&7usize), digest(&7u64));
    }

    #[test]
    fn different_values_hash_differently() {
        assert_ne!(digest(&vec![1u8, 2]), digest(&vec![1u8, 2, 3]));
        assert_ne!(digest(&("a", 1u32)), digest(&("a", 2u32)));
    }
}
