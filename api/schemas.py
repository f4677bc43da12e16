"""Request and response bodies (pydantic) — the API's typed boundary.

Requests forbid unknown fields (a typo such as ``comemnt`` is a 422 naming it, not a silently
empty comment). Every string has a length limit, so the OpenAPI schema tells a client and the
fuzzer exactly what is accepted. Responses are typed at the top level; nested read models stay
plain dicts built by ``core.views`` so that one function decides what is masked.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from core.kernel.models import (
    MAX_CHANGES,
    MAX_INT,
    MAX_OPERATIONS,
    MAX_TARGETS,
    MIN_INT,
    Device,
    Evidence,
    Operation,
    PreconditionFact,
    Selector,
)

HASH_PATTERN = r"^[0-9a-f]{64}$"
# A parameter value as the schema states it: an integer the canonical JSON of the proposal hash can
# encode (64 bits), a finite number, a bounded string, a boolean.
BoundedInt = Annotated[int, Field(ge=MIN_INT, le=MAX_INT)]
BoundedFloat = Annotated[float, Field(ge=MIN_INT, le=MAX_INT, allow_inf_nan=False)]
BoundedStr = Annotated[str, Field(max_length=4096)]
ParamValue = BoundedStr | bool | BoundedInt | BoundedFloat
# A parameter path: no whitespace or control character (spelled out, not ``\s``: regex dialects
# disagree on it), not a partial path (ending in "."); the data model judges the rest.
_NO_PATH_CHARS = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
PATH_PATTERN = rf"^[^{_NO_PATH_CHARS}]*[^.{_NO_PATH_CHARS}]$"
_PATH_RE = re.compile(PATH_PATTERN)
# ipping's host (``core.validation``): a host name or an IPv4/IPv6 address.
HOST_PATTERN = r"^([A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|[0-9A-Fa-f:.]{2,45})$"


UNKNOWN_KEYS_LISTED = 5  # unknown keys an object may have before they are reported as one error


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _few_unknown_keys(cls, data: Any) -> Any:
        """Many unknown keys in one object are one error naming the first few, not one each: a
        body of 200 changes with 60 unknown keys apiece made 12,000 errors, and turning them
        into an answer held the event loop. A few are left to pydantic, one per key."""
        if isinstance(data, dict) and len(data) > UNKNOWN_KEYS_LISTED:
            unknown = [k for k in data if k not in cls.model_fields]
            if len(unknown) > UNKNOWN_KEYS_LISTED:
                named = ", ".join(str(k)[:40] for k in unknown[:UNKNOWN_KEYS_LISTED])
                raise ValueError(f"unknown fields {named} (+{len(unknown) - UNKNOWN_KEYS_LISTED} more); "
                                 f"the fields are {', '.join(cls.model_fields)}")
        return data


class ChangeIn(_In):
    path: str = Field(min_length=1, max_length=256, json_schema_extra={"pattern": PATH_PATTERN},
                      examples=["Device.WiFi.Radio.2.Channel"])
    value: ParamValue
    type: str | None = Field(default=None, max_length=32, description="declared TR-181 type, e.g. unsignedInt")
    target: str | None = Field(default=None, min_length=1, max_length=128,
                               description="per-target value: the one target device this change is for "
                                           "(omit: every target)")

    @field_validator("value", mode="before")
    @classmethod
    def _int_range(cls, v: Any) -> Any:
        """Refuse, by name, an integer the proposal hash cannot encode (rather than let the union
        turn it into an imprecise float)."""
        if isinstance(v, int) and not isinstance(v, bool) and not MIN_INT <= v <= MAX_INT:
            raise ValueError(f"integer {v} is outside the 64-bit range [{MIN_INT}, {MAX_INT}]")
        return v

    @field_validator("path")
    @classmethod
    def _parameter_path(cls, v: str) -> str:
        # The same expression the schema publishes, so that schema and server agree exactly.
        if not _PATH_RE.fullmatch(v):
            raise ValueError(f"{v!r} is not a parameter path (expected e.g. Device.WiFi.Radio.1.Channel)")
        return v


# A path a precondition reads: a parameter or an object (ending in ".") of either data model.
ReadPath = Annotated[str, Field(max_length=256, pattern=r"^(Device|InternetGatewayDevice)\.[A-Za-z0-9_.]*$")]


class PreconditionIn(_In):
    """A check on a live fact the write waits for (``core.preconditions``): read again after the device
    lock is taken, and a false one cancels the proposal with the fact, nothing written."""

    fact: PreconditionFact
    expect: Literal["empty", "nonempty", "eq", "ne", "gt", "lt"]
    value: ParamValue | None = None
    band: Literal["2.4GHz", "5GHz", "6GHz"] | None = None
    paths: list[ReadPath] = Field(
        default_factory=list, max_length=4, description="the parameter(s) read for channel, band_enabled, "
                                                        "ssid_enabled and power (objects end in '.')")
    text: str = Field(min_length=1, max_length=300, description="what the approver reads")


class ProposalIn(_In):
    intent: str = Field(min_length=1, max_length=300, examples=["move 5 GHz off a DFS channel"])
    targets: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        default_factory=list, max_length=MAX_TARGETS, description=f"at most {MAX_TARGETS} devices (larger: a campaign)")
    selector: Selector | None = None
    changes: list[ChangeIn] = Field(default_factory=list, max_length=MAX_CHANGES)
    operations: list[Operation] = Field(default_factory=list, max_length=MAX_OPERATIONS)
    rationale: str = Field(default="", max_length=5000)
    evidence: list[Evidence] = Field(default_factory=list, max_length=100)
    emergency: bool = False
    not_before: AwareDatetime | None = Field(None, description=(
        "a scheduled write: applying before it records who asked and writes nothing; the worker starts it "
        "then, every gate checked again (ISO 8601 with an offset)"))
    preconditions: list[PreconditionIn] = Field(default_factory=list, max_length=10)
    record_invalid: bool = Field(default=True, description=(
        "false: a draft that does not validate is refused (422, with every problem) and nothing is "
        "recorded — a person's form; true: it is recorded as an invalid proposal"))


class ApproveIn(_In):
    comment: str = Field(default="", max_length=2000)
    hash: str = Field(pattern=HASH_PATTERN,
                      description="the proposal hash you reviewed; 409 if the proposal changed since")


class RejectIn(_In):
    reason: str = Field(min_length=1, max_length=2000)


class ReasonIn(_In):
    reason: str = Field(min_length=1, max_length=2000)


class RollbackIn(ReasonIn):
    force: bool = Field(default=False, description="restore even where the device changed since the apply "
                                                   "(a later proposal or a local change); audited as rollback.forced")


class CancelIn(_In):
    reason: str = Field(default="", max_length=2000)


class IPPingIn(_In):
    host: str = Field(default="8.8.8.8", min_length=1, max_length=253, pattern=HOST_PATTERN)
    repetitions: int = Field(default=3, ge=1, le=20)


class ThreadIn(_In):
    device_id: str | None = Field(default=None, max_length=128)
    title: str | None = Field(default=None, max_length=200)


class MessageIn(_In):
    """One chat turn. ``secret`` is the secret field (issue 54): the only way a Wi-Fi passphrase reaches
    a draft. Write-only — never stored in the thread, echoed, logged or audited; the proposal it makes
    holds it (masked wherever it is shown) and the turn's events carry only its fingerprint."""

    text: str = Field(default="", max_length=4000, description="the message; may be empty when `secret` is given")
    secret: SecretStr | None = Field(default=None, json_schema_extra={"writeOnly": True, "format": "password"},
                                     description="a new Wi-Fi passphrase (8–63 printable ASCII characters, or "
                                                 "64 hex digits), kept out of the text")

    # The schema says what the validator says, so a client generated from it (and the API fuzzer)
    # knows an empty body is no message: a text with something in it, or a secret.
    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": [
        {"required": ["text"], "properties": {"text": {"type": "string", "pattern": "\\S"}}},
        {"required": ["secret"], "properties": {"secret": {"type": "string"}}}]})

    @model_validator(mode="after")
    def _text_or_secret(self) -> MessageIn:
        if not self.text.strip() and self.secret is None:
            raise ValueError("send a message text, a secret, or both")
        return self


# ---------------------------------------------------------------------------- responses


class Me(BaseModel):
    id: str
    roles: list[str]
    kind: str
    can_approve: bool = Field(default=False, description="may approve or reject proposals (the console shows "
                                                          "the approvals count only to them)")


class DeviceItem(Device):
    busy: bool = Field(default=False, description="a live (non-terminal) proposal targets this device")
    presence: dict[str, Any] | None = None


class DeviceList(BaseModel):
    items: list[DeviceItem]
    total: int


class Facets(BaseModel):
    vendors: dict[str, int]
    models: dict[str, int]
    firmwares: dict[str, int]
    regions: dict[str, int]
    states: list[str]


class ProposalSummary(BaseModel):
    id: str
    author: str
    intent: str
    state: str
    risk: float | None
    hash: str
    target_count: int
    targets: list[str] = Field(description="the first 20 targets")
    changes: list[dict[str, Any]]
    operations: list[dict[str, Any]]
    source: str
    error: str | None
    created_at: str
    updated_at: str
    not_before: str | None = Field(None, description="a scheduled write starts no earlier (ISO 8601, UTC)")
    not_after: str | None = Field(None, description="a scheduled write never starts later (ISO 8601, UTC)")


class ProposalList(BaseModel):
    items: list[ProposalSummary]
    total: int


class ProposalDetail(BaseModel):
    proposal: dict[str, Any]
    preview: dict[str, Any] | None = None
    decision: dict[str, Any] | None = None
    approvals: list[dict[str, Any]] = Field(default_factory=list)
    executions: list[dict[str, Any]] = Field(default_factory=list)
    backup: list[dict[str, Any]] = Field(default_factory=list)
    blast_radius: dict[str, Any] = Field(default_factory=dict)
    log: list[dict[str, Any]] = Field(default_factory=list)
    outcome: dict[str, Any] | None = Field(default=None, description="set by apply/rollback")
    secrets: list[dict[str, Any]] = Field(default_factory=list, description=(
        "what each secret the proposal writes is for: device, parameter, its network (SSID, role, band, as "
        "last read), old → new, and the new value's fingerprint (first 8 hex of a keyed HMAC; the agent "
        "saw the same one)"))


class DecisionOut(BaseModel):
    proposal_id: str
    proposal_hash: str
    current: bool = Field(description="the decision is for the proposal's current content")
    dry_run: bool
    allow: bool
    deny: list[str]
    approvals_required: list[dict[str, Any]]
    risk: float
    obligations: list[str]
    warnings: list[str]
    would_deny: list[str]
    revision: str
    engine: str
    duration_us: float
    created_at: str
    explanation: str
    input: dict[str, Any] = Field(description="the policy input, secrets masked")


class AuditPage(BaseModel):
    items: list[dict[str, Any]]
    next_before_seq: int | None = None


class AuditFindingOut(BaseModel):
    seq: int
    text: str


class AuditVerifyOut(BaseModel):
    ok: bool
    count: int
    first_broken_seq: int | None = None
    message: str
    findings: list[AuditFindingOut] = Field(default_factory=list, description="every finding, first first")
    checked: list[str] = Field(default_factory=list, description="what was checked: events, links, keyed head, "
                               "checkpoints, anchor file")
    cannot_detect: list[str] = Field(default_factory=list, description="what this check cannot detect")


class ThreadOut(BaseModel):
    thread_id: str
    device_id: str | None = None
    owner: str
    title: str
    status: Literal["open", "awaiting_approval", "closed"]
    proposal_id: str | None = None
    proposal_state: str | None = Field(None, description="the thread's proposal's state now: the thread's "
                                                         "status is the planner's at its last turn, this is current")
    updated_at: str


class ThreadList(BaseModel):
    items: list[ThreadOut]


class ThreadHistory(BaseModel):
    thread: ThreadOut
    events: list[dict[str, Any]]


class Health(BaseModel):
    status: str
    demo: bool = Field(default=False, description="served by `gateward run --demo`: a simulated fleet and demo "
                                                  "people, not production (the console shows a banner)")
