//! Which nodes may connect: an allowlist of node ids, shared and updatable
//! while the endpoint runs, or (only when configured so) anyone.

use chrysalis_types::NodeId;
use std::collections::BTreeSet;
use std::sync::{Arc, PoisonError, RwLock};

#[derive(Debug)]
enum Policy {
    Allow(BTreeSet<NodeId>),
    Open,
}

/// The admission policy the TLS verifiers consult on every handshake.
///
/// Clones share one policy: admitting or revoking a node through any clone
/// applies to the next handshake of every endpoint holding it. Revoking
/// does not close connections already open.
#[derive(Debug, Clone)]
pub struct Admission {
    policy: Arc<RwLock<Policy>>,
}

impl Admission {
    /// Admits exactly these nodes.
    pub fn allowlist(nodes: impl IntoIterator<Item = NodeId>) -> Admission {
        Admission::with(Policy::Allow(nodes.into_iter().collect()))
    }

    /// Admits any node that proves it holds its key. Only for explicitly
    /// open deployments (tests, public bootstrap nodes): a pinned dial
    /// still refuses any key but the expected one.
    pub fn open() -> Admission {
        Admission::with(Policy::Open)
    }

    fn with(policy: Policy) -> Admission {
        Admission {
            policy: Arc::new(RwLock::new(policy)),
        }
    }

    /// Whether `node` may connect now.
    pub fn is_admitted(&self, node: &NodeId) -> bool {
        match &*self.policy.read().unwrap_or_else(PoisonError::into_inner) {
            Policy::Allow(nodes) => nodes.contains(node),
            Policy::Open => true,
        }
    }

    /// Whether the policy admits everyone.
    pub fn is_open(&self) -> bool {
        matches!(
            &*self.policy.read().unwrap_or_else(PoisonError::into_inner),
            Policy::Open
        )
    }

    /// Adds `node` to the allowlist (no effect in open mode).
    pub fn admit(&self, node: NodeId) {
        if let Policy::Allow(nodes) =
            &mut *self.policy.write().unwrap_or_else(PoisonError::into_inner)
        {
            nodes.insert(node);
        }
    }

    /// Removes `node` from the allowlist; `true` if it was there.
    pub fn revoke(&self, node: &NodeId) -> bool {
        match &mut *self.policy.write().unwrap_or_else(PoisonError::into_inner) {
            Policy::Allow(nodes) => nodes.remove(node),
            Policy::Open => false,
        }
    }

    /// The allowlist, in order (empty in open mode).
    pub fn admitted(&self) -> Vec<NodeId> {
        match &*self.policy.read().unwrap_or_else(PoisonError::into_inner) {
            Policy::Allow(nodes) => nodes.iter().copied().collect(),
            Policy::Open => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_is_shared_between_clones() {
        let a = NodeId::new([1; 32]);
        let b = NodeId::new([2; 32]);
        let admission = Admission::allowlist([a]);
        let clone = admission.clone();
        assert!(admission.is_admitted(&a));
        assert!(!admission.is_admitted(&b));
        clone.admit(b);
        assert!(admission.is_admitted(&b));
        assert!(admission.revoke(&a));
        assert!(!clone.is_admitted(&a));
        assert_eq!(clone.admitted(), vec![b]);
        assert!(!clone.is_open());
    }

    #[test]
    fn open_admits_anyone() {
        let open = Admission::open();
        assert!(open.is_open());
        assert!(open.is_admitted(&NodeId::new([9; 32])));
        open.admit(NodeId::new([9; 32]));
        assert!(!open.revoke(&NodeId::new([9; 32])));
        assert!(open.admitted().is_empty());
    }
}
