//! A validated flow compiled for execution: dense node indices, successor lists
//! and, for each join, how many branch arrivals it waits for.

use std::sync::Arc;

use crate::diagnostic::Report;
use crate::model::{Flow, FlowId, HandlerName, Kind, NodeName, Params, RetryPolicy};
use crate::validate::{HandlerSet, check};

/// Index of a node in a [`Plan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeIndex(u32);

impl NodeIndex {
    /// The index as a `usize`.
    pub fn get(self) -> usize {
        self.0 as usize
    }
}

/// One node as the executor needs it.
#[derive(Clone, Debug)]
pub struct PlanNode {
    /// The node's name.
    pub name: NodeName,
    /// Its role.
    pub kind: Kind,
    /// The handler to run.
    pub handler: HandlerName,
    /// Per-attempt time limit.
    pub timeout_ms: Option<u64>,
    /// Retry policy (one attempt when the flow gave none).
    pub retry: RetryPolicy,
    /// Loop bound.
    pub max_iterations: Option<u32>,
    /// Handler parameters, shared with every step of the node.
    pub params: Arc<Params>,
}

/// An outgoing edge.
#[derive(Clone, Debug)]
pub(crate) struct Successor {
    pub(crate) to: NodeIndex,
    pub(crate) condition: Option<String>,
    pub(crate) default: bool,
}

/// A flow that passed validation without errors, ready to run.
#[derive(Clone, Debug)]
pub struct Plan {
    flow: FlowId,
    nodes: Vec<PlanNode>,
    successors: Vec<Vec<Successor>>,
    start: NodeIndex,
    /// For a join: the number of branches of its fork; 1 for other nodes.
    arrivals: Vec<u32>,
    warnings: Report,
}

impl Plan {
    /// Validates `flow` against the registered `handlers` and compiles it; on any
    /// error returns the full report instead.
    pub fn new(flow: &Flow, handlers: &(impl HandlerSet + ?Sized)) -> Result<Plan, Report> {
        let checked = check(flow, handlers);
        if checked.report.has_errors() {
            return Err(checked.report);
        }
        let nodes: Vec<PlanNode> = checked
            .nodes
            .iter()
            .map(|&i| {
                let n = &flow.nodes[i];
                PlanNode {
                    name: n.name.clone(),
                    kind: n.kind,
                    handler: n.handler.clone(),
                    timeout_ms: n.timeout_ms,
                    retry: n.retry.clone().unwrap_or_else(|| RetryPolicy::new(1, 0)),
                    max_iterations: n.max_iterations,
                    params: Arc::new(n.params.clone()),
                }
            })
            .collect();
        let mut successors = vec![Vec::new(); nodes.len()];
        for e in &checked.edges {
            let list: &mut Vec<Successor> = &mut successors[e.from as usize];
            if list.iter().all(|s| s.to.0 != e.to) {
                list.push(Successor {
                    to: NodeIndex(e.to),
                    condition: flow.edges[e.edge].condition.clone(),
                    default: e.default,
                });
            }
        }
        let mut arrivals = vec![1u32; nodes.len()];
        for &(fork, join) in &checked.analysis.matched {
            arrivals[join as usize] = successors[fork as usize].len() as u32;
        }
        // Validation guarantees exactly one start node when there are no errors.
        let start = nodes
            .iter()
            .position(|n| n.kind == Kind::Start)
            .unwrap_or(0);
        Ok(Plan {
            flow: flow.id.clone(),
            nodes,
            successors,
            start: NodeIndex(start as u32),
            arrivals,
            warnings: checked.report,
        })
    }

    /// The flow's id.
    pub fn flow_id(&self) -> &FlowId {
        &self.flow
    }

    /// The node at `index`.
    pub fn node(&self, index: NodeIndex) -> &PlanNode {
        &self.nodes[index.get()]
    }

    /// Every node with its index.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeIndex, &PlanNode)> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (NodeIndex(i as u32), n))
    }

    /// The index of the node with this name.
    pub fn index_of(&self, name: &str) -> Option<NodeIndex> {
        self.nodes
            .iter()
            .position(|n| n.name.as_str() == name)
            .map(|i| NodeIndex(i as u32))
    }

    /// The start node.
    pub fn start(&self) -> NodeIndex {
        self.start
    }

    /// The warnings validation produced (there are no errors).
    pub fn warnings(&self) -> &Report {
        &self.warnings
    }

    pub(crate) fn successors(&self, node: NodeIndex) -> &[Successor] {
        &self.successors[node.get()]
    }

    pub(crate) fn arrivals(&self, node: NodeIndex) -> u32 {
        self.arrivals[node.get()]
    }
}
