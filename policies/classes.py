"""Fleet-scale evaluation: one decision per equivalence class of devices, not per device.

Why (``policies/README.md``, "Fleet scale"): a million-device campaign must be thousands of policy evaluations, not a
million. Devices that agree on every fact the rules read get the same decision, so each class is
evaluated once, with one representative device, and the result fans out to its members.

The key is the device's facts minus ``id``, with numbers bucketed at the thresholds in data
(reboots_24h at the reboot limit, failed_changes_7d at the risk steps) and the radios reduced to
what the rules read (index, band, auto_channel), plus a *context signature*: the live proposals
and profiles that touch this device on a path this proposal changes (precedence is per device).
``ssids``, radios' current channel and bandwidth are not read by any rule and are not in the key;
a test fails if a rule starts reading a device fact the key leaves out. Rule messages name device
classes (vendor, model, firmware, region), never device ids, so a class decision is exactly the
decision each member would get alone: a hypothesis test proves it on random fleets.

The representative's document keeps ``proposal.target_count`` (limits, risk and rollout plans
look at the whole campaign), with ``targets`` and ``devices`` narrowed to the representative.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from core.kernel.jsontypes import JsonObject
from core.kernel.models import Decision, PolicyItem
from policies import items
from policies.base import PolicyEngine
from policies.engine import approval
from policies.loader import load_sources
from policies.validate import InputError, check_outline

Key = tuple[Hashable, ...]


@dataclass(frozen=True)
class Buckets:
    """The thresholds the key buckets numbers at (read from the pack's data)."""

    max_reboots_24h: int
    failed_change_steps: tuple[float, ...]

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Buckets:
        return cls(
            max_reboots_24h=int(data["limits"]["reboots"]["max_per_24h"]),
            failed_change_steps=tuple(sorted(float(s["min"]) for s in data["risk"]["failed_changes_steps"])),
        )

    def failed_bucket(self, failed: int) -> int:
        return sum(failed >= step for step in self.failed_change_steps)


def _engine_data(engine: PolicyEngine) -> JsonObject:
    data = getattr(engine, "policy_data", None)
    return data if isinstance(data, dict) else load_sources().data


def buckets_for(engine: PolicyEngine) -> Buckets:
    """The fact buckets devices are grouped by under ``engine``'s policy data (the reboot limit, the
    failed-change risk steps). Public: a caller that groups devices before asking for a
    fleet decision (``core.fleet_facts``, classes from SQL) buckets exactly as :func:`decide_fleet`
    does, without reaching into how an engine keeps its data."""
    return Buckets.from_data(_engine_data(engine))


def context_signature(device_id: str, doc: dict[str, Any]) -> tuple[str, ...]:
    """Live proposals / profiles that target this device and set a path this proposal sets."""
    return _ContextIndex.of(doc).signature(device_id)


class _ContextIndex:
    """Target sets of the live proposals/profiles that overlap this proposal's paths, built once
    per document (membership tests per device must not scan lists: fleets are large)."""

    _cache: tuple[int, _ContextIndex] | None = None

    def __init__(self, doc: dict[str, Any]) -> None:
        paths = {c["path"] for c in doc["proposal"]["changes"]}
        own = doc["proposal"]["id"]
        self.entries: list[tuple[str, frozenset[str]]] = []
        if paths:
            for live in doc["context"]["live_proposals"]:
                if live["id"] != own and any(c["path"] in paths for c in live["changes"]):
                    self.entries.append((f"proposal:{live['id']}", frozenset(live["targets"])))
            for profile in doc["context"]["profiles"]:
                if any(c["path"] in paths for c in profile["changes"]):
                    self.entries.append((f"profile:{profile['id']}", frozenset(profile["targets"])))

    @classmethod
    def of(cls, doc: dict[str, Any]) -> _ContextIndex:
        cached = cls._cache
        if cached is not None and cached[0] == id(doc["context"]):
            return cached[1]
        index = cls(doc)
        cls._cache = (id(doc["context"]), index)
        return index

    def signature(self, device_id: str) -> tuple[str, ...]:
        return tuple(name for name, targets in self.entries if device_id in targets)


def device_key(device: dict[str, Any], doc: dict[str, Any], buckets: Buckets) -> Key:
    """The equivalence key: every fact the rules read, numbers bucketed, no id."""
    radios = tuple(sorted((r["index"], r["band"], r["auto_channel"]) for r in device["radios"]))
    return (
        device["vendor"],
        device["model"],
        device["firmware"],
        device["region"],
        device["root"],
        device["protocol"],
        device["compat"],
        device["present"],
        device["reboots_24h"] >= buckets.max_reboots_24h,
        buckets.failed_bucket(device["failed_changes_7d"]),
        radios,
        context_signature(device["id"], doc),
    )


def class_doc(doc: dict[str, Any], device: dict[str, Any]) -> dict[str, Any]:
    """The input document narrowed to one device; ``target_count`` stays the campaign's."""
    proposal = {**doc["proposal"], "targets": [device["id"]]}
    return {**doc, "proposal": proposal, "devices": [device]}


@dataclass
class ClassDecision:
    key: Key
    representative: str
    device_ids: list[str]
    decision: Decision
    would_deny: list[str] = field(default_factory=list)


@dataclass
class FleetDecision:
    """Per-class decisions, the device -> class lookup, and the merged overall decision."""

    decision: Decision
    would_deny: list[str]
    classes: list[ClassDecision]
    by_device: dict[str, int]

    def for_device(self, device_id: str) -> Decision:
        return self.classes[self.by_device[device_id]].decision

    @property
    def evaluations(self) -> int:
        return len(self.classes)


def _uncoded(messages: list[str]) -> list[PolicyItem]:
    """Items for a Decision built without them (by hand, or stored before codes existed), so that
    the merge keeps its words; no consumer acts on ``policy.uncoded``."""
    return [PolicyItem.model_construct(code="policy.uncoded", message=m, params={}) for m in messages if m]


def merge_decisions(
    decisions: list[Decision], would_deny: Iterable[list[str]] = ()
) -> tuple[Decision, list[str]]:
    """Deny if any denies; approvals merged by role (items kept); the highest risk.

    Merged on items, not text: each list is ordered exactly as :func:`policies.engine.
    parse_decision` orders one decision (policies/items.py), so the merge does not depend on
    the order classes were evaluated in, and a decision merged from classes equals the same
    decision made per device."""
    by_role: dict[str, list[PolicyItem]] = {}
    for d in decisions:
        for a in d.approvals_required:
            by_role.setdefault(a.role, []).extend(a.items or _uncoded([a.reason]))
    deny = items.by_message(i for d in decisions for i in d.deny_items or _uncoded(d.deny))
    obligations = items.ordered_obligations(i for d in decisions for i in d.obligation_items or _uncoded(d.obligations))
    warnings = items.by_message(i for d in decisions for i in d.warning_items or _uncoded(d.warnings))
    if not decisions:
        deny = [PolicyItem(code="policy.no_device", message="policy: no device to decide for")]
    merged = Decision(
        allow=bool(decisions) and all(d.allow for d in decisions) and not deny,
        deny=items.messages(deny),
        approvals_required=[approval(role, found) for role, found in sorted(by_role.items())],
        risk=max((d.risk for d in decisions), default=1.0),
        obligations=items.messages(obligations),
        warnings=items.messages(warnings),
        deny_items=deny,
        obligation_items=obligations,
        warning_items=warnings,
    )
    return merged, sorted({m for wd in would_deny for m in wd})


def decide_fleet(engine: PolicyEngine, doc: dict[str, Any]) -> FleetDecision:
    """Evaluate once per device class and fan out. Never raises: a malformed document is one
    fail-closed decision covering every target."""
    try:
        # Full shape checks run on each class document the engine evaluates; here only what the
        # grouping itself reads, so that a million-device document is not walked field by field.
        check_outline(doc)
    except InputError as exc:
        failed = Decision.fail_closed(f"policy input invalid: {exc}", "policy.input_invalid")
        targets = doc.get("proposal", {}).get("targets", []) if isinstance(doc, dict) else []
        cls = ClassDecision(key=("invalid",), representative="", device_ids=list(targets), decision=failed)
        return FleetDecision(failed, [], [cls], {t: 0 for t in targets})
    detailed = getattr(engine, "decide_detailed", None)
    if not doc["devices"]:  # nothing to group: the document itself is the only class
        decision, would = detailed(doc) if detailed is not None else (engine.decide(doc), [])
        only = ClassDecision(
            key=(), representative="", device_ids=[], decision=decision, would_deny=list(would)
        )
        return FleetDecision(decision, list(would), [only], {})
    buckets = buckets_for(engine)
    groups: dict[Key, list[dict[str, Any]]] = {}
    try:
        for device in doc["devices"]:
            groups.setdefault(device_key(device, doc, buckets), []).append(device)
    except (KeyError, TypeError, AttributeError) as exc:
        failed = Decision.fail_closed(f"policy input invalid: a device lacks a well-formed fact ({exc!r})",
                                      "policy.input_invalid")
        targets = list(doc["proposal"].get("targets", []))
        cls = ClassDecision(key=("invalid",), representative="", device_ids=targets, decision=failed)
        return FleetDecision(failed, [], [cls], {t: 0 for t in targets})
    listed = {d.get("id") for d in doc["devices"]}
    unlisted = [t for t in doc["proposal"]["targets"] if t not in listed]
    if unlisted:
        failed = Decision.fail_closed(f"policy input invalid: no device facts for {len(unlisted)} target(s), "
                                      f"e.g. {unlisted[0]}", "policy.input_invalid")
        cls = ClassDecision(key=("invalid",), representative="", device_ids=unlisted, decision=failed)
        return FleetDecision(failed, [], [cls], {t: 0 for t in unlisted})
    classes: list[ClassDecision] = []
    by_device: dict[str, int] = {}
    for key, members in groups.items():
        rep = members[0]
        narrowed = class_doc(doc, rep)
        if detailed is not None:
            decision, would = detailed(narrowed)
        else:
            decision, would = engine.decide(narrowed), []
        index = len(classes)
        classes.append(ClassDecision(key, rep["id"], [m["id"] for m in members], decision, list(would)))
        for m in members:
            by_device[m["id"]] = index
    overall, would_deny = merge_decisions([c.decision for c in classes], (c.would_deny for c in classes))
    return FleetDecision(overall, would_deny, classes, by_device)
