"""Zero-touch provisioning: the proposals that bring a device to its baseline profile.

Why proposals and not a provisioning back door: a device that bootstraps or was factory-reset
gets its baseline through the same gates as any change — validated against its data model,
previewed, decided by policy, backed up, applied and verified by ``core.lifecycle``. The job only
decides *what* the baseline says; policy decides whether automation may apply it unattended.

The difference between the profile and the device's live values is split by the automation
catalogue of the policy pack: changes that fall under one catalogue action type (e.g. DNS servers
under ``dns.server_fix``, a pinned channel under ``wifi.channel_change``) become one proposal with
that action type — pre-approved when within its limits; the rest becomes one proposal without an
action type, which policy routes to the approvers' queue (or denies: the management plane is
never automation's). Every proposal carries the matching profiles (id, version, parameters) as
evidence, which policy reads as ``context.profiles`` for precedence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from brain.remediation.profiles import Baseline
from core.kernel.models import Change, Device, Evidence, ProposalDraft, Scalar
from core.services import CoreServices
from executors.base import ExecutorError

TRIGGERS = {"bootstrap": "first contact (0 BOOTSTRAP)", "onboard": "first contact (USP OnBoardRequest)",
            "factory_reset": "factory reset (Boot! / 0 BOOTSTRAP after reset)", "manual": "requested by a person"}


@dataclass
class ProvisionPlan:
    device_id: str
    drafts: list[ProposalDraft] = field(default_factory=list)
    compliant: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)


def _pattern(path: str) -> str:
    from core.kernel.datamodel.registry import get_registry

    spec = get_registry("Device.", "cwmp").find(path) or get_registry("Device.", "usp").find(path)
    return spec.path if spec is not None else path


def _within(spec: dict[str, Any], value: Scalar) -> bool:
    """The catalogue's value limits (as ``gateward.rbac.value_within``)."""
    if "enum" in spec:
        return value in spec["enum"] and (type(value) is bool) == any(type(x) is bool for x in spec["enum"])
    if isinstance(value, bool):
        return "max_length" not in spec and "min" not in spec and "max" not in spec
    if isinstance(value, (int, float)) and ("min" in spec or "max" in spec):
        return float(spec.get("min", value)) <= value <= float(spec.get("max", value))
    if isinstance(value, str) and "max_length" in spec:
        return len(value) <= int(spec["max_length"])
    return not any(k in spec for k in ("min", "max", "max_length"))


def catalogue_type(catalogue: dict[str, Any], change: Change) -> str | None:
    """The first parameter-only catalogue action type whose pattern and limits admit ``change``."""
    pattern = _pattern(change.path)
    for name, spec in sorted((catalogue.get("types") or {}).items()):
        if spec.get("operations"):
            continue
        limits = (spec.get("changes") or {}).get(pattern)
        if limits is not None and _within(limits, change.value):
            return str(name)
    return None


def _equal(a: Any, b: Any) -> bool:
    from core.execution import values_equal

    return values_equal(a, b)


def plan_provisioning(rt: CoreServices, device: Device, baseline: Baseline, trigger: str, policy_data: dict[str, Any],
                      *, case_id: str = "", event: dict[str, Any] | None = None) -> ProvisionPlan:
    """Read the baseline's parameters live and draft what differs. Raises ExecutorError when the
    device cannot be read at all (the case is retried later)."""
    out = ProvisionPlan(device.id)
    from core.capabilities import discover_if_unknown

    discover_if_unknown(rt.store, rt.router, device)  # first contact: learn its data model
    reader = rt.router.reader(device)
    wanted = dict(baseline.parameters)
    try:
        values = {p: v.value for p, v in reader.read(device, list(wanted)).items()}
    except ExecutorError as exc:
        if getattr(exc, "code", None) != 9005 or not wanted:
            raise
        values = {}
        for p in wanted:  # one unknown path (a model without that object) must not hide the others
            try:
                values.update({k: v.value for k, v in reader.read(device, [p]).items()})
            except ExecutorError as inner:
                out.unreadable[p] = inner.message
    diff: list[Change] = []
    for path, want in sorted(wanted.items()):
        if path in out.unreadable:
            continue
        if path in values and _equal(values[path], want):
            out.compliant.append(path)
        else:
            diff.append(Change(path=path, value=want))
    if not diff:
        return out
    groups: dict[str | None, list[Change]] = {}
    catalogue = policy_data.get("catalogue") or {}
    for c in diff:
        groups.setdefault(catalogue_type(catalogue, c), []).append(c)
    profile_ev = [Evidence(kind="profile", summary=f"profile {p.id} v{p.version} ({p.match.describe()})",
                           data=p.evidence()) for p in baseline.profiles]
    why = TRIGGERS.get(trigger, trigger)
    for action_type, changes in sorted(groups.items(), key=lambda kv: kv[0] or "~"):
        names = ", ".join(sorted({baseline.source[c.path] for c in changes}))
        what = action_type or "baseline settings outside the automation catalogue"
        out.drafts.append(ProposalDraft(
            intent=f"Provision baseline ({what}) after {why}"[:300], targets=[device.id], changes=changes,
            action_type=action_type, source="ztp",
            rationale=(f"Zero-touch provisioning after {why}: {len(changes)} parameter(s) differ from the baseline "
                       f"profile(s) {names} of {device.vendor} {device.model}, region {device.region}, service "
                       f"{device.service}."),
            evidence=[*profile_ev, Evidence(kind="ztp", summary=f"{trigger} reported by the device",
                                            data={"trigger": trigger, "case": case_id, "event": event or {}},
                                            untrusted=bool(event))]))
    return out
