"""The planner's self-check: would this draft pass the gates, before it is submitted?

Why: a proposal that policy denies is a dead end for the support agent on the phone; one that
names a path the device does not have is noise for an approver. So before the planner presents a
draft it runs the very checks the lifecycle will run — ``core.validation.validate_changes``
against the device's own data model (TR-181, and TR-098 translation for legacy firmware) and a
policy evaluation of an input built by ``core.policy_input.build`` exactly as the lifecycle builds
it — and re-drafts on failure. Nothing is stored: the draft gets a transient id and hash, and the
preview facts (radios, SSIDs) come from a live read through the read path.

This is advice, not a gate: the lifecycle checks everything again when the draft is submitted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from core import compat
from core import policy_input as pinput
from core.kernel.jsontypes import JsonObject
from core.kernel.models import Actor, Decision, Device, Proposal, ProposalDraft, ProposalState, utcnow
from core.services import CoreServices
from core.validation import normalise, validate_changes
from executors.base import ExecutorError


@dataclass
class SelfCheck:
    ok: bool
    issues: list[str] = field(default_factory=list)
    decision: Decision | None = None
    error: str | None = None

    @property
    def invalid(self) -> bool:
        return bool(self.issues)

    @property
    def denied(self) -> bool:
        return self.decision is not None and not self.decision.allow

    @property
    def needs_approval(self) -> list[str]:
        return [a.role for a in self.decision.approvals_required] if self.decision else []

    def summary(self) -> str:
        if self.issues:
            return "invalid: " + "; ".join(self.issues[:3])
        if self.decision is None:
            return f"not checked: {self.error or 'no decision'}"
        if not self.decision.allow:
            return "policy would deny: " + "; ".join(self.decision.deny[:3])
        if self.decision.approvals_required:
            return (f"policy would allow with approval by {', '.join(self.needs_approval)} "
                    f"(risk {self.decision.risk:.2f})")
        return f"policy would allow (risk {self.decision.risk:.2f})"

    def as_dict(self) -> JsonObject:
        return {"ok": self.ok, "issues": list(self.issues), "error": self.error,
                "decision": self.decision.model_dump(mode="json") if self.decision else None}


def _preview_facts(runtime: CoreServices, device: Device, p: Proposal) -> JsonObject:
    reader = runtime.router.reader(device)
    present = False
    facts: JsonObject = {}
    try:
        pres = reader.presence(device)
        present = pres.online
        if present and any(c.path.startswith("Device.WiFi.") for c in p.changes):
            values = reader.read(device, list(pinput.WIFI_FACT_PATHS))
            facts = pinput.wifi_facts(values)
    except ExecutorError:
        pass
    return {"hash": p.hash, "taken_at": utcnow().isoformat(),
            "devices": [{"device_id": device.id, "present": present, "facts": facts, "lines": [], "error": None}]}


def self_check(runtime: CoreServices, device: Device, actor: Actor, draft: ProposalDraft) -> SelfCheck:
    """Validate ``draft`` on ``device`` and ask policy about it as ``actor`` would submit it."""
    issues = [i.message for i in validate_changes(device, draft.changes)]
    if issues:
        return SelfCheck(ok=False, issues=issues)
    now = utcnow()
    p = Proposal(id=f"draft-{uuid.uuid4().hex[:12]}", author=actor.id, author_kind=actor.kind, intent=draft.intent,
                 targets=[device.id], changes=normalise(draft.changes), operations=list(draft.operations),
                 rationale=draft.rationale, evidence=list(draft.evidence), emergency=draft.emergency,
                 action_type=draft.action_type, source=draft.source, state=ProposalState.DRAFT,
                 created_at=now, updated_at=now)
    p.hash = p.compute_hash()
    preview = _preview_facts(runtime, device, p)
    try:
        with runtime.store.read() as s:
            # the lifecycle's clock (pinned in rehearsals and evals), so the dry run judges change
            # windows exactly as the submit that follows will
            clock = getattr(runtime.lifecycle, "clock", utcnow)
            data = compat.policy_data(runtime.policy)
            statuses = compat.statuses_for(s, [device], compat.workflows_for(p.changes, p.operations, data), data)
            doc = pinput.build(s, p, [device], actor, preview, compat=statuses, now=clock())
    except Exception as exc:  # the store or the input builder failed: we cannot say; the gate will
        return SelfCheck(ok=False, error=f"could not build the policy input: {exc}")
    decision = runtime.policy.decide(doc)
    return SelfCheck(ok=decision.allow, decision=decision)
