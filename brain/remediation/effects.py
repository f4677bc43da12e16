"""What each remediation fix did: its cases' KPI after the fix against matched untreated cases.

Why: a fix that closes its cases is not thereby a fix that helps — a channel move can end the
detector's alarm and leave the home as busy as before. Each problem's fix is measured on the KPI
its detector reads (``brain/detectors/rules.json``: busy channel, client signal, DNS failures;
reboots for a reboot loop) with the campaign's estimator (``campaigns/effects.py``): every case
whose fix was applied, after minus the same hours the day before, against cases of the same
problem on the same device classes (vendor, model, firmware, region) that were detected but not
fixed, over the same windows from their detection — difference in differences with Welch's
interval. Where no matched untreated case exists, the same homes before and after (a one-sample
interval), said as the weaker evidence it is. A problem whose detector reads no KPI (a parameter
that drifted from its profile) says so instead of inventing one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from brain.detectors.rules import RuleSet
from brain.remediation.schema import RemediationCaseRow
from campaigns.effects import DAY_BEFORE, Kpi, device_changes, kpi_of
from campaigns.effects import KPIS as CATALOGUE
from campaigns.estimator import estimate, estimate_before_after
from campaigns.ring_effects import clusters_of
from core.kernel.jsontypes import JsonObject

MIN_DEVICES = 3


def problem_kpi(rules: RuleSet, problem: str) -> tuple[Kpi, dict[str, str]] | None:
    """The KPI a problem's detector reads (its first metric rule; a reboot loop: reboots)."""
    for r in rules.rules:
        if r.problem == problem and r.metric:
            return kpi_of(r.metric), dict(r.labels)
    if any(r.problem == problem and r.event in ("boot", "bootstrap") for r in rules.rules):
        return CATALOGUE["reboots"], {}
    return None


def _cases(s: Session, problem: str) -> list[tuple[str, str, datetime | None, datetime]]:
    return [(d, k, applied, opened) for d, k, applied, opened in s.execute(
        select(RemediationCaseRow.device_id, RemediationCaseRow.class_key, RemediationCaseRow.applied_at,
               RemediationCaseRow.opened_at).where(RemediationCaseRow.problem == problem,
                                                   RemediationCaseRow.kind == "detector"))]


def fix_effects(s: Session, rules: RuleSet, *, now: datetime, window_h: float = 6.0, confidence: float = 0.95,
                problems: Iterable[str] | None = None) -> list[JsonObject]:
    """One entry per problem: the fix's effect on its KPI (``Effect.as_dict``), how it was
    measured (``against``: matched untreated cases, or the same homes before) and the case counts."""
    out = []
    for problem in problems or sorted(rules.problems):
        spec = rules.problems[problem]
        found = problem_kpi(rules, problem)
        cases = _cases(s, problem)
        fixed = {d: (k, at) for d, k, at, _ in cases if at is not None}
        base: JsonObject = {"problem": problem, "fix": spec.trigger, "summary": spec.summary, "cases": len(cases),
                "fixed": len(fixed)}
        if found is None:
            out.append({**base, "effect": None, "against": None,
                        "note": "its detector reads no KPI (a parameter against its profile): nothing to measure"})
            continue
        kpi, labels = found
        classes = {k for k, _ in fixed.values()}
        untreated = {d: opened for d, k, at, opened in cases if at is None and k in classes and d not in fixed}
        treated_changes = device_changes(s, kpi, {d: at for d, (_, at) in fixed.items()}, window_h=window_h, now=now,
                                         labels=labels, before=DAY_BEFORE)
        control_changes = device_changes(s, kpi, untreated, window_h=window_h, now=now, labels=labels,
                                         before=DAY_BEFORE)
        groups = clusters_of(s, [*treated_changes, *control_changes], wifi=kpi.id.startswith("wifi."))
        if len(control_changes) >= MIN_DEVICES:
            eff = estimate(kpi, treated_changes, control_changes, confidence=confidence, min_devices=MIN_DEVICES,
                           clusters=groups)
            against = "matched untreated cases"
        else:
            eff = estimate_before_after(kpi, treated_changes, confidence=confidence, min_devices=MIN_DEVICES,
                                        clusters=groups)
            against = "the same homes before"
        eff.against = against
        out.append({**base, "effect": eff.as_dict(), "against": against, "untreated": len(untreated),
                    "labels": labels})
    return out
