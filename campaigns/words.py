"""A campaign's status in words, from its rows: shared by the ORM read (``campaigns.reads``, the API
and the console) and the DB-API read of ``gateward campaign status`` (``campaigns.lite_reads``), so
both print the same dictionary. Nothing here imports SQLAlchemy or pydantic.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from campaigns import obligations
from campaigns.states import ABORTED, ABORTING, COMPLETED, CREATED, DENIED, PAUSED, REJECTED, TERMINAL

VERIFIED, ROLLED_BACK, ROLLBACK_FAILED = "verified", "rolled_back", "rollback_failed"  # ExecutionStatus values
DENIED_P, REJECTED_P = "denied", "rejected"  # ProposalState values


def summary(c: Any, proposal_state: str | None = None) -> dict[str, Any]:
    """A campaign's list row (``c``: its row, ORM or DB-API)."""
    state = effective_state(c.state, proposal_state)
    rings = len(c.plan["sizes"])
    return {"id": c.id, "name": c.name, "kind": c.kind, "state": state, "proposal_id": c.proposal_id,
            "author": c.author, "run_by": c.run_by, "ring": c.ring, "rings": rings,
            "ring_state": c.ring_state, "phase": phase_text(state, c.ring, rings, c.ring_state, c.spec,
                                                             c.promote_at),
            "devices": int(c.plan["total"]), "created_at": c.created_at.isoformat(),
            "halt_reason": c.halt_reason, "error": c.error}


def compose(c: Any, p: Any, counts: dict[str, int], per_ring: Sequence[Any], now: dict[int, dict[str, int]],
            states: dict[str, int], analyses: list[Any], workers: list[dict[str, Any]],
            now_t: datetime) -> dict[str, Any]:
    """One campaign's status from what was read: its row ``c``, its proposal ``p``, the proposal's
    execution counts, per ring (ring, batches, failed) and its devices' statuses now, batch states,
    the newest analyses (newest first) and the workers."""
    progress = {**counts, "not_started": len(p.targets) - sum(counts.values()), "targets": len(p.targets)}
    by_ring = {int(r[0]): r for r in per_ring}
    rings = []
    for i, size in enumerate(c.plan["sizes"]):
        r = by_ring.get(i)
        n = now.get(i, {})
        rolled_back = n.get(ROLLED_BACK, 0)
        rings.append({"ring": i, "number": i + 1, "name": ring_name(i), "stage_pct": c.plan["stages"][i],
                      "size": int(size), "batches": int(r[1]) if r else 0,
                      "verified": n.get(VERIFIED, 0), "failed": int(r[2] or 0) if r else 0,
                      "rolled_back": rolled_back, "rollback_failed": n.get(ROLLBACK_FAILED, 0),
                      "strata": c.plan["strata"][i]})
    held = [w.text() for w in obligations.from_plan(c.plan).closed_windows(now_t)]
    head = summary(c, p.state)
    total = max(int(c.plan["total"]), 1)
    classes = len(_strata_totals(c.plan))
    for rd in rings:  # the share a ring really holds: a canary takes one device of every class at least
        rd["share_pct"] = round(100.0 * rd["size"] / total, 1)
        rd["one_per_class"] = (rd["ring"] == 0 and classes > 1
                              and rd["size"] > math.ceil(rd["stage_pct"] * total / 100.0))
        rd["classes"] = len(rd["strata"])
        rd["status"] = _ring_status(c, rd["ring"], rd["rolled_back"], head["state"])
        if c.kind == "firmware" and rd["rolled_back"]:  # a restore reinstalls no image: never "rolled back"
            rd["status"] = "stopped"
            rd["not_undone"] = (f"{rd['rolled_back']} device(s) got the download; a rollback cannot undo it — "
                                "each keeps whatever image it installed (see its execution's not_undone)")
    plan = {k: v for k, v in c.plan.items() if k != "acks"}
    if isinstance(plan.get("rehearsal"), dict):  # every target's fingerprint stays in the store: the hash says it
        plan["rehearsal"] = {k: v for k, v in plan["rehearsal"].items() if k != "state"}
    return {**head, "spec": c.spec, "plan": plan,
            "window_hold": held if c.state == "running" else [],
            "windows": window_info(obligations.plan_items(c.plan), now_t),
            "emergency": bool(c.spec.get("emergency")),
            "emergency_path": EMERGENCY_TAKEN if c.spec.get("emergency") else EMERGENCY_PATH,
            "proposal": {"id": p.id, "state": p.state, "hash": p.hash, "error": p.error, "risk": p.risk},
            "rings_detail": rings, "batches": states, "progress": progress, "workers": workers,
            "rate": {"batch_size": c.batch_size, "window": c.window},
            "halted_at": c.halted_at.isoformat() if c.halted_at else None, "halted_by": c.halted_by,
            "started_at": c.started_at.isoformat() if c.started_at else None,
            "finished_at": c.finished_at.isoformat() if c.finished_at else None,
            "promote_at": c.promote_at.isoformat() if c.promote_at else None,
            "analyses": [{"ring": a.ring, "ts": a.ts.isoformat(), "outcome": a.outcome, "final": a.final,
                          "metrics": a.metrics, "reasons": a.reasons} for a in reversed(analyses)],
            "terminal": head["state"] in TERMINAL}


def ring_name(i: int) -> str:
    """A ring's name from its index, the one numbering the CLI, the API and the console all use:
    ring 1 is the canary, and "ring 2 of 3" in a phase is the card titled "ring 2"."""
    return "ring 1 (canary)" if i == 0 else f"ring {i + 1}"


EMERGENCY_TAKEN = ("this campaign is an emergency: it is not held to a change window, and policy asks a "
                   "senior approver to sign it")
EMERGENCY_PATH = ("outside a change window only an emergency proceeds: create the campaign with "
                  "emergency on (--emergency); policy then asks a senior approver to sign it, and the "
                  "campaign runs without waiting for the window")


def window_info(policy: list[Any], now: datetime) -> list[dict[str, Any]]:
    """The change windows a campaign's decision bound it to, each with whether it is open now and,
    when closed, the UTC time it next opens — so the console can say *when*, not only *closed*."""
    out = []
    for w in obligations.parse(list(policy)).windows:
        is_open = w.open_at(now)
        opens = None if is_open else _next_open(w, now)
        out.append({"region": w.region, "text": w.text(), "open": is_open,
                    "opens_at": opens.isoformat() if opens else None,
                    # relative to the policy's clock (GATEWARD_POLICY_TIME may pin it), not the browser's
                    "opens_in_s": int((opens - now).total_seconds()) if opens else None})
    return out


def _next_open(w: obligations.Window, now: datetime) -> datetime | None:
    """First quarter hour within the next day at which ``w`` is open (offsets may be fractional)."""
    t = now.replace(second=0, microsecond=0) + timedelta(minutes=15 - now.minute % 15)
    for _ in range(4 * 24 + 1):
        if w.open_at(t):
            return t
        t += timedelta(minutes=15)
    return None


def _ring_status(c: Any, i: int, rolled_back: int, state: str | None = None) -> str:
    """A ring's word for people: an aborted campaign's rings that were restored say so; a
    campaign that never started (denied, rejected) has rings that never ran."""
    state = state or c.state
    if rolled_back and state in (ABORTING, ABORTED):
        return "rolling back" if state == ABORTING else "rolled back"
    if state in (DENIED, REJECTED) or (state == ABORTED and c.started_at is None):
        return "never ran"
    if i < c.ring or (i == c.ring and state == COMPLETED):
        return "done"
    if i > c.ring and state in (*TERMINAL, ABORTING):  # stopped before it: it will never run
        return "never ran"
    if i == c.ring and state in TERMINAL:
        return "stopped"
    if i == c.ring and state == PAUSED:  # the badge says what the banner says
        return "paused"
    return c.ring_state if i == c.ring else "pending"


_CLOSED_BY_PROPOSAL = {DENIED_P: DENIED, REJECTED_P: REJECTED}


def effective_state(state: str, proposal_state: str | None) -> str:
    """The campaign's state as people should read it: a ``created`` campaign whose proposal policy
    denied or an approver rejected can never start, so it reads as closed (``denied`` /
    ``rejected``) — also for campaigns created before such a campaign was closed at once."""
    if state == CREATED and proposal_state in _CLOSED_BY_PROPOSAL:
        return _CLOSED_BY_PROPOSAL[proposal_state]
    return state


def phase_text(state: str, ring: int, rings: int, ring_state: str, spec: dict[str, Any],
               promote_at: datetime | None) -> str:
    """Where the rollout is, in words the CLI and the console both print (a finished
    campaign said "ring 4 of 4 (finishing)")."""
    n = f"ring {ring + 1} of {rings}"
    if state == COMPLETED:
        return f"all {rings} rings done"
    if state in (DENIED, REJECTED):
        return f"never started ({'policy denied it' if state == DENIED else 'an approver rejected it'})"
    if state == CREATED:
        return f"not started ({rings} rings planned)"
    if state in (ABORTING, ABORTED, "failed"):
        return f"stopped in {n}" + (": rolling back" if state == ABORTING else "")
    if state == PAUSED:
        return f"paused in {n}"
    if ring_state == "waiting":
        if (spec.get("promotion") or {}).get("mode") == "auto" and promote_at is not None:
            return f"{n} passed: promotes automatically at {promote_at.isoformat()}"
        return f"{n} passed: waiting for a person to promote"
    if ring_state == "analysing":
        return f"{n}: analysing"
    if ring_state == "finishing":
        return "last ring passed: closing the campaign"
    return f"{n} running"


def _strata_totals(plan: dict[str, Any]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for ring in plan["strata"]:
        out.update(ring)
    return dict(out)
