//! The operad of agent plans: named steps wired into trees.
//!
//! A [`Plan`] is either an open input slot ([`Plan::Input`], the identity) or
//! a named step applied to sub-plans. Its arity is the number of open input
//! slots, read left to right (depth first). Composition `f ∘ᵢ g` replaces
//! the `i`-th slot of `f` with `g`. This is the free planar operad on the
//! step names, so every law holds by construction; the law checker's own
//! tests rely on that.

use std::fmt;
use std::sync::Arc;

use rand_core::RngCore;

use crate::{ComposeError, Operad, OperadSamples};

/// An agent plan with open input slots.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Plan {
    /// An open input slot.
    Input,
    /// A named step whose inputs are the outputs of sub-plans.
    Step(Arc<str>, Vec<Plan>),
}

impl Plan {
    /// A step named `name` fed by `inputs`.
    pub fn step(name: &str, inputs: Vec<Plan>) -> Plan {
        Plan::Step(Arc::from(name), inputs)
    }

    /// The number of open input slots.
    pub fn arity(&self) -> usize {
        match self {
            Plan::Input => 1,
            Plan::Step(_, inputs) => inputs.iter().map(Plan::arity).sum(),
        }
    }

    /// The shrinking weight: a slot weighs 1 and a step 2, so a bare slot
    /// is smaller than a constant step.
    pub fn weight(&self) -> usize {
        match self {
            Plan::Input => 1,
            Plan::Step(_, inputs) => 2 + inputs.iter().map(Plan::weight).sum::<usize>(),
        }
    }

    /// The number of nodes (slots and steps).
    pub fn node_count(&self) -> usize {
        match self {
            Plan::Input => 1,
            Plan::Step(_, inputs) => 1 + inputs.iter().map(Plan::node_count).sum::<usize>(),
        }
    }

    /// Copies `self` with an input slot (depth first) replaced by `g`.
    /// `slot` is `Some(n)` while `n` more slots are to be passed before the
    /// one to replace, and `None` once it has been replaced.
    fn graft(&self, slot: &mut Option<usize>, g: &Plan) -> Plan {
        match self {
            Plan::Input => match slot {
                Some(0) => {
                    *slot = None;
                    g.clone()
                }
                Some(n) => {
                    *n -= 1;
                    Plan::Input
                }
                None => Plan::Input,
            },
            Plan::Step(name, inputs) => Plan::Step(
                name.clone(),
                inputs.iter().map(|p| p.graft(slot, g)).collect(),
            ),
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Plan::Input => f.write_str("_"),
            Plan::Step(name, inputs) => {
                write!(f, "{name}(")?;
                for (i, p) in inputs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{p}")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Step names drawn by the sampler.
const STEP_NAMES: [&str; 5] = ["fetch", "plan", "act", "check", "merge"];

/// The operad of [`Plan`]s with depth-first slot numbering.
#[derive(Debug, Clone, Default)]
pub struct PlanOperad {
    names: Vec<Arc<str>>,
}

impl PlanOperad {
    /// A plan operad sampling steps from a small fixed vocabulary.
    pub fn new() -> PlanOperad {
        PlanOperad {
            names: STEP_NAMES.iter().map(|n| Arc::from(*n)).collect(),
        }
    }

    fn sample_within(&self, rng: &mut dyn RngCore, budget: &mut usize) -> Plan {
        // Spend one node; a step needs room for itself at least.
        *budget = budget.saturating_sub(1);
        if *budget == 0 || rng.next_u32().is_multiple_of(3) {
            return Plan::Input;
        }
        let name = self.pick_name(rng);
        let wanted = (rng.next_u32() % 4) as usize; // 0..=3 inputs
        let mut inputs = Vec::with_capacity(wanted);
        for _ in 0..wanted {
            if *budget == 0 {
                break;
            }
            inputs.push(self.sample_within(rng, budget));
        }
        Plan::Step(name, inputs)
    }

    fn pick_name(&self, rng: &mut dyn RngCore) -> Arc<str> {
        let names = if self.names.is_empty() {
            &PlanOperad::new().names
        } else {
            &self.names
        };
        names[rng.next_u32() as usize % names.len()].clone()
    }
}

impl Operad for PlanOperad {
    type Op = Plan;

    fn identity(&self) -> Plan {
        Plan::Input
    }

    fn arity(&self, op: &Plan) -> usize {
        op.arity()
    }

    fn compose(&self, f: &Plan, slot: usize, g: &Plan) -> Result<Plan, ComposeError> {
        let arity = f.arity();
        if slot >= arity {
            return Err(ComposeError::SlotOutOfRange { slot, arity });
        }
        Ok(f.graft(&mut Some(slot), g))
    }
}

impl OperadSamples for PlanOperad {
    fn sample(&self, rng: &mut dyn RngCore, max_nodes: usize) -> Plan {
        let mut budget = max_nodes.max(1);
        self.sample_within(rng, &mut budget)
    }

    fn shrink(&self, op: &Plan) -> Vec<Plan> {
        shrink_plan(op)
    }

    fn size(&self, op: &Plan) -> usize {
        op.weight()
    }
}

/// Smaller plans: a slot, each sub-plan on its own, the step without one of
/// its inputs, and the step with one input shrunk.
pub(crate) fn shrink_plan(op: &Plan) -> Vec<Plan> {
    let Plan::Step(name, inputs) = op else {
        return Vec::new();
    };
    let mut out = vec![Plan::Input];
    out.extend(inputs.iter().filter(|p| **p != Plan::Input).cloned());
    for i in 0..inputs.len() {
        let mut fewer = inputs.clone();
        fewer.remove(i);
        out.push(Plan::Step(name.clone(), fewer));
    }
    for (i, input) in inputs.iter().enumerate() {
        for smaller in shrink_plan(input) {
            let mut next = inputs.clone();
            next[i] = smaller;
            out.push(Plan::Step(name.clone(), next));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x() -> Plan {
        Plan::Input
    }

    #[test]
    fn composition_splices_inputs_in_place() {
        let op = PlanOperad::new();
        let f = Plan::step("merge", vec![x(), x(), x()]);
        let g = Plan::step("fetch", vec![x(), x()]);
        let fg = op.compose(&f, 1, &g).unwrap();
        assert_eq!(fg.to_string(), "merge(_, fetch(_, _), _)");
        assert_eq!(fg.arity(), 4);
        let constant = Plan::step("act", vec![]);
        assert_eq!(op.compose(&f, 2, &constant).unwrap().arity(), 2);
        assert_eq!(
            op.compose(&constant, 0, &g),
            Err(ComposeError::SlotOutOfRange { slot: 0, arity: 0 })
        );
    }

    #[test]
    fn shrink_candidates_are_smaller() {
        let f = Plan::step("merge", vec![Plan::step("act", vec![x()]), x()]);
        let candidates = shrink_plan(&f);
        assert!(candidates.contains(&x()));
        assert!(candidates.iter().all(|c| c.weight() < f.weight()));
        assert_eq!(shrink_plan(&Plan::step("act", vec![])), vec![x()]);
    }
}
