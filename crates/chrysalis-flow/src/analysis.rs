//! Turns a flow into Datalog facts, runs [`crate::rules`] and reads the derived
//! relations back, grouped and sorted so diagnostics come out deterministic.

use std::collections::{BTreeMap, HashMap};

use crate::graph::{Graph, NO_COMPONENT, strongly_connected};
use crate::model::Kind;
use crate::rules::FlowRules;

/// The input facts: nodes are `0..kinds.len()`, handlers are `0..handler_count`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    pub(crate) kinds: Vec<Kind>,
    pub(crate) edges: Vec<(u32, u32)>,
    pub(crate) default_edges: Vec<(u32, u32)>,
    /// Nodes carrying a loop bound.
    pub(crate) bounded: Vec<bool>,
    /// The handler of each node.
    pub(crate) handler_of: Vec<u32>,
    /// Which handlers are registered (indexed by handler).
    pub(crate) registered: Vec<bool>,
}

/// Everything the rules derived, as sorted index lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Analysis {
    pub(crate) reachable: Vec<u32>,
    pub(crate) unreachable: Vec<u32>,
    pub(crate) cannot_reach_end: Vec<u32>,
    /// Nodes on some cycle, grouped by strongly connected component.
    pub(crate) cycles: Vec<Vec<u32>>,
    /// Nodes on some cycle that avoids every bounded node, grouped by component.
    pub(crate) unbounded_cycles: Vec<Vec<u32>>,
    pub(crate) missing_default: Vec<u32>,
    pub(crate) illegal_fanout: Vec<(u32, usize)>,
    pub(crate) start_incoming: Vec<(u32, Vec<u32>)>,
    pub(crate) end_outgoing: Vec<(u32, Vec<u32>)>,
    pub(crate) fork_without_join: Vec<u32>,
    pub(crate) open_branches: Vec<(u32, u32)>,
    pub(crate) ambiguous_joins: Vec<(u32, Vec<u32>)>,
    pub(crate) join_without_fork: Vec<u32>,
    pub(crate) shared_joins: Vec<(u32, Vec<u32>)>,
    /// `(fork, join)` for every fork with a unique join.
    pub(crate) matched: Vec<(u32, u32)>,
    /// `(fork, branches)`.
    pub(crate) branch_counts: Vec<(u32, usize)>,
    pub(crate) unregistered: Vec<u32>,
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort_unstable();
    v.dedup();
    v
}

fn unary(rel: Vec<(u32,)>) -> Vec<u32> {
    sorted(rel.into_iter().map(|(x,)| x).collect())
}

/// Groups `(key, value)` pairs into sorted `(key, values)`.
fn grouped(pairs: impl IntoIterator<Item = (u32, u32)>) -> Vec<(u32, Vec<u32>)> {
    let mut map: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (k, v) in pairs {
        map.entry(k).or_default().push(v);
    }
    map.into_iter().map(|(k, v)| (k, sorted(v))).collect()
}

/// Groups `(node, component)` pairs into node lists, ordered by smallest member.
fn components(pairs: Vec<(u32, u32)>) -> Vec<Vec<u32>> {
    let mut groups: Vec<Vec<u32>> = grouped(pairs.into_iter().map(|(n, c)| (c, n)))
        .into_iter()
        .map(|(_, nodes)| nodes)
        .collect();
    groups.sort_unstable();
    groups
}

fn scc_facts(components: &[u32]) -> Vec<(u32, u32)> {
    components
        .iter()
        .enumerate()
        .filter(|&(_, &c)| c != NO_COMPONENT)
        .map(|(n, &c)| (n as u32, c))
        .collect()
}

impl Facts {
    /// Loads the facts into a fresh rule program.
    fn program(&self) -> FlowRules {
        let n = self.kinds.len();
        let graph = Graph::new(n, &self.edges);
        let all = vec![true; n];
        let unbounded: Vec<bool> = self.bounded.iter().map(|b| !b).collect();
        let of_kind = |kind: Kind| -> Vec<(u32,)> {
            (0..n as u32)
                .filter(|&i| self.kinds[i as usize] == kind)
                .map(|i| (i,))
                .collect()
        };
        let mut prog = FlowRules::default();
        prog.node = (0..n as u32).map(|i| (i,)).collect();
        prog.start = of_kind(Kind::Start);
        prog.end = of_kind(Kind::End);
        prog.fork = of_kind(Kind::Fork);
        prog.join = of_kind(Kind::Join);
        prog.decision = of_kind(Kind::Decision);
        // Ascent keeps input facts as given: duplicates would skew the counts.
        prog.edge = sorted(self.edges.clone());
        prog.default_edge = sorted(self.default_edges.clone());
        prog.scc = scc_facts(&strongly_connected(&graph, &all));
        prog.unbounded_scc = scc_facts(&strongly_connected(&graph, &unbounded));
        prog.uses_handler = self
            .handler_of
            .iter()
            .enumerate()
            .map(|(i, &h)| (i as u32, h))
            .collect();
        prog.registered = (0..self.registered.len() as u32)
            .filter(|&h| self.registered[h as usize])
            .map(|h| (h,))
            .collect();
        prog
    }

    /// Runs the rules and collects the results.
    pub(crate) fn analyze(&self) -> Analysis {
        let mut prog = self.program();
        prog.run();
        Analysis {
            reachable: unary(prog.reachable),
            unreachable: unary(prog.unreachable),
            cannot_reach_end: unary(prog.cannot_reach_end),
            cycles: components(prog.on_cycle),
            unbounded_cycles: components(prog.unbounded_cycle),
            missing_default: unary(prog.missing_default),
            illegal_fanout: sorted(prog.illegal_fanout),
            start_incoming: grouped(prog.start_incoming),
            end_outgoing: grouped(prog.end_outgoing),
            fork_without_join: unary(prog.fork_without_join),
            open_branches: sorted(prog.open_branch),
            ambiguous_joins: grouped(prog.ambiguous_join),
            join_without_fork: unary(prog.join_without_fork),
            shared_joins: grouped(prog.shared_join),
            matched: sorted(prog.matched),
            branch_counts: sorted(prog.branch_count),
            unregistered: sorted(prog.unregistered.into_iter().map(|(n, _)| n).collect()),
        }
    }
}

/// Interns handler names to dense indices.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    pub(crate) fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(name.to_owned(), id);
        self.names.push(name.to_owned());
        id
    }

    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }
}

#[cfg(test)]
mod tests;
