"""Chrysalis' trust kernel from Python.

- ``TraceNode``: one immutable, content-addressed record of an agent's act.
- ``TraceLedger``: the append-only, Merkle-proven ledger on disk, with
  ``InclusionProof`` / ``ConsistencyProof`` and paged queries.
- ``SigningKey`` / ``SignedTreeHead`` / ``Checkpoint``: the operator signs
  tree heads; a client keeps a checkpoint and detects any rewrite of the
  history it covers (``RewriteDetected``).
- ``Issuer`` / ``Covenant``: biscuit capabilities (Ed25519-signed, offline
  attenuation for sub-agents).
- ``Budget`` / ``Reservation``: cost, token, time and call budgets with
  atomic reserve, then commit or release.
- ``CovenantGate``: capability and budget checked together; every decision is
  recorded as a ``TraceNode``.
- ``verify_operad_laws``: identity and associativity of agent-plan
  composition, with a shrunk counterexample on failure.

Every error is a subclass of ``ChrysalisError``.
"""

from ._native import (
    Budget,
    BudgetCommitError,
    BudgetExhausted,
    CapabilityDenied,
    CapabilityError,
    Checkpoint,
    ChrysalisError,
    ConsistencyProof,
    Covenant,
    CovenantGate,
    CovenantRefused,
    HeadError,
    InclusionProof,
    Issuer,
    LedgerError,
    OperadLawError,
    ProofError,
    Reservation,
    RewriteDetected,
    SignedTreeHead,
    SigningKey,
    TraceLedger,
    TraceNode,
    TraceNodeError,
    verify_operad_laws,
)

__all__ = [
    "Budget",
    "BudgetCommitError",
    "BudgetExhausted",
    "CapabilityDenied",
    "CapabilityError",
    "Checkpoint",
    "ChrysalisError",
    "ConsistencyProof",
    "Covenant",
    "CovenantGate",
    "CovenantRefused",
    "HeadError",
    "InclusionProof",
    "Issuer",
    "LedgerError",
    "OperadLawError",
    "ProofError",
    "Reservation",
    "RewriteDetected",
    "SignedTreeHead",
    "SigningKey",
    "TraceLedger",
    "TraceNode",
    "TraceNodeError",
    "verify_operad_laws",
]
