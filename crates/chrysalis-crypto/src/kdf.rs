//! Password-based key derivation: Argon2id (the default, RFC 9106) and
//! scrypt (RFC 7914, for compatibility).
//!
//! A [`PasswordKdf`] is stored next to whatever it protects (its canonical
//! encoding carries the parameters), so old data stays readable when the
//! defaults change. Parameters read from untrusted bytes are capped
//! ([`Argon2Params::MAX`], [`ScryptParams::MAX`]): a hostile file cannot make
//! us allocate terabytes or spin for hours.

use crate::secret::SecretBytes;
use chrysalis_types::codec::{Decode, DecodeError, Encode, Reader, Writer};

/// The smallest salt [`PasswordKdf::derive_key`] accepts for new keys
/// (RFC 9106 recommends 16 bytes).
pub const MIN_SALT_LEN: usize = 16;

/// The smallest salt Argon2 itself accepts (RFC 9106, section 3.1).
pub const ARGON2_MIN_SALT_LEN: usize = 8;

/// Length of the key [`PasswordKdf::derive_key`] produces.
pub const KEY_LEN: usize = 32;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Argon2Params {
    /// Memory per derivation, in KiB.
    pub memory_kib: u32,
    /// Passes over memory (t).
    pub iterations: u32,
    /// Lanes (p).
    pub parallelism: u32,
}

impl Argon2Params {
    /// RFC 9106's second recommended option: 64 MiB, t = 3, p = 4.
    pub const DEFAULT: Argon2Params = Argon2Params {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 4,
    };

    /// The most we accept: 1 GiB, t = 16, p = 16.
    pub const MAX: Argon2Params = Argon2Params {
        memory_kib: 1024 * 1024,
        iterations: 16,
        parallelism: 16,
    };

    /// Checks the parameters against Argon2's minimums and our caps.
    pub fn validate(&self) -> Result<(), KdfError> {
        let max = Self::MAX;
        if self.memory_kib > max.memory_kib
            || self.iterations > max.iterations
            || self.parallelism > max.parallelism
        {
            return Err(KdfError::ParamsTooLarge {
                kdf: "argon2id",
                limit: "memory 1 GiB, iterations 16, parallelism 16",
            });
        }
        if self.iterations < 1 || self.parallelism < 1 {
            return Err(KdfError::InvalidParams {
                kdf: "argon2id",
                reason: "iterations and parallelism must be at least 1",
            });
        }
        if self.memory_kib < 8 * self.parallelism {
            return Err(KdfError::InvalidParams {
                kdf: "argon2id",
                reason: "memory must be at least 8 KiB per lane",
            });
        }
        Ok(())
    }

    /// Argon2id with a secret (a "pepper", RFC 9106's K) and associated
    /// data (X) mixed in, writing `out.len()` bytes (4 at least).
    pub fn derive_keyed(
        &self,
        password: &[u8],
        salt: &[u8],
        secret: &[u8],
        associated_data: &[u8],
        out: &mut [u8],
    ) -> Result<(), KdfError> {
        self.validate()?;
        if salt.len() < ARGON2_MIN_SALT_LEN {
            return Err(KdfError::SaltTooShort {
                min: ARGON2_MIN_SALT_LEN,
                found: salt.len(),
            });
        }
        let invalid = |reason| KdfError::InvalidParams {
            kdf: "argon2id",
            reason,
        };
        let mut builder = argon2::ParamsBuilder::new();
        builder
            .m_cost(self.memory_kib)
            .t_cost(self.iterations)
            .p_cost(self.parallelism)
            .output_len(out.len());
        if !associated_data.is_empty() {
            let data = argon2::AssociatedData::new(associated_data)
                .map_err(|_| invalid("associated data longer than 32 bytes"))?;
            builder.data(data);
        }
        let params = builder
            .build()
            .map_err(|_| invalid("output must be 4 bytes to 4 GiB"))?;
        let argon = argon2::Argon2::new_with_secret(
            secret,
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            params,
        )
        .map_err(|_| invalid("secret too long"))?;
        argon
            .hash_password_into(password, salt, out)
            .map_err(|_| invalid("password, salt or output outside Argon2's limits"))
    }
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// scrypt cost parameters: N = 2^`log_n`, block size `r`, parallelism `p`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScryptParams {
    /// log2 of the CPU/memory cost N.
    pub log_n: u8,
    /// Block size.
    pub r: u32,
    /// Parallelism.
    pub p: u32,
}

impl ScryptParams {
    /// Interactive-login strength: N = 2^15, r = 8, p = 1 (32 MiB).
    pub const DEFAULT: ScryptParams = ScryptParams {
        log_n: 15,
        r: 8,
        p: 1,
    };

    /// The most we accept field by field: N = 2^20, r = 32, p = 16; in
    /// addition memory (128 · r · N bytes) may not exceed
    /// [`ScryptParams::MAX_MEMORY_BYTES`].
    pub const MAX: ScryptParams = ScryptParams {
        log_n: 20,
        r: 32,
        p: 16,
    };

    /// The most memory one derivation may use: 1 GiB.
    pub const MAX_MEMORY_BYTES: u64 = 1 << 30;

    /// The memory one derivation uses, in bytes (128 · r · N).
    pub fn memory_bytes(&self) -> u64 {
        128u64
            .saturating_mul(u64::from(self.r))
            .saturating_mul(1u64.checked_shl(u32::from(self.log_n)).unwrap_or(u64::MAX))
    }

    /// Checks the parameters against scrypt's rules and our caps.
    pub fn validate(&self) -> Result<(), KdfError> {
        let max = Self::MAX;
        if self.log_n > max.log_n
            || self.r > max.r
            || self.p > max.p
            || self.memory_bytes() > Self::MAX_MEMORY_BYTES
        {
            return Err(KdfError::ParamsTooLarge {
                kdf: "scrypt",
                limit: "N 2^20, r 32, p 16, memory 1 GiB",
            });
        }
        if self.log_n < 1 || self.r < 1 || self.p < 1 {
            return Err(KdfError::InvalidParams {
                kdf: "scrypt",
                reason: "log_n, r and p must be at least 1",
            });
        }
        if u32::from(self.log_n) >= self.r.saturating_mul(16) {
            return Err(KdfError::InvalidParams {
                kdf: "scrypt",
                reason: "N must be below 2^(16 r)",
            });
        }
        Ok(())
    }

    /// scrypt into `out` (1 byte at least). Any salt is accepted, the empty
    /// one included, so existing data and the RFC 7914 vectors can be read.
    pub fn derive(&self, password: &[u8], salt: &[u8], out: &mut [u8]) -> Result<(), KdfError> {
        self.validate()?;
        let invalid = |reason| KdfError::InvalidParams {
            kdf: "scrypt",
            reason,
        };
        let params =
            scrypt::Params::new(self.log_n, self.r, self.p, scrypt::Params::RECOMMENDED_LEN)
                .map_err(|_| invalid("parameters outside scrypt's limits"))?;
        scrypt::scrypt(password, salt, &params, out)
            .map_err(|_| invalid("output length outside scrypt's limits"))
    }
}

impl Default for ScryptParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A password KDF and its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PasswordKdf {
    /// Argon2id, version 0x13.
    Argon2id(Argon2Params),
    /// scrypt.
    Scrypt(ScryptParams),
}

impl Default for PasswordKdf {
    fn default() -> Self {
        Self::Argon2id(Argon2Params::DEFAULT)
    }
}

/// Why a key could not be derived, or parameters were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KdfError {
    /// A parameter exceeds our caps.
    #[error("{kdf} parameters exceed the limit ({limit})")]
    ParamsTooLarge {
        /// The KDF.
        kdf: &'static str,
        /// The caps in force.
        limit: &'static str,
    },
    /// The parameters or lengths break the KDF's own rules.
    #[error("invalid {kdf} parameters: {reason}")]
    InvalidParams {
        /// The KDF.
        kdf: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The salt is too short.
    #[error("salt too short: {found} bytes, need at least {min}")]
    SaltTooShort {
        /// The minimum.
        min: usize,
        /// The length given.
        found: usize,
    },
}

impl PasswordKdf {
    /// Derives `out.len()` bytes from `password` and `salt`. Argon2id needs
    /// an 8-byte salt at least; scrypt takes any (compatibility).
    pub fn derive(&self, password: &[u8], salt: &[u8], out: &mut [u8]) -> Result<(), KdfError> {
        match self {
            Self::Argon2id(params) => params.derive_keyed(password, salt, &[], &[], out),
            Self::Scrypt(params) => params.derive(password, salt, out),
        }
    }

    /// A 32-byte key in secret memory. For new keys: requires a salt of
    /// [`MIN_SALT_LEN`] bytes at least, whatever the KDF.
    pub fn derive_key(&self, password: &[u8], salt: &[u8]) -> Result<SecretBytes, KdfError> {
        if salt.len() < MIN_SALT_LEN {
            return Err(KdfError::SaltTooShort {
                min: MIN_SALT_LEN,
                found: salt.len(),
            });
        }
        let mut key = SecretBytes::zeroed(KEY_LEN);
        self.derive(password, salt, key.expose_secret_mut())?;
        Ok(key)
    }

    /// Checks the parameters against the KDF's rules and our caps.
    pub fn validate(&self) -> Result<(), KdfError> {
        match self {
            Self::Argon2id(params) => params.validate(),
            Self::Scrypt(params) => params.validate(),
        }
    }

    /// The KDF's name: `"argon2id"` or `"scrypt"`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Argon2id(_) => "argon2id",
            Self::Scrypt(_) => "scrypt",
        }
    }
}

/// Tag byte 1 (Argon2id: memory_kib, iterations, parallelism as `u32`s) or
/// 2 (scrypt: log_n `u8`, r and p `u32`s).
impl Encode for PasswordKdf {
    fn encode(&self, w: &mut Writer) {
        match self {
            Self::Argon2id(p) => {
                w.put_u8(1);
                w.put(&p.memory_kib);
                w.put(&p.iterations);
                w.put(&p.parallelism);
            }
            Self::Scrypt(p) => {
                w.put_u8(2);
                w.put(&p.log_n);
                w.put(&p.r);
                w.put(&p.p);
            }
        }
    }
}

/// Refuses parameters that [`PasswordKdf::validate`] refuses, so a decoded
/// KDF is always safe to run.
impl Decode for PasswordKdf {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let kdf = match r.u8()? {
            1 => Self::Argon2id(Argon2Params {
                memory_kib: r.get()?,
                iterations: r.get()?,
                parallelism: r.get()?,
            }),
            2 => Self::Scrypt(ScryptParams {
                log_n: r.get()?,
                r: r.get()?,
                p: r.get()?,
            }),
            tag => return Err(r.invalid_tag("PasswordKdf", tag)),
        };
        kdf.validate().map_err(|e| DecodeError::Invalid {
            what: "PasswordKdf",
            reason: match e {
                KdfError::ParamsTooLarge { .. } => "parameters exceed the caps",
                _ => "parameters break the KDF's rules",
            },
        })?;
        Ok(kdf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: PasswordKdf = PasswordKdf::Argon2id(Argon2Params {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    });

    #[test]
    fn defaults_are_rfc_9106_second_option() {
        assert_eq!(
            PasswordKdf::default(),
            PasswordKdf::Argon2id(Argon2Params {
                memory_kib: 65536,
                iterations: 3,
                parallelism: 4
            })
        );
        assert_eq!(PasswordKdf::default().validate(), Ok(()));
        assert_eq!(
            PasswordKdf::Scrypt(ScryptParams::DEFAULT).validate(),
            Ok(())
        );
    }

    #[test]
    fn derive_key_is_deterministic_and_salted() {
        let a = CHEAP.derive_key(b"pw", &[1; 16]).unwrap();
        let b = CHEAP.derive_key(b"pw", &[1; 16]).unwrap();
        let c = CHEAP.derive_key(b"pw", &[2; 16]).unwrap();
        assert_eq!(a.len(), KEY_LEN);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            CHEAP.derive_key(b"pw", &[1; 8]),
            Err(KdfError::SaltTooShort { min: 16, found: 8 })
        );
    }

    #[test]
    fn over_cap_is_refused_before_work() {
        let huge = PasswordKdf::Argon2id(Argon2Params {
            memory_kib: u32::MAX,
            iterations: 1,
            parallelism: 1,
        });
        assert!(matches!(
            huge.derive(b"pw", &[0; 16], &mut [0; 32]),
            Err(KdfError::ParamsTooLarge { .. })
        ));
        let huge = PasswordKdf::Scrypt(ScryptParams {
            log_n: 20,
            r: 32,
            p: 1,
        });
        assert!(matches!(
            huge.validate(),
            Err(KdfError::ParamsTooLarge { .. })
        ));
        let bytes = huge.to_bytes();
        assert!(matches!(
            PasswordKdf::from_bytes(&bytes),
            Err(DecodeError::Invalid { .. })
        ));
    }
}
