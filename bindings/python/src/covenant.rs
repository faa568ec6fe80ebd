//! `chrysalis.Issuer`, `Covenant`, `Budget`, `Reservation`, `CovenantGate`.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use chrysalis_covenant::{
    Amount, Attenuation, Budget, BudgetError, CapabilityError as RustCapabilityError, CommitError,
    Covenant, CovenantGate, Denial, GateError, Grant, Issuer, Refusal, Request, Reservation,
    TraceRecorder,
};
use chrysalis_crypto::ed25519::{SigningKey, VerifyingKey};
use chrysalis_types::Timestamp;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use crate::errors::{
    BudgetCommitError, BudgetExhausted, CapabilityDenied, CapabilityError, CovenantRefused,
    with_attrs,
};
use crate::ledger::{GateSink, PyTraceLedger};
use crate::trace::{PyTraceNode, agent_id};

fn capability_error(e: RustCapabilityError) -> PyErr {
    CapabilityError::new_err(e.to_string())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn root_key(bytes: &[u8]) -> PyResult<VerifyingKey> {
    let raw: [u8; 32] = bytes
        .try_into()
        .map_err(|_| CapabilityError::new_err("root public key must be 32 bytes"))?;
    VerifyingKey::from_bytes(&raw).map_err(|e| CapabilityError::new_err(e.to_string()))
}

fn denial_code(d: &Denial) -> &'static str {
    Refusal::Capability(d.clone()).code()
}

fn denied(py: Python<'_>, d: &Denial) -> PyErr {
    let code = PyString::new(py, denial_code(d)).into_any().unbind();
    with_attrs::<CapabilityDenied>(py, d.to_string(), &[("code", code)])
}

fn exhausted(py: Python<'_>, e: &BudgetError) -> PyErr {
    let BudgetError::Exhausted {
        dimension,
        requested,
        available,
    } = e
    else {
        return BudgetExhausted::new_err(e.to_string());
    };
    let attrs = (|| -> PyResult<_> {
        Ok([
            (
                "dimension",
                dimension.name().into_pyobject(py)?.into_any().unbind(),
            ),
            (
                "requested",
                requested.into_pyobject(py)?.into_any().unbind(),
            ),
            (
                "available",
                available.into_pyobject(py)?.into_any().unbind(),
            ),
        ])
    })();
    match attrs {
        Ok(attrs) => with_attrs::<BudgetExhausted>(py, e.to_string(), &attrs),
        Err(err) => err,
    }
}

fn amount_dict<'py>(py: Python<'py>, a: &Amount) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("cost", a.cost)?;
    d.set_item("tokens", a.tokens)?;
    d.set_item("time_ms", a.time_ms)?;
    d.set_item("calls", a.calls)?;
    Ok(d)
}

/// Issues covenants, signing with an Ed25519 root key.
///
/// `Issuer(seed)`: `seed` is the 32-byte Ed25519 private seed.
#[pyclass(name = "Issuer", module = "chrysalis", frozen)]
pub(crate) struct PyIssuer {
    issuer: Issuer,
    public_key: [u8; 32],
}

#[pymethods]
impl PyIssuer {
    #[new]
    fn new(seed: &[u8]) -> PyResult<PyIssuer> {
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| CapabilityError::new_err("issuer seed must be 32 bytes"))?;
        let key = SigningKey::from_seed(&seed);
        Ok(PyIssuer {
            issuer: Issuer::new(&key).map_err(capability_error)?,
            public_key: key.verifying_key().to_bytes(),
        })
    }

    /// The 32-byte root public key that verifies this issuer's covenants.
    #[getter]
    fn public_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.public_key)
    }

    /// Issues a covenant granting each `(action, resource_prefix)` pair.
    fn issue(&self, grants: Vec<(String, String)>) -> PyResult<PyCovenant> {
        let grants: Vec<Grant> = grants
            .into_iter()
            .map(|(action, resource_prefix)| Grant {
                action,
                resource_prefix,
            })
            .collect();
        let covenant = self
            .issuer
            .issue(&grants, &mut rand_core::OsRng)
            .map_err(capability_error)?;
        Ok(PyCovenant { covenant })
    }
}

/// A verified capability token (biscuit), possibly attenuated.
#[pyclass(name = "Covenant", module = "chrysalis", frozen)]
pub(crate) struct PyCovenant {
    covenant: Covenant,
}

#[pymethods]
impl PyCovenant {
    /// Loads a serialized covenant, verifying every signature against
    /// `root_public_key`. Raises `CapabilityError` on forged or bad bytes.
    #[staticmethod]
    fn from_bytes(data: &[u8], root_public_key: &[u8]) -> PyResult<PyCovenant> {
        let root = root_key(root_public_key)?;
        let covenant = Covenant::from_bytes(data, &root).map_err(capability_error)?;
        Ok(PyCovenant { covenant })
    }

    /// The serialized token.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = self.covenant.to_bytes().map_err(capability_error)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Number of blocks: the authority block plus one per attenuation.
    #[getter]
    fn block_count(&self) -> usize {
        self.covenant.block_count()
    }

    /// Whether checks run natively (every block in chrysalis' vocabulary).
    #[getter]
    fn is_compiled(&self) -> bool {
        self.covenant.is_compiled()
    }

    /// The revocation id of the last block.
    #[getter]
    fn token_id<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.covenant.token_id())
    }

    /// A narrower covenant for a sub-agent: every given restriction must
    /// hold in addition to everything this covenant already requires.
    #[pyo3(signature = (*, actions = None, resource_prefix = None, holder = None, not_after_s = None, max_cost = None))]
    fn attenuate(
        &self,
        actions: Option<Vec<String>>,
        resource_prefix: Option<String>,
        holder: Option<&[u8]>,
        not_after_s: Option<u64>,
        max_cost: Option<u64>,
    ) -> PyResult<PyCovenant> {
        let attenuation = Attenuation {
            actions: actions.map(|a| a.into_iter().collect::<BTreeSet<_>>()),
            resource_prefix,
            holder: holder.map(agent_id).transpose()?,
            not_after_s,
            max_cost,
        };
        let covenant = self
            .covenant
            .attenuate(&attenuation, &mut rand_core::OsRng)
            .map_err(capability_error)?;
        Ok(PyCovenant { covenant })
    }

    /// Raises `CapabilityDenied` unless `principal` (16-byte agent id) may
    /// do `action` on `resource` at `now_ms` (default: the clock) for `cost`.
    #[pyo3(signature = (principal, action, resource, *, cost = 0, now_ms = None))]
    fn authorize(
        &self,
        py: Python<'_>,
        principal: &[u8],
        action: &str,
        resource: &str,
        cost: u64,
        now_ms: Option<u64>,
    ) -> PyResult<()> {
        let request = Request {
            principal: agent_id(principal)?,
            action,
            resource,
            cost,
        };
        self.covenant
            .authorize(&request, now_ms.unwrap_or_else(self::now_ms))
            .map_err(|d| denied(py, &d))
    }
}

/// Cost, token, time and call budgets with atomic reserve, commit, release.
///
/// `Budget(*, cost=None, tokens=None, time_ms=None, calls=None)`: a limit per
/// dimension; `None` means unlimited.
#[pyclass(name = "Budget", module = "chrysalis", frozen)]
pub(crate) struct PyBudget {
    budget: Budget,
}

#[pymethods]
impl PyBudget {
    #[new]
    #[pyo3(signature = (*, cost = None, tokens = None, time_ms = None, calls = None))]
    fn new(
        cost: Option<u64>,
        tokens: Option<u64>,
        time_ms: Option<u64>,
        calls: Option<u64>,
    ) -> PyBudget {
        let unlimited = |v: Option<u64>| v.unwrap_or(u64::MAX);
        PyBudget {
            budget: Budget::new(Amount {
                cost: unlimited(cost),
                tokens: unlimited(tokens),
                time_ms: unlimited(time_ms),
                calls: unlimited(calls),
            }),
        }
    }

    /// Reserves the amounts atomically (all or nothing); raises
    /// `BudgetExhausted` when a dimension is short.
    #[pyo3(signature = (*, cost = 0, tokens = 0, time_ms = 0, calls = 0))]
    fn reserve(
        &self,
        py: Python<'_>,
        cost: u64,
        tokens: u64,
        time_ms: u64,
        calls: u64,
    ) -> PyResult<PyReservation> {
        let amount = Amount {
            cost,
            tokens,
            time_ms,
            calls,
        };
        let reservation = self.budget.reserve(amount).map_err(|e| exhausted(py, &e))?;
        Ok(PyReservation::new(reservation, None))
    }

    /// `{"limit": {...}, "available": {...}, "reserved": {...}, "spent": {...}}`.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.budget.snapshot();
        let d = PyDict::new(py);
        d.set_item("limit", amount_dict(py, &s.limit)?)?;
        d.set_item("available", amount_dict(py, &s.available)?)?;
        d.set_item("reserved", amount_dict(py, &s.reserved)?)?;
        d.set_item("spent", amount_dict(py, &s.spent)?)?;
        Ok(d)
    }
}

/// Units held out of a budget until `commit` or `release`. Usable as a
/// context manager: leaving the block releases whatever was not committed.
#[pyclass(name = "Reservation", module = "chrysalis")]
pub(crate) struct PyReservation {
    inner: Option<Reservation>,
    amount: Amount,
    trace_id: Option<[u8; 32]>,
}

impl PyReservation {
    fn new(reservation: Reservation, trace_id: Option<[u8; 32]>) -> PyReservation {
        PyReservation {
            amount: reservation.amount(),
            inner: Some(reservation),
            trace_id,
        }
    }

    fn take(&mut self) -> PyResult<Reservation> {
        self.inner
            .take()
            .ok_or_else(|| BudgetCommitError::new_err("reservation already settled"))
    }
}

#[pymethods]
impl PyReservation {
    /// The amounts held, as a dict.
    #[getter]
    fn amount<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        amount_dict(py, &self.amount)
    }

    /// Whether it was committed or released.
    #[getter]
    fn settled(&self) -> bool {
        self.inner.is_none()
    }

    /// The id of the TraceNode that recorded the admitting decision, when
    /// the reservation came from a `CovenantGate`.
    #[getter]
    fn trace_id<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.trace_id.map(|id| PyBytes::new(py, &id))
    }

    /// Charges the actual use and refunds the rest. A dimension left as
    /// `None` is charged in full. Charging more than reserved raises
    /// `BudgetCommitError` and releases the whole reservation.
    #[pyo3(signature = (*, cost = None, tokens = None, time_ms = None, calls = None))]
    fn commit(
        &mut self,
        cost: Option<u64>,
        tokens: Option<u64>,
        time_ms: Option<u64>,
        calls: Option<u64>,
    ) -> PyResult<()> {
        let reservation = self.take()?;
        let held = reservation.amount();
        let actual = Amount {
            cost: cost.unwrap_or(held.cost),
            tokens: tokens.unwrap_or(held.tokens),
            time_ms: time_ms.unwrap_or(held.time_ms),
            calls: calls.unwrap_or(held.calls),
        };
        reservation.commit(actual).map_err(|e| match e {
            CommitError::ExceedsReservation { .. } => BudgetCommitError::new_err(e.to_string()),
            other => BudgetCommitError::new_err(other.to_string()),
        })
    }

    /// Returns every reserved unit to the budget.
    fn release(&mut self) -> PyResult<()> {
        self.take()?.release();
        Ok(())
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&mut self, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        if let Some(r) = self.inner.take() {
            r.release();
        }
        false
    }
}

/// Checks capability and budget together and records every decision as a
/// TraceNode (kind `"covenant.decision"`, JSON payload, chained by parent):
/// into `ledger` when given (durable before `check` returns), else in memory.
#[pyclass(name = "CovenantGate", module = "chrysalis")]
pub(crate) struct PyCovenantGate {
    gate: CovenantGate<TraceRecorder<GateSink>>,
}

#[pymethods]
impl PyCovenantGate {
    #[new]
    #[pyo3(signature = (budget, ledger = None))]
    fn new(budget: &PyBudget, ledger: Option<&PyTraceLedger>) -> PyResult<PyCovenantGate> {
        let sink = match ledger {
            Some(l) => GateSink::Ledger {
                ledger: l.inner.clone(),
                recorded: Vec::new(),
            },
            None => GateSink::Memory(Vec::new()),
        };
        let recorder = TraceRecorder::new(sink).map_err(crate::trace::node_error)?;
        Ok(PyCovenantGate {
            gate: CovenantGate::new(budget.budget.clone(), recorder),
        })
    }

    /// Admits `principal` to do `action` on `resource` for the given amounts
    /// (returns the `Reservation`, whose `trace_id` names the decision's
    /// TraceNode) or raises `CovenantRefused` (with `code`, `reason`,
    /// `trace_id`). Either way the decision is recorded first.
    #[pyo3(signature = (covenant, principal, action, resource, *, cost = 0, tokens = 0, time_ms = 0, calls = 1, now_ms = None, logical = 0))]
    #[allow(clippy::too_many_arguments)]
    fn check(
        &mut self,
        py: Python<'_>,
        covenant: &PyCovenant,
        principal: &[u8],
        action: &str,
        resource: &str,
        cost: u64,
        tokens: u64,
        time_ms: u64,
        calls: u64,
        now_ms: Option<u64>,
        logical: u32,
    ) -> PyResult<PyReservation> {
        let request = Request {
            principal: agent_id(principal)?,
            action,
            resource,
            cost,
        };
        let amount = Amount {
            cost,
            tokens,
            time_ms,
            calls,
        };
        let now = Timestamp::new(now_ms.unwrap_or_else(self::now_ms), logical);
        match self.gate.check(&covenant.covenant, &request, amount, now) {
            Ok(admission) => Ok(PyReservation::new(
                admission.reservation,
                Some(*admission.trace.as_bytes()),
            )),
            Err(GateError::Refused { refusal, trace }) => {
                let attrs = [
                    (
                        "code",
                        refusal.code().into_pyobject(py)?.into_any().unbind(),
                    ),
                    (
                        "reason",
                        refusal.to_string().into_pyobject(py)?.into_any().unbind(),
                    ),
                    (
                        "trace_id",
                        PyBytes::new(py, trace.as_bytes()).into_any().unbind(),
                    ),
                ];
                Err(with_attrs::<CovenantRefused>(
                    py,
                    refusal.to_string(),
                    &attrs,
                ))
            }
            Err(other) => Err(CovenantRefused::new_err(other.to_string())),
        }
    }

    /// Every decision this gate recorded, as TraceNodes, oldest first.
    #[getter]
    fn trace(&self) -> PyResult<Vec<PyTraceNode>> {
        let nodes = self.gate.recorder().sink().nodes()?;
        Ok(nodes.into_iter().map(PyTraceNode::wrap).collect())
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyIssuer>()?;
    m.add_class::<PyCovenant>()?;
    m.add_class::<PyBudget>()?;
    m.add_class::<PyReservation>()?;
    m.add_class::<PyCovenantGate>()?;
    Ok(())
}
