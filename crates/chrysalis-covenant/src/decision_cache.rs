//! Recent biscuit-authorizer decisions of one covenant that is not compiled.
//!
//! The authorizer is a pure function of the token and the request facts it
//! is given (principal, operation, resource, time in whole seconds, cost):
//! the same token and the same facts always reach the same decision. So an
//! uncompiled covenant remembers its last decisions, keyed by exactly those
//! facts, and answers a repeat without running Datalog again (the authorizer
//! costs tens of microseconds; a hit, well under one).
//!
//! Only decisions the Datalog reached are kept: allowed, or refused by its
//! checks and policies. An authorizer error (a limit hit, such as its time
//! budget, which depends on the machine) is never cached. The key holds the
//! time in seconds, as the authorizer sees it, so an expiry takes effect at
//! the same second with or without the cache.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, PoisonError};

use chrysalis_types::AgentId;

use crate::capability::{Denial, Request};

/// How many decisions one covenant remembers (direct-mapped by key hash).
pub(crate) const SLOTS: usize = 64;

/// The facts a decision depends on, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    principal: AgentId,
    action: Box<str>,
    resource: Box<str>,
    cost: u64,
    now_s: u64,
}

impl Key {
    fn matches(&self, request: &Request<'_>, now_s: u64) -> bool {
        self.principal == request.principal
            && self.cost == request.cost
            && self.now_s == now_s
            && *self.action == *request.action
            && *self.resource == *request.resource
    }
}

type Slot = Option<(Key, Result<(), Denial>)>;

/// A small, bounded memo of authorizer decisions. A clone starts empty.
pub(crate) struct DecisionCache {
    slots: Mutex<Vec<Slot>>,
}

impl DecisionCache {
    pub(crate) fn new() -> Self {
        Self {
            slots: Mutex::new(vec![None; SLOTS]),
        }
    }

    fn slot(request: &Request<'_>, now_s: u64) -> usize {
        let mut h = DefaultHasher::new();
        request.principal.hash(&mut h);
        request.action.hash(&mut h);
        request.resource.hash(&mut h);
        request.cost.hash(&mut h);
        now_s.hash(&mut h);
        // The modulo keeps the index below SLOTS, so the cast cannot truncate
        // a meaningful value.
        (h.finish() % SLOTS as u64) as usize
    }

    /// The remembered decision for exactly this request at `now_s`.
    pub(crate) fn get(&self, request: &Request<'_>, now_s: u64) -> Option<Result<(), Denial>> {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        match &slots[Self::slot(request, now_s)] {
            Some((key, decision)) if key.matches(request, now_s) => Some(decision.clone()),
            _ => None,
        }
    }

    /// Remembers `decision` if the Datalog itself reached it.
    pub(crate) fn put(&self, request: &Request<'_>, now_s: u64, decision: &Result<(), Denial>) {
        if !matches!(decision, Ok(()) | Err(Denial::Refused { .. })) {
            return;
        }
        let key = Key {
            principal: request.principal,
            action: request.action.into(),
            resource: request.resource.into(),
            cost: request.cost,
            now_s,
        };
        let index = Self::slot(request, now_s);
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots[index] = Some((key, decision.clone()));
    }

    /// How many decisions are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.iter().filter(|s| s.is_some()).count()
    }
}

impl Clone for DecisionCache {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for DecisionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionCache").finish_non_exhaustive()
    }
}
