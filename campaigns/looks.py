"""Repeated looks at a ring's KPIs: the gate's error rate spent over the looks it plans.

Why: a drained ring waits for its KPIs (``gate.observe_s``) and the gate looks again and again as
telemetry arrives. Each look at the full confidence is another chance for noise to cross the line:
with hourly telemetry, 5 of 16 campaigns that changed nothing were halted and rolled back when the
gate re-tested at 95 % every few seconds (issue 59). The gate instead plans its looks — one an hour
over the ring's observation (``plan``) — and spends its error rate ``alpha = 1 - confidence`` over
them with the Lan–DeMets spending function of O'Brien–Fleming type (Lan and DeMets, "Discrete
sequential boundaries for clinical trials", Biometrika 70(3), 1983):

    alpha(t) = 2 - 2 * Phi(z_{1 - alpha/2} / sqrt(t)),   t = k / K the share of the observation seen

Look ``k`` is judged at the level left to it, ``alpha(k/K) - alpha((k-1)/K)``. The looks' levels
add up to ``alpha``, so by the union bound the chance that *any* look calls a harm that is not there
is at most ``alpha`` — whatever the correlation between looks (no assumption of independent
increments, at the price of being somewhat conservative). O'Brien–Fleming spending keeps almost
all of ``alpha`` for the last looks: an early look halts only on overwhelming evidence, which a
real harm (a quartered transmit power) gives and noise does not.

A look reads the data up to its own planned time (:func:`look_at`), never past it: looking again
within the same hour re-reads the same windows, the same test, not a new one. A look planned while
nobody looked is not taken back later — its share of ``alpha`` is simply not used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

LOOK_EVERY_H = 1.0  # one planned look an hour of observation


def spent(t: float, alpha: float) -> float:
    """The error rate spent by information fraction ``t`` (0..1): Lan–DeMets O'Brien–Fleming type."""
    from scipy.stats import norm

    if t <= 0:
        return 0.0
    if t >= 1:
        return alpha
    return float(2.0 - 2.0 * norm.cdf(norm.ppf(1.0 - alpha / 2.0) / math.sqrt(t)))


@dataclass(frozen=True)
class LookPlan:
    """The planned looks of one KPI over one ring's observation: ``looks`` of them, evenly spaced
    over ``horizon_h`` hours from the ring's drain."""

    horizon_h: float
    looks: int
    confidence: float

    def reached(self, drained: datetime, now: datetime) -> int:
        """How many planned looks are due by ``now`` (0: not even the first)."""
        if self.horizon_h <= 0:
            return self.looks
        done = (now - drained).total_seconds() / 3600.0 / self.horizon_h * self.looks
        return max(0, min(self.looks, math.floor(done + 1e-9)))

    def at(self, drained: datetime, k: int) -> datetime:
        """When look ``k`` (1..looks) reads its data up to."""
        return drained + timedelta(hours=self.horizon_h * k / self.looks)

    def level(self, k: int) -> float:
        """The confidence level of look ``k``'s interval: one minus the error rate left to it."""
        alpha = 1.0 - self.confidence
        return 1.0 - (spent(k / self.looks, alpha) - spent((k - 1) / self.looks, alpha))

    def describe(self, k: int) -> dict[str, object]:
        return {"k": k, "of": self.looks, "level": round(self.level(k), 6) if k else None,
                "final": k >= self.looks, "horizon_h": self.horizon_h, "spending": "Lan-DeMets O'Brien-Fleming"}


def plan(window_h: float, observe_s: float | None, confidence: float) -> LookPlan:
    """A KPI's looks: over its window after the drain (``observe_s`` None), or over ``observe_s``
    when it is given and shorter (0: a single look at the drain — which can only find *not enough
    data* there, so the ring waits for a person rather than passing)."""
    horizon = window_h if observe_s is None else min(window_h, observe_s / 3600.0)
    return LookPlan(horizon, max(1, math.ceil(horizon / LOOK_EVERY_H - 1e-9)), confidence)
