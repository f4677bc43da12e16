"""Domain models at every boundary (pydantic v2).

These are the contracts the layers pass between them (README "How the pieces fit"). The ORM rows
in ``core.store.schema`` are the persistence shape; these are what code passes around, what the
API serialises and what the proposal hash is computed over.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.kernel.canonical import canonical_json as canonical_json  # the basis of every hash; light for the read path
from core.kernel.errors import Invalid
from core.kernel.jsontypes import JsonObject

Scalar = str | int | float | bool

# Proposal size limits, in one place (docs/safety.md, docs/api.md). Checked by ``check_draft`` before
# anything is stored or sent to policy, so an oversized proposal is a clear 422 rather than a policy
# evaluation that runs for minutes and then times out. Bigger changes are campaigns (staged).
MAX_CHANGES = 200  # parameter changes per proposal
MAX_OPERATIONS = 10  # reboot / reset / download / ipping commands per proposal
MAX_TARGETS = 1000  # devices of a proposal applied at once (not staged)
MAX_STAGED_TARGETS = 1_000_000  # devices of a staged proposal (a campaign rolls it out in batches)
# A proposal with per-target values lists every device's values in itself (hashed, previewed live and
# decided per device), so it stays at the size of one applied-at-once proposal, staged or not.
MAX_PER_TARGET_DEVICES = MAX_TARGETS
MAX_TARGETED_CHANGES = 5000  # per-target change entries in one proposal (all devices together)
# Canonical JSON (orjson) encodes integers in [-2^63, 2^64 - 1]; anything outside cannot be hashed.
MIN_INT = -(2**63)
MAX_INT = 2**64 - 1


def utcnow() -> datetime:
    return datetime.now(UTC)


class Root(StrEnum):
    """The data-model root a device's firmware speaks."""

    DEVICE = "Device."
    IGD = "InternetGatewayDevice."


class Protocol(StrEnum):
    CWMP = "cwmp"
    USP = "usp"


class ActorKind(StrEnum):
    HUMAN = "human"
    JOB = "job"


class ProposalState(StrEnum):
    """Lifecycle states. ``invalid``, ``rejected`` and ``cancelled`` are the
    terminal states for a proposal that never reaches a device."""

    DRAFT = "draft"
    VALIDATED = "validated"
    INVALID = "invalid"
    PREVIEWED = "previewed"
    DENIED = "denied"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    BACKED_UP = "backed_up"
    APPLYING = "applying"
    VERIFYING = "verifying"
    DONE = "done"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # a restore could not be confirmed because the device was unreachable: re-checked
    ROLLBACK_PENDING = "rollback_pending"


TERMINAL_STATES = frozenset(
    {
        ProposalState.INVALID,
        ProposalState.DENIED,
        ProposalState.REJECTED,
        ProposalState.DONE,
        ProposalState.ROLLED_BACK,
        ProposalState.FAILED,
        ProposalState.CANCELLED,
    }
)
# States in which a proposal may touch (or may have touched) a device.
WRITE_STATES = frozenset({ProposalState.BACKED_UP, ProposalState.APPLYING, ProposalState.VERIFYING})


class Actor(BaseModel):
    """Who is acting: a human user or a job. Roles come from the user directory, never
    from the caller's claim (the CLI trusts ``--as`` for the *name* only)."""

    model_config = ConfigDict(frozen=True)

    id: str
    roles: tuple[str, ...] = ()
    kind: ActorKind = ActorKind.HUMAN

    def has_role(self, role: str) -> bool:
        return role in self.roles


class Device(BaseModel):
    id: str
    vendor: str
    model: str
    product_class: str = ""
    oui: str = ""
    serial: str = ""
    firmware: str
    root: Root = Root.DEVICE
    protocol: Protocol = Protocol.CWMP
    adapter: str = "sim"
    subscriber: str | None = None
    region: str = "EU"
    service: str = "standard"
    tags: list[str] = Field(default_factory=list)
    upstream_id: str | None = None
    last_seen: datetime | None = None
    status: str = Field(default="active", description="active | retired (kept with its history, never targeted)")
    retired_at: datetime | None = None


class Change(BaseModel):
    """One parameter change, addressed by its TR-181 (``Device.``) path.

    Executors translate to ``InternetGatewayDevice.`` for TR-098 firmware; the proposal always
    speaks TR-181 so that policy and approvers read one vocabulary.

    ``target`` makes the change one device's own (a joint channel plan sets channel 1 on home A and
    6 on home B in ONE proposal): it then applies to that device only, and every other target does
    not get it. Without it (the ordinary case) the change applies to every target. An untargeted
    change serialises without the key, so ordinary proposals keep the exact bytes, and hash, they
    had before per-target values existed.
    """

    model_config = ConfigDict(frozen=True)

    path: str
    value: Scalar
    type: str | None = Field(default=None, description="declared TR-181 type, e.g. unsignedInt")
    target: str | None = Field(default=None, exclude_if=lambda v: v is None,
                               description="the one target device this value is for; none: every target")

    @field_validator("path")
    @classmethod
    def _path_shape(cls, v: str) -> str:
        v = v.strip()
        if not v or v.endswith(".") or " " in v:
            raise ValueError(f"{v!r} is not a parameter path (expected e.g. Device.WiFi.Radio.1.Channel)")
        return v

    @field_validator("target")
    @classmethod
    def _target_shape(cls, v: str | None) -> str | None:
        if v is not None and (not v.strip() or len(v) > 128):
            raise ValueError(f"{v!r} is not a device id (a per-target change names one target device)")
        return v


def changes_for(changes: Sequence[Change], device_id: str) -> list[Change]:
    """What ``device_id`` gets: every untargeted change plus the changes targeted at it, in order."""
    return [c for c in changes if c.target is None or c.target == device_id]


def is_per_target(changes: Sequence[Change]) -> bool:
    """Does any change carry its own target (a multi-device proposal with per-device values)?"""
    return any(c.target is not None for c in changes)


def check_targeted(changes: Sequence[Change], targets: Sequence[str]) -> None:
    """Refuse per-target changes that cannot be applied as written (``Invalid`` names the device):
    a value for a device the proposal does not target, a target left with nothing to set, or too
    many devices or entries for a proposal that lists every device's values in itself."""
    if not is_per_target(changes):
        return
    wanted = set(targets)
    stray = sorted({c.target for c in changes if c.target is not None and c.target not in wanted})
    if stray:
        raise Invalid(f"a per-target change is for {stray[0]!r}, which is not a target of this proposal"
                      + (f" (and {len(stray) - 1} more)" if len(stray) > 1 else ""), device_id=stray[0])
    if len(targets) > MAX_PER_TARGET_DEVICES:
        raise Invalid(f"a proposal with per-target values may target at most {MAX_PER_TARGET_DEVICES} devices "
                      f"(got {len(targets)})", limit="MAX_PER_TARGET_DEVICES")
    targeted = sum(1 for c in changes if c.target is not None)
    if targeted > MAX_TARGETED_CHANGES:
        raise Invalid(f"a proposal may carry at most {MAX_TARGETED_CHANGES} per-target values (got {targeted})",
                      limit="MAX_TARGETED_CHANGES")
    if all(c.target is not None for c in changes):
        bare = [t for t in targets if not any(c.target == t for c in changes)]
        if bare:
            raise Invalid(f"target {bare[0]!r} has no value in this per-target proposal; give it its own "
                          "values or leave it out of the targets", device_id=bare[0])


OperationName = Literal["reboot", "factory_reset", "download", "ipping"]


class Operation(BaseModel):
    """A command rather than a Set: reboot, factory reset, firmware download, IPPing."""

    model_config = ConfigDict(frozen=True)

    command: OperationName
    args: dict[str, Scalar] = Field(default_factory=dict)


class Evidence(BaseModel):
    """What the planner (or a person) looked at. ``untrusted`` marks device/subscriber text."""

    kind: str
    summary: str
    data: dict[str, Any] = Field(default_factory=dict)
    untrusted: bool = False


SERIES_MAX_POINTS = 96  # a day at the fleet's 15-minute sampling: enough for a chart, small to store and hash


class EvidenceSeries(BaseModel):
    """The measurement behind a finding, as the approver's chart draws it: one
    metric of one device over the last ``hours``, bounded, named in words with its unit, and the
    threshold the diagnosis held it against. Stored as an :class:`Evidence`'s ``data["series"]``
    (``model_dump(mode="json")``), so the evidence's own shape, and every stored proposal's hash,
    stay as they were. Numbers and short labels only: no device text, nothing secret."""

    model_config = ConfigDict(frozen=True)

    metric: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=80)
    unit: str = Field(default="", max_length=24)
    labels: dict[str, str] = Field(default_factory=dict, max_length=4)
    hours: int = Field(default=24, ge=1, le=24 * 7)
    points: list[tuple[datetime, float]] = Field(min_length=1, max_length=SERIES_MAX_POINTS)
    threshold: float | None = None
    threshold_text: str | None = Field(default=None, max_length=120)

    @field_validator("points")
    @classmethod
    def _finite(cls, v: list[tuple[datetime, float]]) -> list[tuple[datetime, float]]:
        if any(not math.isfinite(x) for _, x in v):
            raise ValueError("a series point is not a finite number")
        return v

    @field_validator("labels")
    @classmethod
    def _short_labels(cls, v: dict[str, str]) -> dict[str, str]:
        if any(len(k) > 32 or len(x) > 32 for k, x in v.items()):
            raise ValueError("a series label is longer than 32 characters")
        return v


class Selector(BaseModel):
    """A fleet selector, resolved to device ids when the proposal is created."""

    model: str | None = None
    vendor: str | None = None
    firmware: str | None = None
    region: str | None = None
    tags: list[str] = Field(default_factory=list)
    subscriber: str | None = None
    limit: int | None = None


PreconditionFact = Literal["dns_servers", "neighbour_on_channel", "hosts_connected", "online", "firmware", "channel",
                           "band_enabled", "ssid_enabled", "uptime", "power"]


class Precondition(BaseModel):
    """A check on a live fact that must hold when the write starts ("only if no DNS server is set",
    "unless a neighbour already uses channel 11"). The planner checks it at preview; the lifecycle
    reads ``paths`` from the device again after taking the lock and writes nothing if it no longer
    holds (``core.preconditions``). ``text`` is what the approver reads."""

    model_config = ConfigDict(extra="forbid")

    fact: PreconditionFact
    expect: Literal["empty", "nonempty", "eq", "ne", "gt", "lt"]
    value: Scalar | None = None
    band: str | None = Field(default=None, description="the band a neighbour count is limited to")
    paths: list[str] = Field(default_factory=list, description="TR-181 paths read to decide it (objects end in '.')")
    text: str = Field(min_length=1, max_length=300)
    at_write: bool = Field(default=False, description=(
        "a condition about the scheduled time ('at 2 if nobody is online then'): judged only when the write "
        "starts, never at drafting; every condition is judged then"))

    def signed(self) -> JsonObject:
        """What the proposal's hash covers: every field, ``at_write`` only when set (so the hash of a
        proposal stored before it existed is unchanged)."""
        out = self.model_dump(mode="json")
        if not self.at_write:
            out.pop("at_write", None)
        return out


class ProposalDraft(BaseModel):
    """What a human, a job or the planner submits. Everything else is computed."""

    intent: str = Field(min_length=1, max_length=300)
    targets: list[str] = Field(default_factory=list)
    selector: Selector | None = None
    changes: list[Change] = Field(default_factory=list)
    operations: list[Operation] = Field(default_factory=list)
    rationale: str = ""
    evidence: list[Evidence] = Field(default_factory=list)
    emergency: bool = False
    action_type: str | None = Field(
        default=None, description="catalogue action type (automation), e.g. wifi.channel_change"
    )
    staged: bool = Field(default=False, description="applied in rings by a campaign, not all at once")
    source: str = "cli"
    not_before: datetime | None = Field(default=None,
                                        description="the write starts no earlier (aware; the worker starts it)")
    not_after: datetime | None = Field(default=None, description=(
        "a scheduled write's latest start (aware): past it the write is never started; defaulted from "
        "not_before when a schedule is given without one"))
    preconditions: list[Precondition] = Field(default_factory=list)
    readback: str = Field(default="", max_length=2000, description="the request as understood, in plain words")


class Proposal(BaseModel):
    id: str
    author: str
    author_kind: ActorKind = ActorKind.HUMAN
    intent: str
    targets: list[str]
    changes: list[Change] = Field(default_factory=list)
    operations: list[Operation] = Field(default_factory=list)
    rationale: str = ""
    evidence: list[Evidence] = Field(default_factory=list)
    emergency: bool = False
    action_type: str | None = None
    staged: bool = False
    source: str = "cli"
    risk: float | None = None
    state: ProposalState = ProposalState.DRAFT
    hash: str = ""
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    not_before: datetime | None = None
    preconditions: list[Precondition] = Field(default_factory=list)
    readback: str = ""
    start_requested_by: str | None = None  # who asked a scheduled write to start (not signed: not content)
    not_after: datetime | None = None  # a scheduled write's latest start (signed with not_before)
    start_retry_at: datetime | None = None  # the scheduler's next try after a deferral (bookkeeping, not signed)
    start_deferrals: int | None = None  # how often the scheduler deferred the start (bookkeeping, not signed)

    def hashed_content(self) -> JsonObject:
        """Everything an approver signs off on. State, timestamps and the computed risk
        are excluded; any edit to the rest changes the hash and voids decisions and approvals.
        A schedule, preconditions and the read-back are signed too, but only when present, so the
        hash of every proposal stored before they existed is unchanged."""
        return self._base_content() | self._qualifiers()

    def _qualifiers(self) -> JsonObject:
        out: JsonObject = {}
        if self.not_before is not None:
            out["not_before"] = self.not_before.astimezone(UTC).isoformat()
        if self.not_after is not None:
            out["not_after"] = self.not_after.astimezone(UTC).isoformat()
        if self.preconditions:
            out["preconditions"] = [c.signed() for c in self.preconditions]
        if self.readback:
            out["readback"] = self.readback
        return out

    def _base_content(self) -> JsonObject:
        return {
            "id": self.id,
            "author": self.author,
            "author_kind": str(self.author_kind),
            "intent": self.intent,
            "targets": sorted(self.targets),
            "changes": [c.model_dump(mode="json") for c in self.changes],
            "operations": [o.model_dump(mode="json") for o in self.operations],
            "rationale": self.rationale,
            "evidence": [e.model_dump(mode="json") for e in self.evidence],
            "emergency": self.emergency,
            "action_type": self.action_type,
            "staged": self.staged,
        }

    def compute_hash(self) -> str:
        return proposal_hash(self.hashed_content())

    @property
    def per_target(self) -> bool:
        """Some change carries its own target: each device has its own values."""
        return is_per_target(self.changes)

    def changes_for(self, device_id: str) -> list[Change]:
        """The changes ``device_id`` gets: the common ones and its own (see :class:`Change`)."""
        return changes_for(self.changes, device_id)

    def values_by_device(self) -> dict[str, list[Change]]:
        """Each target's own change list, in target order (the per-device table approvers read)."""
        return {t: self.changes_for(t) for t in self.targets}


def _content_issue(value: Any, where: str) -> str | None:
    """Why ``value`` (a JSON-like tree) has no canonical JSON form, naming the field; or ``None``."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        if not MIN_INT <= value <= MAX_INT:
            return f"{where}: integer {value} is outside the 64-bit range [{MIN_INT}, {MAX_INT}]"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{where}: {value} is not a finite number"
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{where}: the text contains a lone UTF-16 surrogate (not valid Unicode)"
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            issue = _content_issue(k, f"{where} key") or _content_issue(v, f"{where}.{k}")
            if issue:
                return issue
        return None
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            issue = _content_issue(v, f"{where}.{i}")
            if issue:
                return issue
    return None


def check_draft(draft: ProposalDraft, target_count: int | None = None) -> None:
    """Refuse a draft that is too large or has no canonical JSON form, before anything is stored
    or evaluated (``Invalid`` names the field or the limit). ``target_count``: the resolved
    targets (a selector may add to ``draft.targets``)."""
    n_targets = len(draft.targets) if target_count is None else target_count
    max_targets = MAX_STAGED_TARGETS if draft.staged else MAX_TARGETS
    per_device = _changes_per_device(draft.changes)
    if per_device > MAX_CHANGES:
        raise Invalid(f"a proposal may change at most {MAX_CHANGES} parameters (got {per_device}); "
                      "split it into several proposals", limit="MAX_CHANGES")
    if len(draft.operations) > MAX_OPERATIONS:
        raise Invalid(f"a proposal may run at most {MAX_OPERATIONS} operations (got {len(draft.operations)})",
                      limit="MAX_OPERATIONS")
    if n_targets > max_targets:
        raise Invalid(f"a proposal applied at once may target at most {max_targets} devices (got {n_targets}); "
                      "roll larger changes out as a campaign", limit="MAX_STAGED_TARGETS" if draft.staged
                      else "MAX_TARGETS")
    issue = _content_issue(draft.model_dump(mode="python", include={"intent", "targets", "changes", "operations",
                                                                     "rationale", "evidence", "action_type"}),
                           "proposal")
    if issue:
        raise Invalid(issue.removeprefix("proposal."))


def _changes_per_device(changes: Sequence[Change]) -> int:
    """The most parameters any one device gets: all of them for an ordinary proposal; the common
    ones plus the busiest target's own for a per-target one (the limit is per device written)."""
    common = sum(1 for c in changes if c.target is None)
    own: dict[str, int] = {}
    for c in changes:
        if c.target is not None:
            own[c.target] = own.get(c.target, 0) + 1
    return common + max(own.values(), default=0)


def proposal_hash(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(content)).hexdigest()


class PolicyItem(BaseModel):
    """One thing policy said, in code: ``code`` is a stable dotted identifier (policies/README.md
    lists them), ``params`` its typed values, ``message`` the words for people. Code branches on
    ``code``/``params`` only, so that rewording a Rego message never changes behaviour."""

    model_config = ConfigDict(frozen=True)

    code: str
    message: str
    params: dict[str, Any] = Field(default_factory=dict)


class ApprovalRequirement(BaseModel):
    model_config = ConfigDict(frozen=True)

    role: str
    reason: str  # the messages of ``items``, for display
    items: list[PolicyItem] = Field(default_factory=list)


class Decision(BaseModel):
    """The policy decision shape (``policies/README.md``, "The output document"), identical for every engine.

    ``deny``/``obligations``/``warnings`` are the messages (what the API, console and audit show);
    the ``*_items`` lists beside them carry the same statements as :class:`PolicyItem`, in the
    same order, and are what code reads."""

    allow: bool
    deny: list[str] = Field(default_factory=list)
    approvals_required: list[ApprovalRequirement] = Field(default_factory=list)
    risk: float = 0.0
    obligations: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    deny_items: list[PolicyItem] = Field(default_factory=list)
    obligation_items: list[PolicyItem] = Field(default_factory=list)
    warning_items: list[PolicyItem] = Field(default_factory=list)

    @classmethod
    def fail_closed(cls, reason: str, code: str = "policy.fail_closed") -> Decision:
        return cls(allow=False, deny=[reason], risk=1.0,
                   deny_items=[PolicyItem(code=code, message=reason)])


class DecisionRecord(BaseModel):
    id: str
    proposal_id: str
    proposal_hash: str
    revision: str
    engine: str
    decision: Decision
    duration_us: float
    created_at: datetime
    dry_run: bool = False


class Approval(BaseModel):
    id: str
    proposal_id: str
    proposal_hash: str
    decision_id: str | None = None
    actor: str
    role: str | None
    verdict: Literal["approve", "reject"]
    comment: str = ""
    created_at: datetime


class DiffLine(BaseModel):
    path: str
    device_path: str
    before: Scalar | None
    after: Scalar
    type: str
    secret: bool = False
    unchanged: bool = False
    restorable: bool = True  # False: a rollback cannot put the old value back (a secret reads back empty)


class DevicePreview(BaseModel):
    device_id: str
    present: bool
    lines: list[DiffLine] = Field(default_factory=list)
    operations: list[Operation] = Field(default_factory=list)
    error: str | None = None


class Preview(BaseModel):
    proposal_id: str
    proposal_hash: str
    devices: list[DevicePreview]
    taken_at: datetime


class ExecutionStatus(StrEnum):
    PENDING = "pending"
    APPLYING = "applying"
    APPLIED = "applied"
    VERIFIED = "verified"
    VERIFY_FAILED = "verify_failed"
    FAILED = "failed"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    ROLLBACK_FAILED = "rollback_failed"
    SKIPPED = "skipped"
    # Recovery found this attempt interrupted before any write; the row is kept as evidence and
    # reused (attempt + 1) by the next apply.
    ABANDONED = "abandoned"


class Execution(BaseModel):
    id: str
    proposal_id: str
    device_id: str
    status: ExecutionStatus
    key: str
    detail: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class AuditEvent(BaseModel):
    seq: int
    ts: datetime
    actor: str
    action: str
    proposal_id: str | None = None
    device_id: str | None = None
    subscriber: str | None = None
    model: str | None = None
    firmware: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str
    hash: str
