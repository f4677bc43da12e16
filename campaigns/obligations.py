"""Policy's rollout obligations, read as limits the campaign plan must stay inside.

The policy pack (``gateward.rollout``) answers a large proposal with coded obligations
(policies/README.md): ``obligation.stage`` items (``kind`` canary|ring, cumulative ``percent``) in
plan order and an ``obligation.halt`` item (``failure_rate_pct``). A campaign that states no rings
adopts that plan; one that states its own may be *stricter* (smaller stages, more of them, a lower
failure threshold) but never looser — that is refused before anything runs.

``obligation.rehearsal`` (``min_targets``, ``target_count``): a blast radius that large may start only
after a clean rehearsal of this exact proposal (``campaigns/rehearsal.py``; checked at start).

``obligation.window`` (``region``, ``start_hour``, ``end_hour``, ``utc_offset_hours``) binds every
later batch to the change window the decision was taken in: a campaign runs for hours, and policy
judged the clock only once. The orchestrator holds new batches while any of its regions' windows is
closed and goes on when it opens again.

Only codes and params are read; the messages are for people, so rewording one in Rego changes
nothing here. A campaign stored before obligations had codes kept only the messages
(``plan["policy"]``); migration 0026 gave each such plan its coded items, so no text is
parsed here any more: a plan without ``policy_items`` has no obligations.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from core.kernel.jsontypes import Json

if TYPE_CHECKING:
    from core.kernel.models import PolicyItem

STAGE, HALT, WINDOW = "obligation.stage", "obligation.halt", "obligation.window"
REHEARSAL = "obligation.rehearsal"


class ObligationError(ValueError):
    """An obligation with a known code whose params are missing or mistyped: a pack bug, said
    plainly rather than guessed around (a wrong window would let batches run when they must not)."""


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
    rehearsal: str | None = None  # policy's reason to require a clean rehearsal before the start

    def closed_windows(self, now: datetime) -> list[Window]:
        return [w for w in self.windows if not w.open_at(now)]

    @property
    def empty(self) -> bool:
        return not self.stages and self.max_failure_rate is None


def _param(code: str, params: Mapping[str, Json], name: str, kind: type | tuple[type, ...]) -> Any:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ObligationError(f"policy obligation {code} needs param {name!r} "
                              f"({getattr(kind, '__name__', 'number')}), got {value!r}")
    return value


def _item_type() -> type | None:
    """``core.kernel.models.PolicyItem`` when that module is loaded — an instance of it cannot exist
    otherwise — so that reading a stored plan (``campaign status``) does not import the models and
    pydantic."""
    models = sys.modules.get("core.kernel.models")
    return getattr(models, "PolicyItem", None) if models is not None else None


def _as_item(ob: PolicyItem | Mapping[str, Json]) -> tuple[str, Mapping[str, Json]]:
    if not isinstance(ob, Mapping):
        return ob.code, ob.params
    params = ob.get("params") or {}
    return str(ob.get("code", "")), params if isinstance(params, Mapping) else {}


def parse(obligations: Iterable[PolicyItem | Mapping[str, Json]]) -> PolicyPlan:
    """The plan policy's obligations impose: from items (a Decision's ``obligation_items``, or
    their stored JSON form). Unknown codes (``obligation.presence``, say) are not plan limits and
    are skipped; so is anything that is not an item (a message is for people, never parsed)."""
    stages: list[float] = []
    canary = False
    halt: float | None = None
    windows: list[Window] = []
    rehearsal: str | None = None
    for ob in obligations:
        item = _item_type()
        if not (isinstance(ob, Mapping) or (item is not None and isinstance(ob, item))):
            continue
        code, params = _as_item(ob)
        if code == WINDOW:
            windows.append(Window(_param(code, params, "region", str), int(_param(code, params, "start_hour", int)),
                                  int(_param(code, params, "end_hour", int)),
                                  float(_param(code, params, "utc_offset_hours", (int, float)))))
        elif code == STAGE:
            kind = _param(code, params, "kind", str)
            canary = canary or (kind == "canary" and not stages)
            stages.append(float(_param(code, params, "percent", (int, float))))
        elif code == HALT:
            halt = float(_param(code, params, "failure_rate_pct", (int, float))) / 100.0
        elif code == REHEARSAL:
            rehearsal = f"{int(_param(code, params, 'target_count', int))} targets reach policy's " \
                        f"{int(_param(code, params, 'min_targets', int))}"
    return PolicyPlan(stages=stages, has_canary=canary, max_failure_rate=halt, windows=tuple(windows),
                      rehearsal=rehearsal)


def plan_items(plan: Mapping[str, Any]) -> list[Any]:
    """A stored campaign plan's policy obligations: its coded items (``policy_items``; migration
    0026 derived them for plans stored before codes existed)."""
    return list(plan.get("policy_items") or [])


def from_plan(plan: Mapping[str, Json]) -> PolicyPlan:
    """:func:`parse` over a stored campaign plan (see :func:`plan_items`)."""
    return parse(plan_items(plan))


def violations(plan: PolicyPlan, stages: list[float], failure_threshold: float) -> list[str]:
    """Why a campaign's stages/threshold are looser than policy's, or [] when they fit — in the words
    of the form and the console (rings numbered from 1, the canary ring 1, "fail above %"), never a
    field's name."""
    out: list[str] = []
    if plan.stages:
        if len(stages) < len(plan.stages):
            out.append(f"policy requires at least {len(plan.stages)} rings "
                       f"({', '.join(f'{s:g} %' for s in plan.stages)}); the campaign has {len(stages)}")
        for i, (mine, limit) in enumerate(zip(stages, plan.stages, strict=False)):
            if mine > limit:
                name = "the canary (ring 1)" if i == 0 and plan.has_canary else f"ring {i + 1}"
                out.append(f"policy caps {name} at {limit:g} % of the selection; the campaign asks {mine:g} %")
    if plan.max_failure_rate is not None and failure_threshold > plan.max_failure_rate:
        out.append(f"policy halts a rollout above a {100 * plan.max_failure_rate:.1f} % failure rate; the "
                   f"campaign's gate fails above {100 * failure_threshold:.1f} %")
    return out
