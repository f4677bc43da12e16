"""The control cohort, matched to the devices a campaign changes and recorded when it is created.

Why matched: a control group is only a baseline if it is like the changed devices in everything
that moves a KPI on its own — the box and its firmware, the country (its evening, its regulatory
channels) and how the KPI already runs on it. So the cohort is drawn *within* each
(model, firmware, region) stratum, as the same share of each, and within a stratum it is every
k-th device in order of its KPI baseline (a systematic sample over the sorted baseline), so the
control's baseline distribution follows the changed devices' own, not just its mean. How many
devices each stratum gives is decided by largest remainders, so the cohort is the share asked of
the whole selection even when strata are small; a stratum of one device gives none.

One systematic sample can still land badly: with a few devices per stratum its random start picks a
whole cohort from one side of the baseline (|SMD| 0.2 on average over the simulated fleet's channel-6
homes, above 0.5 in one draw of 27). So the cohort is drawn ``DRAWS`` times, each with its own start
derived from the campaign's id, and the best-balanced draw is kept — rerandomisation (Morgan & Rubin
2012, "Rerandomization to improve covariate balance"): the same strata and shares, the same
reproducible choice, a baseline that matches (|SMD| 0.02 on average there, none above 0.1 in a thousand
campaigns). The draws are capped by the selection's size (``DRAW_BUDGET``) so a million-device
campaign's creation costs what it did.

What was matched on and how well it came out — each group's baseline mean and the standardised
mean difference per KPI, the strata — is recorded with the plan (``plan["cohort"]``): what an
approver reads before trusting an effect measured against it.
"""

from __future__ import annotations

import hashlib
import math
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.kernel.jsontypes import JsonObject
from core.kernel.models import Device

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from campaigns.spec import CampaignSpec

MATCHED_ON = ("model", "firmware", "region")
SMD_WARN = 0.1  # |standardised mean difference| above which a match is called poor (Austin 2009)
Stratum = tuple[str, str, str]


def stratum(d: Device) -> Stratum:
    return (d.model, d.firmware, d.region)


def _h(campaign_id: str, device_id: str) -> bytes:
    return hashlib.sha256(f"{campaign_id}:cohort:{device_id}".encode()).digest()[:8]


@dataclass
class Cohort:
    control: set[str]
    strata: int
    balance: dict[str, JsonObject] = field(default_factory=dict)

    def warnings(self) -> list[str]:
        """A KPI whose baseline the cohort matched poorly (|SMD| above ``SMD_WARN``): an effect
        measured against it leans on the model's adjustment, and an approver should know."""
        out = []
        for kpi, row in self.balance.items():
            smd = row.get("smd")
            if isinstance(smd, (int, float)) and abs(smd) > SMD_WARN:
                out.append(f"control cohort balance on {kpi}: |SMD| {abs(smd):.2f} is above {SMD_WARN} (changed "
                           f"devices {row.get('treated_mean')}, control {row.get('control_mean')} before the "
                           "change); its effects lean on the baseline adjustment — a larger control_pct matches better")
        return out

    def summary(self, pct: float) -> dict[str, Any]:
        return {"control_pct": pct, "size": len(self.control), "matched_on": [*MATCHED_ON, "KPI baseline"]
                if self.balance else list(MATCHED_ON), "strata": self.strata, "balance": self.balance,
                "warnings": self.warnings()}


def match(campaign_id: str, devices: Sequence[Device], pct: float,
          baselines: Mapping[str, Mapping[str, float]] | None = None) -> Cohort:
    """Pick ``pct`` % of ``devices`` as the control cohort, stratum by stratum, spread over each
    stratum's KPI baseline (``baselines``: KPI → device → value; the first KPI orders, the others
    are reported), the best-balanced of up to ``DRAWS`` systematic samples."""
    if pct <= 0 or not devices:
        return Cohort(set(), 0)
    groups: dict[Stratum, list[Device]] = defaultdict(list)
    for d in devices:
        groups[stratum(d)].append(d)
    take = _shares(groups, len(devices) * pct / 100.0, pct)
    order_by = next(iter(baselines.values()), {}) if baselines else {}
    ranked = {k: sorted(members, key=lambda d: (order_by.get(d.id, math.inf), _h(campaign_id, d.id)))
              for k, members in groups.items() if take.get(k, 0) > 0}
    draws = draws_for(len(devices)) if baselines else 1
    best: tuple[float, set[str], dict[str, JsonObject]] | None = None
    for r in range(draws):
        control = _draw(ranked, take, campaign_id if r == 0 else f"{campaign_id}#{r}")
        bal = balance(devices, control, baselines or {})
        score = _imbalance(bal)
        if best is None or score < best[0]:
            best = (score, control, bal)
    assert best is not None
    return Cohort(best[1], len(groups), best[2])


DRAWS = 16  # 16 draws: |SMD| above 0.1 in 1 campaign of 1,000 on the simulated fleet (4 draws: 232)
DRAW_BUDGET = 400_000  # devices × draws a cohort may weigh (each draw's balance reads every device once)


def draws_for(n_devices: int) -> int:
    """How many samples a selection of ``n_devices`` draws: ``DRAWS``, fewer when the selection is so
    large that weighing them would cost more than the campaign's creation (large strata balance by
    themselves)."""
    return max(1, min(DRAWS, DRAW_BUDGET // max(1, n_devices)))


def _shares(groups: Mapping[Stratum, list[Device]], want: float, pct: float) -> dict[Stratum, int]:
    """Each stratum's count by largest remainders; a stratum keeps at least one changed device."""
    eligible = {k: len(v) for k, v in groups.items() if len(v) > 1}
    share = {k: n * pct / 100.0 for k, n in eligible.items()}
    take = {k: min(eligible[k] - 1, math.floor(x)) for k, x in share.items()}
    rest = max(0, round(want) - sum(take.values()))
    for k in sorted(share, key=lambda k: (-(share[k] - math.floor(share[k])), k))[:rest]:
        take[k] = min(eligible[k] - 1, take[k] + 1)
    return take


def _draw(ranked: Mapping[Stratum, list[Device]], take: Mapping[Stratum, int], seed: str) -> set[str]:
    """One systematic sample: every k-th device of each stratum's baseline order from a start the
    seed decides."""
    control: set[str] = set()
    for k, members in ranked.items():
        n_c, n = take[k], len(members)
        start = int.from_bytes(_h(seed, "|".join(k)), "big") / 2**64
        for j in range(n_c):
            control.add(members[min(n - 1, int((j + start) * n / n_c))].id)
    return control


def _imbalance(bal: Mapping[str, JsonObject]) -> float:
    """The worst |SMD| over the KPIs (a KPI with no baseline on one side weighs nothing)."""
    worst = 0.0
    for row in bal.values():
        smd = row.get("smd")
        if isinstance(smd, (int, float)):
            worst = max(worst, abs(float(smd)))
    return worst


def balance(devices: Sequence[Device], control: set[str],
            baselines: Mapping[str, Mapping[str, float]]) -> dict[str, JsonObject]:
    """Per KPI: each group's baseline mean, how many devices had one, and the standardised mean
    difference (|SMD| below 0.1 is the usual mark of a good match)."""
    out: dict[str, JsonObject] = {}
    for kpi, values in baselines.items():
        t = [values[d.id] for d in devices if d.id not in control and d.id in values]
        c = [values[d.id] for d in devices if d.id in control and d.id in values]
        row: JsonObject = {"treated_mean": None, "control_mean": None, "n_treated": len(t), "n_control": len(c),
                               "smd": None}
        if t and c:
            mt, mc = statistics.fmean(t), statistics.fmean(c)
            sd = math.sqrt(((statistics.pvariance(t) if len(t) > 1 else 0.0)
                            + (statistics.pvariance(c) if len(c) > 1 else 0.0)) / 2)
            row.update(treated_mean=round(mt, 3), control_mean=round(mc, 3),
                       smd=round((mt - mc) / sd, 3) if sd else 0.0)
        out[kpi] = row
    return out


def for_campaign(s: Session, campaign_id: str, devices: Sequence[Device], spec: CampaignSpec,
                 now: datetime) -> Cohort:
    """The cohort of a campaign being created: matched on its gate's KPIs (each over its own
    window before ``now``), or on the strata alone when the gate names none."""
    from campaigns.effects import baselines as read_baselines
    from campaigns.effects import kpi_of

    base: dict[str, dict[str, float]] = {}
    ids = [d.id for d in devices]
    for g in spec.gate.kpis:
        base[g.metric] = read_baselines(s, kpi_of(g.metric, g.higher_is_worse), ids, now=now, window_h=g.window_h,
                                        labels=g.labels)
    return match(campaign_id, devices, spec.control_pct, base)
