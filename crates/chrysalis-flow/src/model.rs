//! The flow model: nodes, edges and their execution policies, built in Rust or loaded from text.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

macro_rules! name_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a name.
            pub fn new(name: impl Into<String>) -> Self {
                Self(name.into())
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(name: &str) -> Self {
                Self(name.to_owned())
            }
        }
    };
}

name_newtype!(
    /// Names a flow; it appears in every trace record of a run.
    FlowId
);
name_newtype!(
    /// Names a node within one flow (unique per flow).
    NodeName
);
name_newtype!(
    /// Names a handler in the executor's registry.
    HandlerName
);

/// What a node does in the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The single entry point.
    Start,
    /// A terminal node; the run completes when one finishes.
    End,
    /// A unit of work with exactly one successor.
    Task,
    /// Runs its handler, whose output picks one outgoing edge by condition (or the default).
    Decision,
    /// Starts every outgoing branch concurrently.
    #[serde(alias = "parallel")]
    Fork,
    /// Waits for every branch of its matching fork, then continues.
    Join,
}

impl Kind {
    /// The lower-case name used in files and diagnostics.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Start => "start",
            Kind::End => "end",
            Kind::Task => "task",
            Kind::Decision => "decision",
            Kind::Fork => "fork",
            Kind::Join => "join",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a failed step is retried: up to `max_attempts` attempts in all, waiting
/// `backoff_ms * multiplier^(attempt-1)` (capped at `max_backoff_ms`) before each retry.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Delay before the first retry.
    #[serde(default)]
    pub backoff_ms: u64,
    /// Growth factor of the delay per further retry.
    #[serde(default = "default_multiplier")]
    pub multiplier: u32,
    /// Upper bound on any one delay.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
}

fn default_multiplier() -> u32 {
    2
}

fn default_max_backoff_ms() -> u64 {
    60_000
}

impl RetryPolicy {
    /// A policy of `max_attempts` attempts with exponential backoff from `backoff_ms`.
    pub fn new(max_attempts: u32, backoff_ms: u64) -> Self {
        Self {
            max_attempts,
            backoff_ms,
            multiplier: default_multiplier(),
            max_backoff_ms: default_max_backoff_ms(),
        }
    }

    /// The delay before attempt `next_attempt` (2 for the first retry), saturating, capped.
    pub fn delay_ms(&self, next_attempt: u32) -> u64 {
        let exponent = next_attempt.saturating_sub(2);
        let factor = u64::from(self.multiplier).saturating_pow(exponent);
        self.backoff_ms
            .saturating_mul(factor)
            .min(self.max_backoff_ms)
    }
}

/// A handler parameter as written in a flow file.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Integer(i64),
    /// A fractional number.
    Float(f64),
    /// Text.
    Text(String),
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Bool(v) => write!(f, "{v}"),
            ParamValue::Integer(v) => write!(f, "{v}"),
            ParamValue::Float(v) => write!(f, "{v}"),
            ParamValue::Text(v) => f.write_str(v),
        }
    }
}

/// Handler parameters by name.
pub type Params = BTreeMap<String, ParamValue>;

/// One node of a flow.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Unique within the flow.
    pub name: NodeName,
    /// Its role in the graph.
    pub kind: Kind,
    /// The registered handler that runs when the node is reached (`noop` when omitted).
    #[serde(default = "default_handler")]
    pub handler: HandlerName,
    /// Per-attempt time limit.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Retry policy for failed attempts (none: fail at once).
    #[serde(default)]
    pub retry: Option<RetryPolicy>,
    /// Loop bound: how many times the node may be entered in one run. A cycle is
    /// accepted only when it passes through a node with a bound.
    #[serde(default)]
    pub max_iterations: Option<u32>,
    /// Parameters handed to the handler.
    #[serde(default)]
    pub params: Params,
}

fn default_handler() -> HandlerName {
    HandlerName::new("noop")
}

impl Node {
    /// A node with no timeout, retry, bound or parameters.
    pub fn new(name: &str, kind: Kind, handler: &str) -> Self {
        Self {
            name: NodeName::from(name),
            kind,
            handler: HandlerName::from(handler),
            timeout_ms: None,
            retry: None,
            max_iterations: None,
            params: Params::new(),
        }
    }

    /// Sets the per-attempt time limit.
    pub fn timeout_ms(&mut self, timeout_ms: u64) -> &mut Self {
        self.timeout_ms = Some(timeout_ms);
        self
    }

    /// Sets the retry policy.
    pub fn retry(&mut self, policy: RetryPolicy) -> &mut Self {
        self.retry = Some(policy);
        self
    }

    /// Sets the loop bound.
    pub fn max_iterations(&mut self, bound: u32) -> &mut Self {
        self.max_iterations = Some(bound);
        self
    }

    /// Adds a handler parameter.
    pub fn param(&mut self, name: &str, value: ParamValue) -> &mut Self {
        self.params.insert(name.to_owned(), value);
        self
    }
}

/// A directed edge. Edges leaving a decision carry a condition (matched against the
/// branch its handler returns) or are the decision's default.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    /// Source node.
    pub from: NodeName,
    /// Target node.
    pub to: NodeName,
    /// Branch label that selects this edge out of a decision.
    #[serde(default, rename = "when")]
    pub condition: Option<String>,
    /// Taken out of a decision when no condition matches.
    #[serde(default)]
    pub default: bool,
}

impl Edge {
    /// An unconditional edge.
    pub fn new(from: &str, to: &str) -> Self {
        Self {
            from: NodeName::from(from),
            to: NodeName::from(to),
            condition: None,
            default: false,
        }
    }

    /// Sets the branch label that selects this edge.
    pub fn when(&mut self, condition: &str) -> &mut Self {
        self.condition = Some(condition.to_owned());
        self
    }

    /// Marks the edge as its decision's default.
    pub fn default_branch(&mut self) -> &mut Self {
        self.default = true;
        self
    }
}

/// A flow graph. Building never fails: problems (duplicate names, edges to unknown
/// nodes, …) are reported together by [`crate::validate`].
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    /// The flow's name.
    pub id: FlowId,
    /// Nodes in definition order.
    #[serde(default)]
    pub nodes: Vec<Node>,
    /// Edges in definition order.
    #[serde(default)]
    pub edges: Vec<Edge>,
}

impl Flow {
    /// An empty flow.
    pub fn new(id: &str) -> Self {
        Self {
            id: FlowId::from(id),
            nodes: Vec::new(),
            edges: Vec::new(),
        }
    }

    /// Adds a node and returns it for further settings.
    pub fn add_node(&mut self, name: &str, kind: Kind, handler: &str) -> &mut Node {
        self.nodes.push(Node::new(name, kind, handler));
        let last = self.nodes.len() - 1;
        &mut self.nodes[last]
    }

    /// Adds an edge and returns it for further settings.
    pub fn add_edge(&mut self, from: &str, to: &str) -> &mut Edge {
        self.edges.push(Edge::new(from, to));
        let last = self.edges.len() - 1;
        &mut self.edges[last]
    }

    /// The first node with this name.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let mut policy = RetryPolicy::new(5, 100);
        assert_eq!(policy.delay_ms(2), 100);
        assert_eq!(policy.delay_ms(3), 200);
        assert_eq!(policy.delay_ms(4), 400);
        policy.max_backoff_ms = 250;
        assert_eq!(policy.delay_ms(4), 250);
        assert_eq!(
            RetryPolicy::new(u32::MAX, u64::MAX).delay_ms(u32::MAX),
            60_000
        );
    }

    #[test]
    fn builder_sets_policies() {
        let mut flow = Flow::new("f");
        flow.add_node("a", Kind::Task, "noop")
            .timeout_ms(5)
            .max_iterations(3)
            .param("x", ParamValue::Integer(1));
        flow.add_edge("a", "b").when("yes");
        let a = flow.node("a").unwrap();
        assert_eq!(a.timeout_ms, Some(5));
        assert_eq!(a.max_iterations, Some(3));
        assert_eq!(a.params["x"], ParamValue::Integer(1));
        assert_eq!(flow.edges[0].condition.as_deref(), Some("yes"));
    }
}
