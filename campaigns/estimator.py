"""The effect estimate: the changed devices' KPI after the change against the control's, adjusted
for each device's own level before it, with an interval from statsmodels.

Why a regression and not a difference of differences: a difference in differences subtracts each
device's *before* from its *after* with a coefficient of exactly one. When the before is a noisy
reading of a device's level (six hours of a busy channel), part of that noise is subtracted into
the result. Regressing the after on the before and the treatment indicator (ANCOVA, the same idea
as CUPED: Deng, Xu, Kohavi and Walker, "Improving the sensitivity of online controlled experiments
by utilizing pre-experiment data", WSDM 2013) lets the data say how much of the before carries over,
and the interval narrows wherever the before explains the after. With a coefficient of one it is the
difference in differences; it is never wider in expectation.

Why clustered errors: homes on one PON port share its outages, homes in one building share their
air. Counting each home as independent evidence overstates how sure we are. The errors are
clustered by the grouping each device reports (``clusters``: building for Wi-Fi KPIs, upstream node
otherwise — ``campaigns.ring_effects``) when there are enough clusters for a cluster-robust
interval to mean something (``MIN_CLUSTERS``; Cameron and Miller, "A practitioner's guide to
cluster-robust inference", 2015); below that, heteroskedasticity-robust HC2 errors (Welch's interval
when there is no covariate; Imbens and Kolesár 2016), and the effect says which it used.

What is never estimated: fewer than ``min_devices`` devices with data on each side, no sample at all,
or no spread between devices (every device moved by exactly the same amount: there is nothing to
draw an interval from) — each says *not enough data*, never a zero-width interval.

The tail: an average can hide a change that makes some homes much worse and others better. Each
changed device's own effect (its after minus what the model predicts without the change) is set
against the tolerance; the control devices' residuals are the same measure of how often homes move
that much on their own (:func:`tail`).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Any

from campaigns.effects import DeviceChange, Effect, Kpi

MIN_CLUSTERS = 12  # below this, a cluster-robust variance is itself too noisy to trust


def _new(kpi: Kpi, treated: Mapping[str, DeviceChange], control: Mapping[str, DeviceChange], confidence: float
         ) -> Effect:
    return Effect(kpi=kpi.id, title=kpi.title, unit=kpi.unit, higher_is_worse=kpi.higher_is_worse,
                  n_treated=len(treated), n_control=len(control), confidence=confidence,
                  samples={"treated": sum(c.n_before + c.n_after for c in treated.values()),
                           **({"control": sum(c.n_before + c.n_after for c in control.values())} if control else {})})


def _covariance(ids: list[str], clusters: Mapping[str, str] | None) -> tuple[str, dict[str, Any], str]:
    """statsmodels' ``cov_type`` and its arguments, and the words for it."""
    if clusters:
        keys = [clusters.get(d, d) for d in ids]
        distinct = sorted(set(keys))
        if len(distinct) >= MIN_CLUSTERS and len(distinct) < len(ids):
            codes = {k: i for i, k in enumerate(distinct)}
            return ("cluster", {"groups": [codes[k] for k in keys]},
                    f"errors clustered by upstream node or building ({len(distinct)} clusters)")
        why = (f"{len(distinct)} clusters are too few to cluster on" if len(distinct) < MIN_CLUSTERS
               else "no two devices share a cluster")
        return "HC2", {}, f"robust (HC2) errors; {why}"
    return "HC2", {}, "robust (HC2) errors"


def _fit(y: list[float], columns: list[list[float]], ids: list[str], clusters: Mapping[str, str] | None,
         level: float) -> tuple[Any, str]:
    """OLS of ``y`` on a constant and ``columns`` (dropping a covariate with no spread)."""
    import numpy as np
    import statsmodels.api as sm

    x = np.column_stack([np.ones(len(y)), *[np.asarray(c, dtype=float) for c in columns]])
    cov, kw, words = _covariance(ids, clusters)
    fit = sm.OLS(np.asarray(y, dtype=float), x).fit(cov_type=cov, cov_kwds=kw or None, use_t=True)
    return fit, words


def _judge(eff: Effect, kpi: Kpi, fit: Any, index: int, level: float) -> Effect:
    low, high = (float(v) for v in fit.conf_int(alpha=1.0 - level)[index])
    eff.estimate, eff.low, eff.high = float(fit.params[index]), low, high
    eff.p_value = float(fit.pvalues[index])
    eff.level = level
    if eff.low > 0 or eff.high < 0:
        eff.verdict = "worse" if (eff.low > 0) == kpi.higher_is_worse else "better"
    else:
        eff.verdict = "no measurable effect"
    return eff


def _no_spread(values: list[float]) -> bool:
    return len(values) < 2 or statistics.pvariance(values) == 0


def estimate(kpi: Kpi, treated: Mapping[str, DeviceChange], control: Mapping[str, DeviceChange], *,
             confidence: float = 0.95, min_devices: int = 3, clusters: Mapping[str, str] | None = None,
             level: float | None = None) -> Effect:
    """The change's effect: ``after ~ 1 + changed + before`` over every device with data on both
    sides (ANCOVA), the coefficient of ``changed`` with its interval at ``level`` (default:
    ``confidence``; a sequential look passes its own, ``campaigns.looks``)."""
    eff = _new(kpi, treated, control, confidence)
    need = max(2, min_devices)
    if len(treated) < need or len(control) < need:
        eff.note = f"needs at least {need} devices with data before and after in each group"
        return eff
    if not eff.samples.get("treated") or not eff.samples.get("control"):
        eff.note = "no sample was reported in a group"
        return eff
    ids = [*treated, *control]
    changes = [*treated.values(), *control.values()]
    before = [c.before for c in changes]
    after = [c.after for c in changes]
    dt = [c.diff for c in treated.values()]
    dc = [c.diff for c in control.values()]
    if _no_spread(dt) and _no_spread(dc):
        eff.note = "every device moved by exactly the same amount: no spread to draw an interval from"
        return eff
    eff.baseline = statistics.fmean(c.before for c in treated.values())
    eff.control_change = statistics.fmean(dc)
    centred = [b - statistics.fmean(before) for b in before]
    covariate = [] if _no_spread(before) else [centred]
    flag = [1.0] * len(treated) + [0.0] * len(control)
    fit, words = _fit(after, [flag, *covariate], ids, clusters, level or confidence)
    if not float(fit.ssr) > 0:
        eff.note = "the model fits every device exactly: no spread to draw an interval from"
        return eff
    eff.method = ("the baseline as a covariate (ANCOVA), " if covariate else "difference in means, ") + words
    _judge(eff, kpi, fit, 1, level or confidence)
    slope = float(fit.params[2]) if covariate else 0.0
    centre = float(fit.params[0])
    eff.individual = [c.after - centre - slope * x for c, x in zip(treated.values(), centred, strict=False)]
    eff.residual = [float(r) for r in fit.resid[len(treated):]]
    return eff


def estimate_before_after(kpi: Kpi, treated: Mapping[str, DeviceChange], *, confidence: float = 0.95,
                          min_devices: int = 3, clusters: Mapping[str, str] | None = None,
                          level: float | None = None) -> Effect:
    """The same devices before and after, with no control (remediation without matched untreated
    cases; a campaign's last ring, whose control cohort it changes itself): the mean
    after-minus-before and its interval. Weaker than a comparison — whatever else changed over
    those hours counts as the effect — and said so in the note."""
    eff = _new(kpi, treated, {}, confidence)
    eff.against = "their own hours before (no control)"
    eff.note = "the same homes before and after, no control: anything else that changed counts too"
    need = max(2, min_devices)
    if len(treated) < need:
        eff.note = f"needs at least {need} devices with data before and after"
        return eff
    if not eff.samples.get("treated"):
        eff.note = "no sample was reported"
        return eff
    d = [c.diff for c in treated.values()]
    if _no_spread(d):
        eff.note = "every device moved by exactly the same amount: no spread to draw an interval from"
        return eff
    eff.baseline = statistics.fmean(c.before for c in treated.values())
    fit, words = _fit(d, [], list(treated), clusters, level or confidence)
    eff.method = "before and after on the same homes, " + words
    _judge(eff, kpi, fit, 0, level or confidence)
    eff.individual = list(d)
    return eff


def tail(eff: Effect, tolerance: float) -> dict[str, Any] | None:
    """How many changed homes did worse than the model predicts without the change by more than
    ``tolerance`` — and, as the yardstick, how many control homes moved that much on their own."""
    if eff.estimate is None or not eff.individual:
        return None
    sign = 1.0 if eff.higher_is_worse else -1.0
    worse = sum(1 for x in eff.individual if sign * x > tolerance)
    out: dict[str, Any] = {"worse": worse, "of": len(eff.individual), "tolerance": round(tolerance, 4)}
    if eff.residual:
        out.update(control_worse=sum(1 for x in eff.residual if sign * x > tolerance), control_of=len(eff.residual))
    return out
