//! Decisions as TraceNodes: the recorder the gate uses in production.
//!
//! [`TraceRecorder`] turns every [`Decision`] into a
//! [`chrysalis_ledger::TraceNode`] of kind [`DECISION_KIND`] whose origin is
//! the principal, whose timestamp is the decision's, whose payload is a JSON
//! object (principal, action, resource, amount, token id, allowed, code,
//! reason), and whose causal parent is this recorder's previous decision. It
//! hands the node to a [`TraceSink`]: the trace ledger, or a `Vec` in memory.

use chrysalis_ledger::{AppendError, LedgerStorage, NodeError, TraceKind, TraceLedger, TraceNode};
use chrysalis_types::TraceId;

use crate::gate::{DECISION_KIND, Decision, DecisionRecorder};

/// Where finished TraceNodes go (the ledger's append).
pub trait TraceSink {
    /// The sink's failure.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Appends `node`; the node is durable under the sink's policy when this
    /// returns `Ok`.
    fn append(&mut self, node: TraceNode) -> Result<(), Self::Error>;
}

/// A `Vec` keeps nodes in memory and never fails.
impl TraceSink for Vec<TraceNode> {
    type Error = std::convert::Infallible;

    fn append(&mut self, node: TraceNode) -> Result<(), Self::Error> {
        self.push(node);
        Ok(())
    }
}

/// The trace ledger: each decision is appended and durable (under the
/// ledger's fsync policy) before the gate answers.
impl<S: LedgerStorage> TraceSink for TraceLedger<S> {
    type Error = AppendError;

    fn append(&mut self, node: TraceNode) -> Result<(), AppendError> {
        TraceLedger::append(self, node).map(|_index| ())
    }
}

/// Why a decision could not be recorded as a TraceNode.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError<E: std::error::Error + 'static> {
    /// The node could not be built (for example, an oversized payload).
    #[error("trace node: {0}")]
    Node(#[from] NodeError),
    /// The sink refused the node.
    #[error("trace sink: {0}")]
    Sink(#[source] E),
}

/// Records decisions as TraceNodes into a [`TraceSink`].
#[derive(Debug)]
pub struct TraceRecorder<S> {
    sink: S,
    kind: TraceKind,
    last: Option<TraceId>,
}

impl<S: TraceSink> TraceRecorder<S> {
    /// A recorder appending to `sink`.
    pub fn new(sink: S) -> Result<TraceRecorder<S>, NodeError> {
        Ok(TraceRecorder {
            sink,
            kind: TraceKind::new(DECISION_KIND)?,
            last: None,
        })
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// The sink, mutably (for example to query the ledger).
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    /// The id of the last decision recorded.
    pub fn last(&self) -> Option<TraceId> {
        self.last
    }
}

impl<S: TraceSink> DecisionRecorder for TraceRecorder<S> {
    type Error = RecordError<S::Error>;

    fn record(&mut self, decision: &Decision<'_>) -> Result<TraceId, Self::Error> {
        let node = TraceNode::builder(decision.request.principal, decision.at, self.kind.clone())
            .payload_json(decision.to_json())
            .parents(self.last)
            .build()?;
        let id = node.id();
        self.sink.append(node).map_err(RecordError::Sink)?;
        self.last = Some(id);
        Ok(id)
    }
}
