"""An operation the device accepted but nobody saw complete is never "verified".

Found against the real OB-USP-Agent: a remote ``FactoryReset()`` wiped the agent's database; after
its restart it sent only an ``mqtt_connect`` (a factory-fresh agent has no Boot! subscription), the
USP executor waited its reboot timeout and answered ``pending`` — and the execution was stored as
``verified`` and the CLI said "applied and verified". The simulator's ``completion_unreported``
fault makes the controller side answer ``pending`` the same way, through the real lifecycle.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from core.kernel.errors import Forbidden
from core.kernel.models import Change, Operation, ProposalDraft, ProposalState
from core.store import repo
from core.store.schema import AuditEventRow, DeviceLockRow
from tests.integration.test_lifecycle import ACE, pick, radio_5g, read, twin, who

S = ProposalState


def _approved(rt: Any, draft: ProposalDraft) -> Any:
    """Submitted by bob (support agents may not run a factory reset), approved by whoever policy asks."""
    p = rt.lifecycle.submit(draft, who(rt, "bob"))
    for approver in ("carol", "dave"):
        if p.state is not S.AWAITING_APPROVAL:
            break
        try:
            p = rt.lifecycle.approve(p.id, who(rt, approver))
        except Forbidden:  # this approver lacks the role policy asked for; the next may have it
            continue
    assert p.state is S.APPROVED, (p.state, p.error)
    return p


def _events(rt: Any, pid: str) -> list[tuple[str, dict[str, Any]]]:
    with rt.store.read() as s:
        return [(a, d or {}) for a, d in s.execute(select(AuditEventRow.action, AuditEventRow.data)
                                                   .where(AuditEventRow.proposal_id == pid)
                                                   .order_by(AuditEventRow.seq))]


def _execution(rt: Any, pid: str, device_id: str) -> Any:
    with rt.store.read() as s:
        return next(e for e in repo.executions_for(s, pid) if e.device_id == device_id)


def test_an_unconfirmed_factory_reset_is_failed_not_verified(runtime: Any) -> None:
    d = pick(runtime)
    twin(runtime).inject(d.id, "completion_unreported")
    p = _approved(runtime, ProposalDraft(intent="factory reset a wedged gateway", targets=[d.id],
                                         operations=[Operation(command="factory_reset")],
                                         rationale="the subscriber asked for a clean start"))
    out = runtime.lifecycle.apply(p.id, who(runtime, "bob"))

    assert out.proposal.state is S.FAILED, (out.proposal.state, out.proposal.error)
    error = out.proposal.error or ""
    assert "factory_reset not confirmed" in error and "UNCONFIRMED" in error
    assert out.unconfirmed == {d.id: ["factory_reset"]}
    assert d.id in out.failed and out.rolled_back == [] and out.alarms
    ex = _execution(runtime, p.id, d.id)
    assert ex.status == "verify_failed"  # never verified, and nothing claims it was rolled back
    assert "not confirmed" in (ex.error or "") and ex.detail["unconfirmed"] == ["factory_reset"]
    assert ex.detail["op:factory_reset"]["status"] == "pending"
    events = _events(runtime, p.id)
    actions = [a for a, _ in events]
    assert "device.verified" not in actions and "proposal.done" not in actions
    assert "device.rolling_back" not in actions and "device.rolled_back" not in actions  # no undo attempted
    assert "device.unconfirmed" in actions and "proposal.failed" in actions
    alarm = next(data for a, data in events if a == "alarm.operation_unconfirmed")
    assert alarm["severity"] == "critical" and alarm["commands"] == ["factory_reset"]
    with runtime.store.read() as s:  # finished: its device locks are released
        assert not list(s.scalars(select(DeviceLockRow).where(DeviceLockRow.proposal_id == p.id)))


def test_an_unconfirmed_reboot_restores_the_parameters_and_still_raises_the_alarm(runtime: Any) -> None:
    d = pick(runtime)
    r = radio_5g(runtime, d)
    path = ACE.format(r=r)
    before = read(runtime, d, path)
    twin(runtime).inject(d.id, "completion_unreported")
    p = _approved(runtime, ProposalDraft(intent="auto channel off, then reboot", targets=[d.id],
                                         changes=[Change(path=path, value=not before)],
                                         operations=[Operation(command="reboot")],
                                         rationale="the radio keeps hopping"))
    out = runtime.lifecycle.apply(p.id, who(runtime, "bob"))

    assert out.proposal.state is S.FAILED, (out.proposal.state, out.proposal.error)
    assert "reboot not confirmed" in (out.proposal.error or "")
    assert out.rolled_back == [d.id]  # the parameter it wrote is put back, as after a reboot timeout
    assert read(runtime, d, path) == before
    actions = [a for a, _ in _events(runtime, p.id)]
    assert "device.verified" not in actions and "alarm.operation_unconfirmed" in actions
    assert _execution(runtime, p.id, d.id).status == "rolled_back"


def test_a_confirmed_factory_reset_still_verifies(runtime: Any) -> None:
    d = pick(runtime, skip=1)
    p = _approved(runtime, ProposalDraft(intent="factory reset a wedged gateway", targets=[d.id],
                                         operations=[Operation(command="factory_reset")],
                                         rationale="the subscriber asked for a clean start"))
    out = runtime.lifecycle.apply(p.id, who(runtime, "bob"))
    assert out.proposal.state is S.DONE, out.proposal.error
    assert out.unconfirmed == {}
    assert _execution(runtime, p.id, d.id).status == "verified"


def test_a_campaign_batch_leaves_an_unconfirmed_reboot_unverified_and_goes_on(runtime: Any) -> None:
    from tests.integration.test_staged import _cwmp_tr181

    quiet, fine = _cwmp_tr181(runtime, 2)
    twin(runtime).inject(quiet.id, "completion_unreported")
    p = _approved(runtime, ProposalDraft(intent="reboot a ring", targets=[quiet.id, fine.id], staged=True,
                                         operations=[Operation(command="reboot")], rationale="memory leak"))
    out = runtime.lifecycle.apply_batch(p.id, [quiet.id, fine.id], who(runtime, "remediator"))

    assert out.verified == [fine.id] and quiet.id in out.failed
    assert quiet.id not in out.rolled_back  # a reboot is not undone by writing nothing back
    assert _execution(runtime, p.id, quiet.id).status == "verify_failed"
    assert "reboot not confirmed" in (_execution(runtime, p.id, quiet.id).error or "")
    alarms = [data for a, data in _events(runtime, p.id) if a == "alarm.operation_unconfirmed"]
    assert [a["commands"] for a in alarms] == [["reboot"]]
    # the rollout does not end "done" with a device nobody confirmed
    done = runtime.lifecycle.finish_staged(p.id, who(runtime, "remediator"))
    assert done.state is S.FAILED and "1 device(s) not confirmed" in (done.error or "")


def test_a_redelivered_batch_never_rolls_back_an_unconfirmed_reboot(runtime: Any) -> None:
    """A dead worker's batch is delivered again: the device recorded unconfirmed stays so (an empty
    restore would have recorded ``rolled_back``, an undo a reboot cannot have)."""
    from tests.integration.test_staged import _cwmp_tr181

    [quiet] = _cwmp_tr181(runtime, 1)
    twin(runtime).inject(quiet.id, "completion_unreported")
    p = _approved(runtime, ProposalDraft(intent="reboot one", targets=[quiet.id], staged=True,
                                         operations=[Operation(command="reboot")], rationale="memory leak"))
    runtime.lifecycle.apply_batch(p.id, [quiet.id], who(runtime, "remediator"))
    again = runtime.lifecycle.apply_batch(p.id, [quiet.id], who(runtime, "remediator"))

    assert quiet.id in again.failed and quiet.id not in again.rolled_back and again.verified == []
    ex = _execution(runtime, p.id, quiet.id)
    assert ex.status == "verify_failed" and "reboot not confirmed" in (ex.error or "")
    actions = [a for a, _ in _events(runtime, p.id)]
    assert "device.rolled_back" not in actions and "device.rolling_back" not in actions
    assert [a for a in actions if a == "device.applied"] == []  # the reboot was never run again


def test_recovery_after_a_crash_never_rolls_back_an_unconfirmed_reset(runtime: Any, db_url: str) -> None:
    """The applying process dies after recording the device unconfirmed, before the proposal ends:
    recovery finishes it failed with the alarm, not ``rolled_back`` with an empty restore."""
    import os
    import subprocess
    import sys

    d = pick(runtime, skip=3)
    twin(runtime).inject(d.id, "completion_unreported")
    p = _approved(runtime, ProposalDraft(intent="factory reset a wedged gateway", targets=[d.id],
                                         operations=[Operation(command="factory_reset")],
                                         rationale="the subscriber asked for a clean start"))
    env = {**os.environ, "GATEWARD_DATABASE_URL": db_url, "GATEWARD_FAILPOINTS": "lifecycle.before_rolled_back"}
    child = subprocess.run([sys.executable, "-m", "gateward.cli", "apply", p.id, "--as", "bob"], env=env,
                           capture_output=True, text=True, timeout=300)  # dies like kill -9 at the failpoint
    assert child.returncode == 99, child.stderr
    assert _execution(runtime, p.id, d.id).status == "verify_failed"

    results = dict(runtime.lifecycle.recover())
    got = runtime.lifecycle.get(p.id)
    assert got.state is S.FAILED and "UNCONFIRMED" in (got.error or ""), (results, got.error)
    assert _execution(runtime, p.id, d.id).status == "verify_failed"
    actions = [a for a, _ in _events(runtime, p.id)]
    assert "device.rolled_back" not in actions and "alarm.operation_unconfirmed" in actions
    with runtime.store.read() as s:
        assert list(s.scalars(select(DeviceLockRow).where(DeviceLockRow.proposal_id == p.id))) == []


def test_the_cli_says_unconfirmed_and_never_applied_and_verified(runtime: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console
    from typer.testing import CliRunner

    from gateward import cli as cli_module

    monkeypatch.setattr(cli_module, "_runtime", runtime)
    monkeypatch.setattr(cli_module, "console", Console(width=300, color_system=None))
    monkeypatch.setattr(cli_module, "err", Console(width=300, color_system=None, stderr=True))
    d = pick(runtime, skip=2)
    twin(runtime).inject(d.id, "completion_unreported")
    p = _approved(runtime, ProposalDraft(intent="factory reset a wedged gateway", targets=[d.id],
                                         operations=[Operation(command="factory_reset")],
                                         rationale="the subscriber asked for a clean start"))
    res = CliRunner().invoke(cli_module.app, ["apply", p.id, "--as", "bob"])
    assert res.exit_code == 1, res.output
    assert "applied and verified" not in res.output
    assert f"{d.id}: factory_reset UNCONFIRMED" in res.output and "not confirmed" in res.output
