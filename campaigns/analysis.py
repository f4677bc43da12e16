"""The analysis gate: pass, fail or pause, from what a ring's devices actually did.

Why a pure function over counted facts: the same verdict must come out whichever worker runs it,
after any restart, and a test must be able to drive every branch. The facts come from the store
(``campaigns.stats``); this module only judges them.

Signals, in order:
* a device that could not be rolled back → pause at once (a person must look; never automatic);
* apply success: failed / executed above ``failure_threshold`` fails the ring — but only once
  ``min_executed`` devices ran (no abort decision on a handful), checked continuously while the
  ring runs so a bad batch halts the rollout within one batch;
* devices that stayed unreachable through the ring's sweeps above ``max_unreached`` → pause
  (the fleet changed under the campaign: not a silent partial rollout);
* firmware / reboot: the share of changed devices present again (re-registered) below
  ``min_reregistered`` fails;
* telemetry KPIs: the changed devices against the matched control cohort, at the looks the gate
  plans over the ring's observation (``campaigns/looks.py``, ``campaigns/estimator.py``);
  measurably worse by more than the KPI's tolerance fails, and says by how much. A drained ring
  is pending until its last look unless a harm shows first; a KPI with too little data by then
  is *inconclusive*: the ring pauses for a person, it never passes on what nobody measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from campaigns.effects import level_text
from campaigns.spec import Gate
from core.kernel.jsontypes import JsonObject

Outcome = Literal["pass", "fail", "pause", "pending"]


@dataclass
class RingStats:
    ring: int
    size: int
    verified: int = 0
    failed: int = 0  # executed but did not hold (rolled back, failed, rollback failed)
    rollback_failed: int = 0
    unreached: int = 0  # no execution: offline, unreachable, vanished (after sweeps when complete)
    in_flight: int = 0
    reregistered: int | None = None  # of sampled changed devices, present again
    reregister_sampled: int = 0
    kpis: dict[str, dict[str, Any]] = field(default_factory=dict)  # metric -> effect (ring_effects)
    observing: str | None = None  # a drained ring still waiting for its KPIs to be measured: why

    @property
    def executed(self) -> int:
        return self.verified + self.failed

    @property
    def failure_rate(self) -> float:
        return self.failed / self.executed if self.executed else 0.0

    def as_dict(self) -> JsonObject:
        return {"ring": self.ring, "size": self.size, "verified": self.verified, "failed": self.failed,
                "rollback_failed": self.rollback_failed, "unreached": self.unreached, "executed": self.executed,
                "failure_rate": round(self.failure_rate, 6), "reregistered": self.reregistered,
                "reregister_sampled": self.reregister_sampled, "kpis": self.kpis, "observing": self.observing}


@dataclass
class Verdict:
    outcome: Outcome
    reasons: list[str] = field(default_factory=list)


def evaluate(stats: RingStats, gate: Gate, *, complete: bool) -> Verdict:
    """Judge a ring. While it runs (``complete=False``) only fail/pause can come out early;
    ``pass`` needs the whole ring."""
    if stats.rollback_failed:
        return Verdict("pause", [f"{stats.rollback_failed} device(s) could not be rolled back: a person must "
                                 "inspect and restore them before the rollout may continue"])
    if stats.executed >= gate.min_executed and stats.failure_rate > gate.failure_threshold:
        return Verdict("fail", [f"apply failure rate {stats.failure_rate:.2%} ({stats.failed} of {stats.executed} "
                                f"executed) is above the {gate.failure_threshold:.2%} threshold"])
    if not complete:
        return Verdict("pending")
    reasons: list[str] = []
    if stats.failed and stats.executed < gate.min_executed:
        return Verdict("pause", [f"{stats.failed} of {stats.executed} executed device(s) failed — fewer than "
                                 f"gate.min_executed ({gate.min_executed}) ran, too few to decide automatically"])
    if stats.size and stats.unreached / stats.size > gate.max_unreached:
        return Verdict("pause", [f"{stats.unreached} of {stats.size} device(s) stayed unreachable through the "
                                 f"ring ({stats.unreached / stats.size:.1%} > {gate.max_unreached:.1%}); "
                                 "check the fleet, then resume or abort"])
    if stats.reregistered is not None and stats.reregister_sampled:
        share = stats.reregistered / stats.reregister_sampled
        if share < gate.min_reregistered:
            reasons.append(f"only {share:.1%} of sampled changed devices re-registered "
                           f"({stats.reregistered}/{stats.reregister_sampled}; need {gate.min_reregistered:.1%})")
    reasons += kpi_harms(stats, gate)
    if reasons:
        return Verdict("fail", reasons)
    if stats.observing:
        return Verdict("pending", [stats.observing])
    if unknown := kpi_inconclusive(stats, gate):
        return Verdict("pause", unknown)
    return Verdict("pass", [f"{stats.verified} verified, {stats.failed} failed, {stats.unreached} unreached"])


def kpi_inconclusive(stats: RingStats, gate: Gate) -> list[str]:
    """One reason per KPI that could still fail the ring (measured against a control) whose
    observation ended without enough data to judge it: the ring waits for a person (Argo's
    *inconclusive*), never passes on what was not measured."""
    out = []
    for kpi in gate.kpis:
        k = stats.kpis.get(kpi.metric) or {}
        if k and (not k.get("gating", True) or k.get("judged")):
            continue
        out.append(f"KPI {k.get('title', kpi.metric)}: inconclusive — {k.get('text') or 'not measured'}; a person "
                   "decides: resume to accept the ring without it, or abort")
    return out


def kpi_harms(stats: RingStats, gate: Gate) -> list[str]:
    """One reason per KPI on which the changed devices did measurably worse than their control by
    more than its tolerance — saying by how much, with the interval. A KPI without enough data
    cannot fail a ring (its effect says so in the recorded metrics)."""
    out = []
    for kpi in gate.kpis:
        k = stats.kpis.get(kpi.metric)
        if not k or not k.get("judged") or not k.get("harm"):
            continue
        unit = f" {k['unit']}" if k.get("unit") else ""
        lo, hi = (k["low"], k["high"]) if k["higher_is_worse"] else (-k["high"], -k["low"])
        level = level_text(k.get("level") or k["confidence"])
        out.append(f"KPI {k['title']}: the changed devices did measurably worse than {k['n_control']} matched "
                   f"control device(s) — worse by {k['worse_by']:.3g}{unit} ({level} CI {lo:.3g} to "
                   f"{hi:.3g}; tolerance {k['tolerance']:.3g}{unit}; {k['n_treated']} changed device(s))")
    return out
