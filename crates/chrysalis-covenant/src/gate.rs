//! The CovenantGate: one place where an act is allowed or refused.
//!
//! The gate checks the capability, then reserves the budget, then records the
//! decision (allowed, or refused with its reason) through a
//! [`DecisionRecorder`] — in production the trace ledger, so every decision
//! becomes a TraceNode. Recording is part of the decision: if it fails, the
//! act is refused and any reservation released (fail closed).

use chrysalis_types::{AgentId, Timestamp, TraceId, Writer};
use sha2::{Digest, Sha256};

use crate::budget::{Amount, Budget, BudgetError, Reservation};
use crate::capability::{Covenant, Denial, Request};

/// The TraceNode kind under which decisions are recorded.
pub const DECISION_KIND: &str = "covenant.decision";

/// Why the gate refused an act.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The covenant does not allow the act.
    #[error("capability denied: {0}")]
    Capability(#[from] Denial),
    /// The budget cannot cover the act.
    #[error("budget refused: {0}")]
    Budget(#[from] BudgetError),
}

impl Refusal {
    /// A stable short code for the reason, recorded in the trace payload.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Capability(Denial::NoGrant) => "capability.no_grant",
            Refusal::Capability(Denial::ActionNotAllowed { .. }) => "capability.action",
            Refusal::Capability(Denial::ResourceOutsidePrefix { .. }) => "capability.resource",
            Refusal::Capability(Denial::WrongHolder { .. }) => "capability.holder",
            Refusal::Capability(Denial::Expired { .. }) => "capability.expired",
            Refusal::Capability(Denial::CostAboveCap { .. }) => "capability.cost_cap",
            Refusal::Capability(Denial::CostOutOfRange) => "capability.cost_range",
            Refusal::Capability(Denial::Refused { .. }) => "capability.refused",
            Refusal::Capability(_) => "capability.error",
            Refusal::Budget(_) => "budget.exhausted",
        }
    }
}

/// One decision of the gate, as handed to the recorder.
#[derive(Debug, Clone, Copy)]
pub struct Decision<'a> {
    /// The act asked for.
    pub request: Request<'a>,
    /// The amount asked for.
    pub amount: Amount,
    /// When the gate decided.
    pub at: Timestamp,
    /// The revocation id of the covenant presented.
    pub token_id: &'a [u8],
    /// `None` when allowed, else why not.
    pub refusal: Option<&'a Refusal>,
}

impl Decision<'_> {
    /// Whether the act was allowed.
    pub fn allowed(&self) -> bool {
        self.refusal.is_none()
    }

    /// The canonical payload recorded in the TraceNode: principal, action,
    /// resource, amount, token id, outcome, reason code and reason text.
    pub fn to_payload(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.put(&self.request.principal);
        w.put(self.request.action);
        w.put(self.request.resource);
        w.put(&self.amount);
        w.put_bytes(self.token_id);
        w.put(&self.allowed());
        match self.refusal {
            None => {
                w.put("");
                w.put("");
            }
            Some(r) => {
                w.put(r.code());
                w.put(r.to_string().as_str());
            }
        }
        w.into_bytes()
    }
}

impl Decision<'_> {
    /// The JSON payload of the decision's TraceNode: `principal`, `action`,
    /// `resource`, `amount` (`cost`, `tokens`, `time_ms`, `calls`),
    /// `token_id` (hex), `allowed`, and `code` / `reason` (null when allowed).
    pub fn to_json(&self) -> String {
        use std::fmt::Write;
        let a = &self.amount;
        let mut out = String::with_capacity(320);
        out.push_str("{\"principal\":\"");
        // Writing into a String cannot fail.
        let _ = write!(out, "{}", self.request.principal);
        out.push_str("\",\"action\":");
        push_json_str(&mut out, self.request.action);
        out.push_str(",\"resource\":");
        push_json_str(&mut out, self.request.resource);
        let _ = write!(
            out,
            ",\"amount\":{{\"cost\":{},\"tokens\":{},\"time_ms\":{},\"calls\":{}}}",
            a.cost, a.tokens, a.time_ms, a.calls
        );
        out.push_str(",\"token_id\":\"");
        out.push_str(&hex::encode(self.token_id));
        let _ = write!(out, "\",\"allowed\":{}", self.allowed());
        match self.refusal {
            None => out.push_str(",\"code\":null,\"reason\":null}"),
            Some(r) => {
                out.push_str(",\"code\":");
                push_json_str(&mut out, r.code());
                out.push_str(",\"reason\":");
                push_json_str(&mut out, &r.to_string());
                out.push('}');
            }
        }
        out
    }
}

/// Appends `s` as a JSON string literal (RFC 8259 escaping).
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                use std::fmt::Write;
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Where the gate writes its decisions. The ledger implements this so that
/// every decision becomes a TraceNode of kind [`DECISION_KIND`].
pub trait DecisionRecorder {
    /// The recorder's failure.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Records `decision` and returns the id of the trace record.
    fn record(&mut self, decision: &Decision<'_>) -> Result<TraceId, Self::Error>;
}

/// A decision as kept by [`MemoryRecorder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedDecision {
    /// The trace id handed back.
    pub trace: TraceId,
    /// The principal.
    pub principal: AgentId,
    /// The action.
    pub action: String,
    /// The resource.
    pub resource: String,
    /// When.
    pub at: Timestamp,
    /// `None` when allowed, else the refusal.
    pub refusal: Option<Refusal>,
    /// The canonical payload.
    pub payload: Vec<u8>,
}

/// A recorder that keeps decisions in memory (tests, benchmarks, and hosts
/// without a ledger). Trace ids are SHA-256 of the payload and position.
#[derive(Debug, Default)]
pub struct MemoryRecorder {
    decisions: Vec<RecordedDecision>,
}

impl MemoryRecorder {
    /// An empty recorder.
    pub fn new() -> MemoryRecorder {
        MemoryRecorder::default()
    }

    /// Everything recorded so far, oldest first.
    pub fn decisions(&self) -> &[RecordedDecision] {
        &self.decisions
    }
}

/// A [`MemoryRecorder`] never fails.
#[derive(Debug, thiserror::Error)]
#[error("the memory recorder cannot fail")]
pub struct Infallible;

impl DecisionRecorder for MemoryRecorder {
    type Error = Infallible;

    fn record(&mut self, decision: &Decision<'_>) -> Result<TraceId, Infallible> {
        let payload = decision.to_payload();
        let mut hasher = Sha256::new();
        hasher.update((self.decisions.len() as u64).to_be_bytes());
        hasher.update(&payload);
        let trace = TraceId::new(hasher.finalize().into());
        self.decisions.push(RecordedDecision {
            trace,
            principal: decision.request.principal,
            action: decision.request.action.to_owned(),
            resource: decision.request.resource.to_owned(),
            at: decision.at,
            refusal: decision.refusal.cloned(),
            payload,
        });
        Ok(trace)
    }
}

/// Why the gate did not admit an act.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GateError<E: std::error::Error + 'static> {
    /// Refused, and the refusal recorded as `trace`.
    #[error("refused ({refusal}); recorded as trace {trace}")]
    Refused {
        /// Why.
        refusal: Refusal,
        /// The trace record of the refusal.
        trace: TraceId,
    },
    /// The decision could not be recorded, so the act is refused.
    #[error("decision could not be recorded: {0}")]
    Record(#[source] E),
}

/// An admitted act: its reservation (commit it with the actual charge, or
/// drop it to release) and the trace record of the decision.
#[derive(Debug)]
#[must_use = "dropping an admission releases its reservation"]
pub struct Admission {
    /// The budget held for the act.
    pub reservation: Reservation,
    /// The trace record of the decision.
    pub trace: TraceId,
}

/// Checks capability and budget together and records every decision.
#[derive(Debug)]
pub struct CovenantGate<R> {
    budget: Budget,
    recorder: R,
}

impl<R: DecisionRecorder> CovenantGate<R> {
    /// A gate charging `budget` and recording into `recorder`.
    pub fn new(budget: Budget, recorder: R) -> CovenantGate<R> {
        CovenantGate { budget, recorder }
    }

    /// The budget this gate charges.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// The recorder.
    pub fn recorder(&self) -> &R {
        &self.recorder
    }

    /// The recorder, mutably (for example to read or trim a memory sink).
    pub fn recorder_mut(&mut self) -> &mut R {
        &mut self.recorder
    }

    /// Gives the recorder back.
    pub fn into_recorder(self) -> R {
        self.recorder
    }

    /// Decides whether `principal` may do `action` on `resource` for
    /// `amount` at `now`, under `covenant`. The request's cost is
    /// `amount.cost`. Every outcome is recorded before it is returned.
    pub fn check(
        &mut self,
        covenant: &Covenant,
        request: &Request<'_>,
        amount: Amount,
        now: Timestamp,
    ) -> Result<Admission, GateError<R::Error>> {
        let request = Request {
            cost: amount.cost,
            ..*request
        };
        let decided = covenant
            .authorize(&request, now.physical_ms())
            .map_err(Refusal::from)
            .and_then(|()| self.budget.reserve(amount).map_err(Refusal::from));
        let token_id = covenant.token_id();
        let refusal = decided.as_ref().err();
        let decision = Decision {
            request,
            amount,
            at: now,
            token_id,
            refusal,
        };
        let trace = self.recorder.record(&decision).map_err(GateError::Record)?;
        match decided {
            Ok(reservation) => Ok(Admission { reservation, trace }),
            Err(refusal) => Err(GateError::Refused { refusal, trace }),
        }
    }
}
