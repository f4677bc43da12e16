"""Invariant 6: a process killed mid-apply is finished or rolled back on restart, never applied twice.

The apply runs in a real child process (`gateward apply`) that dies at a failpoint with
``os._exit`` — no cleanup, exactly like ``kill -9``. The test process then runs recovery.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import func, select

from core.kernel.models import Change, ProposalDraft, ProposalState
from core.store import repo
from core.store.schema import AuditEventRow, DeviceLockRow, ExecutionRow
from tests.integration.test_lifecycle import ACE, CH, first_not, pick, pick_two_alike, radio_5g, read, twin, who

S = ProposalState


def _apply_in_child(url: str, pid: str, failpoint: str, **env: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GATEWARD_DATABASE_URL": url, "GATEWARD_FAILPOINTS": failpoint, **env}
    return subprocess.run([sys.executable, "-m", "gateward.cli", "apply", pid, "--as", "alice"], env=env,
                          capture_output=True, text=True, timeout=120)


def _device_writes(rt: Any, device_id: str, key: str) -> int:
    """SetParameterValues the simulated device itself received with ParameterKey ``key``."""
    return sum(1 for ev in twin(rt).events(device_id, kinds=["set"]) if ev.data.get("key") == key)


def _approved(rt: Any, devices: list[Any], r: int, target: int) -> Any:
    draft = ProposalDraft(intent="crash test", targets=[d.id for d in devices],
                          changes=[Change(path=ACE.format(r=r), value=False),
                                   Change(path=CH.format(r=r), value=target)])
    p = rt.lifecycle.submit(draft, who(rt, "alice"))
    if p.state is S.AWAITING_APPROVAL:
        p = rt.lifecycle.approve(p.id, who(rt, "bob"))
    assert p.state is S.APPROVED, p.error
    return p


@pytest.mark.parametrize("window", ["0", "0.05"], ids=["verified-at-once", "watch-window"])
def test_killed_after_apply_is_verified_on_restart(runtime: Any, db_url: str, window: str) -> None:
    d = pick(runtime)
    r = radio_5g(runtime, d)
    target = first_not(runtime, d, r, 36, 40, 44)
    p = _approved(runtime, [d], r, target)
    child = _apply_in_child(db_url, p.id, "lifecycle.after_apply", GATEWARD_VERIFY_WINDOW_S=window)
    assert child.returncode == 99, child.stderr
    assert _device_writes(runtime, d.id, p.id) == 1
    with runtime.store.read() as s:
        assert s.scalar(select(func.count()).select_from(DeviceLockRow)) == 1  # the dead process's lock
        statuses = s.scalars(select(ExecutionRow.status).where(ExecutionRow.proposal_id == p.id)).all()
    if window == "0":
        # Verified at once: the write's ``applying`` (committed before it) is on record; its
        # ``applied`` would have committed with the verification, which never came.
        assert runtime.lifecycle.get(p.id).state is S.APPLYING
        assert statuses == ["applying"]
    else:
        # With a watch window ``verifying`` is committed with the last device's ``applied``, so the
        # console shows what is happening while the window runs.
        assert runtime.lifecycle.get(p.id).state is S.VERIFYING
        assert statuses == ["applied"]
    results = runtime.lifecycle.recover()
    assert results and results[0][0] == p.id
    assert runtime.lifecycle.get(p.id).state is S.DONE
    assert read(runtime, d, CH.format(r=r)) == target
    assert _device_writes(runtime, d.id, p.id) == 1  # nothing applied twice
    with runtime.store.read() as s:
        actions = s.scalars(select(AuditEventRow.action).where(AuditEventRow.proposal_id == p.id)
                            .order_by(AuditEventRow.seq)).all()
        assert s.scalar(select(func.count()).select_from(DeviceLockRow)) == 0
    assert actions.count("device.applying") == 1 and actions.count("device.verified") == 1
    assert actions.count("device.applied") == (0 if window == "0" else 1)
    assert actions.index("device.verified") < actions.index("proposal.done")
    assert twin(runtime).params(d.id).get("Device.ManagementServer.ParameterKey", p.id) == p.id


def test_killed_between_devices_is_rolled_back_on_restart(runtime: Any, db_url: str) -> None:
    d1, d2, r = pick_two_alike(runtime)
    b1, b2 = read(runtime, d1, CH.format(r=r)), read(runtime, d2, CH.format(r=r))
    target = next(c for c in (36, 40, 44) if c not in (b1, b2))
    p = _approved(runtime, [d1, d2], r, target)
    child = _apply_in_child(db_url, p.id, "lifecycle.after_write")
    assert child.returncode == 99, child.stderr
    assert read(runtime, d1, CH.format(r=r)) == target  # the first write landed before the crash
    runtime.lifecycle.recover()
    assert runtime.lifecycle.get(p.id).state is S.ROLLED_BACK
    assert read(runtime, d1, CH.format(r=r)) == b1
    assert read(runtime, d2, CH.format(r=r)) == b2
    with runtime.store.read() as s:
        statuses = {e.device_id: e.status for e in repo.executions_for(s, p.id)}
    assert statuses == {d1.id: "rolled_back", d2.id: "pending"}


def test_recovery_leaves_a_live_apply_alone(runtime: Any) -> None:
    from core.kernel.models import utcnow

    d = pick(runtime)
    r = radio_5g(runtime, d)
    p = _approved(runtime, [d], r, first_not(runtime, d, r, 36, 40))
    with runtime.store.write() as s:  # a live process on this host holds the lock
        s.add(DeviceLockRow(device_id=d.id, proposal_id=p.id, owner=f"{os.uname().nodename}:1",
                            acquired_at=utcnow(), expires_at=utcnow()))
        row = repo.get_proposal_row(s, p.id)
        row.state = "applying"
    assert runtime.lifecycle.recover() == []
    assert runtime.lifecycle.get(p.id).state is S.APPLYING
