"""The proposal and execution state machines, as data.

Why tables: the lifecycle, the staged (campaign) path and crash recovery all move proposals and
execution rows. Written as scattered ``row.state = ...`` assignments, nothing said which moves are
legal, so a bug could, say, put a rolled-back proposal back to ``approved`` and have it applied
again. Here every legal move is listed once; :func:`check_proposal` / :func:`move_execution` refuse
anything else with :class:`IllegalTransition`, and the diagrams in ``docs/safety.md`` are generated
from these tables (``python -m core.states --mermaid``; a test fails when the doc drifts).

The tables list exactly what the code does today, including the moves only recovery makes
(``applying → approved`` when nothing was written, ``applying → done`` when a dead process's
writes are verified after a restart).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from core import audit
from core.kernel.errors import Conflict
from core.kernel.models import TERMINAL_STATES, ExecutionStatus, Proposal, ProposalState, utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from core.kernel.jsontypes import Json
    from core.store.records import ExecutionRecord, ProposalRecord
    from core.store.schema import ExecutionRow, ProposalRow

S = ProposalState
X = ExecutionStatus


class IllegalTransition(Conflict):
    """A state change the tables do not allow. It is raised before anything is written (the
    caller's transaction rolls back), so the stored state and the audit trail stay as they were."""

    code = "illegal_transition"

    def __init__(self, machine: str, frm: str | None, to: str, subject: str = "") -> None:
        where = f" ({subject})" if subject else ""
        super().__init__(f"illegal {machine} transition {frm or '(new)'} → {to}{where}",
                         machine=machine, frm=frm, to=to)
        self.machine, self.frm, self.to = machine, frm, to


def _frozen(table: dict[Any, set[Any]]) -> Mapping[Any, frozenset[Any]]:
    return MappingProxyType({k: frozenset(v) for k, v in table.items()})


# Before the first write an author may edit (back to draft) or cancel.
_EDIT = {S.DRAFT, S.CANCELLED}
# How any apply that wrote, or a rollback of it, ends.
_ENDED = {S.DONE, S.ROLLED_BACK, S.FAILED}
# A rollback whose restore could not be confirmed because the device was unreachable:
# not an end — recovery and the worker re-check it and end it rolled back (or failed).
_PENDING = {S.ROLLBACK_PENDING}

PROPOSAL_START = S.DRAFT
PROPOSAL_TRANSITIONS: Mapping[ProposalState, frozenset[ProposalState]] = _frozen({
    S.DRAFT: _EDIT | {S.VALIDATED, S.INVALID},
    S.VALIDATED: _EDIT | {S.VALIDATED, S.INVALID, S.PREVIEWED},
    S.INVALID: _EDIT | {S.VALIDATED, S.INVALID},  # re-validated after the registry learnt the device
    S.PREVIEWED: _EDIT | {S.PREVIEWED, S.DENIED, S.AWAITING_APPROVAL, S.APPROVED},
    S.DENIED: _EDIT,
    S.AWAITING_APPROVAL: _EDIT | {S.APPROVED, S.REJECTED},
    # backed_up: a single apply; applying: a staged run's first batch; done/failed/rolled_back:
    # a staged rollout finished or aborted before any batch ran.
    S.APPROVED: _EDIT | {S.REJECTED, S.BACKED_UP, S.APPLYING} | _ENDED,
    # approved again: recovery found nothing written, or the first write's request never left.
    S.BACKED_UP: {S.APPLYING, S.APPROVED} | _ENDED | _PENDING,
    S.APPLYING: {S.VERIFYING, S.APPROVED} | _ENDED | _PENDING,
    S.VERIFYING: _ENDED | _PENDING,
    S.DONE: {S.ROLLED_BACK, S.FAILED} | _PENDING,  # a manual (or campaign) rollback of a finished change
    S.REJECTED: set(),
    S.ROLLED_BACK: set(),
    S.FAILED: set(),
    S.CANCELLED: set(),
    # the re-check read the original value back or restored it, or the restore failed for good
    S.ROLLBACK_PENDING: {S.ROLLED_BACK, S.FAILED},
})

# Statuses whose device may hold (part of) the change and is not restored: each may be restored.
_RESTORE = {X.ROLLING_BACK, X.ROLLED_BACK, X.ROLLBACK_FAILED}

EXECUTION_START: frozenset[ExecutionStatus] = frozenset({X.PENDING, X.APPLYING})
EXECUTION_TRANSITIONS: Mapping[ExecutionStatus, frozenset[ExecutionStatus]] = _frozen({
    X.PENDING: {X.APPLYING, X.ABANDONED},
    # applying → pending: a halted campaign never touched a device it had marked write-ahead;
    # applying → applying: a resumed batch found the device exactly as backed up and writes it now;
    # applying → verified/verify_failed: a resumed batch or recovery read the device back.
    X.APPLYING: {X.APPLYING, X.APPLIED, X.FAILED, X.VERIFIED, X.VERIFY_FAILED, X.PENDING, X.ABANDONED} | _RESTORE,
    X.APPLIED: {X.VERIFIED, X.VERIFY_FAILED} | _RESTORE,
    X.VERIFIED: {X.VERIFIED, X.VERIFY_FAILED} | _RESTORE,  # verified again by recovery; rolled back later
    X.VERIFY_FAILED: _RESTORE,
    X.ROLLING_BACK: _RESTORE,  # a rollback interrupted by a crash is finished (restoring is idempotent)
    X.ROLLBACK_FAILED: _RESTORE,  # ... and one that failed may be tried again
    X.FAILED: set(),  # an atomic Set that faulted changed nothing
    X.ROLLED_BACK: set(),
    X.SKIPPED: set(),
    X.ABANDONED: {X.PENDING},  # the next apply reuses the row (attempt + 1)
})


def check_proposal(frm: ProposalState | str, to: ProposalState | str, subject: str = "") -> None:
    """Raise :class:`IllegalTransition` unless ``frm → to`` is in :data:`PROPOSAL_TRANSITIONS`."""
    if S(to) not in PROPOSAL_TRANSITIONS[S(frm)]:
        raise IllegalTransition("proposal", str(frm), str(to), subject)


def check_execution(frm: ExecutionStatus | str | None, to: ExecutionStatus | str, subject: str = "") -> None:
    """Raise :class:`IllegalTransition` unless ``frm → to`` is legal; ``frm=None`` is a new row."""
    allowed = EXECUTION_START if frm is None else EXECUTION_TRANSITIONS[X(frm)]
    if X(to) not in allowed:
        raise IllegalTransition("execution", None if frm is None else str(frm), str(to), subject)


def set_state(s: Session, row: ProposalRecord | ProposalRow, to: ProposalState, actor: str, action: str,
              data: Mapping[str, Json] | None = None, error: str | None = None, *, save: bool = True) -> None:
    """Move a proposal row to ``to`` and append its audit event in the caller's transaction
    (invariant 4). An illegal move raises before anything is changed. ``error`` is kept on
    failures and cleared when the proposal is approved or done. ``save=False``: the caller moves
    the same row again in this transaction and saves it then (one UPDATE for both moves)."""
    frm = row.state
    check_proposal(frm, to, row.id)
    row.state = str(to)
    row.updated_at = utcnow()
    if error is not None or to in (S.DONE, S.APPROVED):
        row.error = error
    write = getattr(row, "save", None)  # a core.store.records row writes itself; an ORM row is flushed
    if write is not None and save:
        write(s)
    audit.append(s, actor=actor, action=action, proposal_id=row.id,
                 data={"from": frm, "to": str(to), **(data or {})})


def require_state(p: Proposal, *allowed: ProposalState, doing: str) -> None:
    """Refuse (Conflict, with a hint what to do instead) unless ``p`` is in one of ``allowed``."""
    if p.state not in allowed:
        hint = ""
        if p.state in TERMINAL_STATES:
            hint = " (it is finished; create a new proposal)"
        elif p.state is S.AWAITING_APPROVAL:
            hint = " (it is waiting for approval)"
        elif p.state in (S.BACKED_UP, S.APPLYING, S.VERIFYING):
            hint = " (an apply is running, or its process stopped: `gateward recover` finishes it)"
        raise Conflict(f"cannot {doing} proposal {p.id}: it is {p.state}{hint}", state=str(p.state))


def move_execution(row: ExecutionRecord | ExecutionRow, to: ExecutionStatus) -> str | None:
    """Set an execution row's status after checking the move; returns the status it had. Every
    code path that changes an execution row's status goes through here."""
    before: str | None = row.status
    check_execution(before, to, f"{row.proposal_id}/{row.device_id}")
    row.status = str(to)
    return before


# ---------------------------------------------------------------------------------- diagrams
DOC = Path(__file__).resolve().parents[1] / "docs" / "safety.md"
BEGIN = "<!-- generated by `python -m core.states --write-docs`: do not edit by hand -->"
END = "<!-- end generated state diagrams -->"


def _mermaid(title: str, start: Any, table: Mapping[Any, frozenset[Any]], ends: list[Any]) -> str:
    order = list(table)
    lines = ["```mermaid", "stateDiagram-v2", f"    %% {title}"]
    lines += [f"    [*] --> {s}" for s in sorted(start, key=order.index)]
    for frm in order:
        lines += [f"    {frm} --> {to}" for to in sorted(table[frm], key=order.index)]
    lines += [f"    {s} --> [*]" for s in ends]
    lines.append("```")
    return "\n".join(lines)


def mermaid() -> str:
    """Both state diagrams as Mermaid blocks, in table order (stable, so the doc can be compared)."""
    terminal = [s for s, nxt in PROPOSAL_TRANSITIONS.items() if not nxt]
    final = [s for s, nxt in EXECUTION_TRANSITIONS.items() if not nxt]
    return "\n\n".join([
        "Proposal states (`core.states.PROPOSAL_TRANSITIONS`):",
        _mermaid("proposal", [PROPOSAL_START], PROPOSAL_TRANSITIONS, terminal),
        "Execution states, one row per (proposal, device) (`core.states.EXECUTION_TRANSITIONS`):",
        _mermaid("execution", EXECUTION_START, EXECUTION_TRANSITIONS, final),
    ])


def generated_block() -> str:
    return f"{BEGIN}\n\n{mermaid()}\n\n{END}"


def docs_with_diagrams(text: str) -> str:
    """``text`` (docs/safety.md) with its generated block replaced by the current diagrams."""
    if BEGIN not in text or END not in text:
        raise ValueError(f"{DOC.name} has no generated block ({BEGIN!r} … {END!r})")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + generated_block() + tail


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.states", description=__doc__.split("\n")[0])
    ap.add_argument("--mermaid", action="store_true", help="print both state diagrams")
    ap.add_argument("--write-docs", action="store_true", help=f"regenerate the diagrams in {DOC}")
    args = ap.parse_args(argv)
    if args.write_docs:
        DOC.write_text(docs_with_diagrams(DOC.read_text()))
        print(f"updated {DOC}")
    if args.mermaid or not args.write_docs:
        print(mermaid())
    return 0


if __name__ == "__main__":
    sys.exit(main())
