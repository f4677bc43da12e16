"""Each problem's ramp and circuit breaker: how many devices the next proposal may cover, and
whether remediation of this problem is halted.

Why per problem: a remediation that goes wrong (a fix that does not hold on some firmware, a
rollback that fails) is wrong for that problem, not for the others; halting it stops further
proposals for it — cases stay open, nothing is lost — while DNS fixes keep flowing when channel
changes misbehave. The ramp reuses the campaigns' exponential rate (``campaigns.rate``): the
first proposal covers one device, each clean one doubles the next, a failure starts over — a
canary without a campaign, for fixes that arrive as a storm.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from brain.remediation.schema import RemediationProblemRow
from brain.remediation.storm import Breaker, Ramp
from campaigns import rate as ratelimit
from campaigns.spec import Rate
from core import audit
from core.kernel.jsontypes import Json, JsonObject


def _rate(ramp: Ramp, cap: int) -> Rate:
    top = max(1, min(ramp.max_batch, cap))
    return Rate(initial_batch=min(ramp.initial_batch, top), max_batch=top, initial_window=1, max_window=1,
                factor=ramp.factor)


def get_row(s: Session, problem: str, ramp: Ramp, cap: int, now: datetime, *, lock: bool = False
            ) -> RemediationProblemRow:
    q = select(RemediationProblemRow).where(RemediationProblemRow.problem == problem)
    if lock and s.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    row = s.scalar(q)
    if row is None:
        row = RemediationProblemRow(problem=problem, state="running", batch_size=_rate(ramp, cap).initial_batch,
                                    executed=0, failed=0, rollback_failed=0, updated_at=now)
        s.add(row)
        s.flush()
    return row


def halted(s: Session) -> list[str]:
    return list(s.scalars(select(RemediationProblemRow.problem).where(RemediationProblemRow.state == "halted")))


def record(s: Session, problem: str, *, executed: int, failed: int, rollback_failed: int, ramp: Ramp,
           breaker: Breaker, cap: int, now: datetime, detail: Mapping[str, Json]) -> RemediationProblemRow:
    """Account one proposal's outcome; grow or reset the ramp; trip the breaker if needed."""
    row = get_row(s, problem, ramp, cap, now, lock=True)
    row.executed += executed
    row.failed += failed
    row.rollback_failed += rollback_failed
    rate = _rate(ramp, cap)
    nxt = ratelimit.after_batch(rate, ratelimit.Limits(row.batch_size, 1), failed=failed + rollback_failed)
    row.batch_size = nxt.batch_size
    row.updated_at = now
    reason = None
    if rollback_failed:
        reason = f"{rollback_failed} device(s) could not be rolled back"
    elif row.executed >= breaker.min_executed and row.failed / row.executed > breaker.failure_threshold:
        reason = (f"failure rate {row.failed}/{row.executed} is above {breaker.failure_threshold:.0%} "
                  f"(after at least {breaker.min_executed} devices)")
    if reason and row.state != "halted":
        row.state, row.reason, row.halted_at, row.halted_by = "halted", reason, now, "system:breaker"
        audit.append(s, actor="system:remediation", action="alarm.remediation_halted",
                     data={"problem": problem, "reason": reason, "severity": "high", **detail,
                           "action_needed": f"inspect, then `gateward remediation resume {problem}`"})
    return row


def set_state(s: Session, problem: str, state: str, actor: str, reason: str, ramp: Ramp, cap: int,
              now: datetime) -> RemediationProblemRow:
    row = get_row(s, problem, ramp, cap, now, lock=True)
    row.state, row.updated_at = state, now
    if state == "halted":
        row.reason, row.halted_at, row.halted_by = reason, now, actor
    else:  # resumed: the failures seen so far are acknowledged; judge what happens from now on
        row.executed = row.failed = row.rollback_failed = 0
        row.batch_size = _rate(ramp, cap).initial_batch
        row.reason, row.halted_at, row.halted_by = None, None, None
    audit.append(s, actor=actor, action=f"remediation.{'halted' if state == 'halted' else 'resumed'}",
                 data={"problem": problem, "reason": reason})
    return row


def as_dict(r: RemediationProblemRow) -> JsonObject:
    return {"problem": r.problem, "state": r.state, "batch_size": r.batch_size, "executed": r.executed,
            "failed": r.failed, "rollback_failed": r.rollback_failed, "reason": r.reason, "halted_by": r.halted_by,
            "halted_at": r.halted_at.isoformat() if r.halted_at else None}
