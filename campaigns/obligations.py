"""Policy's rollout obligations, read as limits the campaign plan must stay inside.

The policy pack (``gateward.rollout``) answers a large proposal with obligations such as
``stage: canary 1%``, ``stage: ring 10%`` and ``halt: failure rate above 1% stops and rolls back``.
A campaign that states no rings adopts that plan; one that states its own may be *stricter*
(smaller stages, more of them, a lower failure threshold) but never looser — that is refused
before anything runs.

``window: DE 1-5 local, UTC offset 1 h`` binds every later batch to the change window the decision
was taken in: a campaign runs for hours, and policy judged the clock only once. The orchestrator
holds new batches while any of its regions' windows is closed and goes on when it opens again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

_STAGE = re.compile(r"^stage:\s*(canary|ring)\s+([0-9.]+)\s*%", re.I)
_HALT = re.compile(r"^halt:\s*failure rate above\s+([0-9.]+)\s*%", re.I)
_WINDOW = re.compile(r"^window:\s*(\S+)\s+(\d+)-(\d+) local, UTC offset (-?[0-9.]+) h$", re.I)


@dataclass(frozen=True)
class Window:
    """A region's daily change window in local hours (start inclusive, end exclusive, may wrap
    midnight), with the fixed UTC offset policy data gives. Same arithmetic as ``lib.rego``."""

    region: str
    start_hour: int
    end_hour: int
    utc_offset_h: float

    def open_at(self, now: datetime) -> bool:
        local = now + timedelta(hours=self.utc_offset_h)
        h = local.hour
        return (h - self.start_hour) % 24 < (self.end_hour - self.start_hour) % 24

    def text(self) -> str:
        return f"{self.region} {self.start_hour:02d}:00-{self.end_hour:02d}:00 local (UTC{self.utc_offset_h:+g} h)"


@dataclass(frozen=True)
class PolicyPlan:
    stages: list[float] = field(default_factory=list)  # cumulative %, canary first
    has_canary: bool = False
    max_failure_rate: float | None = None  # fraction
    windows: tuple[Window, ...] = ()

    def closed_windows(self, now: datetime) -> list[Window]:
        return [w for w in self.windows if not w.open_at(now)]

    @property
    def empty(self) -> bool:
        return not self.stages and self.max_failure_rate is None


def parse(obligations: list[str]) -> PolicyPlan:
    stages: list[float] = []
    canary = False
    halt: float | None = None
    windows: list[Window] = []
    for ob in obligations:
        w = _WINDOW.match(ob.strip())
        if w:
            windows.append(Window(w.group(1), int(w.group(2)), int(w.group(3)), float(w.group(4))))
            continue
        m = _STAGE.match(ob.strip())
        if m:
            canary = canary or (m.group(1).lower() == "canary" and not stages)
            stages.append(float(m.group(2)))
            continue
        h = _HALT.match(ob.strip())
        if h:
            halt = float(h.group(1)) / 100.0
    return PolicyPlan(stages=stages, has_canary=canary, max_failure_rate=halt, windows=tuple(windows))


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
