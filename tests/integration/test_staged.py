"""Staged (campaign) execution through the lifecycle: batches, per-device rollback, halts,
at-least-once redelivery without double writes, abort."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from core.kernel.errors import Conflict, Forbidden
from core.kernel.models import Change, ProposalDraft, ProposalState
from core.store.schema import AuditEventRow
from tests.integration.test_lifecycle import read, twin, who

S = ProposalState
PATH = "Device.WiFi.AccessPoint.1.SSIDAdvertisementEnabled"


def _cwmp_tr181(rt: Any, n: int) -> list[Any]:
    from core.kernel.models import Root
    from core.store import repo

    with rt.store.read() as s:
        devs, _ = repo.list_devices(s, limit=1000)
    out = []
    for d in devs:
        if d.root is Root.DEVICE and str(d.protocol) == "cwmp":
            pres = rt.router.reader(d).presence(d)
            if pres.online and pres.reachable:
                out.append(d)
    if len(out) < n:
        pytest.fail(f"the seeded fleet has {len(out)} reachable TR-181 CWMP devices; this test needs {n}")
    return out[:n]


def _staged(rt: Any, devices: list[Any], value: bool = False) -> Any:
    draft = ProposalDraft(intent="hide the SSID fleet-wide", targets=[d.id for d in devices], staged=True,
                          changes=[Change(path=PATH, value=value)], rationale="operator profile")
    p = rt.lifecycle.submit(draft, who(rt, "alice"))
    for approver in ("carol", "bob"):
        if p.state is S.AWAITING_APPROVAL:
            p = rt.lifecycle.approve(p.id, who(rt, approver))
    assert p.state is S.APPROVED, p.error
    return p


def _writes(rt: Any, pid: str, device_id: str) -> int:
    with rt.store.read() as s:
        return int(s.scalar(select(func.count()).select_from(AuditEventRow).where(
            AuditEventRow.proposal_id == pid, AuditEventRow.device_id == device_id,
            AuditEventRow.action == "device.applying")) or 0)


def test_batches_apply_and_redelivery_is_a_no_op(runtime: Any) -> None:
    devs = _cwmp_tr181(runtime, 4)
    p = _staged(runtime, devs)
    with pytest.raises(Conflict, match="staged rollout"):
        runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    out = runtime.lifecycle.apply_batch(p.id, [devs[0].id, devs[1].id], who(runtime, "remediator"))
    assert sorted(out.verified) == sorted([devs[0].id, devs[1].id])
    assert runtime.lifecycle.get(p.id).state is S.APPLYING
    again = runtime.lifecycle.apply_batch(p.id, [devs[0].id, devs[1].id], who(runtime, "remediator"))
    assert sorted(again.already_done) == sorted([devs[0].id, devs[1].id]) and not again.verified
    assert _writes(runtime, p.id, devs[0].id) == 1
    prog = runtime.lifecycle.staged_progress(p.id)
    assert prog["verified"] == 2 and prog["not_started"] == 2
    runtime.lifecycle.apply_batch(p.id, [devs[2].id, devs[3].id], who(runtime, "remediator"))
    done = runtime.lifecycle.finish_staged(p.id, who(runtime, "remediator"))
    assert done.state is S.DONE
    assert all(read(runtime, d, PATH) is False for d in devs)


def test_failed_device_is_rolled_back_alone(runtime: Any) -> None:
    devs = _cwmp_tr181(runtime, 3)
    before = read(runtime, devs[1], PATH)
    p = _staged(runtime, devs, value=False)
    twin(runtime).inject(devs[1].id, "not_sticky", path=PATH)
    twin(runtime).inject(devs[2].id, "fault_on_set", code=9002)
    out = runtime.lifecycle.apply_batch(p.id, [d.id for d in devs], who(runtime, "remediator"))
    assert out.verified == [devs[0].id]
    assert out.rolled_back == [devs[1].id]
    assert devs[2].id in out.failed and devs[2].id not in out.rolled_back  # an atomic Set that faulted changed nothing
    assert read(runtime, devs[1], PATH) == before
    assert read(runtime, devs[0], PATH) is False


def _sets(rt: Any, pid: str) -> int:
    """SetParameterValues the simulated devices received for this proposal (ParameterKey = its id)."""
    import orjson

    from executors.sim.twin import sim_events

    with twin(rt).engine.connect() as conn:
        return sum(1 for (data,) in conn.execute(select(sim_events.c.data).where(sim_events.c.kind == "set"))
                   if orjson.loads(data).get("key") == pid)


def test_stop_halts_before_the_next_write(runtime: Any) -> None:
    devs = _cwmp_tr181(runtime, 3)
    p = _staged(runtime, devs, value=False)

    def stop() -> bool:  # the campaign halts as soon as one device has been written
        return _sets(runtime, p.id) >= 1

    out = runtime.lifecycle.apply_batch(p.id, [d.id for d in devs], who(runtime, "remediator"), stop=stop)
    assert len(out.verified) == 1 and len(out.halted) == 2 and _sets(runtime, p.id) == 1
    assert all(read(runtime, d, PATH) is not False for d in devs if d.id in out.halted)
    prog = runtime.lifecycle.staged_progress(p.id)
    assert prog["verified"] == 1 and prog.get("pending", 0) == 2  # halted write-ahead rows go back to pending


def test_the_halt_is_read_before_every_write_and_seldom_while_reading(runtime: Any) -> None:
    """Every device write is preceded by its own halt check (the promise: nothing is written after a
    halt commits beyond the write already under way); the read phase, which writes nothing, polls at
    most once per HALT_POLL_READS_S, not once per device."""
    from core import staged

    devs = _cwmp_tr181(runtime, 5)  # the author may target at most 5 devices
    p = _staged(runtime, devs, value=False)
    log: list[str] = []
    engine = runtime.lifecycle.engine
    write = engine.write

    def logged_write(prop: Any, d: Any) -> Any:
        log.append("write")
        return write(prop, d)

    def stop() -> bool:
        log.append("check")
        return False

    engine.write = logged_write
    try:
        t0 = time.monotonic()
        out = runtime.lifecycle.apply_batch(p.id, [d.id for d in devs], who(runtime, "remediator"), stop=stop)
        elapsed = time.monotonic() - t0
    finally:
        del engine.write
    assert len(out.verified) == 5 and log.count("write") == 5
    first = log.index("write")
    assert log[first - 1:] == ["check", "write"] * 5  # one check right before each write
    reads_polls = first - 1
    assert 1 <= reads_polls <= 1 + int(elapsed / staged.HALT_POLL_READS_S)


def test_write_time_validation_is_per_class(runtime: Any) -> None:
    """One device of each (capability class, protocol) stands for the batch in the
    write-time validation; each class is represented, whatever the batch's order."""
    from core.staged import one_per_class
    from core.store import repo

    with runtime.store.read() as s:
        devices, _ = repo.list_devices(s, limit=1000)
    by_id = {d.id: d for d in devices}
    classes = {(d.vendor, d.model, d.firmware, str(d.root), str(d.protocol)) for d in devices}
    for order in (by_id, dict(reversed(list(by_id.items())))):
        picked = one_per_class(order)
        assert len(picked) == len(classes) < len(by_id)
        assert {(d.vendor, d.model, d.firmware, str(d.root), str(d.protocol)) for d in picked.values()} == classes
    # Devices whose identity is unknown share no class (core.capabilities.class_key): each is kept.
    a, b = (devices[0].model_copy(update={"id": f"unknown-{i}", "vendor": "unknown", "model": "unknown",
                                          "firmware": "unknown"}) for i in range(2))
    assert set(one_per_class({a.id: a, b.id: b})) == {a.id, b.id}


def test_non_target_is_refused(runtime: Any) -> None:
    devs = _cwmp_tr181(runtime, 3)
    p = _staged(runtime, devs[:2])
    with pytest.raises(Forbidden, match="not a target"):
        runtime.lifecycle.apply_batch(p.id, [devs[2].id], who(runtime, "remediator"))


def test_abort_restores_every_changed_device(runtime: Any) -> None:
    devs = _cwmp_tr181(runtime, 3)
    before = {d.id: read(runtime, d, PATH) for d in devs}
    p = _staged(runtime, devs, value=False)
    runtime.lifecycle.apply_batch(p.id, [d.id for d in devs[:2]], who(runtime, "remediator"))
    out = runtime.lifecycle.rollback_staged(p.id, who(runtime, "carol"), "KPI breach")
    assert sorted(out.rolled_back) == sorted(d.id for d in devs[:2])
    assert runtime.lifecycle.get(p.id).state is S.ROLLED_BACK
    assert {d.id: read(runtime, d, PATH) for d in devs} == before


def test_worker_killed_mid_batch_is_resumed_without_rewriting(runtime: Any, db_url: str) -> None:
    devs = _cwmp_tr181(runtime, 2)
    p = _staged(runtime, devs, value=False)
    script = textwrap.dedent(f"""
        from core.kernel.config import Settings
        from core.users import get_actor
        from gateward.runtime import build_runtime
        rt = build_runtime(Settings(database_url={db_url!r}))
        rt.lifecycle.apply_batch({p.id!r}, {[d.id for d in devs]!r}, get_actor(rt.store, "remediator"))
    """)
    env = {**os.environ, "GATEWARD_FAILPOINTS": "staged.after_write"}
    child = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert child.returncode == 99, child.stderr
    assert read(runtime, devs[0], PATH) is False  # written before the worker died
    out = runtime.lifecycle.apply_batch(p.id, [d.id for d in devs], who(runtime, "remediator"))
    assert devs[0].id in out.verified and devs[1].id in out.verified
    assert _writes(runtime, p.id, devs[0].id) == 1  # resumed by verification, not re-written
    assert read(runtime, devs[1], PATH) is False


def _locks(rt: Any, pid: str) -> dict[str, str]:
    from core.store.schema import DeviceLockRow

    with rt.store.read() as s:
        return {r.device_id: r.owner for r in s.scalars(select(DeviceLockRow).where(DeviceLockRow.proposal_id == pid))}


def test_worker_killed_before_releasing_its_locks_leaves_none_behind(runtime: Any, db_url: str) -> None:
    """Killed after the batch was recorded but before its locks were released: every device is
    finished, so the redelivered batch has nothing to lock — it must still clear what the dead
    worker held (seen in CI: a campaign completed with one batch's six locks left behind). A live
    holder's lock on a finished device is left alone, and finishing the rollout clears the rest."""
    from core.store.schema import DeviceLockRow

    devs = _cwmp_tr181(runtime, 3)
    p = _staged(runtime, devs, value=False)
    script = textwrap.dedent(f"""
        from core.kernel.config import Settings
        from core.users import get_actor
        from gateward.runtime import build_runtime
        rt = build_runtime(Settings(database_url={db_url!r}))
        rt.lifecycle.apply_batch({p.id!r}, {[d.id for d in devs[:2]]!r}, get_actor(rt.store, "remediator"))
    """)
    env = {**os.environ, "GATEWARD_FAILPOINTS": "staged.before_release"}
    child = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert child.returncode == 99, child.stderr
    assert sorted(_locks(runtime, p.id)) == sorted(d.id for d in devs[:2])  # the dead worker's
    # the third device: finished by a batch whose worker is alive (pid 1 lives on every host)
    runtime.lifecycle.apply_batch(p.id, [devs[2].id], who(runtime, "remediator"))
    live = f"{os.uname().nodename}:1"
    with runtime.store.write() as s:
        s.add(DeviceLockRow(device_id=devs[2].id, proposal_id=p.id, owner=live,
                            acquired_at=p.created_at, expires_at=p.created_at))

    out = runtime.lifecycle.apply_batch(p.id, [d.id for d in devs], who(runtime, "remediator"))
    assert sorted(out.already_done) == sorted(d.id for d in devs)
    assert all(_writes(runtime, p.id, d.id) == 1 for d in devs)  # nothing written again
    assert _locks(runtime, p.id) == {devs[2].id: live}
    with runtime.store.read() as s:
        released = [e.data for e in s.scalars(select(AuditEventRow).where(
            AuditEventRow.proposal_id == p.id, AuditEventRow.action == "lock.released"))]
    assert len(released) == 1 and sorted(released[0]["devices"]) == sorted(d.id for d in devs[:2])

    with runtime.store.write() as s:  # the live holder dies too; the rollout's end clears its lock
        s.execute(DeviceLockRow.__table__.update().values(owner=f"{os.uname().nodename}:{_dead_pid()}"))
    runtime.lifecycle.finish_staged(p.id, who(runtime, "remediator"))
    assert _locks(runtime, p.id) == {}
    assert runtime.lifecycle.get(p.id).state is S.DONE


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid
