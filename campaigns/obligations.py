"""Policy's rollout obligations, read as limits the campaign plan must stay inside.

The policy pack (``gateward.rollout``) answers a large proposal with obligations such as
``stage: canary 1%``, ``stage: ring 10%`` and ``halt: failure rate above 1% stops and rolls back``.
A campaign that states no rings adopts that plan; one that states its own may be *stricter*
(smaller stages, more of them, a lower failure threshold) but never looser — that is refused
before anything runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_STAGE = re.compile(r"^stage:\s*(canary|ring)\s+([0-9.]+)\s*%", re.I)
_HALT = re.compile(r"^halt:\s*failure rate above\s+([0-9.]+)\s*%", re.I)


@dataclass(frozen=True)
class PolicyPlan:
    stages: list[float] = field(default_factory=list)  # cumulative %, canary first
    has_canary: bool = False
    max_failure_rate: float | None = None  # fraction

    @property
    def empty(self) -> bool:
        return not self.stages and self.max_failure_rate is None


def parse(obligations: list[str]) -> PolicyPlan:
    stages: list[float] = []
    canary = False
    halt: float | None = None
    for ob in obligations:
        m = _STAGE.match(ob.strip())
        if m:
            canary = canary or (m.group(1).lower() == "canary" and not stages)
            stages.append(float(m.group(2)))
            continue
        h = _HALT.match(ob.strip())
        if h:
            halt = float(h.group(1)) / 100.0
    return PolicyPlan(stages=stages, has_canary=canary, max_failure_rate=halt)


def violations(plan: PolicyPlan, stages: list[float], failure_threshold: float) -> list[str]:
    """Why a campaign's stages/threshold are looser than policy's, or [] when they fit."""
    out: list[str] = []
    if plan.stages:
        if len(stages) < len(plan.stages):
            out.append(f"policy requires at least {len(plan.stages)} stages "
                       f"({', '.join(f'{s:g}%' for s in plan.stages)}); the campaign has {len(stages)}")
        for i, (mine, limit) in enumerate(zip(stages, plan.stages, strict=False)):
            if mine > limit:
                name = "the canary" if i == 0 and plan.has_canary else f"stage {i + 1}"
                out.append(f"policy caps {name} at {limit:g}% of the selection; the campaign asks {mine:g}%")
    if plan.max_failure_rate is not None and failure_threshold > plan.max_failure_rate:
        out.append(f"policy halts above a {plan.max_failure_rate:.2%} failure rate; the campaign's "
                   f"gate.failure_threshold is {failure_threshold:.2%}")
    return out
