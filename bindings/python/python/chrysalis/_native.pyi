"""Type stubs for the native module ``chrysalis._native`` (re-exported by ``chrysalis``)."""

import os
from types import TracebackType
from typing import Iterable, List, Literal, Optional, Sequence, Tuple, Type, TypedDict, Union

class ChrysalisError(Exception):
    """Base class of every error raised by chrysalis."""

class TraceNodeError(ChrysalisError):
    """A trace node could not be built or decoded."""

class LedgerError(ChrysalisError):
    """The trace ledger could not open, append or read."""

class ProofError(ChrysalisError):
    """A Merkle proof does not verify, or is malformed."""

class HeadError(ChrysalisError):
    """A signed tree head or checkpoint was refused (untrusted signer, bad
    signature, malformed bytes, a consistency proof for other sizes)."""

class RewriteDetected(HeadError):
    """The ledger is not an extension of the checkpoint: an entry the
    checkpoint covers was rewritten, or the ledger shrank."""

class CapabilityError(ChrysalisError):
    """A covenant token could not be issued, loaded or attenuated."""

class CapabilityDenied(ChrysalisError):
    """The covenant does not allow the request."""
    code: str

class BudgetExhausted(ChrysalisError):
    """A reservation asked for more than is available."""
    dimension: Literal["cost", "tokens", "time_ms", "calls"]
    requested: int
    available: int

class BudgetCommitError(ChrysalisError):
    """A commit charged more than was reserved, or the reservation was already settled."""

class CovenantRefused(ChrysalisError):
    """The gate refused an act; the refusal was recorded as ``trace_id``."""
    code: str
    reason: str
    trace_id: bytes

class OperadLawError(ChrysalisError):
    """An operad law fails; the attributes hold the shrunk counterexample."""
    law: Literal["left_identity", "right_identity", "sequential_associativity", "parallel_associativity"]
    f: str
    g: str
    h: str
    slots: Tuple[int, ...]
    left: str
    right: str
    shrink_steps: int

class TraceNode:
    """One immutable record of the trace ledger; ``id`` is computed from all fields."""

    def __init__(
        self,
        origin: bytes,
        physical_ms: int,
        kind: str,
        payload: Union[bytes, str, None] = None,
        parents: Optional[Iterable[bytes]] = None,
        logical: int = 0,
    ) -> None: ...
    @property
    def id(self) -> bytes: ...
    @property
    def origin(self) -> bytes: ...
    @property
    def physical_ms(self) -> int: ...
    @property
    def logical(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def payload(self) -> Union[bytes, str]: ...
    @property
    def is_json(self) -> bool: ...
    @property
    def parents(self) -> Tuple[bytes, ...]: ...
    def encoding(self) -> bytes: ...
    @staticmethod
    def from_encoding(data: bytes) -> "TraceNode": ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

class InclusionProof:
    """Proof that a node is in the ledger's tree of a given size (RFC 6962 / 9162)."""

    @property
    def leaf_index(self) -> int: ...
    @property
    def tree_size(self) -> int: ...
    @property
    def hashes(self) -> Tuple[bytes, ...]: ...
    def verify(self, node: TraceNode, root: bytes) -> None: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes) -> "InclusionProof": ...

class ConsistencyProof:
    """Proof that the tree of ``old_size`` entries is a prefix of the tree of ``new_size``."""

    @property
    def old_size(self) -> int: ...
    @property
    def new_size(self) -> int: ...
    def verify(self, old_root: bytes, new_root: bytes) -> None: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes) -> "ConsistencyProof": ...

class TraceLedger:
    """Append-only, Merkle-proven trace ledger in segment files under a directory."""

    @staticmethod
    def open(
        path: Union[str, "os.PathLike[str]"],
        fsync: Literal["always", "batch", "never"] = "always",
        batch_entries: int = 1024,
        batch_delay_ms: int = 5,
    ) -> "TraceLedger": ...
    def append(self, node: TraceNode) -> int: ...
    def append_batch(self, nodes: Sequence[TraceNode]) -> Tuple[int, int]: ...
    def __len__(self) -> int: ...
    @property
    def root(self) -> bytes: ...
    def root_at(self, size: int) -> bytes: ...
    def get(self, index: int) -> TraceNode: ...
    def get_by_id(self, id: bytes) -> Optional[Tuple[int, TraceNode]]: ...
    def inclusion_proof(self, index: int, size: Optional[int] = None) -> InclusionProof: ...
    def consistency_proof(self, old: int, new: Optional[int] = None) -> ConsistencyProof:
        """Proof that the first ``old`` entries are a prefix of the first ``new`` (default: all)."""
    def signed_head(
        self, key: "SigningKey", physical_ms: Optional[int] = None, logical: int = 0
    ) -> "SignedTreeHead":
        """The current size and root signed with the operator's ``key`` at
        (``physical_ms``, ``logical``); ``physical_ms`` defaults to the clock."""
    def query(
        self,
        *,
        origin: Optional[bytes] = None,
        kind: Optional[str] = None,
        time_range: Optional[Tuple[int, int]] = None,
        ancestors_of: Optional[bytes] = None,
        descendants_of: Optional[bytes] = None,
        after: Optional[bytes] = None,
        limit: int = 100,
    ) -> Tuple[List[Tuple[int, TraceNode]], Optional[bytes]]: ...

class SigningKey:
    """An Ed25519 signing key (a ledger operator's), from a 32-byte secret seed."""

    def __init__(self, seed: bytes) -> None: ...
    @staticmethod
    def generate() -> "SigningKey":
        """A fresh key from the operating system's random source."""
    @property
    def public_key(self) -> bytes:
        """The 32-byte public key clients verify heads with."""

class SignedTreeHead:
    """The operator's signed statement that the ledger held ``tree_size``
    entries with Merkle root ``root`` at (``physical_ms``, ``logical``)."""

    @property
    def tree_size(self) -> int: ...
    @property
    def root(self) -> bytes: ...
    @property
    def physical_ms(self) -> int: ...
    @property
    def logical(self) -> int: ...
    @property
    def signer(self) -> bytes:
        """The signer's 32-byte public key."""
    @property
    def signature(self) -> bytes:
        """The 64-byte Ed25519 signature (domain ``chrysalis/v1/tree-head``)."""
    def verify(self, public_key: bytes) -> None:
        """Raises ``HeadError`` unless signed by ``public_key`` and the signature verifies."""
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes) -> "SignedTreeHead":
        """Decodes a head; raises ``HeadError`` on malformed bytes (``verify`` checks the signature)."""
    def __eq__(self, other: object) -> bool: ...

class Checkpoint:
    """What a client remembers of a ledger: the last head it verified and the
    operator key it trusts. Any rewrite of an entry it covers raises
    ``RewriteDetected``."""

    def __init__(self, public_key: bytes, head: SignedTreeHead) -> None:
        """Starts from ``head``, verified against ``public_key`` (raises ``HeadError``)."""
    @property
    def head(self) -> SignedTreeHead: ...
    @property
    def tree_size(self) -> int: ...
    @property
    def root(self) -> bytes: ...
    def verify_extension(self, head: SignedTreeHead, proof: ConsistencyProof) -> None:
        """Checks, without moving, that ``head`` is signed by the trusted key and
        ``proof`` shows this checkpoint's tree is a prefix of it. Raises
        ``RewriteDetected`` for rewritten history or a shrunk ledger,
        ``HeadError`` for a bad signature or a proof for other sizes."""
    def advance(self, head: SignedTreeHead, proof: ConsistencyProof) -> None:
        """``verify_extension``, then moves to ``head``; unchanged on any error."""
    def verify_ledger(self, ledger: TraceLedger) -> None:
        """Checks a ledger this client reads itself: its first ``tree_size``
        entries must hash to ``root``; raises ``RewriteDetected`` otherwise."""
    def to_bytes(self) -> bytes:
        """The head's bytes (the trusted key is supplied again on restore)."""
    @staticmethod
    def from_bytes(public_key: bytes, data: bytes) -> "Checkpoint":
        """Restores a checkpoint, verifying the head against ``public_key`` again."""

class Issuer:
    """Issues covenants signed by an Ed25519 root key (``seed``: 32 bytes)."""

    def __init__(self, seed: bytes) -> None: ...
    @property
    def public_key(self) -> bytes: ...
    def issue(self, grants: Sequence[Tuple[str, str]]) -> "Covenant": ...

class Covenant:
    """A verified biscuit capability, possibly attenuated."""

    @staticmethod
    def from_bytes(data: bytes, root_public_key: bytes) -> "Covenant": ...
    def to_bytes(self) -> bytes: ...
    @property
    def block_count(self) -> int: ...
    @property
    def is_compiled(self) -> bool: ...
    @property
    def token_id(self) -> bytes: ...
    def attenuate(
        self,
        *,
        actions: Optional[Sequence[str]] = None,
        resource_prefix: Optional[str] = None,
        holder: Optional[bytes] = None,
        not_after_s: Optional[int] = None,
        max_cost: Optional[int] = None,
    ) -> "Covenant": ...
    def authorize(
        self,
        principal: bytes,
        action: str,
        resource: str,
        *,
        cost: int = 0,
        now_ms: Optional[int] = None,
    ) -> None: ...

class Amount(TypedDict):
    cost: int
    tokens: int
    time_ms: int
    calls: int

class BudgetSnapshot(TypedDict):
    limit: Amount
    available: Amount
    reserved: Amount
    spent: Amount

class Budget:
    """Cost, token, time and call limits (``None``: unlimited)."""

    def __init__(
        self,
        *,
        cost: Optional[int] = None,
        tokens: Optional[int] = None,
        time_ms: Optional[int] = None,
        calls: Optional[int] = None,
    ) -> None: ...
    def reserve(self, *, cost: int = 0, tokens: int = 0, time_ms: int = 0, calls: int = 0) -> "Reservation": ...
    def snapshot(self) -> BudgetSnapshot: ...

class Reservation:
    """Units held until ``commit`` or ``release``; a context manager that releases on exit."""

    @property
    def amount(self) -> Amount: ...
    @property
    def settled(self) -> bool: ...
    @property
    def trace_id(self) -> Optional[bytes]: ...
    def commit(
        self,
        *,
        cost: Optional[int] = None,
        tokens: Optional[int] = None,
        time_ms: Optional[int] = None,
        calls: Optional[int] = None,
    ) -> None: ...
    def release(self) -> None: ...
    def __enter__(self) -> "Reservation": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...

class CovenantGate:
    """Checks capability and budget together; records every decision as a TraceNode."""

    def __init__(self, budget: Budget, ledger: Optional[TraceLedger] = None) -> None: ...
    def check(
        self,
        covenant: Covenant,
        principal: bytes,
        action: str,
        resource: str,
        *,
        cost: int = 0,
        tokens: int = 0,
        time_ms: int = 0,
        calls: int = 1,
        now_ms: Optional[int] = None,
        logical: int = 0,
    ) -> Reservation: ...
    @property
    def trace(self) -> List[TraceNode]: ...

class LawReport(TypedDict):
    samples: int
    instances: int

def verify_operad_laws(
    samples: int = 256,
    seed: int = 0,
    max_nodes: int = 12,
    operad: Literal["plan", "faulty-identity", "faulty-slots"] = "plan",
) -> LawReport: ...
