//! Secret memory: zeroizing buffers, redacted wrappers, constant-time
//! comparison and the operating system's random generator.
//!
//! # What is protected
//!
//! - **Zeroization.** [`SecretBytes`] and [`Secret`] overwrite their contents
//!   with zeros when dropped (through `zeroize`, whose writes the compiler
//!   may not elide). [`SecretBytes::new`] also wipes the `Vec` it was given,
//!   spare capacity included.
//! - **No accidental printing.** `Debug` and `Display` print `[REDACTED]`;
//!   the bytes are reachable only through an explicit `expose_secret` call,
//!   which is easy to grep for.
//! - **No swapping (best effort).** Each non-empty [`SecretBytes`] owns whole
//!   memory pages of its own (the allocation is padded so that no other value
//!   shares a page with the secret) and asks the OS to lock them in RAM
//!   (`mlock`). Because the pages are exclusive, unlocking one secret never
//!   unlocks another's. Locking may fail (the `RLIMIT_MEMLOCK` quota is small
//!   on many systems): that is tolerated, counted, and reported by
//!   [`memory_protection`].
//! - **No core dumps (opt-in, process-wide).** [`exclude_core_dumps`] marks
//!   the process non-dumpable and sets its core-size limit to zero, on
//!   Linux. A library cannot do this per page without `unsafe`
//!   (`MADV_DONTDUMP`), and doing it silently would change how the whole
//!   process can be debugged, so the binary decides: `chrysalis-node` and the
//!   CLI call it at start-up.
//! - **Timing.** [`ct_eq`] compares in time that depends only on the lengths.
//!
//! # What is not protected
//!
//! - Copies made by callers: anything read through `expose_secret` and
//!   copied elsewhere (a `String`, a stack array, a serialised message) is the
//!   caller's to wipe.
//! - Copies made by the CPU and compiler: registers, spilled stack slots, and
//!   buffers inside dependencies (for instance ring's expanded AES key
//!   schedule, which ring does not wipe).
//! - Memory before it became a secret: bytes that passed through other
//!   allocations before reaching [`SecretBytes::new`], and the allocator's
//!   earlier use of the same memory.
//! - Swap, when locking failed (see [`memory_protection`]), and hibernation
//!   images, which include locked pages.
//! - Core dumps, unless [`exclude_core_dumps`] was called; and a debugger or
//!   a privileged process reading our memory while it runs.
//! - [`Secret<T>`] zeroizes `T` but does not lock pages: `T` may live on the
//!   stack or own heap memory the wrapper cannot see.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// Buffers whose pages are locked right now.
static LOCKED_BUFFERS: AtomicU64 = AtomicU64::new(0);
/// Bytes (whole pages) locked right now.
static LOCKED_BYTES: AtomicU64 = AtomicU64::new(0);
/// Buffers whose pages could not be locked, since the process started.
static LOCK_FAILURES: AtomicU64 = AtomicU64::new(0);
/// Whether [`exclude_core_dumps`] succeeded.
static CORE_DUMPS_EXCLUDED: AtomicBool = AtomicBool::new(false);

/// A heap buffer of secret bytes: zeroized on drop, printed as
/// `[REDACTED]`, on pages of its own that are locked in RAM when the OS
/// allows (see the [module docs](self)).
pub struct SecretBytes {
    /// Unlocks the pages when dropped; declared first so it drops before
    /// `storage` is freed (and after `Drop::drop` has zeroized it).
    guard: Option<(region::LockGuard, usize)>,
    /// Over-allocated so the secret starts on a page boundary and no other
    /// value shares its pages. Never reallocated.
    storage: Vec<u8>,
    /// Offset of the secret inside `storage`.
    start: usize,
    /// Length of the secret.
    len: usize,
}

impl SecretBytes {
    /// Takes ownership of `bytes`, copies them into locked pages and wipes
    /// the original vector (spare capacity included).
    pub fn new(mut bytes: Vec<u8>) -> Self {
        let mut secret = Self::zeroed(bytes.len());
        secret.expose_secret_mut().copy_from_slice(&bytes);
        bytes.zeroize();
        secret
    }

    /// `len` fresh bytes from the operating system's random generator.
    pub fn random(len: usize) -> Self {
        let mut secret = Self::zeroed(len);
        fill_random(secret.expose_secret_mut());
        secret
    }

    /// `len` zero bytes in secret memory, to be filled in place (so the
    /// secret is never held anywhere else first).
    pub fn zeroed(len: usize) -> Self {
        if len == 0 {
            return Self {
                guard: None,
                storage: Vec::new(),
                start: 0,
                len: 0,
            };
        }
        let page = region::page::size().max(1);
        let span = len.div_ceil(page).saturating_mul(page);
        let storage = vec![0u8; span.saturating_add(page - 1)];
        let misalignment = storage.as_ptr() as usize % page;
        let start = (page - misalignment) % page;
        let guard = lock_pages(&storage[start..start + span]);
        Self {
            guard,
            storage,
            start,
            len,
        }
    }

    /// The secret bytes. Every call site is a place where the secret leaves
    /// this wrapper's protection: keep them few and obvious.
    pub fn expose_secret(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }

    /// The secret bytes, writable in place.
    pub fn expose_secret_mut(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Shortens the secret to `len` bytes (no-op if already shorter), wiping
    /// the bytes cut off.
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.storage[self.start + len..self.start + self.len].zeroize();
            self.len = len;
        }
    }

    /// Whether this buffer's pages are locked in RAM.
    pub fn is_locked(&self) -> bool {
        self.guard.is_some()
    }
}

/// Locks `pages` (page-aligned, whole pages) in RAM, counting the outcome.
fn lock_pages(pages: &[u8]) -> Option<(region::LockGuard, usize)> {
    match region::lock(pages.as_ptr(), pages.len()) {
        Ok(guard) => {
            LOCKED_BUFFERS.fetch_add(1, Ordering::Relaxed);
            LOCKED_BYTES.fetch_add(pages.len() as u64, Ordering::Relaxed);
            Some((guard, pages.len()))
        }
        Err(_) => {
            LOCK_FAILURES.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        // The whole allocation, padding included: the secret may have been
        // truncated, leaving wiped but once-secret bytes past `len`.
        self.storage.zeroize();
        if let Some((guard, locked_len)) = self.guard.take() {
            LOCKED_BUFFERS.fetch_sub(1, Ordering::Relaxed);
            LOCKED_BYTES.fetch_sub(locked_len as u64, Ordering::Relaxed);
            drop(guard);
        }
    }
}

impl Clone for SecretBytes {
    fn clone(&self) -> Self {
        let mut copy = Self::zeroed(self.len);
        copy.expose_secret_mut()
            .copy_from_slice(self.expose_secret());
        copy
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl From<&[u8]> for SecretBytes {
    fn from(bytes: &[u8]) -> Self {
        let mut secret = Self::zeroed(bytes.len());
        secret.expose_secret_mut().copy_from_slice(bytes);
        secret
    }
}

/// Constant-time equality of the contents.
impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(self.expose_secret(), other.expose_secret())
    }
}

impl Eq for SecretBytes {}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl fmt::Display for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// A secret value of any zeroizable type: wiped on drop, printed as
/// `[REDACTED]`. Unlike [`SecretBytes`] it does not lock pages.
pub struct Secret<T: Zeroize>(T);

impl<T: Zeroize> Secret<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret value. Keep call sites few and obvious.
    pub fn expose_secret(&self) -> &T {
        &self.0
    }

    /// The secret value, writable in place.
    pub fn expose_secret_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize + Clone> Clone for Secret<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: Zeroize> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl<T: Zeroize> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// Whether `a` and `b` are equal, in time that depends only on their
/// lengths. Different lengths are unequal.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

/// Fills `buf` from the operating system's cryptographically secure random
/// generator (`getrandom`).
///
/// # Panics
///
/// Only if the operating system cannot provide random bytes at all, in
/// which case no key or nonce can be made safely and continuing would be
/// worse.
pub fn fill_random(buf: &mut [u8]) {
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, buf);
}

/// `N` bytes from the operating system's random generator.
pub fn random_array<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    fill_random(&mut out);
    out
}

/// How well secret memory is protected in this process right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryProtection {
    /// [`SecretBytes`] buffers whose pages are locked in RAM.
    pub locked_buffers: u64,
    /// Bytes (whole pages) locked by those buffers.
    pub locked_bytes: u64,
    /// Buffers that could not be locked since the process started (their
    /// contents may be swapped out).
    pub lock_failures: u64,
    /// Whether [`exclude_core_dumps`] succeeded.
    pub core_dumps_excluded: bool,
}

/// The current [`MemoryProtection`] figures.
pub fn memory_protection() -> MemoryProtection {
    MemoryProtection {
        locked_buffers: LOCKED_BUFFERS.load(Ordering::Relaxed),
        locked_bytes: LOCKED_BYTES.load(Ordering::Relaxed),
        lock_failures: LOCK_FAILURES.load(Ordering::Relaxed),
        core_dumps_excluded: CORE_DUMPS_EXCLUDED.load(Ordering::Relaxed),
    }
}

/// Why core dumps could not be excluded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryProtectionError {
    /// This operating system offers no safe way to do it.
    #[error("excluding core dumps is not supported on this operating system")]
    Unsupported,
    /// The operating system refused (the errno is given).
    #[error("the operating system refused to exclude core dumps (errno {errno})")]
    Refused {
        /// The raw OS error number.
        errno: i32,
    },
}

/// Keeps this process's memory, and so every secret in it, out of core
/// dumps: marks the process non-dumpable (`PR_SET_DUMPABLE` 0, which also
/// stops same-user `ptrace` attachment) and sets `RLIMIT_CORE` to zero.
/// Process-wide and irreversible in practice; meant for binaries to call
/// once at start-up. Linux only.
pub fn exclude_core_dumps() -> Result<(), MemoryProtectionError> {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{
            DumpableBehavior, Resource, Rlimit, set_dumpable_behavior, setrlimit,
        };
        let refused = |e: rustix::io::Errno| MemoryProtectionError::Refused {
            errno: e.raw_os_error(),
        };
        set_dumpable_behavior(DumpableBehavior::NotDumpable).map_err(refused)?;
        let zero = Rlimit {
            current: Some(0),
            maximum: Some(0),
        };
        setrlimit(Resource::Core, zero).map_err(refused)?;
        CORE_DUMPS_EXCLUDED.store(true, Ordering::Relaxed);
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(MemoryProtectionError::Unsupported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_everywhere() {
        let secret = SecretBytes::new(b"hunter2".to_vec());
        assert_eq!(format!("{secret:?}"), "[REDACTED]");
        assert_eq!(format!("{secret}"), "[REDACTED]");
        let wrapped = Secret::new([7u8; 4]);
        assert_eq!(format!("{wrapped:?} {wrapped}"), "[REDACTED] [REDACTED]");
        assert_eq!(wrapped.expose_secret(), &[7u8; 4]);
    }

    #[test]
    fn holds_its_bytes_on_exclusive_pages() {
        for len in [1usize, 31, 4095, 4096, 4097, 70_000] {
            let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let secret = SecretBytes::new(bytes.clone());
            assert_eq!(secret.expose_secret(), &bytes[..]);
            assert_eq!(secret.len(), len);
            let page = region::page::size();
            assert_eq!(secret.expose_secret().as_ptr() as usize % page, 0);
            let clone = secret.clone();
            assert_eq!(clone, secret);
            assert_ne!(
                clone.expose_secret().as_ptr(),
                secret.expose_secret().as_ptr()
            );
        }
    }

    #[test]
    fn empty_and_truncated() {
        let empty = SecretBytes::new(Vec::new());
        assert!(empty.is_empty());
        assert_eq!(empty.expose_secret(), b"");
        let mut secret = SecretBytes::from(&b"abcdef"[..]);
        secret.truncate(2);
        assert_eq!(secret.expose_secret(), b"ab");
        secret.truncate(10);
        assert_eq!(secret.len(), 2);
    }

    #[test]
    fn lock_outcomes_are_counted() {
        let before = memory_protection();
        let secret = SecretBytes::random(64);
        let during = memory_protection();
        if secret.is_locked() {
            assert!(during.locked_buffers >= 1);
            assert!(during.locked_bytes >= region::page::size() as u64);
        } else {
            assert!(during.lock_failures > before.lock_failures);
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn core_dumps_can_be_excluded() {
        use rustix::process::{DumpableBehavior, Resource, dumpable_behavior, getrlimit};
        assert_eq!(exclude_core_dumps(), Ok(()));
        assert!(memory_protection().core_dumps_excluded);
        assert_eq!(dumpable_behavior(), Ok(DumpableBehavior::NotDumpable));
        assert_eq!(getrlimit(Resource::Core).current, Some(0));
    }

    #[test]
    fn ct_eq_compares_contents_and_lengths() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq(b"", b""));
    }

    #[test]
    fn random_is_not_constant() {
        let a: [u8; 32] = random_array();
        let b: [u8; 32] = random_array();
        assert_ne!(a, b);
        assert_ne!(SecretBytes::random(32), SecretBytes::random(32));
    }
}
