"""Ring planning: a canary stratified by model × firmware, widening rings, a control cohort.

Why stratified: a change that breaks one firmware must show up in the canary, so every
(model, firmware) class of the selection is in the canary (at least one device each), and every
ring takes the same share of each class. Why frozen: the plan is computed once, from a hash of
(campaign, device), and stored, so a restart — or a second worker — resumes exactly the same plan.

Each device gets a rank within its class (by hash) and the fraction ``(rank + 0.5) / class size``;
it belongs to the first stage whose cumulative share covers that fraction (rank 0 always to the
canary). Ring sizes therefore add up to the selection exactly. The control cohort is the highest
fractions of each class: held back until the last ring, it is the baseline the KPI gate compares
treated devices with.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from core.kernel.models import Device


@dataclass(frozen=True)
class Placement:
    device_id: str
    ring: int
    pos: int
    stratum: str
    control: bool


@dataclass
class RingPlan:
    stages: list[float]
    placements: list[Placement]
    sizes: list[int] = field(default_factory=list)
    strata: list[dict[str, int]] = field(default_factory=list)  # per ring: stratum -> count
    control: int = 0

    def summary(self) -> dict[str, object]:
        return {"stages": self.stages, "sizes": self.sizes, "strata": self.strata, "control": self.control,
                "total": sum(self.sizes)}


def stratum_of(d: Device) -> str:
    return f"{d.model} | {d.firmware}"


def _rank_key(campaign_id: str, device_id: str) -> bytes:
    return hashlib.sha256(f"{campaign_id}:{device_id}".encode()).digest()[:8]


def plan_rings(campaign_id: str, devices: Sequence[Device], stages: Sequence[float],
               control_pct: float = 0.0, control: Collection[str] | None = None) -> RingPlan:
    """Place every device in exactly one ring (stages are cumulative percentages ending at 100).

    ``control``: the control cohort already chosen (``campaigns.cohort.match``); its devices wait
    for the last ring and the others are ranked among themselves, so every class keeps a device
    in the canary. Left out, the cohort is the highest fractions of each class (``control_pct``)."""
    if not devices:
        raise ValueError("nothing to plan: the selection is empty")
    if not stages or stages[-1] != 100:
        raise ValueError("stages must end at 100")
    by_stratum: dict[str, list[Device]] = defaultdict(list)
    for d in devices:
        by_stratum[stratum_of(d)].append(d)
    ring_of: dict[str, tuple[int, float, str, bool]] = {}
    for stratum, members in by_stratum.items():
        members.sort(key=lambda d: _rank_key(campaign_id, d.id))
        held = [d for d in members if d.id in control] if control is not None else []
        ranked = [d for d in members if d.id not in control] if control is not None else members
        n = len(ranked)
        for rank, d in enumerate(ranked):
            frac = (rank + 0.5) / n
            ring = 0 if rank == 0 else next(i for i, s in enumerate(stages) if frac <= s / 100.0 + 1e-12)
            is_control = control is None and control_pct > 0 and frac > 1.0 - control_pct / 100.0 and n > 1
            if is_control:
                ring = len(stages) - 1
            ring_of[d.id] = (ring, frac, stratum, is_control)
        for k, d in enumerate(held):
            ring_of[d.id] = (len(stages) - 1, 1.0 + k, stratum, True)
    placements: list[Placement] = []
    sizes = [0] * len(stages)
    strata: list[dict[str, int]] = [defaultdict(int) for _ in stages]
    # Within a ring interleave classes (order by fraction), so the first batches cover every class.
    order = sorted(ring_of.items(), key=lambda kv: (kv[1][0], kv[1][3], kv[1][1], kv[1][2], kv[0]))
    for dev_id, (ring, _frac, stratum, held_back) in order:
        placements.append(Placement(dev_id, ring, sizes[ring], stratum, held_back))
        sizes[ring] += 1
        strata[ring][stratum] += 1
    return RingPlan(stages=list(stages), placements=placements, sizes=sizes,
                    strata=[dict(x) for x in strata], control=sum(1 for p in placements if p.control))
