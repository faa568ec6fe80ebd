//! Trace records: every step (start, finish, failure, retry, cancellation) goes
//! to a [`StepSink`]. The ledger adapter, the CLI's progress display and the
//! tests' [`MemorySink`] are all sinks.

use std::fmt;
use std::sync::Mutex;

use chrysalis_flow::{FlowId, NodeName, StepId};

/// What happened to a step.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StepEvent {
    /// The handler was called.
    Started,
    /// The handler succeeded.
    Finished {
        /// A decision's chosen branch.
        branch: Option<String>,
        /// The handler's message.
        message: Option<String>,
    },
    /// The attempt failed (handler error, timeout or panic).
    Failed {
        /// The error text.
        error: String,
    },
    /// A failed attempt will be retried.
    Retrying {
        /// The attempt that will run next.
        next_attempt: u32,
        /// Backoff before it.
        delay_ms: u64,
    },
    /// The step was stopped: the run was cancelled or failed elsewhere.
    Cancelled,
}

impl StepEvent {
    /// A short stable name: `started`, `finished`, `failed`, `retrying`, `cancelled`.
    pub fn kind(&self) -> &'static str {
        match self {
            StepEvent::Started => "started",
            StepEvent::Finished { .. } => "finished",
            StepEvent::Failed { .. } => "failed",
            StepEvent::Retrying { .. } => "retrying",
            StepEvent::Cancelled => "cancelled",
        }
    }
}

/// One trace record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRecord {
    /// Monotonic per run, from 0: the order records were made in.
    pub seq: u64,
    /// Milliseconds since the run started, on tokio's clock.
    pub elapsed_ms: u64,
    /// The flow.
    pub flow: FlowId,
    /// The node.
    pub node: NodeName,
    /// The step (one attempt of one activation).
    pub step: StepId,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// What happened.
    pub event: StepEvent,
}

impl fmt::Display for StepRecord {
    /// One progress line, e.g. `[   12 ms] pack (attempt 1) finished: slept 10 ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{:>6} ms] {} (attempt {}) {}",
            self.elapsed_ms,
            self.node,
            self.attempt,
            self.event.kind()
        )?;
        match &self.event {
            StepEvent::Finished { branch, message } => {
                if let Some(branch) = branch {
                    write!(f, " -> {branch}")?;
                }
                if let Some(message) = message {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            StepEvent::Failed { error } => write!(f, ": {error}"),
            StepEvent::Retrying {
                next_attempt,
                delay_ms,
            } => {
                write!(f, ": attempt {next_attempt} in {delay_ms} ms")
            }
            StepEvent::Started | StepEvent::Cancelled => Ok(()),
        }
    }
}

/// Receives trace records as they happen, from any task.
pub trait StepSink: Send + Sync {
    /// Takes one record. Must not block for long: it runs on the executor's tasks.
    fn record(&self, record: &StepRecord);
}

/// Keeps records in memory, for tests and for callers that want the trace afterwards.
#[derive(Debug, Default)]
pub struct MemorySink {
    records: Mutex<Vec<StepRecord>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of every record so far, in `seq` order.
    pub fn records(&self) -> Vec<StepRecord> {
        let mut records = match self.records.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        records.sort_by_key(|r| r.seq);
        records
    }
}

impl StepSink for MemorySink {
    fn record(&self, record: &StepRecord) {
        let mut guard = match self.records.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        guard.push(record.clone());
    }
}

/// Adapts a closure into a sink (the CLI prints progress with one).
pub struct FnSink<F>(pub F);

impl<F: Fn(&StepRecord) + Send + Sync> StepSink for FnSink<F> {
    fn record(&self, record: &StepRecord) {
        (self.0)(record)
    }
}

/// Sends every record to both sinks (e.g. the ledger and the progress display).
impl<A: StepSink, B: StepSink> StepSink for (A, B) {
    fn record(&self, record: &StepRecord) {
        self.0.record(record);
        self.1.record(record);
    }
}

impl<S: StepSink + ?Sized> StepSink for std::sync::Arc<S> {
    fn record(&self, record: &StepRecord) {
        (**self).record(record)
    }
}
