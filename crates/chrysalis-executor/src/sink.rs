//! Trace records: every step (start, finish, failure, retry, cancellation) goes
//! to a [`StepSink`]. The ledger adapter, the CLI's progress display and the
//! tests' [`MemorySink`] are all sinks.

use std::fmt;
use std::sync::Mutex;

use chrysalis_flow::{FlowId, NodeName, StepId};
use chrysalis_types::{Decode, DecodeError, Encode, Reader, Writer};

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

/// Canonical encoding (chrysalis-types codec), so a ledger adapter can store
/// records as entry payloads byte for byte.
impl Encode for StepRecord {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.seq);
        w.put(&self.elapsed_ms);
        w.put(self.flow.as_str());
        w.put(self.node.as_str());
        w.put(&self.step.get());
        w.put(&self.attempt);
        match &self.event {
            StepEvent::Started => w.put_u8(0),
            StepEvent::Finished { branch, message } => {
                w.put_u8(1);
                w.put(branch);
                w.put(message);
            }
            StepEvent::Failed { error } => {
                w.put_u8(2);
                w.put(error);
            }
            StepEvent::Retrying {
                next_attempt,
                delay_ms,
            } => {
                w.put_u8(3);
                w.put(next_attempt);
                w.put(delay_ms);
            }
            StepEvent::Cancelled => w.put_u8(4),
        }
    }
}

impl Decode for StepRecord {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let seq = r.get()?;
        let elapsed_ms = r.get()?;
        let flow = FlowId::new(r.get::<String>()?);
        let node = NodeName::new(r.get::<String>()?);
        let step = StepId::from_raw(r.get()?);
        let attempt = r.get()?;
        let event = match r.u8()? {
            0 => StepEvent::Started,
            1 => StepEvent::Finished {
                branch: r.get()?,
                message: r.get()?,
            },
            2 => StepEvent::Failed { error: r.get()? },
            3 => StepEvent::Retrying {
                next_attempt: r.get()?,
                delay_ms: r.get()?,
            },
            4 => StepEvent::Cancelled,
            tag => return Err(r.invalid_tag("step event", tag)),
        };
        Ok(Self {
            seq,
            elapsed_ms,
            flow,
            node,
            step,
            attempt,
            event,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(event: StepEvent) -> StepRecord {
        StepRecord {
            seq: 7,
            elapsed_ms: 1_500,
            flow: FlowId::from("orders"),
            node: NodeName::from("pack"),
            step: StepId::from_raw(3),
            attempt: 2,
            event,
        }
    }

    fn all_events() -> Vec<StepEvent> {
        vec![
            StepEvent::Started,
            StepEvent::Finished {
                branch: Some("yes".into()),
                message: None,
            },
            StepEvent::Finished {
                branch: None,
                message: Some("slept 10 ms".into()),
            },
            StepEvent::Failed {
                error: "disk full".into(),
            },
            StepEvent::Retrying {
                next_attempt: 3,
                delay_ms: 200,
            },
            StepEvent::Cancelled,
        ]
    }

    #[test]
    fn records_round_trip_and_truncations_are_errors() {
        for event in all_events() {
            let original = record(event);
            let bytes = original.to_bytes();
            assert_eq!(StepRecord::from_bytes(&bytes).unwrap(), original);
            for cut in 0..bytes.len() {
                assert!(
                    StepRecord::from_bytes(&bytes[..cut]).is_err(),
                    "prefix {cut}"
                );
            }
        }
    }

    #[test]
    fn unknown_event_tag_is_refused() {
        let mut bytes = record(StepEvent::Cancelled).to_bytes();
        *bytes.last_mut().unwrap() = 9;
        let err = StepRecord::from_bytes(&bytes).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::InvalidTag {
                    what: "step event",
                    tag: 9,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn progress_lines() {
        let lines: Vec<String> = all_events()
            .into_iter()
            .map(|e| record(e).to_string())
            .collect();
        assert_eq!(
            lines,
            [
                "[  1500 ms] pack (attempt 2) started",
                "[  1500 ms] pack (attempt 2) finished -> yes",
                "[  1500 ms] pack (attempt 2) finished: slept 10 ms",
                "[  1500 ms] pack (attempt 2) failed: disk full",
                "[  1500 ms] pack (attempt 2) retrying: attempt 3 in 200 ms",
                "[  1500 ms] pack (attempt 2) cancelled",
            ]
        );
    }
}
