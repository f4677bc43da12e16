"""The policy input document, as pydantic models (``policies/README.md``, "The input document").

Why models and not a plain dict: ``core.lifecycle`` builds this document from the store and the
preview, and every field the Rego rules read must be present and typed, or a deny rule could go
silently undefined. The models make the builder's mistakes fail at construction; the Rego package
``gateward.input`` checks the same shape again for documents that arrive any other way (the OPA
server, tests, a future caller).

``PolicyInput.to_doc()`` returns the plain JSON-able dict the engines take.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from core.kernel.jsontypes import JsonObject

# Values keep their JSON type: a TR-181 boolean must reach Rego as a boolean, never 0/1 or "true".
TypedValue = StrictBool | StrictInt | StrictStr | float

Band = Literal["2.4GHz", "5GHz", "6GHz"]
Kind = Literal["human", "job"]
Compat = Literal["green", "yellow", "red"]
Command = Literal["reboot", "factory_reset", "download", "ipping"]

REDACTED = "********"


class _Model(BaseModel):
    # strict: "yes" is not a boolean and "3" is not an integer; the builder passes real values.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SecretFacts(_Model):
    """What policy may know about a secret without seeing it."""

    length: int = Field(ge=0)
    sha256_lower: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 hex of the lowercased secret")
    contains_ssid: bool


class ChangeFacts(_Model):
    path: str = Field(description="concrete TR-181 path, e.g. Device.WiFi.Radio.1.Channel")
    pattern: str = Field(description="the same path with {i} for instance numbers")
    value: TypedValue = Field(description=f"typed value, or {REDACTED!r} when secret")
    type: str = Field(description="TR-181 type, e.g. unsignedInt")
    secret: bool = False
    secret_facts: SecretFacts | None = Field(default=None, description="only for secrets")


class OperationFacts(_Model):
    command: Command
    args: dict[str, Any] = Field(default_factory=dict)


class PreviewFacts(_Model):
    exists: bool
    devices_total: int = Field(ge=0)
    devices_present: int = Field(ge=0)
    blind: bool
    # Completeness and age (core.policy_input.preview_facts); optional so hand-written documents
    # stay valid, always set by the lifecycle. change.rego denies on failed/offline/stale.
    source: Literal["live", "snapshot"] | None = None
    complete: bool | None = None
    failed: int | None = Field(default=None, ge=0, description="targets the preview could not read")
    offline: int | None = Field(default=None, ge=0, description="targets offline at a live preview")
    age_s: int | None = Field(default=None, ge=0, description="seconds since the preview was taken")
    not_restorable: list[str] = Field(default_factory=list, description="paths a rollback cannot restore")


_OPTIONAL_PREVIEW = frozenset({"source", "complete", "failed", "offline", "age_s", "not_restorable"})


class ProposalFacts(_Model):
    id: str
    hash: str
    author: str
    author_kind: Kind
    intent: str
    emergency: bool = False
    action_type: str | None = Field(default=None, description="automation catalogue type")
    source: str = "cli"
    staged: bool = Field(default=False, description="rolled out in batches that re-check presence (campaign)")
    target_count: int = Field(ge=0, description="the full target count, also when only a class is evaluated")
    targets: list[str]
    changes: list[ChangeFacts] = Field(default_factory=list)
    operations: list[OperationFacts] = Field(default_factory=list)
    preview: PreviewFacts


class RadioFacts(_Model):
    index: int
    band: Band
    auto_channel: bool
    channel: int | None = Field(default=None, description="current channel; informational, no rule reads it")
    bandwidth: str | None = Field(default=None, description="current width; informational, no rule reads it")


class SsidFacts(_Model):
    index: int
    ssid: str


class DeviceFacts(_Model):
    id: str
    vendor: str
    model: str
    firmware: str
    region: str = Field(description='ISO country code, e.g. "DE"')
    root: Literal["Device.", "InternetGatewayDevice."] = "Device."
    protocol: Literal["cwmp", "usp"] = "cwmp"
    compat: Compat | None = Field(default=None, description="from evidence; null = use the data matrix")
    present: bool
    reboots_24h: int = Field(ge=0)
    failed_changes_7d: int = Field(ge=0)
    radios: list[RadioFacts] = Field(default_factory=list)
    ssids: list[SsidFacts] = Field(default_factory=list)


class ActorFacts(_Model):
    id: str
    roles: list[str]
    kind: Kind


class LiveChange(_Model):
    path: str
    value: TypedValue


class LiveProposalFacts(_Model):
    id: str
    author: str
    targets: list[str]
    changes: list[LiveChange] = Field(default_factory=list)


class ProfileFacts(_Model):
    id: str
    version: int | str
    targets: list[str]
    changes: list[LiveChange] = Field(default_factory=list)


class ContextFacts(_Model):
    now: str = Field(description="RFC 3339 UTC")
    now_ns: int
    fleet_size: int = Field(ge=0)
    live_proposals: list[LiveProposalFacts] = Field(default_factory=list)
    profiles: list[ProfileFacts] = Field(default_factory=list)


def _boolean_fields() -> frozenset[str]:
    """Names of the input's boolean fields (``not c.secret`` is a boolean test on any engine)."""
    names = set()
    for model in (SecretFacts, ChangeFacts, PreviewFacts, ProposalFacts, RadioFacts, DeviceFacts):
        for name, info in model.model_fields.items():
            if info.annotation in (bool, bool | None):
                names.add(name)
    return frozenset(names)


BOOLEAN_FIELDS = _boolean_fields()


class PolicyInput(_Model):
    proposal: ProposalFacts
    devices: list[DeviceFacts]
    actor: ActorFacts
    context: ContextFacts

    def to_doc(self) -> JsonObject:
        """The plain JSON-able input document. ``secret_facts`` appears only on secrets."""
        doc = self.model_dump(mode="json")
        # The optional completeness fields appear only when given (a round trip keeps the document).
        for key in _OPTIONAL_PREVIEW.difference(self.proposal.preview.model_fields_set):
            doc["proposal"]["preview"].pop(key, None)
        if "staged" not in self.proposal.model_fields_set:
            doc["proposal"].pop("staged", None)
        for change in doc["proposal"]["changes"]:
            if change.get("secret_facts") is None:
                change.pop("secret_facts", None)
        return doc
