//! The validator set: keys, voting power, quorums and proposer rotation.

use crate::types::{Height, Round, ValidatorIndex};
use ed25519_consensus::VerificationKey;

/// One validator: its Ed25519 key and its voting power.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    /// The key its votes and proposals are checked against.
    pub key: VerificationKey,
    /// Its weight in every quorum.
    pub power: u64,
}

/// Why a validator set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidatorSetError {
    /// No validators at all.
    #[error("the validator set is empty")]
    Empty,
    /// More validators than a [`ValidatorIndex`] can name.
    #[error("{count} validators; at most {max} are supported")]
    TooMany {
        /// How many were given.
        count: usize,
        /// The most allowed.
        max: usize,
    },
    /// A validator with zero voting power.
    #[error("validator {index} has zero voting power")]
    ZeroPower {
        /// Its position.
        index: usize,
    },
    /// The same key twice.
    #[error("validator {index} repeats the key of an earlier validator")]
    DuplicateKey {
        /// The position of the repeat.
        index: usize,
    },
    /// The summed power does not fit in a `u64`.
    #[error("the summed voting power overflows")]
    PowerOverflow,
    /// Too little power to tolerate the requested number of faults: BFT needs
    /// total > 3f.
    #[error(
        "total power {total_power} cannot tolerate faulty power {faulty_power}: need more than 3x"
    )]
    TooFewForFaults {
        /// The summed power.
        total_power: u64,
        /// The faulty power asked for.
        faulty_power: u64,
    },
}

/// A fixed validator set with its quorum thresholds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Vec<Validator>,
    total_power: u64,
    quorum_power: u64,
}

impl ValidatorSet {
    /// Builds a set; the quorum is more than two thirds of the total power,
    /// so any two quorums share more than a third (an honest validator
    /// whenever at most a third is faulty).
    pub fn new(validators: Vec<Validator>) -> Result<Self, ValidatorSetError> {
        let total_power = Self::check(&validators)?;
        let quorum_power = total_power / 3 * 2 + (total_power % 3) * 2 / 3 + 1;
        Ok(Self {
            validators,
            total_power,
            quorum_power,
        })
    }

    /// Builds a set that must tolerate `faulty_power` Byzantine power:
    /// refused unless the total exceeds three times it.
    pub fn tolerating(
        validators: Vec<Validator>,
        faulty_power: u64,
    ) -> Result<Self, ValidatorSetError> {
        let set = Self::new(validators)?;
        if set.total_power <= faulty_power.saturating_mul(3) {
            return Err(ValidatorSetError::TooFewForFaults {
                total_power: set.total_power,
                faulty_power,
            });
        }
        Ok(set)
    }

    fn check(validators: &[Validator]) -> Result<u64, ValidatorSetError> {
        if validators.is_empty() {
            return Err(ValidatorSetError::Empty);
        }
        let max = usize::from(u16::MAX);
        if validators.len() > max {
            return Err(ValidatorSetError::TooMany {
                count: validators.len(),
                max,
            });
        }
        let mut total: u64 = 0;
        for (index, v) in validators.iter().enumerate() {
            if v.power == 0 {
                return Err(ValidatorSetError::ZeroPower { index });
            }
            if validators[..index].iter().any(|o| o.key == v.key) {
                return Err(ValidatorSetError::DuplicateKey { index });
            }
            total = total
                .checked_add(v.power)
                .ok_or(ValidatorSetError::PowerOverflow)?;
        }
        Ok(total)
    }

    /// The number of validators.
    pub fn len(&self) -> usize {
        self.validators.len()
    }

    /// Always false: a set has at least one validator.
    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    /// The validator at `index`, if any.
    pub fn get(&self, index: ValidatorIndex) -> Option<&Validator> {
        self.validators.get(usize::from(index.0))
    }

    /// The index of the validator holding `key`, if any.
    pub fn index_of(&self, key: &VerificationKey) -> Option<ValidatorIndex> {
        let pos = self.validators.iter().position(|v| &v.key == key)?;
        u16::try_from(pos).ok().map(ValidatorIndex)
    }

    /// All validators with their indices.
    pub fn iter(&self) -> impl Iterator<Item = (ValidatorIndex, &Validator)> {
        (0u16..).map(ValidatorIndex).zip(self.validators.iter())
    }

    /// The summed voting power.
    pub fn total_power(&self) -> u64 {
        self.total_power
    }

    /// The power of a quorum (2f+1): more than two thirds of the total.
    pub fn quorum_power(&self) -> u64 {
        self.quorum_power
    }

    /// The power that must include an honest validator (f+1): more than a
    /// third of the total.
    pub fn honest_power(&self) -> u64 {
        self.total_power / 3 + 1
    }

    /// The proposer for `round` at `height`: rotates through the set, one
    /// step per height and per round, weighted by nothing (equal turns).
    pub fn proposer(&self, height: Height, round: Round) -> ValidatorIndex {
        let n = self.validators.len() as u64;
        let slot = height.0.wrapping_add(u64::from(round.0)) % n;
        // `slot < n <= u16::MAX + 1`, checked at construction.
        ValidatorIndex(slot as u16)
    }
}

/// Deliberately broken constructors, only for the simulator tests that show
/// the harness catches them.
#[cfg(feature = "broken-variants")]
impl ValidatorSet {
    /// BROKEN: accepts total = 3f and uses the quorum total − f = 2f
    /// (exactly two thirds, not more): two quorums may share only faulty
    /// validators.
    #[doc(hidden)]
    pub fn broken_three_f(
        validators: Vec<Validator>,
        faulty_power: u64,
    ) -> Result<Self, ValidatorSetError> {
        let mut set = Self::new(validators)?;
        set.quorum_power = set.total_power.saturating_sub(faulty_power);
        Ok(set)
    }

    /// BROKEN: a simple majority quorum (n/2 + 1).
    #[doc(hidden)]
    pub fn broken_half_quorum(validators: Vec<Validator>) -> Result<Self, ValidatorSetError> {
        let mut set = Self::new(validators)?;
        set.quorum_power = set.total_power / 2 + 1;
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_consensus::SigningKey;

    fn set(powers: &[u64]) -> Vec<Validator> {
        powers
            .iter()
            .enumerate()
            .map(|(i, &power)| Validator {
                key: SigningKey::from([i as u8 + 1; 32]).verification_key(),
                power,
            })
            .collect()
    }

    #[test]
    fn quorum_is_more_than_two_thirds() {
        for n in 1..=20u64 {
            let vs = ValidatorSet::new(set(&vec![1; n as usize])).unwrap();
            let q = vs.quorum_power();
            assert!(3 * q > 2 * n, "n={n} q={q}");
            assert!(3 * (q - 1) <= 2 * n, "n={n} q={q} is not the smallest");
            let f = (n - 1) / 3;
            assert_eq!(vs.honest_power(), n / 3 + 1);
            assert!(
                q + f <= n,
                "n={n}: a quorum must be reachable without f faulty"
            );
        }
        let vs = ValidatorSet::new(set(&[5, 1, 1])).unwrap();
        assert_eq!(vs.quorum_power(), 5);
    }

    #[test]
    fn bad_sets_are_refused() {
        assert_eq!(ValidatorSet::new(vec![]), Err(ValidatorSetError::Empty));
        assert_eq!(
            ValidatorSet::new(set(&[1, 0])),
            Err(ValidatorSetError::ZeroPower { index: 1 })
        );
        let mut dup = set(&[1, 1]);
        dup[1].key = dup[0].key;
        assert_eq!(
            ValidatorSet::new(dup),
            Err(ValidatorSetError::DuplicateKey { index: 1 })
        );
        assert_eq!(
            ValidatorSet::new(set(&[u64::MAX, 1])),
            Err(ValidatorSetError::PowerOverflow)
        );
        assert_eq!(
            ValidatorSet::tolerating(set(&[1; 6]), 2),
            Err(ValidatorSetError::TooFewForFaults {
                total_power: 6,
                faulty_power: 2
            })
        );
        assert!(ValidatorSet::tolerating(set(&[1; 7]), 2).is_ok());
    }

    #[test]
    fn proposer_rotates_over_everyone() {
        let vs = ValidatorSet::new(set(&[1; 4])).unwrap();
        let mut seen: Vec<u16> = (0..4).map(|r| vs.proposer(Height(1), Round(r)).0).collect();
        seen.sort_unstable();
        assert_eq!(seen, vec![0, 1, 2, 3]);
        assert_ne!(
            vs.proposer(Height(1), Round(0)),
            vs.proposer(Height(2), Round(0))
        );
    }
}
