//! The ledger adapter: every step record becomes a [`TraceNode`] appended to a
//! [`TraceLedger`], kind `flow.step.<event>`, payload the record's canonical
//! encoding, each node the causal child of the one before it in the run.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use chrysalis_ledger::{AppendError, LedgerStorage, NodeError, TraceKind, TraceLedger, TraceNode};
use chrysalis_types::{AgentId, Encode, HybridClock, TraceId};
use thiserror::Error;

use crate::sink::{StepRecord, StepSink};

/// Why a record did not reach the ledger.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LedgerSinkError {
    /// The trace node could not be built.
    #[error("could not build the trace node: {0}")]
    Node(#[from] NodeError),
    /// The ledger refused or failed the append.
    #[error("could not append to the ledger: {0}")]
    Append(#[from] AppendError),
    /// A thread panicked while holding the sink.
    #[error("the ledger sink was poisoned by a panic")]
    Poisoned,
}

struct State<S: LedgerStorage> {
    ledger: TraceLedger<S>,
    clock: HybridClock,
    last: Option<TraceId>,
    error: Option<LedgerSinkError>,
}

/// A [`StepSink`] that appends to a trace ledger. The first failure stops
/// further appends and is returned by [`LedgerSink::finish`]: a run's trace
/// is never silently partial.
pub struct LedgerSink<S: LedgerStorage> {
    origin: AgentId,
    physical_ms: fn() -> u64,
    state: Mutex<State<S>>,
}

fn system_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl<S: LedgerStorage> LedgerSink<S> {
    /// Appends on behalf of `origin`, stamping records with the system clock.
    pub fn new(ledger: TraceLedger<S>, origin: AgentId) -> Self {
        Self::with_clock(ledger, origin, HybridClock::new(0), system_ms)
    }

    /// As [`LedgerSink::new`] with a given clock and physical time source.
    pub fn with_clock(
        ledger: TraceLedger<S>,
        origin: AgentId,
        clock: HybridClock,
        physical_ms: fn() -> u64,
    ) -> Self {
        let state = State {
            ledger,
            clock,
            last: None,
            error: None,
        };
        Self {
            origin,
            physical_ms,
            state: Mutex::new(state),
        }
    }

    /// Hands the ledger back, or the first error met while appending.
    pub fn finish(self) -> Result<TraceLedger<S>, LedgerSinkError> {
        let state = self
            .state
            .into_inner()
            .map_err(|_| LedgerSinkError::Poisoned)?;
        match state.error {
            Some(error) => Err(error),
            None => Ok(state.ledger),
        }
    }

    fn append(&self, state: &mut State<S>, record: &StepRecord) -> Result<(), LedgerSinkError> {
        let kind = TraceKind::new(&format!("flow.step.{}", record.event.kind()))?;
        let timestamp = state.clock.now((self.physical_ms)());
        let mut builder =
            TraceNode::builder(self.origin, timestamp, kind).payload_bytes(record.to_bytes());
        if let Some(parent) = state.last {
            builder = builder.parent(parent);
        }
        let node = builder.build()?;
        let id = node.id();
        state.ledger.append(node)?;
        state.last = Some(id);
        Ok(())
    }
}

impl<S: LedgerStorage + Send> StepSink for LedgerSink<S> {
    fn record(&self, record: &StepRecord) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state.error.is_some() {
            return;
        }
        if let Err(error) = self.append(&mut state, record) {
            state.error = Some(error);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrysalis_flow::{Format, load};
    use chrysalis_ledger::{FaultyStorage, FsyncPolicy, MemoryStorage};
    use chrysalis_types::Decode;

    use super::*;
    use crate::{CancelToken, HandlerRegistry, MemorySink, run_flow};

    #[tokio::test(start_paused = true)]
    async fn every_step_lands_in_the_ledger() {
        let (ledger, _) = TraceLedger::open(MemoryStorage::new(), FsyncPolicy::Always).unwrap();
        let ledger_sink = Arc::new(LedgerSink::with_clock(
            ledger,
            AgentId::new([7; 16]),
            HybridClock::new(0),
            || 1_000,
        ));
        let memory = Arc::new(MemorySink::new());
        let flow = load(
            include_str!("../../../examples/flows/order.toml"),
            Format::Toml,
        )
        .unwrap();
        let registry = HandlerRegistry::with_builtins();
        let sink = Arc::new((Arc::clone(&memory), Arc::clone(&ledger_sink)));
        run_flow(&flow, &registry, sink, CancelToken::new())
            .await
            .unwrap();

        let ledger = Arc::into_inner(ledger_sink).unwrap().finish().unwrap();
        let records = memory.records();
        assert_eq!(ledger.len(), records.len() as u64);
        let mut previous: Option<TraceId> = None;
        for (i, expected) in records.iter().enumerate() {
            let node = ledger.get(i as u64).unwrap();
            assert_eq!(
                &StepRecord::from_bytes(node.payload().as_bytes()).unwrap(),
                expected
            );
            assert_eq!(
                node.kind().as_str(),
                format!("flow.step.{}", expected.event.kind())
            );
            assert_eq!(node.parents(), previous.as_slice());
            previous = Some(node.id());
        }
    }

    #[test]
    fn a_failed_append_is_reported_not_dropped() {
        let mut storage = FaultyStorage::new(MemoryStorage::new());
        storage.fail_next_sync();
        let (ledger, _) = TraceLedger::open(storage, FsyncPolicy::Always).unwrap();
        let sink = LedgerSink::with_clock(ledger, AgentId::new([1; 16]), HybridClock::new(0), || 5);
        let record = StepRecord {
            seq: 0,
            elapsed_ms: 0,
            flow: chrysalis_flow::FlowId::from("f"),
            node: chrysalis_flow::NodeName::from("n"),
            step: chrysalis_flow::StepId::from_raw(0),
            attempt: 1,
            event: crate::StepEvent::Started,
        };
        sink.record(&record);
        sink.record(&record);
        let err = sink.finish().map(|l| l.len()).unwrap_err();
        assert!(matches!(err, LedgerSinkError::Append(_)), "{err}");
    }
}
