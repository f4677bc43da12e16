"""A multi-device proposal's devices are read and written a few at a time (issue 37, item 4).

On the simulated fleet and a real store (SQLite, and PostgreSQL when configured), through the real
lifecycle with ``GATEWARD_APPLY_CONCURRENCY`` set. Each device is made ``slow`` in the twin (every
call waits), so writes that overlap show in the audit trail: a device's ``device.applying`` before
another's ``device.applied``. Before issue 37 the writes never overlapped, whatever the setting.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from core.kernel.models import Change, ExecutionStatus, ProposalDraft, ProposalState
from core.store.schema import AuditEventRow, ExecutionRow
from tests.integration.test_lifecycle import twin, who
from tests.integration.test_staged import _cwmp_tr181

S = ProposalState
SSID1 = "Device.WiFi.SSID.1.SSID"
SLOW_S = 0.15


def _runtime(db_url: str, concurrency: int) -> Any:
    from core.kernel.config import Settings
    from gateward.runtime import build_runtime

    return build_runtime(Settings(database_url=db_url, apply_concurrency=concurrency))


@pytest.fixture
def fanned(runtime: Any, db_url: str) -> Iterator[Any]:
    """A runtime fanning out to 5 devices, over the seeded copy the ``runtime`` fixture opened."""
    rt = _runtime(db_url, 5)
    yield rt
    rt.close()


def _approved(rt: Any, devices: list[Any], value: str) -> Any:
    draft = ProposalDraft(intent="rename the home networks", targets=[d.id for d in devices],
                          changes=[Change(path=SSID1, value=value)], rationale="fan-out test")
    p = rt.lifecycle.submit(draft, who(rt, "alice"))
    for approver in ("bob", "carol"):
        if p.state is S.AWAITING_APPROVAL:
            p = rt.lifecycle.approve(p.id, who(rt, approver))
    assert p.state is S.APPROVED, (p.state, p.error)
    return p


def _events(rt: Any, pid: str) -> list[tuple[str, str | None]]:
    with rt.store.read() as s:
        return [(a, d) for a, d in s.execute(select(AuditEventRow.action, AuditEventRow.device_id)
                                             .where(AuditEventRow.proposal_id == pid).order_by(AuditEventRow.seq))]


def _first(events: list[tuple[str, str | None]], action: str, device_id: str) -> int:
    return next(k for k, (a, d) in enumerate(events) if a == action and d == device_id)


def _slow(rt: Any, devices: list[Any]) -> None:
    for d in devices:
        twin(rt).inject(d.id, "slow", delay_s=SLOW_S)


def _clear(rt: Any, devices: list[Any]) -> None:
    for d in devices:
        twin(rt).clear(d.id)


def test_writes_overlap_and_each_device_keeps_its_own_order(fanned: Any) -> None:
    rt = fanned
    devices = _cwmp_tr181(rt, 5)
    _slow(rt, devices)
    try:
        p = _approved(rt, devices, "fanned-out")
        assert [d["device_id"] for d in rt.lifecycle.preview_of(p.id)["devices"]] == p.targets  # target order
        out = rt.lifecycle.apply(p.id, who(rt, "alice"))
    finally:
        _clear(rt, devices)
    assert out.proposal.state is S.DONE, out.failed
    assert sorted(out.applied) == sorted(p.targets)
    assert all(twin(rt).params(d.id)[SSID1] == "fanned-out" for d in devices)
    events = _events(rt, p.id)
    for d in devices:  # each device once, its own steps in order
        mine = [a for a, dev in events if dev == d.id and a.startswith("device.")]
        assert mine == ["device.applying", "device.applied", "device.verified"], (d.id, mine)
    first, rest = devices[0], devices[1:]
    # the first target is written alone: nothing else starts before it is recorded applied
    assert all(_first(events, "device.applying", d.id) > _first(events, "device.applied", first.id) for d in rest)
    # then the others at once: every one of them started before any of them was recorded applied
    started = max(_first(events, "device.applying", d.id) for d in rest)
    assert started < min(_first(events, "device.applied", d.id) for d in rest), events
    with rt.store.read() as s:
        rows = list(s.scalars(select(ExecutionRow).where(ExecutionRow.proposal_id == p.id)))
    assert len(rows) == len(devices) and all(r.status == str(ExecutionStatus.VERIFIED) for r in rows)
    assert all("idempotent_skip" in (r.detail or {}) for r in rows)  # the same per-device evidence


def test_concurrency_1_writes_one_device_after_another_in_target_order(runtime: Any, db_url: str) -> None:
    rt = _runtime(db_url, 1)
    try:
        devices = _cwmp_tr181(rt, 4)
        p = _approved(rt, devices, "one-by-one")
        assert rt.lifecycle.apply(p.id, who(rt, "alice")).proposal.state is S.DONE
        steps = [(a, d) for a, d in _events(rt, p.id) if a in ("device.applying", "device.applied")]
        assert steps == [(a, d.id) for d in devices for a in ("device.applying", "device.applied")]
    finally:
        rt.close()


def test_a_failing_device_starts_no_other_and_every_touched_device_is_rolled_back(runtime: Any, db_url: str) -> None:
    """The failure unit is still the proposal: a device that refuses stops new writes; the write
    already under way is finished and recorded; every device touched is restored from its backup."""
    rt = _runtime(db_url, 2)
    try:
        devices = _cwmp_tr181(rt, 5)
        before = {d.id: twin(rt).params(d.id)[SSID1] for d in devices}
        p = _approved(rt, devices, "half-way")
        bad = devices[2]
        _slow(rt, [d for d in devices if d is not bad])  # the refusal comes while device 2's write runs
        twin(rt).inject(bad.id, "reject_value", path=SSID1)
        try:
            out = rt.lifecycle.apply(p.id, who(rt, "alice"))
        finally:
            _clear(rt, devices)
        assert out.proposal.state is S.ROLLED_BACK, out.proposal.state
        assert bad.id in out.failed
        events = _events(rt, p.id)
        started = {d for a, d in events if a == "device.applying"}
        assert started == {devices[0].id, devices[1].id, bad.id}, started  # none after the failure
        assert sorted(out.rolled_back) == sorted([devices[0].id, devices[1].id])
        assert {d.id: twin(rt).params(d.id)[SSID1] for d in devices} == before
    finally:
        rt.close()
