"""Scheduled and conditional changes hold until the write (issue 55; docs/safety.md §8), on a clock
the test owns (``lifecycle.clock``: the scheduler, policy and the chat all read it), never the wall.

An afternoon's "tonight at 2", approved and confirmed, runs at 02:00 local with every gate judged
again then; offline past its latest start it is never run, with one audit row; a condition about
the scheduled time is read at that time; a two-device change scheduled inside its window is
approved in the afternoon; the scheduler's "now" is not the pinned policy time of day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.kernel.clock import PinnedClock, wall_clock
from core.kernel.models import Change, ProposalDraft, ProposalState
from core.store.schema import AuditEventRow
from tests.integration.test_lifecycle import twin, who

S = ProposalState
ADVERTISE = "Device.WiFi.AccessPoint.1.SSIDAdvertisementEnabled"
AFTERNOON = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)  # Monday 15:00 in Berlin (CET, UTC+1)
TWO_LOCAL = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # Tuesday 02:00 in Berlin


said: dict[str, str] = {}  # proposal → the proposal event's text in the agent's stream


class Clock:
    """The test's clock, handed to the lifecycle: every reader of the runtime's time reads it."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _cet(rt: Any, k: int) -> Any:
    """The ``k``-th TR-181 CWMP gateway in a CET region (DE, FR: 02:00 local is 01:00 UTC in winter)."""
    from core.kernel.models import Root
    from core.store import repo

    with rt.store.read() as s:
        devs, _ = repo.list_devices(s, limit=1000)
    found = [d for d in devs if d.region in ("DE", "FR") and d.root is Root.DEVICE and str(d.protocol) == "cwmp"]
    if len(found) <= k:
        pytest.fail(f"the seeded fleet has {len(found)} CET TR-181 CWMP gateways, the test needs {k + 1}")
    return found[k]


def _events(rt: Any, pid: str) -> list[tuple[str, str, dict[str, Any]]]:
    with rt.store.read() as s:
        return [(a, who_, dict(d or {})) for a, who_, d in s.execute(
            select(AuditEventRow.action, AuditEventRow.actor, AuditEventRow.data)
            .where(AuditEventRow.proposal_id == pid).order_by(AuditEventRow.seq))]


def _boots(rt: Any, device_id: str) -> int:
    return int(twin(rt).state(device_id).boot_count)


def _tonight(rt: Any, clock: Clock, d: Any, message: str = "restart it tonight at 2") -> tuple[str, str]:
    """The agent's chat in the afternoon: the request, the approver's sign-off, the agent's "apply".
    Returns the thread and the proposal; the proposal's words as the agent read them are ``said``."""
    chat = rt.chat
    alice = who(rt, "alice")
    tid = chat.start(d.id, alice)
    events = list(chat.send(tid, message, alice))
    proposals = [e for e in events if e.kind == "proposal"]
    assert proposals, [(e.kind, e.text) for e in events]
    pid = str(proposals[-1].data.get("proposal_id") or proposals[-1].data.get("id"))
    said[pid] = proposals[-1].text or ""
    p = rt.lifecycle.get(pid)
    assert p.not_before == TWO_LOCAL, (p.not_before, [e.text for e in events])
    if p.state is S.AWAITING_APPROVAL:
        rt.lifecycle.approve(pid, who(rt, "bob"))
    list(chat.send(tid, "apply", alice))
    assert rt.lifecycle.get(pid).start_requested_by == "alice"
    return tid, pid


def _family_home(rt: Any, d: Any) -> list[str]:
    """Every host of ``d`` active (the family is home this afternoon); their ``Active`` paths."""
    active = [k for k in twin(rt).params(d.id) if k.startswith("Device.Hosts.Host.") and k.endswith(".Active")]
    assert active, f"{d.id} lists no hosts"
    twin(rt).device_change(d.id, dict.fromkeys(active, True))
    return active


def _night(rt: Any, clock: Clock, until: datetime, every: timedelta = timedelta(minutes=5)) -> list[tuple[str, str]]:
    """The worker's scheduler round every ``every`` from the clock's time to ``until``."""
    ran: list[tuple[str, str]] = []
    while clock.at < until:
        ran += rt.lifecycle.start_due()
        clock.at += every
    return ran


def test_a_reboot_for_tonight_confirmed_in_the_afternoon_runs_at_two_local(runtime: Any) -> None:
    clock = Clock(AFTERNOON)
    runtime.lifecycle.clock = clock
    d = _cet(runtime, 0)
    _, pid = _tonight(runtime, clock, d)
    boots = _boots(runtime, d.id)

    clock.at = TWO_LOCAL - timedelta(minutes=1)
    assert runtime.lifecycle.start_due() == []  # 01:59 local: nothing yet
    assert _boots(runtime, d.id) == boots
    clock.at = TWO_LOCAL + timedelta(seconds=30)
    assert runtime.lifecycle.start_due() == [(pid, "done")]
    assert _boots(runtime, d.id) == boots + 1
    assert runtime.lifecycle.start_due() == []  # never twice
    started = [(actor, data) for action, actor, data in _events(runtime, pid) if action == "apply.started"]
    assert started == [("alice", {"hash": runtime.lifecycle.get(pid).hash, "via": "system:scheduler"})]


def test_offline_past_its_latest_start_it_is_never_run_and_the_audit_has_one_row_for_it(runtime: Any) -> None:
    clock = Clock(AFTERNOON)
    runtime.lifecycle.clock = clock
    d = _cet(runtime, 0)
    tid, pid = _tonight(runtime, clock, d)
    latest = runtime.lifecycle.get(pid).not_after
    assert latest is not None and latest > TWO_LOCAL
    boots = _boots(runtime, d.id)
    before = len(_events(runtime, pid))
    twin(runtime).inject(d.id, "offline")  # the gateway is away all night
    clock.at = TWO_LOCAL
    ran = _night(runtime, clock, latest + timedelta(minutes=30))
    twin(runtime).clear(d.id, "offline")  # back in the morning
    clock.at = latest + timedelta(hours=3)
    ran += runtime.lifecycle.start_due()

    after = _events(runtime, pid)[before:]
    assert [a for a, _, _ in after] == ["schedule.expired"], after  # one row, however many tries
    p = runtime.lifecycle.get(pid)
    assert p.state is S.CANCELLED and "latest start" in (p.error or "") and d.id in (p.error or "")
    assert _boots(runtime, d.id) == boots  # never run late
    tries = [r for _, r in ran if r.startswith("deferred")]
    assert 3 <= len(tries) <= 40, len(tries)  # backed off, not every round
    told = [e.text for e in runtime.chat.history(tid) if pid in (e.text or "") and "latest start" in (e.text or "")]
    assert len(told) == 1, [e.text for e in runtime.chat.history(tid)][-3:]  # the agent is told, once


def test_a_condition_about_the_scheduled_time_is_read_at_that_time(runtime: Any) -> None:
    clock = Clock(AFTERNOON)
    runtime.lifecycle.clock = clock
    d = _cet(runtime, 0)
    active = _family_home(runtime, d)
    _, pid = _tonight(runtime, clock, d, "restart it tonight at 2 if nobody is connected then")
    p = runtime.lifecycle.get(pid)
    assert [c.at_write for c in p.preconditions] == [True], p.preconditions  # not refused now
    assert "checked when the write starts at 02:00 local, not now" in said[pid], said[pid]  # the agent is told
    boots = _boots(runtime, d.id)

    twin(runtime).device_change(d.id, dict.fromkeys(active, False))  # asleep by then
    clock.at = TWO_LOCAL + timedelta(seconds=30)
    assert runtime.lifecycle.start_due() == [(pid, "done")]
    assert _boots(runtime, d.id) == boots + 1


def test_the_same_condition_still_true_at_two_cancels_and_writes_nothing(runtime: Any) -> None:
    clock = Clock(AFTERNOON)
    runtime.lifecycle.clock = clock
    d = _cet(runtime, 0)
    _family_home(runtime, d)  # and still at 2
    _, pid = _tonight(runtime, clock, d, "restart it tonight at 2 if nobody is connected then")
    boots = _boots(runtime, d.id)
    clock.at = TWO_LOCAL + timedelta(seconds=30)
    assert runtime.lifecycle.start_due()[0][0] == pid
    p = runtime.lifecycle.get(pid)
    assert p.state is S.CANCELLED and "precondition no longer holds" in (p.error or "")
    assert _boots(runtime, d.id) == boots


def test_a_two_device_change_scheduled_inside_its_window_is_approved_in_the_afternoon(runtime: Any) -> None:
    """Policy judges the change window at the not-before (03:00 local, inside DE 01:00-05:00), not at
    the afternoon's submit; the write starts then, with the window judged again."""
    clock = Clock(AFTERNOON)
    runtime.lifecycle.clock = clock
    devs = [_cet(runtime, 0), _cet(runtime, 1)]
    at = TWO_LOCAL + timedelta(hours=1)
    draft = ProposalDraft(intent="hide both SSIDs at 3", targets=[d.id for d in devs], source="api",
                          changes=[Change(path=ADVERTISE, value=False)], not_before=at)
    p = runtime.lifecycle.submit(draft, who(runtime, "alice"))
    assert p.state in (S.APPROVED, S.AWAITING_APPROVAL), p.error  # was: denied, outside the window at 15:00
    for name in ("bob", "carol"):
        if runtime.lifecycle.get(p.id).state is S.AWAITING_APPROVAL:
            runtime.lifecycle.approve(p.id, who(runtime, name))
    assert runtime.lifecycle.apply(p.id, who(runtime, "alice")).scheduled_for == at
    clock.at = at + timedelta(seconds=30)
    assert runtime.lifecycle.start_due() == [(p.id, "done")]
    from tests.integration.test_lifecycle import read

    assert all(read(runtime, d, ADVERTISE) is False for d in devs)


def test_the_pinned_policy_time_of_day_does_not_move_the_scheduler(runtime: Any) -> None:
    """``GATEWARD_POLICY_TIME`` pins what policy judges; whether a scheduled write is due is read on
    the time that passes. Policy's time is pinned twelve hours away from the wall clock."""
    now = wall_clock()
    pinned = PinnedClock((now.hour + 12) % 24, now.minute)
    runtime.lifecycle.clock = pinned
    d = _cet(runtime, 0)
    due_now = pinned() < now  # pinned earlier today: a change due a minute ago ran as "not yet" before
    at = now - timedelta(minutes=1) if due_now else now + timedelta(hours=1)
    draft = ProposalDraft(intent="hide the SSID", targets=[d.id], source="api",
                          changes=[Change(path=ADVERTISE, value=False)], not_before=at)
    p = runtime.lifecycle.submit(draft, who(runtime, "alice"))
    for name in ("bob", "carol"):
        if runtime.lifecycle.get(p.id).state is S.AWAITING_APPROVAL:
            runtime.lifecycle.approve(p.id, who(runtime, name))
    out = runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    if due_now:
        assert out.scheduled_for is None and out.proposal.state is S.DONE, out
    else:
        assert out.scheduled_for == at and out.proposal.state is S.APPROVED  # not run before its time


@pytest.mark.parametrize("words, hours_after", [("tonight at 2", 4), ("at 2, never during the day", 6)])
def test_a_night_request_has_a_latest_start_the_morning_after(words: str, hours_after: int) -> None:
    """What the request said sets the latest start: "tonight" ends in the morning, "never during the
    day" at the start of the day (brain.understanding.when.latest_start)."""
    from zoneinfo import ZoneInfo

    from brain.understanding import when

    latest = when.latest_start(words, TWO_LOCAL, ZoneInfo("Europe/Berlin"))
    assert latest == TWO_LOCAL + timedelta(hours=hours_after)
    assert when.latest_start("at 2", TWO_LOCAL, ZoneInfo("Europe/Berlin")) is None  # the lifecycle's default
