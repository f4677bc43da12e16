"""What the agent is told about a proposal's time and conditions, on every surface (issue 55 item 10).

Why one place: the console's card read back a proposal's not-before time and its preconditions, the
API's chat stream and ``gateward chat`` showed only "Proposal p-…: <intent> — approved", and the chat
offered "reply 'apply' to apply it as it is" for a change that waits for its time. Every surface
prints the chat events' text, so the text says it: when the change may start (local time of the
gateway), until when, and on what condition — and, for a scheduled change, that "apply" confirms the
schedule rather than writing now.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core import localtime
from core.kernel.jsontypes import JsonObject
from core.kernel.models import Proposal, ProposalState


def local_time(at: datetime, region: str | None) -> str:
    t = localtime.local(at, region)
    return f"{t:%a %d %b %H:%M} local time ({t.tzname()})"


def latest(p: Proposal) -> datetime | None:
    """The latest start, where the lifecycle keeps one (``not_after``)."""
    value = getattr(p, "not_after", None)
    return value if isinstance(value, datetime) else None


def when_and_if(p: Proposal, region: str | None) -> str:
    """" — not before …, not after …; only if … (checked again when the write starts)", or ""."""
    parts = []
    if p.not_before is not None:
        parts.append(f"not before {local_time(p.not_before, region)}")
        end = latest(p)
        if end is not None:
            parts[-1] += f", not after {local_time(end, region)}"
    now_and_then = [c.text for c in p.preconditions if c.text and not c.at_write]
    then = [c.text for c in p.preconditions if c.text and c.at_write]
    if now_and_then:
        parts.append("; ".join(now_and_then) + " (checked again when the write starts)")
    if then:  # a condition about the scheduled time: not judged now, only then
        at = f" at {localtime.local(p.not_before, region):%H:%M} local" if p.not_before is not None else ""
        parts.append("; ".join(then) + f" (checked when the write starts{at}, not now)")
    return (" — " + "; ".join(parts)) if parts else ""


def schedule_data(p: Proposal, region: str | None) -> JsonObject:
    """The same, as data for a client that draws it (the console's card)."""
    out: dict[str, Any] = {}
    if p.not_before is not None:
        out["not_before"] = p.not_before.isoformat()
        out["not_before_local"] = local_time(p.not_before, region)
        end = latest(p)
        if end is not None:
            out["not_after"] = end.isoformat()
            out["not_after_local"] = local_time(end, region)
    if p.preconditions:
        out["conditions"] = [c.text for c in p.preconditions]
    if p.readback:
        out["readback"] = p.readback
    return out


def confirm_words(p: Proposal, region: str | None) -> str:
    """What 'apply' does now: apply an approved change, or confirm the schedule of one that waits."""
    if p.not_before is None:
        return "Reply 'apply' to apply it as it is, 'cancel', or tell me what to change."
    if p.start_requested_by:
        return ("It is scheduled: nothing is written before then; the worker starts it and checks every gate "
                "again. Reply 'cancel' to withdraw it, or tell me what to change.")
    return (f"Nothing is written now: reply 'apply' to confirm the schedule — the worker starts it no earlier than "
            f"{local_time(p.not_before, region)} and checks every gate again then — 'cancel', or tell me what "
            "to change.")


def approved_question(p: Proposal, region: str | None) -> str | None:
    """The question after an approved scheduled change is proposed (None for a change applied now:
    the chat asks for 'apply' as before)."""
    if p.state is not ProposalState.APPROVED or p.not_before is None:
        return None
    return f"Proposal {p.id} is approved{when_and_if(p, region)}. {confirm_words(p, region)}"
