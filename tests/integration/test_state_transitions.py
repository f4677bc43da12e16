"""The proposal and execution state machines are explicit tables that every state change obeys
(issue 14, item 1). Why each test exists:

- the tables name every state and every state can be reached and left towards an end, so a new
  enum member cannot be forgotten;
- the safety properties the tables encode are checked as properties of the graph (a finished
  proposal is never approved again; a device whose rollback was decided is never written again);
- ``core.states.set_state`` (every phase of the lifecycle moves proposals through it) and the
  lifecycle's execution-row updates (``core.lifecycle.executions``) accept every legal move on a real store
  and refuse illegal ones with ``IllegalTransition``, leaving the stored state and audit untouched;
- docs/safety.md shows exactly the diagrams generated from the tables.

Crash recovery going through the checks is exercised by test_crash.py / test_recovery_safety.py,
which kill real processes at every failpoint.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select

from core import states
from core.kernel.models import TERMINAL_STATES, Change, ExecutionStatus, ProposalDraft, ProposalState
from core.states import (
    EXECUTION_START,
    EXECUTION_TRANSITIONS,
    PROPOSAL_START,
    PROPOSAL_TRANSITIONS,
    IllegalTransition,
    check_execution,
    check_proposal,
    move_execution,
)
from core.store import repo
from core.store.schema import AuditEventRow, ExecutionRow
from tests.integration.test_lifecycle import pick, who

S = ProposalState
X = ExecutionStatus
CHANNEL = "Device.WiFi.Radio.1.Channel"


def _reachable(table: Mapping[Any, frozenset[Any]], start: Iterable[Any]) -> set[Any]:
    seen, todo = set(start), deque(start)
    while todo:
        for nxt in table[todo.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _edges(table: Mapping[Any, frozenset[Any]]) -> list[tuple[Any, Any]]:
    return [(frm, to) for frm, tos in table.items() for to in tos]


def _non_edges(table: Mapping[Any, frozenset[Any]], members: Iterable[Any]) -> list[tuple[Any, Any]]:
    members = list(members)
    return [(frm, to) for frm in table for to in members if to not in table[frm]]


# ------------------------------------------------------------------ the tables as graphs
def test_tables_name_every_state_and_only_states() -> None:
    assert set(PROPOSAL_TRANSITIONS) == set(S)
    assert set(EXECUTION_TRANSITIONS) == set(X)
    assert all(to in set(S) for _, to in _edges(PROPOSAL_TRANSITIONS))
    assert all(to in set(X) for _, to in _edges(EXECUTION_TRANSITIONS))


def test_every_state_is_reachable_and_can_reach_an_end() -> None:
    assert _reachable(PROPOSAL_TRANSITIONS, [PROPOSAL_START]) == set(S)
    ends = {s for s, nxt in PROPOSAL_TRANSITIONS.items() if not nxt}
    assert ends and ends <= TERMINAL_STATES
    assert all(_reachable(PROPOSAL_TRANSITIONS, [s]) & ends for s in S)
    # skipped is reserved (no code writes it today); everything else is reachable from a new row
    assert _reachable(EXECUTION_TRANSITIONS, EXECUTION_START) == set(X) - {X.SKIPPED}
    finals = {x for x, nxt in EXECUTION_TRANSITIONS.items() if not nxt}
    assert all(_reachable(EXECUTION_TRANSITIONS, [x]) & finals for x in X)


def test_a_finished_proposal_is_never_applied_again() -> None:
    """From any state after the first write's outcome is known, no path leads back to approval."""
    pre_write = {S.APPROVED, S.BACKED_UP, S.APPLYING, S.VERIFYING, S.DRAFT}
    for end in (S.DONE, S.ROLLED_BACK, S.FAILED, S.CANCELLED, S.REJECTED):
        assert not (_reachable(PROPOSAL_TRANSITIONS, [end]) & pre_write), end


def test_a_device_whose_rollback_was_decided_is_never_written_again() -> None:
    writing = {X.PENDING, X.APPLYING, X.APPLIED, X.VERIFIED}
    for decided in (X.VERIFY_FAILED, X.ROLLING_BACK, X.ROLLBACK_FAILED, X.ROLLED_BACK, X.FAILED):
        assert not (_reachable(EXECUTION_TRANSITIONS, [decided]) & writing), decided


def test_the_check_functions_accept_exactly_the_tables() -> None:
    for frm, to in _edges(PROPOSAL_TRANSITIONS):
        check_proposal(frm, to)
        check_proposal(str(frm), str(to))  # stored rows hold strings
    for frm, to in _non_edges(PROPOSAL_TRANSITIONS, S):
        with pytest.raises(IllegalTransition):
            check_proposal(frm, to)
    for frm, to in _edges(EXECUTION_TRANSITIONS):
        check_execution(frm, to)
    for frm, to in _non_edges(EXECUTION_TRANSITIONS, X):
        with pytest.raises(IllegalTransition):
            check_execution(frm, to)
    for to in X:
        if to in EXECUTION_START:
            check_execution(None, to)
        else:
            with pytest.raises(IllegalTransition):
                check_execution(None, to)


def test_move_execution_refuses_without_touching_the_row() -> None:
    row = SimpleNamespace(status=str(X.ROLLED_BACK), proposal_id="p-1", device_id="d-1")
    with pytest.raises(IllegalTransition) as err:
        move_execution(row, X.APPLYING)
    assert row.status == str(X.ROLLED_BACK)
    assert err.value.code == "illegal_transition" and err.value.http_status == 409
    assert "p-1/d-1" in err.value.message and err.value.frm == "rolled_back" and err.value.to == "applying"
    ok = SimpleNamespace(status="applying", proposal_id="p", device_id="d")
    assert move_execution(ok, X.APPLIED) == "applying"
    assert ok.status == "applied"


# ------------------------------------------------------------------ enforced on a real store
def _proposal(rt: Any) -> str:
    d = pick(rt)
    draft = ProposalDraft(intent="state machine test", targets=[d.id], changes=[Change(path=CHANNEL, value=6)])
    return str(rt.lifecycle.create(draft, who(rt, "alice")).id)


def _force_state(rt: Any, pid: str, state: ProposalState) -> None:
    """Test setup only: put the stored row in ``state`` without going through the lifecycle."""
    with rt.store.write() as s:
        repo.get_proposal_row(s, pid).state = str(state)


def _audit_count(rt: Any, pid: str) -> int:
    with rt.store.read() as s:
        return int(s.scalar(select(func.count()).select_from(AuditEventRow)
                            .where(AuditEventRow.proposal_id == pid)) or 0)


def test_set_state_accepts_every_legal_move_and_audits_it(sqlite_runtime: Any) -> None:
    rt = sqlite_runtime
    pid = _proposal(rt)
    for frm, to in _edges(PROPOSAL_TRANSITIONS):
        _force_state(rt, pid, frm)
        with rt.store.write() as s:
            row = repo.get_proposal_row(s, pid)
            states.set_state(s, row, to, "test", "test.moved")
        with rt.store.read() as s:
            assert repo.get_proposal_row(s, pid).state == str(to)
            last = s.scalars(select(AuditEventRow).where(AuditEventRow.proposal_id == pid)
                             .order_by(AuditEventRow.seq.desc())).first()
        assert last is not None and last.data["from"] == str(frm) and last.data["to"] == str(to)


@pytest.mark.parametrize(("frm", "to"), [
    (S.DRAFT, S.APPROVED),  # skipping validate, preview and policy
    (S.AWAITING_APPROVAL, S.BACKED_UP),  # writing without the approval
    (S.DENIED, S.APPROVED),  # overriding policy
    (S.DONE, S.APPROVED),  # re-applying a finished change
    (S.ROLLED_BACK, S.APPROVED),
    (S.ROLLED_BACK, S.DONE),
    (S.FAILED, S.ROLLED_BACK),  # hiding a failed rollback's alarm
    (S.CANCELLED, S.DRAFT),
    (S.VERIFYING, S.APPROVED),  # every device was written: never "nothing happened"
    (S.APPLYING, S.DRAFT),  # editing under a running apply
])
def test_set_state_refuses_illegal_moves_and_writes_nothing(sqlite_runtime: Any, frm: ProposalState,
                                                             to: ProposalState) -> None:
    rt = sqlite_runtime
    pid = _proposal(rt)
    _force_state(rt, pid, frm)
    before = _audit_count(rt, pid)
    with pytest.raises(IllegalTransition, match=f"{frm} → {to}"), rt.store.write() as s:
        states.set_state(s, repo.get_proposal_row(s, pid), to, "test", "test.moved")
    with rt.store.read() as s:
        assert repo.get_proposal_row(s, pid).state == str(frm)
    assert _audit_count(rt, pid) == before


def test_execution_updates_refuse_illegal_moves_and_write_nothing(sqlite_runtime: Any) -> None:
    """A rolled-back device's execution cannot be marked applying again through the lifecycle."""
    rt = sqlite_runtime
    pid = _proposal(rt)
    p = rt.lifecycle.get(pid)
    with rt.store.write() as s:
        d = repo.get_device(s, p.targets[0])
        s.add(ExecutionRow(id="x-state-test", proposal_id=pid, device_id=d.id, status=str(X.ROLLED_BACK),
                           key=pid, detail={}))
    before = _audit_count(rt, pid)
    with pytest.raises(IllegalTransition):
        rt.lifecycle._log.update(pid, d, X.APPLYING, "device.applying", "test")
    with rt.store.read() as s:
        assert s.get(ExecutionRow, "x-state-test").status == str(X.ROLLED_BACK)
    assert _audit_count(rt, pid) == before
    with pytest.raises(IllegalTransition):  # a final status is final, even to itself
        rt.lifecycle._log.update(pid, d, X.ROLLED_BACK, "device.rolled_back", "test")


# ------------------------------------------------------------------ the doc cannot drift
def test_safety_doc_shows_the_diagrams_generated_from_the_tables() -> None:
    text = states.DOC.read_text()
    assert states.generated_block() in text, "run `python -m core.states --write-docs`"
    assert states.docs_with_diagrams(text) == text


def test_mermaid_has_one_line_per_transition(capsys: pytest.CaptureFixture[str]) -> None:
    assert states.main(["--mermaid"]) == 0
    out = capsys.readouterr().out
    arrows = [ln.strip() for ln in out.splitlines() if "-->" in ln and "[*]" not in ln]
    assert len(arrows) == len(_edges(PROPOSAL_TRANSITIONS)) + len(_edges(EXECUTION_TRANSITIONS))
    for frm, to in _edges(PROPOSAL_TRANSITIONS):
        assert f"{frm} --> {to}" in arrows


def test_docs_without_the_generated_block_are_an_error() -> None:
    with pytest.raises(ValueError, match="no generated block"):
        states.docs_with_diagrams("# How the write path is guarded\n")
