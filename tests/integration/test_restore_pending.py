"""Issue 34, item 8: a restore that could not be confirmed because the transport was down is
re-checked, not a terminal ``failed`` with a false critical alarm.

With the broker killed mid-apply, the write timed out (nothing landed), the restore could not
reach the device, and the proposal ended ``failed`` with ``alarm.rollback_failed`` while the device
still held its original value: ``failed`` is terminal, ``gateward recover`` did nothing, a person
had to check by hand. Now the proposal is ``rollback_pending`` (the device stays ``rolling_back``
and locked, a ``warning`` alarm says it is re-checked); ``recover`` and the worker's round re-check
it — a read showing the original value clears the alarm and ends it ``rolled_back``, another value
is restored through the grant path, a device still unreachable stays pending.

The broker is a stand-in (an adapter wrapper): the first write times out as a USP request whose
broker died does, and every call fails with ``DeviceOffline`` until the broker is back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from core.kernel.errors import Locked
from core.kernel.models import Change, ProposalDraft, ProposalState
from core.store import repo
from core.store.schema import AuditEventRow, DeviceLockRow
from executors.base import DeviceOffline, Timeout
from tests.integration.test_lifecycle import ACE, CH, first_not, pick, radio_5g, read, twin, who

S = ProposalState


class Broker:
    """Kills the device's transport in the middle of the proposal's write."""

    def __init__(self, rt: Any, device_id: str, pid: str) -> None:
        self.rt, self.device_id, self.pid, self.down = rt, device_id, pid, False
        self._writer, self._reader = rt.router.writer, rt.router.reader

    def _check(self, d: Any) -> None:
        if self.down and d.id == self.device_id:
            raise DeviceOffline(d.id, "the USP controller cannot reach the MQTT broker at mqtt://127.0.0.1:1883")

    def writer(self, d: Any) -> Any:
        real, broker = self._writer(d), self

        class W:
            def apply(self, dev: Any, changes: Any, key: str, grant: Any) -> Any:
                if key == broker.pid and dev.id == broker.device_id and not broker.down:
                    broker.down = True  # killed while the Set was in flight: it never reached the agent
                    raise Timeout(dev.id, "no USP response within 10s (the broker went away)")
                broker._check(dev)
                return real.apply(dev, changes, key, grant)

            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

        return W()

    def reader(self, d: Any) -> Any:
        real, broker = self._reader(d), self

        class R:
            def read(self, dev: Any, paths: Any) -> Any:
                broker._check(dev)
                return real.read(dev, paths)

            def presence(self, dev: Any) -> Any:
                broker._check(dev)
                return real.presence(dev)

            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

        return R()


@pytest.fixture
def killed(runtime: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any, Any, Broker, int, Any]]:
    d = pick(runtime)
    r = radio_5g(runtime, d)
    original = read(runtime, d, CH.format(r=r))
    target = first_not(runtime, d, r, 36, 40, 44)
    draft = ProposalDraft(intent="broker dies", targets=[d.id], changes=[
        Change(path=ACE.format(r=r), value=False), Change(path=CH.format(r=r), value=target)])
    p = runtime.lifecycle.submit(draft, who(runtime, "alice"))
    if p.state is S.AWAITING_APPROVAL:
        p = runtime.lifecycle.approve(p.id, who(runtime, "bob"))
    broker = Broker(runtime, d.id, p.id)
    monkeypatch.setattr(runtime.router, "writer", broker.writer)
    monkeypatch.setattr(runtime.router, "reader", broker.reader)
    out = runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    yield runtime, d, out, broker, r, original


def _actions(rt: Any, pid: str) -> list[str]:
    with rt.store.read() as s:
        return list(s.scalars(select(AuditEventRow.action).where(AuditEventRow.proposal_id == pid)
                              .order_by(AuditEventRow.seq)))


def _locks(rt: Any, pid: str) -> list[Any]:
    with rt.store.read() as s:
        return list(s.scalars(select(DeviceLockRow).where(DeviceLockRow.proposal_id == pid)))


def test_an_unreachable_restore_is_pending_and_recover_clears_it_when_a_read_shows_the_original(killed: Any) -> None:
    rt, d, out, broker, r, original = killed
    pid = out.proposal.id
    assert out.proposal.state is S.ROLLBACK_PENDING, (out.proposal.state, out.proposal.error)
    assert "ROLLBACK PENDING" in (out.proposal.error or "") and "could not be reached" in out.proposal.error
    actions = _actions(rt, pid)
    assert "alarm.rollback_unconfirmed" in actions and "alarm.rollback_failed" not in actions
    with rt.store.read() as s:
        (alarm,) = s.scalars(select(AuditEventRow).where(AuditEventRow.proposal_id == pid,
                                                         AuditEventRow.action == "alarm.rollback_unconfirmed"))
        assert alarm.data["severity"] == "warning"
        assert {e.device_id: e.status for e in repo.executions_for(s, pid)} == {d.id: "rolling_back"}
    assert [lk.device_id for lk in _locks(rt, pid)] == [d.id]  # no other proposal may write it meanwhile
    # Still unreachable: recover leaves it pending (never failed), the device still locked.
    (res,) = rt.lifecycle.recover()
    assert res[0] == pid and "still unreachable" in res[1], res
    assert rt.lifecycle.get(pid).state is S.ROLLBACK_PENDING and len(_locks(rt, pid)) == 1
    # The broker is back: a read shows the original value, nothing is written, the alarm clears.
    broker.down = False
    sets = len(twin(rt).events(d.id, kinds=["set"]))
    (res,) = rt.lifecycle.recover()
    assert res[0] == pid and res[1].startswith("rolled_back"), res
    assert rt.lifecycle.get(pid).state is S.ROLLED_BACK
    assert len(twin(rt).events(d.id, kinds=["set"])) == sets  # confirmed by a read, not a write
    assert read(rt, d, CH.format(r=r)) == original
    assert "alarm.cleared" in _actions(rt, pid) and _locks(rt, pid) == []
    with rt.store.read() as s:
        (ex,) = repo.executions_for(s, pid)
    assert ex.status == "rolled_back" and "original value" in ex.detail["confirmed_by"]


def test_a_pending_restore_that_reads_another_value_is_restored_by_the_workers_round(killed: Any) -> None:
    rt, d, out, broker, r, original = killed
    pid = out.proposal.id
    assert out.proposal.state is S.ROLLBACK_PENDING
    broker.down = False  # the broker is back; until the re-check the device stays locked against others
    draft = ProposalDraft(intent="other", targets=[d.id], changes=[Change(path=ACE.format(r=r), value=False)])
    q = rt.lifecycle.submit(draft, who(rt, "alice"))
    if q.state is S.AWAITING_APPROVAL:
        q = rt.lifecycle.approve(q.id, who(rt, "bob"))
    with pytest.raises(Locked, match=pid):
        rt.lifecycle.apply(q.id, who(rt, "alice"))
    changed = next(c for c in (48, 52) if c != original)
    twin(rt).device_change(d.id, {CH.format(r=r): changed})  # it holds something else now
    done = rt.lifecycle.recheck_pending(every_s=0)  # what `gateward run`/worker does each round
    assert [pid == x for x, _ in done] == [True], done
    assert rt.lifecycle.get(pid).state is S.ROLLED_BACK
    assert read(rt, d, CH.format(r=r)) == original  # restored from the backup, through a grant
    assert "alarm.cleared" in _actions(rt, pid) and _locks(rt, pid) == []
    assert rt.lifecycle.who_can_act(pid) == {}


def test_a_restore_refused_by_the_device_is_still_a_critical_failure(runtime: Any, monkeypatch: pytest.MonkeyPatch
                                                                    ) -> None:
    """Only the transport's kind of error is pending: a fault on the restore stays ``failed``."""
    from executors.base import Fault

    d = pick(runtime)
    r = radio_5g(runtime, d)
    target = first_not(runtime, d, r, 36, 40, 44)
    draft = ProposalDraft(intent="fault", targets=[d.id], changes=[Change(path=CH.format(r=r), value=target)])
    p = runtime.lifecycle.submit(draft, who(runtime, "alice"))
    if p.state is S.AWAITING_APPROVAL:
        p = runtime.lifecycle.approve(p.id, who(runtime, "bob"))
    real = runtime.router.writer

    def writer(dev: Any) -> Any:
        inner = real(dev)

        class W:
            def apply(self, dv: Any, changes: Any, key: str, grant: Any) -> Any:
                if key == p.id:
                    raise Timeout(dv.id, "no response")
                raise Fault(dv.id, "rollback refused", code=9002)

            def __getattr__(self, name: str) -> Any:
                return getattr(inner, name)

        return W()

    monkeypatch.setattr(runtime.router, "writer", writer)
    out = runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    assert out.proposal.state is S.FAILED
    assert "alarm.rollback_failed" in _actions(runtime, p.id)
