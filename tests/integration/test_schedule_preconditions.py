"""Scheduled writes and preconditions (issue 44 items 3-4), on SQLite and (when configured) PostgreSQL.

A change asked for "at 2 tonight" records who asked and writes nothing before its time; the worker's
round starts it when due, every gate checked again then. A change asked for "only if …" carries the
check, and the lifecycle reads it from the device again after taking the lock: a fact that changed
since the preview cancels the proposal with the fact, and nothing is written."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.kernel.models import Change, Precondition, ProposalDraft, ProposalState, utcnow
from core.lifecycle.schedule import PreconditionFailed
from core.store.schema import AuditEventRow
from tests.integration.test_lifecycle import ACE, CH, first_not, pick, radio_5g, read, twin, who

S = ProposalState


def _actions(rt: Any, pid: str) -> list[str]:
    with rt.store.read() as s:
        return list(s.scalars(select(AuditEventRow.action).where(AuditEventRow.proposal_id == pid)
                              .order_by(AuditEventRow.seq)))


def _draft(rt: Any, d: Any, **extra: Any) -> tuple[ProposalDraft, int, int]:
    r = radio_5g(rt, d)
    target = first_not(rt, d, r, 36, 40, 44)
    draft = ProposalDraft(intent="move 5 GHz (agent asked for later)", targets=[d.id], source="chat",
                          changes=[Change(path=ACE.format(r=r), value=False),
                                   Change(path=CH.format(r=r), value=target)],
                          **extra)
    return draft, r, target


def test_a_scheduled_change_waits_for_its_time_and_the_worker_starts_it(runtime: Any) -> None:
    d = pick(runtime)
    at = utcnow() + timedelta(hours=3)
    draft, r, target = _draft(runtime, d, not_before=at, readback="change the channel not before …")
    p = runtime.lifecycle.submit(draft, who(runtime, "alice"))
    assert p.state is S.APPROVED and p.not_before == at, p.error
    before = read(runtime, d, CH.format(r=r))

    out = runtime.lifecycle.apply(p.id, who(runtime, "alice"))  # the agent's "apply", before the time
    assert out.scheduled_for == at and out.proposal.state is S.APPROVED
    assert read(runtime, d, CH.format(r=r)) == before  # nothing written
    assert runtime.lifecycle.get(p.id).start_requested_by == "alice"
    assert _actions(runtime, p.id).count("apply.scheduled") == 1

    real = runtime.lifecycle.clock
    try:  # the worker's rounds, on the lifecycle's clock (every gate judges the same time)
        runtime.lifecycle.clock = lambda: at - timedelta(minutes=1)
        assert runtime.lifecycle.start_due() == []  # not yet due: nothing
        assert read(runtime, d, CH.format(r=r)) == before
        runtime.lifecycle.clock = lambda: at + timedelta(seconds=1)
        assert runtime.lifecycle.start_due() == [(p.id, "done")]
        assert read(runtime, d, CH.format(r=r)) == target
        assert runtime.lifecycle.start_due() == []  # done: never started twice
    finally:
        runtime.lifecycle.clock = real


def test_a_scheduled_change_nobody_confirmed_is_not_started(runtime: Any) -> None:
    d = pick(runtime, skip=1)
    at = utcnow() + timedelta(minutes=30)
    draft, r, _ = _draft(runtime, d, not_before=at)
    p = runtime.lifecycle.submit(draft, who(runtime, "alice"))
    before = read(runtime, d, CH.format(r=r))
    real = runtime.lifecycle.clock
    try:
        runtime.lifecycle.clock = lambda: at + timedelta(hours=1)
        assert runtime.lifecycle.start_due() == []
    finally:
        runtime.lifecycle.clock = real
    assert read(runtime, d, CH.format(r=r)) == before and runtime.lifecycle.get(p.id).state is S.APPROVED


def test_the_schedule_is_signed_with_the_proposal(runtime: Any) -> None:
    d = pick(runtime, skip=2)
    at = utcnow() + timedelta(hours=1)
    draft, _, _ = _draft(runtime, d)
    plain = runtime.lifecycle.submit(draft, who(runtime, "alice"))
    timed = runtime.lifecycle.submit(draft.model_copy(update={"not_before": at}), who(runtime, "alice"))
    assert plain.hash != timed.hash  # an approver signs off on when, too
    assert "not_before" not in plain.hashed_content()  # and proposals without one keep their old hash


def test_a_precondition_that_no_longer_holds_cancels_and_writes_nothing(runtime: Any) -> None:
    d = pick(runtime, skip=3)
    r = radio_5g(runtime, d)
    now_on = read(runtime, d, CH.format(r=r))
    check = Precondition(fact="channel", expect="eq", value=now_on, paths=[CH.format(r=r)],
                         text=f"only if the channel is still {now_on}")
    draft, _, target = _draft(runtime, d, preconditions=[check])
    p = runtime.lifecycle.submit(draft, who(runtime, "alice"))
    assert p.state is S.APPROVED, p.error
    other = next(c for c in (36, 40, 44, 48) if c not in (now_on, target))
    twin(runtime).device_change(d.id, {CH.format(r=r): other})  # the fact changes before the write starts

    with pytest.raises(PreconditionFailed, match=f"now channel: {other}"):
        runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    after = runtime.lifecycle.get(p.id)
    assert after.state is S.CANCELLED and "precondition no longer holds" in (after.error or "")
    assert read(runtime, d, CH.format(r=r)) == other  # nothing written
    acts = _actions(runtime, p.id)
    assert "apply.precondition_failed" in acts and "proposal.applying" not in acts


def test_a_precondition_that_holds_lets_the_write_through(runtime: Any) -> None:
    d = pick(runtime, skip=4)
    r = radio_5g(runtime, d)
    now_on = read(runtime, d, CH.format(r=r))
    check = Precondition(fact="channel", expect="eq", value=now_on, paths=[CH.format(r=r)],
                         text=f"only if the channel is still {now_on}")
    draft, _, target = _draft(runtime, d, preconditions=[check])
    p = runtime.lifecycle.submit(draft, who(runtime, "alice"))
    out = runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    assert out.proposal.state is S.DONE and read(runtime, d, CH.format(r=r)) == target


def test_the_cli_shows_what_was_asked_when_and_on_what_condition(runtime: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """``gateward proposal show`` gives an approver on a terminal what the card gives in the console:
    the request said back, the time before which nothing is written, and each condition."""
    import io

    from rich.console import Console

    import gateward.cli as cli

    d = pick(runtime, skip=3)
    at = utcnow() + timedelta(hours=5)
    cond = Precondition(fact="online", expect="eq", value=True, text="the gateway is online then")
    draft, _, _ = _draft(runtime, d, not_before=at, readback="move the 5 GHz channel tonight at 2",
                         preconditions=[cond])
    p = runtime.lifecycle.submit(draft, who(runtime, "alice"))
    out = io.StringIO()
    monkeypatch.setattr(cli, "_runtime", runtime)
    monkeypatch.setattr(cli, "console", Console(file=out, width=200))
    cli.render_proposal(p.id)
    text = out.getvalue()
    assert "asked: move the 5 GHz channel tonight at 2" in text
    assert f"not before: {at.isoformat()}" in text
    assert "only if: the gateway is online then" in text


def test_the_cli_proposes_for_a_time_and_apply_schedules_it(runtime: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """``gateward propose --not-before`` then ``gateward apply``: exit 0 with when the worker starts it,
    nothing written; a time without an offset is one line and exit 2, nothing proposed."""
    import io

    import typer
    from rich.console import Console

    import gateward.cli as cli

    d = pick(runtime, skip=4)
    r = radio_5g(runtime, d)
    target = first_not(runtime, d, r, 36, 40, 44)
    before = read(runtime, d, CH.format(r=r))
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(cli, "_runtime", runtime)
    monkeypatch.setattr(cli, "console", Console(file=out, width=250))
    monkeypatch.setattr(cli, "err", Console(file=err, width=250))
    sets = [f"{ACE.format(r=r)}=false", f"{CH.format(r=r)}={target}"]
    with pytest.raises(typer.Exit) as refused:
        cli.propose(device=[d.id], set_=sets, not_before="2030-01-01T02:00", as_="alice")
    assert refused.value.exit_code == 2 and "has no offset" in err.getvalue()
    assert "next:" not in out.getvalue()  # nothing proposed
    at = (utcnow() + timedelta(hours=4)).replace(microsecond=0)
    cli.propose(device=[d.id], set_=sets, not_before=at.isoformat(), as_="alice")
    pid = out.getvalue().split("next: gateward apply ")[1].split()[0]
    cli.apply(pid, as_="alice")  # returns: exit 0
    assert f"the worker starts it at {at.isoformat()}" in out.getvalue()
    assert read(runtime, d, CH.format(r=r)) == before
    assert runtime.lifecycle.get(pid).start_requested_by == "alice"
