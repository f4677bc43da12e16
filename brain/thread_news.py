"""What happened to a chat's proposals outside the chat, told in the chat (issue 55 item 10).

Why: a scheduled change is carried out by the worker, hours after the chat that proposed it paused.
The scheduler audits what it does — it starts the change for the person who asked (``data.via`` names
it), the change holds or is rolled back, a gate refuses the start (``apply.start_refused``, once), a
condition no longer holds (``apply.precondition_failed``), the latest start passes
(``schedule.expired``) — but the thread heard none of it, and an approved scheduled change that nobody
confirmed never started and nobody was told. Here those audit rows become the thread's events, read
from the append-only log (the lifecycle needs no hook), each one once: an event carries the audit
row's ``seq`` (``data.audit_seq``), and the thread's highest is where the next look starts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from brain.contracts import ChatEvent, ChatEventKind
from brain.telling import local_time
from core.kernel.models import Proposal, ProposalState
from core.lifecycle.schedule import SCHEDULER
from core.store import Store, repo
from core.store.schema import AuditEventRow


def proposal_ids(events: Iterable[ChatEvent]) -> list[str]:
    """The proposals a thread made, in order."""
    out: list[str] = []
    for e in events:
        pid = e.data.get("proposal_id") if e.kind == "proposal" else None
        if isinstance(pid, str) and pid not in out:
            out.append(pid)
    return out


def news(store: Store, thread_id: str, events: list[ChatEvent], region: str | None, now: datetime) -> list[ChatEvent]:
    """New events for the thread: the scheduler's actions on its proposals since the last one told,
    and an approved scheduled change whose time has come that nobody confirmed."""
    pids = proposal_ids(events)
    if not pids:
        return []
    seen = max((int(e.data.get("audit_seq") or 0) for e in events), default=0)
    told = {str(e.data.get("unconfirmed")) for e in events if e.data.get("unconfirmed")}
    with store.read() as s:
        rows = s.execute(select(AuditEventRow).where(AuditEventRow.proposal_id.in_(pids), AuditEventRow.seq > seen)
                         .order_by(AuditEventRow.seq)).scalars().all()
        proposals = {pid: repo.proposal_from_row(repo.get_proposal_row(s, pid)) for pid in pids}
    out = [ev for r in rows if (ev := _from_audit(thread_id, r, region)) is not None]
    for pid, p in proposals.items():
        if pid not in told and _unconfirmed(p, now):
            out.append(_unconfirmed_event(thread_id, p, region, now))
    return out


def _by_scheduler(row: AuditEventRow) -> bool:
    data = row.data or {}
    return row.actor == SCHEDULER or data.get("via") == SCHEDULER


def _from_audit(thread_id: str, row: AuditEventRow, region: str | None) -> ChatEvent | None:
    if not _by_scheduler(row):
        return None
    data: dict[str, Any] = dict(row.data or {})
    pid = row.proposal_id
    at = local_time(row.ts, region)
    text = {
        "apply.started": f"The scheduler started proposal {pid} at {at} for {row.actor}; every gate was "
                         "checked again before the write.",
        "proposal.done": f"Proposal {pid} ran at {at} and held on the device (verified).",
        "proposal.rolled_back": f"Proposal {pid} ran at {at}, did not hold and was rolled back from its backup.",
        "proposal.failed": f"Proposal {pid} FAILED at {at} and the rollback did not complete — escalate now.",
        "apply.precondition_failed": (f"Proposal {pid} was not run at {at}: {data.get('condition', 'its condition')}"
                                      f" no longer holds (now {data.get('fact', 'unknown')}); nothing was written."),
        "apply.start_refused": (f"The scheduler could not start proposal {pid} at {at}: {data.get('reason', '')}. "
                                + _retry(data, region)),
        "schedule.expired": (f"Proposal {pid} was not run: its latest start passed ({data.get('reason', '')}); "
                             "nothing was written — propose it again for another time."),
        "apply.deferred": f"The scheduler could not start proposal {pid} at {at}: {data.get('reason', '')}.",
    }.get(row.action)
    if text is None:
        return None
    kind: ChatEventKind = "outcome" if row.action in ("proposal.done", "proposal.rolled_back", "proposal.failed",
                                       "apply.precondition_failed", "schedule.expired") else "notice"
    return ChatEvent(thread_id=thread_id, kind=kind, text=text, ts=row.ts,
                     data={"proposal_id": pid, "audit_seq": row.seq, "audit_action": row.action, "scheduler": True})


def _retry(data: dict[str, Any], region: str | None) -> str:
    raw = data.get("retry_at")
    try:
        return f"It tries again at {local_time(datetime.fromisoformat(str(raw)), region)}." if raw else ""
    except ValueError:
        return ""


def _unconfirmed(p: Proposal, now: datetime) -> bool:
    """Approved for a time that has come, and nobody said 'apply': the scheduler will never start it."""
    return (p.state is ProposalState.APPROVED and p.not_before is not None and p.not_before <= now
            and not p.start_requested_by)


def _unconfirmed_event(thread_id: str, p: Proposal, region: str | None, now: datetime) -> ChatEvent:
    assert p.not_before is not None
    return ChatEvent(thread_id=thread_id, kind="question", ts=now, data={"proposal_id": p.id, "unconfirmed": p.id},
                     text=(f"Proposal {p.id} was approved to start from {local_time(p.not_before, region)}, but nobody "
                           "confirmed it, so it has not run and the scheduler will not start it. Reply 'apply' to "
                           "start it now, or 'cancel'."))
