"""What to do instead when policy denies a joint (multi-home) plan.

Why a module of its own: "denied" is not an answer a support agent can act on. Policy's deny
items carry a code and parameters (``change.too_many_targets`` with ``max_targets`` and
``target_count``); from those — never from the message's wording — this says which rule
refused the plan and the ways forward that the same policy would allow: a role whose limit
covers the plan, one band alone when that fits, or the homes that clash today when those fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from core.kernel.models import PolicyItem

if TYPE_CHECKING:
    from brain.fleetplan import Assignment, JointPlan

TOO_MANY = "change.too_many_targets"
# Roles a support agent can hand a plan to (automation and admin are not people to ask).
_HANDOVER = ("approver", "senior_approver")


def _a(role: str) -> str:
    """``senior_approver`` → "a senior approver" (the article by the first letter's sound)."""
    words = role.replace("_", " ")
    return ("an " if words[:1].lower() in "aeiou" else "a ") + words


def _roles_that_may(roles_table: dict[str, Any], count: int) -> list[tuple[str, int]]:
    out = []
    for name in _HANDOVER:
        r = roles_table.get(name) or {}
        if r.get("may_propose") and int(r.get("max_targets") or 0) >= count:
            out.append((name, int(r["max_targets"])))
    return out


def clashing_moves(plan: JointPlan) -> list[Assignment]:
    """The moves that separate adjacent homes sharing a channel today (the plan's urgent part)."""
    by_id = {a.device_id: a for a in plan.assignments}
    urgent: set[str] = set()
    for a, b in plan.edges:
        x, y = by_id[a], by_id[b]
        if x.current is not None and x.current == y.current and x.channel != y.channel:
            urgent.update(h.device_id for h in (x, y) if h.current != h.channel)
    return [m for m in plan.moves if m.device_id in urgent]


def too_many_targets(item: PolicyItem, plans: Sequence[JointPlan], roles_table: dict[str, Any]) -> str:
    """The rule, in words, and what the agent can do instead."""
    limit = int(item.params.get("max_targets", 0) or 0)
    count = int(item.params.get("target_count", 0) or 0)
    roles = " / ".join(_a(r) for r in item.params.get("roles") or []) or "your role"
    lines = [f"Policy refused the joint plan (rule {TOO_MANY}): {roles} may change at most {limit} devices in one "
             f"proposal, and this plan moves {count}. Nothing was changed. What you can do instead:"]
    who = _roles_that_may(roles_table, count)
    if who:
        names = " or ".join(f"{_a(n)} (up to {m} devices)" for n, m in who[:2])
        lines.append(f"- ask {names} to submit the building plan as one proposal;")
    bands = [p for p in plans if 0 < len(p.moves) <= limit]
    for p in bands:
        lines.append(f"- narrow it to the {p.band} band only: that plan moves {len(p.moves)} home(s) (ask for "
                     f"the {p.band} channels of the {p.scope} alone);")
    if not bands:
        urgent = {m.device_id: (p.band, m) for p in plans for m in clashing_moves(p)}
        if 0 < len(urgent) <= limit:
            moves = "; ".join(f"{d} {band} → {m.channel}" for d, (band, m) in sorted(urgent.items()))
            lines.append(f"- narrow it to the {len(urgent)} home(s) whose move separates neighbours that share a "
                         f"channel today ({moves}), one gateway at a time from its own chat;")
        else:
            lines.append(f"- narrow it to at most {limit} homes, one gateway at a time from its own chat.")
    return "\n".join(lines)


def explain(deny: Sequence[PolicyItem], plans: Sequence[JointPlan], roles_table: dict[str, Any]) -> str | None:
    """Advice for the deny items this module knows, or None (the caller shows policy's messages)."""
    for item in deny:
        if item.code == TOO_MANY:
            return too_many_targets(item, plans, roles_table)
    return None
