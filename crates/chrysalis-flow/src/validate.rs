//! Validation: resolves names, checks what is local to a node or edge, runs the
//! Datalog rules for everything global and turns both into one [`Report`].

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::analysis::{Analysis, Facts, Interner};
use crate::diagnostic::{Code, Diagnostic, Report, quoted};
use crate::model::{Flow, Kind, NodeName};

/// The set of handler names the executor can run, consulted by validation.
pub trait HandlerSet {
    /// Whether `handler` is registered.
    fn is_registered(&self, handler: &str) -> bool;
}

impl<S: AsRef<str>> HandlerSet for [S] {
    fn is_registered(&self, handler: &str) -> bool {
        self.iter().any(|h| h.as_ref() == handler)
    }
}

impl<S: AsRef<str>, const N: usize> HandlerSet for [S; N] {
    fn is_registered(&self, handler: &str) -> bool {
        self.as_slice().is_registered(handler)
    }
}

impl<S: AsRef<str>> HandlerSet for Vec<S> {
    fn is_registered(&self, handler: &str) -> bool {
        self.as_slice().is_registered(handler)
    }
}

impl HandlerSet for BTreeSet<String> {
    fn is_registered(&self, handler: &str) -> bool {
        self.contains(handler)
    }
}

impl HandlerSet for HashSet<String> {
    fn is_registered(&self, handler: &str) -> bool {
        self.contains(handler)
    }
}

/// Accepts every handler name: for checking a flow's shape alone.
#[derive(Clone, Copy, Debug, Default)]
pub struct AnyHandler;

impl HandlerSet for AnyHandler {
    fn is_registered(&self, _handler: &str) -> bool {
        true
    }
}

/// An edge between resolved nodes (indices into the flow's first definitions).
#[derive(Clone, Debug)]
pub(crate) struct ResolvedEdge {
    pub(crate) from: u32,
    pub(crate) to: u32,
    /// Index of the edge in `flow.edges` (for its condition and default flag).
    pub(crate) edge: usize,
    pub(crate) default: bool,
    pub(crate) has_condition: bool,
}

/// A flow with names resolved, and what the rules derived from it.
#[derive(Debug)]
pub(crate) struct Checked {
    /// Index of each resolved node in `flow.nodes` (first definition of each name).
    pub(crate) nodes: Vec<usize>,
    pub(crate) edges: Vec<ResolvedEdge>,
    pub(crate) analysis: Analysis,
    pub(crate) report: Report,
}

/// Checks a flow against every rule and returns all diagnostics at once.
pub fn validate(flow: &Flow, handlers: &(impl HandlerSet + ?Sized)) -> Report {
    check(flow, handlers).report
}

pub(crate) fn check(flow: &Flow, handlers: &(impl HandlerSet + ?Sized)) -> Checked {
    let mut out = Vec::new();
    let nodes = resolve_nodes(flow, &mut out);
    let edges = resolve_edges(flow, &nodes, &mut out);
    local_checks(flow, &nodes, &edges, &mut out);
    let facts = facts(flow, &nodes, &edges, handlers);
    let analysis = facts.analyze();
    let name = |i: u32| &flow.nodes[nodes[i as usize]].name;
    global_checks(&facts, &analysis, &name, &mut out);
    for &n in &analysis.unregistered {
        let node = &flow.nodes[nodes[n as usize]];
        out.push(Diagnostic {
            code: Code::UnregisteredHandler,
            nodes: vec![node.name.clone()],
            message: format!(
                "node {} uses handler {:?}, which is not registered",
                quoted(&[&node.name]),
                node.handler.as_str()
            ),
        });
    }
    Checked {
        nodes,
        edges,
        analysis,
        report: Report::new(out),
    }
}

/// The first definition of each node name, by position in `flow.nodes`;
/// later definitions are reported once per name.
fn resolve_nodes(flow: &Flow, out: &mut Vec<Diagnostic>) -> Vec<usize> {
    let mut nodes = Vec::new();
    let mut copies: HashMap<&str, usize> = HashMap::new();
    for (i, node) in flow.nodes.iter().enumerate() {
        let count = copies.entry(node.name.as_str()).or_insert(0);
        *count += 1;
        if *count == 1 {
            nodes.push(i);
        } else if *count == 2 {
            out.push(diag(Code::DuplicateNode, &[&node.name], |n| {
                format!("node {n} is defined more than once")
            }));
        }
    }
    nodes
}

/// Edges between known nodes; edges naming unknown nodes are reported.
fn resolve_edges(flow: &Flow, nodes: &[usize], out: &mut Vec<Diagnostic>) -> Vec<ResolvedEdge> {
    let index: HashMap<&str, u32> = nodes
        .iter()
        .enumerate()
        .map(|(k, &i)| (flow.nodes[i].name.as_str(), k as u32))
        .collect();
    let mut edges = Vec::with_capacity(flow.edges.len());
    for (i, edge) in flow.edges.iter().enumerate() {
        match (index.get(edge.from.as_str()), index.get(edge.to.as_str())) {
            (Some(&from), Some(&to)) => edges.push(ResolvedEdge {
                from,
                to,
                edge: i,
                default: edge.default,
                has_condition: edge.condition.is_some(),
            }),
            (from, to) => {
                let mut unknown = Vec::new();
                if from.is_none() {
                    unknown.push(&edge.from);
                }
                if to.is_none() && edge.to != edge.from {
                    unknown.push(&edge.to);
                }
                let plural = if unknown.len() > 1 { "s" } else { "" };
                out.push(Diagnostic {
                    code: Code::UnknownNode,
                    message: format!(
                        "edge {} -> {} names unknown node{plural} {}",
                        quoted(&[&edge.from]),
                        quoted(&[&edge.to]),
                        quoted(&unknown)
                    ),
                    nodes: unknown.into_iter().cloned().collect(),
                });
            }
        }
    }
    edges
}

/// The Datalog input facts of the resolved flow.
fn facts(
    flow: &Flow,
    nodes: &[usize],
    edges: &[ResolvedEdge],
    handlers: &(impl HandlerSet + ?Sized),
) -> Facts {
    let kind = |i: u32| flow.nodes[nodes[i as usize]].kind;
    let mut interner = Interner::default();
    let handler_of: Vec<u32> = nodes
        .iter()
        .map(|&i| interner.intern(flow.nodes[i].handler.as_str()))
        .collect();
    Facts {
        kinds: (0..nodes.len() as u32).map(kind).collect(),
        edges: edges.iter().map(|e| (e.from, e.to)).collect(),
        default_edges: edges
            .iter()
            .filter(|e| e.default && kind(e.from) == Kind::Decision)
            .map(|e| (e.from, e.to))
            .collect(),
        bounded: nodes
            .iter()
            .map(|&i| flow.nodes[i].max_iterations.is_some())
            .collect(),
        handler_of,
        registered: interner
            .names()
            .iter()
            .map(|h| handlers.is_registered(h))
            .collect(),
    }
}

fn diag(code: Code, names: &[&NodeName], message: impl FnOnce(&str) -> String) -> Diagnostic {
    Diagnostic {
        code,
        nodes: names.iter().map(|&n| n.clone()).collect(),
        message: message(&quoted(names)),
    }
}

/// Checks that need no graph analysis: counts of starts and ends, edge labels, retry policies.
fn local_checks(flow: &Flow, nodes: &[usize], edges: &[ResolvedEdge], out: &mut Vec<Diagnostic>) {
    let node = |i: u32| &flow.nodes[nodes[i as usize]];
    let of_kind = |k: Kind| -> Vec<&NodeName> {
        nodes
            .iter()
            .map(|&i| &flow.nodes[i])
            .filter(|n| n.kind == k)
            .map(|n| &n.name)
            .collect()
    };
    let starts = of_kind(Kind::Start);
    match starts.len() {
        0 => out.push(diag(Code::NoStart, &[], |_| {
            "flow has no start node".to_owned()
        })),
        1 => {}
        n => out.push(diag(Code::ManyStarts, &starts, |s| {
            format!("flow has {n} start nodes: {s}")
        })),
    }
    if of_kind(Kind::End).is_empty() {
        out.push(diag(Code::NoEnd, &[], |_| {
            "flow has no end node".to_owned()
        }));
    }
    let mut defaults: HashMap<u32, Vec<&NodeName>> = HashMap::new();
    for e in edges {
        let (from, to) = (node(e.from), node(e.to));
        if from.kind != Kind::Decision {
            if e.has_condition || e.default {
                out.push(diag(Code::StrayCondition, &[&from.name, &to.name], |_| {
                    format!(
                        "edge {} -> {} has a condition or default flag but {} is not a decision",
                        quoted(&[&from.name]),
                        quoted(&[&to.name]),
                        quoted(&[&from.name])
                    )
                }));
            }
        } else if e.default {
            defaults.entry(e.from).or_default().push(&to.name);
        } else if !e.has_condition {
            out.push(diag(
                Code::UnlabelledBranch,
                &[&from.name, &to.name],
                |_| {
                    format!(
                        "edge {} -> {} leaves a decision without a condition or default flag",
                        quoted(&[&from.name]),
                        quoted(&[&to.name])
                    )
                },
            ));
        }
    }
    let mut many: Vec<_> = defaults.into_iter().filter(|(_, t)| t.len() > 1).collect();
    many.sort_unstable_by_key(|(d, _)| *d);
    for (d, targets) in many {
        let decision = &node(d).name;
        let mut names = vec![decision];
        names.extend(&targets);
        out.push(diag(Code::ManyDefaults, &names, |_| {
            format!(
                "decision {} has {} default edges: to {}",
                quoted(&[decision]),
                targets.len(),
                quoted(&targets)
            )
        }));
    }
    for &i in nodes {
        let n = &flow.nodes[i];
        if n.retry.as_ref().is_some_and(|r| r.max_attempts == 0) {
            out.push(diag(Code::NoAttempts, &[&n.name], |s| {
                format!("node {s} has a retry policy with max_attempts = 0")
            }));
        }
    }
}

/// Turns the derived relations into diagnostics.
fn global_checks<'f>(
    facts: &Facts,
    a: &Analysis,
    name: &impl Fn(u32) -> &'f NodeName,
    out: &mut Vec<Diagnostic>,
) {
    let names = |ids: &[u32]| -> Vec<&'f NodeName> { ids.iter().map(|&i| name(i)).collect() };
    let one = |code: Code, id: u32, text: &dyn Fn(&str) -> String| diag(code, &[name(id)], text);
    let has = |k: Kind| facts.kinds.contains(&k);
    if has(Kind::Start) {
        for &n in &a.unreachable {
            out.push(one(Code::Unreachable, n, &|s| {
                format!("node {s} is not reachable from the start node")
            }));
        }
    }
    if has(Kind::End) {
        for &n in &a.cannot_reach_end {
            out.push(one(Code::NoPathToEnd, n, &|s| {
                format!("node {s} cannot reach an end node")
            }));
        }
    }
    for cycle in &a.unbounded_cycles {
        out.push(diag(Code::UnboundedCycle, &names(cycle), |s| {
            format!("cycle through {s} passes no node with max_iterations, so it may never end")
        }));
    }
    for &(n, count) in &a.illegal_fanout {
        let kind = facts.kinds[n as usize];
        out.push(one(Code::Fanout, n, &|s| {
            format!("{kind} {s} has {count} outgoing edges; only forks and decisions may branch")
        }));
    }
    for (s, from) in &a.start_incoming {
        let mut all = vec![name(*s)];
        all.extend(names(from));
        out.push(diag(Code::StartIncoming, &all, |_| {
            format!(
                "start node {} has incoming edges from {}",
                quoted(&[name(*s)]),
                quoted(&names(from))
            )
        }));
    }
    for (e, to) in &a.end_outgoing {
        let mut all = vec![name(*e)];
        all.extend(names(to));
        out.push(diag(Code::EndOutgoing, &all, |_| {
            format!(
                "end node {} has outgoing edges to {}",
                quoted(&[name(*e)]),
                quoted(&names(to))
            )
        }));
    }
    fork_join_checks(a, name, out);
    for &d in &a.missing_default {
        out.push(one(Code::MissingDefault, d, &|s| {
            format!("decision {s} has no default edge")
        }));
    }
}

fn fork_join_checks<'f>(
    a: &Analysis,
    name: &impl Fn(u32) -> &'f NodeName,
    out: &mut Vec<Diagnostic>,
) {
    let names = |ids: &[u32]| -> Vec<&'f NodeName> { ids.iter().map(|&i| name(i)).collect() };
    for &f in &a.fork_without_join {
        out.push(diag(Code::ForkWithoutJoin, &[name(f)], |s| {
            format!("fork {s} has no matching join")
        }));
    }
    for &(f, b) in &a.open_branches {
        if a.fork_without_join.binary_search(&f).is_ok() {
            continue;
        }
        out.push(diag(Code::OpenBranch, &[name(b), name(f)], |_| {
            format!(
                "branch {} of fork {} never reaches a join",
                quoted(&[name(b)]),
                quoted(&[name(f)])
            )
        }));
    }
    for (f, joins) in &a.ambiguous_joins {
        let mut all = vec![name(*f)];
        all.extend(names(joins));
        out.push(diag(Code::AmbiguousJoin, &all, |_| {
            format!(
                "branches of fork {} end at different joins: {}",
                quoted(&[name(*f)]),
                quoted(&names(joins))
            )
        }));
    }
    for &j in &a.join_without_fork {
        out.push(diag(Code::JoinWithoutFork, &[name(j)], |s| {
            format!("join {s} closes no fork")
        }));
    }
    for (j, forks) in &a.shared_joins {
        let mut all = vec![name(*j)];
        all.extend(names(forks));
        out.push(diag(Code::SharedJoin, &all, |_| {
            format!(
                "join {} closes more than one fork: {}",
                quoted(&[name(*j)]),
                quoted(&names(forks))
            )
        }));
    }
}

#[cfg(test)]
mod tests;
