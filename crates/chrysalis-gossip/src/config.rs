//! Configuration, and the seeded generator the core draws its choices from.

use std::convert::Infallible;
use std::num::{NonZeroU8, NonZeroUsize};
use std::time::Duration;

/// Tuning of a [`crate::GossipNode`].
#[derive(Debug, Clone)]
pub struct GossipConfig {
    /// Time between anti-entropy rounds.
    pub round_interval_ms: u64,
    /// Peers a round sends its digest to (k).
    pub fanout: usize,
    /// The largest frame sent or accepted, in bytes.
    pub max_message_bytes: usize,
    /// Frames one reply may hold; what does not fit goes in later rounds,
    /// so a large state never blocks a round.
    pub max_reply_frames: usize,
    /// Rounds a changed key stays in the digests' hot list.
    pub hot_rounds: u64,
    /// Rounds between causal-stability garbage collections (0: never).
    pub gc_every_rounds: u64,
    /// A chunked transfer idle this long is dropped (both ends).
    pub transfer_timeout_ms: u64,
    /// Bytes of incomplete chunked transfers held at most.
    pub max_pending_bytes: usize,
    /// SWIM membership and failure detection (foca).
    pub swim: foca::Config,
}

impl GossipConfig {
    /// Defaults for a cluster of about `cluster_size` nodes: 200 ms rounds,
    /// fan-out 3, 64 KiB frames, and a SWIM configuration in the manner of
    /// memberlist's LAN profile (1 s probes, suspicion scaled by log10 n).
    pub fn for_cluster(cluster_size: u32) -> Self {
        Self {
            round_interval_ms: 200,
            fanout: 3,
            max_message_bytes: 64 * 1024,
            max_reply_frames: 4,
            hot_rounds: 8,
            gc_every_rounds: 25,
            transfer_timeout_ms: 10_000,
            max_pending_bytes: 16 << 20,
            swim: swim_config(cluster_size, 1_000, 300),
        }
    }

    /// Checks the values make sense together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.round_interval_ms == 0 {
            return Err(ConfigError::ZeroRoundInterval);
        }
        if self.fanout == 0 {
            return Err(ConfigError::ZeroFanout);
        }
        if self.max_message_bytes < MIN_MESSAGE_BYTES {
            return Err(ConfigError::MessageTooSmall {
                min: MIN_MESSAGE_BYTES,
            });
        }
        if self.max_reply_frames == 0 {
            return Err(ConfigError::ZeroReplyFrames);
        }
        if self.swim.max_packet_size.get() + 16 > self.max_message_bytes {
            return Err(ConfigError::SwimPacketTooLarge);
        }
        Ok(())
    }
}

impl Default for GossipConfig {
    fn default() -> Self {
        Self::for_cluster(16)
    }
}

/// The smallest `max_message_bytes` accepted: a frame must hold a SWIM
/// packet and a chunk header with room for data.
pub const MIN_MESSAGE_BYTES: usize = 2_048;

/// A [`GossipConfig`] that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `round_interval_ms` is 0.
    #[error("round interval must be positive")]
    ZeroRoundInterval,
    /// `fanout` is 0.
    #[error("fan-out must be at least 1")]
    ZeroFanout,
    /// `max_message_bytes` is below the minimum.
    #[error("max message bytes must be at least {min}")]
    MessageTooSmall {
        /// The minimum.
        min: usize,
    },
    /// `max_reply_frames` is 0.
    #[error("a reply must be allowed at least one frame")]
    ZeroReplyFrames,
    /// A SWIM packet would not fit in a frame.
    #[error("SWIM max packet size does not fit in a frame")]
    SwimPacketTooLarge,
}

/// A SWIM configuration for `cluster_size` nodes probing every
/// `probe_period_ms` with a `probe_rtt_ms` direct-probe timeout.
///
/// Dissemination: each update is piggybacked `4·⌈log10(n+1)⌉` times;
/// suspicion lasts `4·max(1, log10 n)` probe periods (memberlist's
/// multipliers); members also push updates to 3 peers every 200 ms and
/// re-announce to down members (so partitions heal).
pub fn swim_config(cluster_size: u32, probe_period_ms: u64, probe_rtt_ms: u64) -> foca::Config {
    let n = f64::from(cluster_size.max(1));
    let log_n = n.log10().max(1.0);
    let tx = (4.0 * (n + 1.0).log10().ceil()).clamp(1.0, 255.0) as u8;
    let suspicion_ms = (4.0 * log_n * probe_period_ms as f64) as u64;
    let mut c = foca::Config::simple();
    c.probe_period = Duration::from_millis(probe_period_ms);
    c.probe_rtt = Duration::from_millis(probe_rtt_ms);
    c.max_transmissions = NonZeroU8::new(tx).unwrap_or(NonZeroU8::MIN);
    c.suspect_to_down_after = Duration::from_millis(suspicion_ms);
    c.notify_down_members = true;
    c.periodic_gossip = Some(foca::PeriodicParams {
        frequency: Duration::from_millis(200),
        num_members: NonZeroUsize::new(3).unwrap_or(NonZeroUsize::MIN),
    });
    c.periodic_announce = Some(foca::PeriodicParams {
        frequency: Duration::from_secs(30),
        num_members: NonZeroUsize::MIN,
    });
    c.periodic_announce_to_down_members = Some(foca::PeriodicParams {
        frequency: Duration::from_secs(10),
        num_members: NonZeroUsize::new(2).unwrap_or(NonZeroUsize::MIN),
    });
    c
}

/// A small seeded generator (SplitMix64) for foca and for peer choice: the
/// core never reads an entropy source, so a seed fixes its behaviour.
#[derive(Debug, Clone)]
pub(crate) struct SeededRng(u64);

impl SeededRng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, n)`; 0 when `n` is 0.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

impl foca_rand_core::TryRng for SeededRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.next() >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.next())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_are_refused() {
        let c = GossipConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.round_interval_ms, 200);
        assert_eq!(c.fanout, 3);
        let bad = GossipConfig {
            fanout: 0,
            ..c.clone()
        };
        assert_eq!(bad.validate(), Err(ConfigError::ZeroFanout));
        let bad = GossipConfig {
            max_message_bytes: 100,
            ..c.clone()
        };
        assert!(matches!(
            bad.validate(),
            Err(ConfigError::MessageTooSmall { .. })
        ));
        let bad = GossipConfig {
            round_interval_ms: 0,
            ..c
        };
        assert_eq!(bad.validate(), Err(ConfigError::ZeroRoundInterval));
    }

    #[test]
    fn swim_scales_with_cluster_size() {
        let small = swim_config(10, 1_000, 300);
        let big = swim_config(1_000, 1_000, 300);
        assert!(big.max_transmissions > small.max_transmissions);
        assert!(big.suspect_to_down_after > small.suspect_to_down_after);
        assert_eq!(small.suspect_to_down_after, Duration::from_secs(4));
    }

    #[test]
    fn below_stays_in_range() {
        let mut r = SeededRng::new(1);
        for n in 1..100 {
            assert!(r.below(n) < n);
        }
        assert_eq!(r.below(0), 0);
    }
}
