"""One governed write path (issue 14, item 1): single applies and campaign batches run every
device through the same ``core.execution.DeviceEngine`` and answer with ``DeviceResult``s.

Where the two old copies disagreed, the safer rule is pinned here for both paths:

- a write whose answer is lost (timeout) decides the rollback at once: recorded ``verify_failed``
  (recovery finishes a rollback) rather than ``applying`` (recovery could verify its way to done);
- a Status-1 Set without a reboot is restored in a batch too, never "verified";
- a batch resumed after its worker died restores a device whose rollback was already decided,
  instead of reading it back and calling it verified.

The lost answer is a real simulator whose ``apply`` lands the write and then raises the adapter's
``Timeout`` — the one fault the twin cannot produce on its own (its ``slow`` fault times out before
the device is touched).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.execution import DeviceEngine
from core.kernel.models import Change, Device, ExecutionStatus, ProposalDraft, ProposalState
from core.lifecycle import Lifecycle
from core.results import DeviceResult
from core.routing import ExecutorRouter
from core.store import repo
from core.store.schema import AuditEventRow, ExecutionRow
from executors.base import Timeout
from executors.sim.executor import SimExecutor
from tests.integration.test_lifecycle import pick, read, twin, who
from tests.integration.test_staged import PATH, _cwmp_tr181

S = ProposalState
X = ExecutionStatus
ROOT = Path(__file__).resolve().parents[2]


class LostAnswer(SimExecutor):
    """The simulator, except that a Set on a device in ``lose`` lands and its answer never arrives."""

    def __init__(self, twin: Any, lose: set[str]) -> None:
        super().__init__(twin)
        self.lose = lose

    def apply(self, device: Device, changes: Sequence[Change], key: str, grant: Any = None) -> Any:
        result = super().apply(device, changes, key, grant)
        if device.id in self.lose and not key.endswith("-rb"):  # the rollback's answer arrives
            raise Timeout(device.id, "no answer within 5s (injected after the write landed)")
        return result


def _lossy_lifecycle(rt: Any, lose: set[str]) -> Lifecycle:
    router = ExecutorRouter({"sim": lambda: LostAnswer(twin(rt), lose)})
    lifecycle = Lifecycle(rt.store, rt.policy, router=router, settings=rt.lifecycle.settings)
    router.bind_grant_verifier(lifecycle.grant_verifier)  # as the composition root does
    return lifecycle


def _approved(rt: Any, devices: list[Any], value: Any, *, staged: bool, path: str = PATH) -> Any:
    draft = ProposalDraft(intent="engine test", targets=[d.id for d in devices], staged=staged,
                          changes=[Change(path=path, value=value)], rationale="operator profile")
    p = rt.lifecycle.submit(draft, who(rt, "alice"))
    for approver in ("carol", "bob"):
        if p.state is S.AWAITING_APPROVAL:
            p = rt.lifecycle.approve(p.id, who(rt, approver))
    assert p.state is S.APPROVED, p.error
    return p


def _events(rt: Any, pid: str, device_id: str) -> list[tuple[str, dict[str, Any]]]:
    with rt.store.read() as s:
        rows = s.scalars(select(AuditEventRow).where(AuditEventRow.proposal_id == pid,
                                                     AuditEventRow.device_id == device_id)
                         .order_by(AuditEventRow.seq))
        return [(r.action, dict(r.data)) for r in rows]


def _status(rt: Any, pid: str, device_id: str) -> str:
    with rt.store.read() as s:
        return str(next(e.status for e in repo.executions_for(s, pid) if e.device_id == device_id))


# ------------------------------------------------------------------ the result objects
def test_a_single_apply_returns_one_result_per_device(runtime: Any) -> None:
    devs = _cwmp_tr181(runtime, 2)
    value = not read(runtime, devs[0], PATH)
    devs = [d for d in devs if read(runtime, d, PATH) != value] or devs[:1]
    p = _approved(runtime, devs, value, staged=False)
    out = runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    assert out.proposal.state is S.DONE
    assert set(out.results) == {d.id for d in devs}
    assert all(isinstance(r, DeviceResult) and r.status is X.VERIFIED and r.changed and not r.failed
               for r in out.results.values())
    assert out.counts() == {"verified": len(devs)} and out.failures == {}
    assert all(r.evidence.get("status") in (0, 1) for r in out.results.values())  # the Set's answer, kept


# ------------------------------------------------------------------ timeout: the rollback is decided
def test_single_apply_timeout_records_the_rollback_decision_and_restores(runtime: Any) -> None:
    d = pick(runtime)
    before = read(runtime, d, PATH)
    p = _approved(runtime, [d], not before, staged=False)
    out = _lossy_lifecycle(runtime, {d.id}).apply(p.id, who(runtime, "alice"))
    assert out.proposal.state is S.ROLLED_BACK, out.proposal.error
    assert read(runtime, d, PATH) == before  # the write had landed; it was restored
    failed = [data for action, data in _events(runtime, p.id, d.id) if action == "device.apply_failed"]
    assert failed and failed[0]["status"] == "verify_failed"  # not "applying": recovery would finish the rollback
    assert out.results[d.id].status is X.ROLLED_BACK and _status(runtime, p.id, d.id) == "rolled_back"


def test_staged_batch_timeout_follows_the_same_rule(runtime: Any) -> None:
    devs = _cwmp_tr181(runtime, 3)
    value = not read(runtime, devs[0], PATH)
    devs = [d for d in devs if read(runtime, d, PATH) != value]
    if len(devs) < 2:
        pytest.fail(f"need two seeded devices that do not hold {PATH}={value} yet; found {len(devs)}")
    lossy, fine = devs[0], devs[1]
    before = read(runtime, lossy, PATH)
    p = _approved(runtime, [lossy, fine], value, staged=True)
    out = _lossy_lifecycle(runtime, {lossy.id}).apply_batch(p.id, [lossy.id, fine.id], who(runtime, "remediator"))
    assert out.verified == [fine.id] and out.rolled_back == [lossy.id] and lossy.id in out.failed
    assert out.results[lossy.id].status is X.ROLLED_BACK and out.results[fine.id].status is X.VERIFIED
    assert read(runtime, lossy, PATH) == before and read(runtime, fine, PATH) == value
    assert _status(runtime, p.id, lossy.id) == "rolled_back"


# ------------------------------------------------------------------ Status 1 in a batch
def test_staged_status_1_without_reboot_is_rolled_back_never_verified(runtime: Any) -> None:
    devs = _cwmp_tr181(runtime, 2)
    value = not read(runtime, devs[0], PATH)
    devs = [d for d in devs if read(runtime, d, PATH) != value]
    if len(devs) < 2:
        pytest.fail(f"need two seeded devices that do not hold {PATH}={value} yet; found {len(devs)}")
    committed, fine = devs[0], devs[1]
    before = read(runtime, committed, PATH)
    p = _approved(runtime, [committed, fine], value, staged=True)
    twin(runtime).inject(committed.id, "reboot_required")
    try:
        out = runtime.lifecycle.apply_batch(p.id, [committed.id, fine.id], who(runtime, "remediator"))
    finally:
        twin(runtime).clear(committed.id, "reboot_required")
    assert out.verified == [fine.id] and out.rolled_back == [committed.id]
    assert "takes effect after reboot" in out.failed[committed.id]
    actions = [a for a, _ in _events(runtime, p.id, committed.id)]
    assert "device.verified" not in actions and "device.rolled_back" in actions
    assert read(runtime, committed, PATH) == before


# ------------------------------------------------------------------ resume after a dead worker
def test_resumed_batch_finishes_a_decided_rollback_instead_of_verifying(runtime: Any) -> None:
    """The device holds the change and would read back fine, but the dead worker had already
    decided to roll it back (``verify_failed`` recorded): the resume restores it."""
    d = _cwmp_tr181(runtime, 1)[0]
    before = read(runtime, d, PATH)
    p = _approved(runtime, [d], not before, staged=True)
    first = runtime.lifecycle.apply_batch(p.id, [d.id], who(runtime, "remediator"))
    assert first.verified == [d.id] and read(runtime, d, PATH) == (not before)
    with runtime.store.write() as s:  # test setup: what a worker killed after deciding leaves behind
        row = s.scalar(select(ExecutionRow).where(ExecutionRow.proposal_id == p.id, ExecutionRow.device_id == d.id))
        row.status, row.finished_at = str(X.VERIFY_FAILED), None
    out = runtime.lifecycle.apply_batch(p.id, [d.id], who(runtime, "remediator"))
    assert out.rolled_back == [d.id] and not out.verified
    assert read(runtime, d, PATH) == before
    assert _status(runtime, p.id, d.id) == "rolled_back"


# ------------------------------------------------------------------ one engine, no reach-through
def test_both_paths_use_the_lifecycles_one_engine(runtime: Any) -> None:
    lc = runtime.lifecycle
    assert isinstance(lc.engine, DeviceEngine)
    assert lc._staged.engine is lc.engine
