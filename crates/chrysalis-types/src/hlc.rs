//! A hybrid logical clock (Kulkarni et al., "Logical Physical Clocks", 2014).
//!
//! A [`Timestamp`] pairs a physical time in milliseconds with a logical
//! counter. Timestamps from one [`HybridClock`] strictly increase, and a clock
//! that has observed a remote timestamp only issues later ones, so the
//! timestamps respect causality while staying close to physical time.
//!
//! The clock never reads the system time: the caller passes physical time in,
//! which keeps every protocol that uses it deterministic under simulation.

use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use std::fmt;

/// A point in hybrid logical time. Ordered by physical time, then logical counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    physical_ms: u64,
    logical: u32,
}

impl Timestamp {
    /// The earliest timestamp.
    pub const ZERO: Timestamp = Timestamp {
        physical_ms: 0,
        logical: 0,
    };

    /// A timestamp from its parts.
    pub const fn new(physical_ms: u64, logical: u32) -> Self {
        Self {
            physical_ms,
            logical,
        }
    }

    /// Milliseconds since the Unix epoch, as the issuing clock saw them.
    pub const fn physical_ms(self) -> u64 {
        self.physical_ms
    }

    /// The logical counter that orders events within one millisecond.
    pub const fn logical(self) -> u32 {
        self.logical
    }

    /// The next timestamp after this one at the same physical time. When the
    /// counter is exhausted, physical time advances by one millisecond.
    fn tick(self) -> Self {
        match self.logical.checked_add(1) {
            Some(logical) => Self::new(self.physical_ms, logical),
            None => Self::new(self.physical_ms.saturating_add(1), 0),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.physical_ms, self.logical)
    }
}

impl Encode for Timestamp {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.physical_ms);
        w.put(&self.logical);
    }
}

impl Decode for Timestamp {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self::new(r.get()?, r.get()?))
    }
}

/// Why a remote timestamp was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClockError {
    /// The remote clock is further ahead of ours than the configured bound:
    /// accepting it would drag every later timestamp into the future.
    #[error(
        "remote timestamp {remote} is {ahead_ms} ms ahead of local physical time {local_ms}; the limit is {max_offset_ms} ms"
    )]
    TooFarAhead {
        /// The timestamp received.
        remote: Timestamp,
        /// Our physical time.
        local_ms: u64,
        /// How far ahead it is.
        ahead_ms: u64,
        /// The bound in force.
        max_offset_ms: u64,
    },
}

/// Issues [`Timestamp`]s that strictly increase and respect causality.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HybridClock {
    last: Timestamp,
    max_offset_ms: u64,
}

impl HybridClock {
    /// A clock that refuses remote timestamps more than `max_offset_ms`
    /// ahead of local physical time.
    pub const fn new(max_offset_ms: u64) -> Self {
        Self::resume(Timestamp::ZERO, max_offset_ms)
    }

    /// A clock that continues after `last`, e.g. as persisted before a restart.
    pub const fn resume(last: Timestamp, max_offset_ms: u64) -> Self {
        Self {
            last,
            max_offset_ms,
        }
    }

    /// The last timestamp issued or observed.
    pub const fn last(&self) -> Timestamp {
        self.last
    }

    /// A timestamp for a local event (or a message about to be sent), at
    /// physical time `physical_ms`.
    pub fn now(&mut self, physical_ms: u64) -> Timestamp {
        self.last = if physical_ms > self.last.physical_ms {
            Timestamp::new(physical_ms, 0)
        } else {
            self.last.tick()
        };
        self.last
    }

    /// Merges a timestamp received from another node and returns a
    /// timestamp for the receive event, later than both.
    pub fn observe(
        &mut self,
        remote: Timestamp,
        physical_ms: u64,
    ) -> Result<Timestamp, ClockError> {
        let ahead_ms = remote.physical_ms.saturating_sub(physical_ms);
        if ahead_ms > self.max_offset_ms {
            return Err(ClockError::TooFarAhead {
                remote,
                local_ms: physical_ms,
                ahead_ms,
                max_offset_ms: self.max_offset_ms,
            });
        }
        let latest = self.last.max(remote);
        self.last = if physical_ms > latest.physical_ms {
            Timestamp::new(physical_ms, 0)
        } else {
            latest.tick()
        };
        Ok(self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn follows_physical_time_when_it_advances() {
        let mut clock = HybridClock::new(1_000);
        assert_eq!(clock.now(100), Timestamp::new(100, 0));
        assert_eq!(clock.now(100), Timestamp::new(100, 1));
        assert_eq!(
            clock.now(90),
            Timestamp::new(100, 2),
            "a clock step back is absorbed"
        );
        assert_eq!(clock.now(101), Timestamp::new(101, 0));
    }

    #[test]
    fn observing_a_later_remote_moves_past_it() {
        let mut clock = HybridClock::new(1_000);
        clock.now(100);
        let t = clock.observe(Timestamp::new(500, 7), 120).unwrap();
        assert_eq!(t, Timestamp::new(500, 8));
        assert_eq!(clock.now(130), Timestamp::new(500, 9));
    }

    #[test]
    fn refuses_a_remote_too_far_ahead() {
        let mut clock = HybridClock::new(1_000);
        clock.now(100);
        let err = clock.observe(Timestamp::new(1_101, 0), 100).unwrap_err();
        assert_eq!(
            err,
            ClockError::TooFarAhead {
                remote: Timestamp::new(1_101, 0),
                local_ms: 100,
                ahead_ms: 1_001,
                max_offset_ms: 1_000
            }
        );
        assert_eq!(
            clock.last(),
            Timestamp::new(100, 0),
            "a refused timestamp changes nothing"
        );
    }

    #[test]
    fn logical_overflow_advances_physical_time() {
        let mut clock = HybridClock::resume(Timestamp::new(5, u32::MAX), 0);
        assert_eq!(clock.now(5), Timestamp::new(6, 0));
    }

    #[derive(Debug, Clone)]
    enum Event {
        Local(u64),
        Receive(u64, u32, u64),
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            (0u64..1_000).prop_map(Event::Local),
            (0u64..1_000, any::<u32>(), 0u64..1_000)
                .prop_map(|(p, l, now)| Event::Receive(p, l, now)),
        ]
    }

    proptest! {
        #[test]
        fn timestamps_strictly_increase_and_dominate_observed(events in proptest::collection::vec(event(), 1..64)) {
            let mut clock = HybridClock::new(10_000);
            let mut prev = clock.last();
            for e in events {
                let t = match e {
                    Event::Local(now) => clock.now(now),
                    Event::Receive(p, l, now) => {
                        let remote = Timestamp::new(p, l);
                        let t = clock.observe(remote, now).unwrap();
                        prop_assert!(t > remote);
                        t
                    }
                };
                prop_assert!(t > prev);
                prev = t;
            }
        }

        #[test]
        fn round_trips(p in any::<u64>(), l in any::<u32>()) {
            let t = Timestamp::new(p, l);
            prop_assert_eq!(Timestamp::from_bytes(&t.to_bytes()).unwrap(), t);
        }
    }
}
