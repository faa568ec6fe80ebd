//! Deliberately broken operads, kept so the law checker can be shown to
//! catch real mistakes (and so its shrinking can be tested). Never use them
//! to compose anything.

use rand_core::RngCore;

use crate::plan::{Plan, PlanOperad};
use crate::{ComposeError, Operad, OperadSamples};

/// Plans whose identity is a `noop` step wrapped around a slot instead of
/// the bare slot: a plausible "make identity explicit" mistake that breaks
/// both identity laws.
#[derive(Debug, Clone, Default)]
pub struct WrappedIdentity {
    inner: PlanOperad,
}

impl WrappedIdentity {
    /// The broken operad.
    pub fn new() -> WrappedIdentity {
        WrappedIdentity {
            inner: PlanOperad::new(),
        }
    }
}

impl Operad for WrappedIdentity {
    type Op = Plan;

    fn identity(&self) -> Plan {
        Plan::step("noop", vec![Plan::Input])
    }

    fn arity(&self, op: &Plan) -> usize {
        op.arity()
    }

    fn compose(&self, f: &Plan, slot: usize, g: &Plan) -> Result<Plan, ComposeError> {
        self.inner.compose(f, slot, g)
    }
}

/// Plans whose slots are numbered breadth first (shallow slots before deep
/// ones) when composing, while arity is still a plain count. Identity holds;
/// associativity fails as soon as slots sit at different depths.
#[derive(Debug, Clone, Default)]
pub struct BreadthFirstSlots {
    inner: PlanOperad,
}

impl BreadthFirstSlots {
    /// The broken operad.
    pub fn new() -> BreadthFirstSlots {
        BreadthFirstSlots {
            inner: PlanOperad::new(),
        }
    }
}

/// The path (child indices from the root) of every slot, breadth first.
fn slot_paths_breadth_first(plan: &Plan) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut level: Vec<(Vec<usize>, &Plan)> = vec![(Vec::new(), plan)];
    while !level.is_empty() {
        let mut next = Vec::new();
        for (path, node) in level {
            match node {
                Plan::Input => out.push(path),
                Plan::Step(_, inputs) => {
                    for (i, child) in inputs.iter().enumerate() {
                        let mut p = path.clone();
                        p.push(i);
                        next.push((p, child));
                    }
                }
            }
        }
        level = next;
    }
    out
}

fn replace_at(plan: &Plan, path: &[usize], g: &Plan) -> Plan {
    match (plan, path.split_first()) {
        (_, None) => g.clone(),
        (Plan::Step(name, inputs), Some((first, rest))) => {
            let mut inputs = inputs.clone();
            if let Some(child) = inputs.get_mut(*first) {
                *child = replace_at(child, rest, g);
            }
            Plan::Step(name.clone(), inputs)
        }
        (Plan::Input, Some(_)) => plan.clone(),
    }
}

impl Operad for BreadthFirstSlots {
    type Op = Plan;

    fn identity(&self) -> Plan {
        Plan::Input
    }

    fn arity(&self, op: &Plan) -> usize {
        op.arity()
    }

    fn compose(&self, f: &Plan, slot: usize, g: &Plan) -> Result<Plan, ComposeError> {
        let paths = slot_paths_breadth_first(f);
        let path = paths.get(slot).ok_or(ComposeError::SlotOutOfRange {
            slot,
            arity: paths.len(),
        })?;
        Ok(replace_at(f, path, g))
    }
}

macro_rules! delegate_samples {
    ($ty:ty) => {
        impl OperadSamples for $ty {
            fn sample(&self, rng: &mut dyn RngCore, max_nodes: usize) -> Plan {
                self.inner.sample(rng, max_nodes)
            }

            fn shrink(&self, op: &Plan) -> Vec<Plan> {
                self.inner.shrink(op)
            }

            fn size(&self, op: &Plan) -> usize {
                self.inner.size(op)
            }
        }
    };
}

delegate_samples!(WrappedIdentity);
delegate_samples!(BreadthFirstSlots);
