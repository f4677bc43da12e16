"""Staged (campaign) execution through the lifecycle: batches, per-device rollback, halts,
at-least-once redelivery without double writes, abort."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from sqlalchemy import func, select

from core.errors import Conflict, Forbidden
from core.models import Change, ProposalDraft, ProposalState
from core.store.schema import AuditEventRow
from tests.integration.test_lifecycle import read, twin, who

S = ProposalState
PATH = "Device.WiFi.AccessPoint.1.SSIDAdvertisementEnabled"


def _cwmp_tr181(rt: Any, n: int) -> list[Any]:
    from core.models import Root
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


def test_stop_halts_before_the_next_write(runtime: Any) -> None:
    devs = _cwmp_tr181(runtime, 3)
    p = _staged(runtime, devs, value=False)
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 4  # presence/backup pass for 3, then the first write; then halt

    out = runtime.lifecycle.apply_batch(p.id, [d.id for d in devs], who(runtime, "remediator"), stop=stop)
    assert len(out.verified) == 1 and len(out.halted) == 2
    assert all(read(runtime, d, PATH) is not False for d in devs if d.id in out.halted)


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
        from core.config import Settings
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
