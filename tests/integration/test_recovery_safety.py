"""Issue 10, defects 1 and 2: recovery decides from the recorded history and never deletes evidence;
no device lock outlives the apply that took it.

Crashes are real: ``gateward apply`` runs in a child process that dies at a failpoint
(``os._exit``, like ``kill -9``); this process then runs recovery, as a restarted server would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from core.kernel.errors import Conflict
from core.kernel.models import Change, ProposalDraft, ProposalState, utcnow
from core.store import repo
from core.store.schema import AuditEventRow, BackupRow, DeviceLockRow, ExecutionRow
from tests.integration.test_crash import _apply_in_child, _approved
from tests.integration.test_lifecycle import ACE, CH, first_not, pick, pick_two_alike, radio_5g, read, twin, who

S = ProposalState


def _count(rt: Any, pid: str, action: str, device_id: str | None = None) -> int:
    with rt.store.read() as s:
        q = select(func.count()).select_from(AuditEventRow).where(AuditEventRow.proposal_id == pid,
                                                                  AuditEventRow.action == action)
        if device_id is not None:
            q = q.where(AuditEventRow.device_id == device_id)
        return int(s.scalar(q) or 0)


def _statuses(rt: Any, pid: str) -> dict[str, str]:
    with rt.store.read() as s:
        return {e.device_id: str(e.status) for e in repo.executions_for(s, pid)}


def _backups(rt: Any, pid: str) -> int:
    with rt.store.read() as s:
        return int(s.scalar(select(func.count()).select_from(BackupRow).where(BackupRow.proposal_id == pid)) or 0)


def _locks(rt: Any) -> list[Any]:
    with rt.store.read() as s:
        return list(s.scalars(select(DeviceLockRow)))


def _two_devices(rt: Any) -> tuple[Any, Any, int]:
    return pick_two_alike(rt)


def _dead_owner() -> str:
    """An owner string naming a process on this host that has exited."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return f"{os.uname().nodename}:{int(child.stdout)}"


# ------------------------------------------------------------------------------------ defect 1


def test_killed_before_proposal_rolled_back_finishes_as_rolled_back(runtime: Any, db_url: str) -> None:
    """The issue's case: every device.rolled_back is saved, proposal.rolled_back is not. Recovery used
    to see "nothing touched", delete the executions and backups and reopen the proposal, so the next
    apply wrote the device again."""
    d1, d2, r = _two_devices(runtime)
    b1, b2 = read(runtime, d1, CH.format(r=r)), read(runtime, d2, CH.format(r=r))
    target = next(c for c in (36, 40, 44) if c not in (b1, b2))
    p = _approved(runtime, [d1, d2], r, target)
    twin(runtime).inject(d2.id, "fault_on_set", code=9002)  # d1 written, d2 faults, d1 restored
    child = _apply_in_child(db_url, p.id, "lifecycle.before_rolled_back")
    assert child.returncode == 99, child.stderr
    assert runtime.lifecycle.get(p.id).state is S.APPLYING
    assert _statuses(runtime, p.id) == {d1.id: "rolled_back", d2.id: "failed"}

    results = dict(runtime.lifecycle.recover())
    assert results[p.id].startswith("rolled_back"), results
    assert runtime.lifecycle.get(p.id).state is S.ROLLED_BACK
    assert read(runtime, d1, CH.format(r=r)) == b1
    assert _statuses(runtime, p.id) == {d1.id: "rolled_back", d2.id: "failed"}  # evidence kept
    assert _backups(runtime, p.id) == 2
    assert _count(runtime, p.id, "device.rolled_back", d1.id) == 1  # not restored a second time
    assert _locks(runtime) == []
    twin(runtime).clear(d2.id)
    with pytest.raises(Conflict):
        runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    assert _count(runtime, p.id, "device.applied") == 1  # never applied twice
    assert read(runtime, d1, CH.format(r=r)) == b1


def test_killed_after_a_verification_failure_rolled_back_finishes_as_rolled_back(runtime: Any, db_url: str) -> None:
    d = pick(runtime)
    r = radio_5g(runtime, d)
    before = read(runtime, d, CH.format(r=r))
    p = _approved(runtime, [d], r, first_not(runtime, d, r, 36, 40))
    twin(runtime).inject(d.id, "not_sticky", path=CH.format(r=r))
    child = _apply_in_child(db_url, p.id, "lifecycle.before_rolled_back")
    assert child.returncode == 99, child.stderr
    runtime.lifecycle.recover()
    got = runtime.lifecycle.get(p.id)
    assert got.state is S.ROLLED_BACK
    assert "verification failed" in (got.error or "")
    assert _statuses(runtime, p.id) == {d.id: "rolled_back"}
    assert read(runtime, d, CH.format(r=r)) == before


def test_killed_after_an_atomic_fault_finishes_as_rolled_back(runtime: Any, db_url: str) -> None:
    """A Set that faulted atomically changed nothing: there is nothing to restore, but the proposal
    failed and must end rolled back, not be reopened for another write."""
    d = pick(runtime)
    r = radio_5g(runtime, d)
    before = read(runtime, d, CH.format(r=r))
    p = _approved(runtime, [d], r, first_not(runtime, d, r, 36, 40))
    twin(runtime).inject(d.id, "fault_on_set", code=9002)
    child = _apply_in_child(db_url, p.id, "lifecycle.before_rolled_back")
    assert child.returncode == 99, child.stderr
    runtime.lifecycle.recover()
    assert runtime.lifecycle.get(p.id).state is S.ROLLED_BACK
    assert _statuses(runtime, p.id) == {d.id: "failed"}
    assert _count(runtime, p.id, "device.rolling_back") == 0
    assert read(runtime, d, CH.format(r=r)) == before


def test_killed_after_backup_reopens_without_deleting_evidence_and_reapplies(runtime: Any, db_url: str) -> None:
    """Executions all pending = truly no write: approved again, rows kept (abandoned), and the next
    apply takes a fresh backup and reuses the execution rows."""
    d = pick(runtime)
    r = radio_5g(runtime, d)
    target = first_not(runtime, d, r, 36, 40)
    p = _approved(runtime, [d], r, target)
    child = _apply_in_child(db_url, p.id, "lifecycle.after_backup")
    assert child.returncode == 99, child.stderr
    assert runtime.lifecycle.get(p.id).state is S.APPLYING
    results = dict(runtime.lifecycle.recover())
    assert results[p.id].startswith("approved"), results
    assert runtime.lifecycle.get(p.id).state is S.APPROVED
    assert _statuses(runtime, p.id) == {d.id: "abandoned"}
    assert _backups(runtime, p.id) == 1
    assert _locks(runtime) == []

    out = runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    assert out.proposal.state is S.DONE, out.proposal.error
    assert read(runtime, d, CH.format(r=r)) == target
    assert _backups(runtime, p.id) == 2  # the abandoned attempt's backup stays as evidence
    with runtime.store.read() as s:
        ex = s.scalar(select(ExecutionRow).where(ExecutionRow.proposal_id == p.id))
    assert ex is not None and ex.status == "verified"
    assert ex.detail["attempt"] == 2 and ex.detail["previous_attempts"][0]["status"] == "abandoned"
    assert _count(runtime, p.id, "device.applied") == 1


# ------------------------------------------------------------------------------------ defect 2


def test_cancel_edit_reject_are_refused_while_the_apply_backs_up(runtime: Any) -> None:
    """The apply holds the locks while the proposal still reads ``approved`` (presence, backup). A
    cancel there used to succeed, the backup then raised Conflict past the handler, and the lock
    leaked: every later apply on the device failed "locked by p-…"."""
    d = pick(runtime)
    r = radio_5g(runtime, d)
    target = first_not(runtime, d, r, 36, 40)
    p = _approved(runtime, [d], r, target)
    twin(runtime).inject(d.id, "slow", delay_s=1.5)
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["outcome"] = runtime.lifecycle.apply(p.id, who(runtime, "dave"))
        except Exception as exc:  # reported by the assertion below
            result["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 30
    while not _locks(runtime) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _locks(runtime), "the apply never took its lock"
    assert runtime.lifecycle.get(p.id).state is S.APPROVED  # still backing up
    draft = ProposalDraft(intent="other", targets=[d.id], changes=[Change(path=ACE.format(r=r), value=True)])
    for attempt in (lambda: runtime.lifecycle.cancel(p.id, who(runtime, "alice"), "changed my mind"),
                    lambda: runtime.lifecycle.edit(p.id, draft, who(runtime, "alice")),
                    lambda: runtime.lifecycle.reject(p.id, who(runtime, "carol"), "no")):
        with pytest.raises(Conflict, match="being applied"):
            attempt()
    worker.join(timeout=120)
    twin(runtime).clear(d.id, "slow")
    assert "error" not in result, result.get("error")
    assert result["outcome"].proposal.state is S.DONE
    assert _locks(runtime) == []


def _cancelled_with_lock(runtime: Any, owner: str) -> tuple[Any, Any]:
    """A cancelled single-device proposal and its device, still holding a lock that names ``owner``."""
    d = pick(runtime)
    r = radio_5g(runtime, d)
    p = _approved(runtime, [d], r, first_not(runtime, d, r, 36, 40))
    runtime.lifecycle.cancel(p.id, who(runtime, "alice"), "not needed")
    _add_lock(runtime, d.id, p.id, owner)
    return d, p


def _add_lock(runtime: Any, device_id: str, pid: str, owner: str) -> None:
    with runtime.store.write() as s:
        s.add(DeviceLockRow(device_id=device_id, proposal_id=pid, owner=owner, acquired_at=utcnow(),
                            expires_at=utcnow()))


def test_recover_clears_a_dead_owners_lock_whatever_the_state(runtime: Any) -> None:
    """A lock left behind by a dead process on a finished (cancelled) proposal blocked the device for
    good: recovery only looked at proposals between approved and verifying."""
    d, p = _cancelled_with_lock(runtime, _dead_owner())
    r = radio_5g(runtime, d)
    results = dict(runtime.lifecycle.recover())
    assert "lock released" in results[p.id]
    assert _locks(runtime) == []
    assert _count(runtime, p.id, "lock.released") == 1
    q = _approved(runtime, [d], r, first_not(runtime, d, r, 36, 40))
    assert runtime.lifecycle.apply(q.id, who(runtime, "alice")).proposal.state is S.DONE


def _live_other_owner() -> str:
    """An owner string naming another process on this host that is alive (this one's parent)."""
    return f"{os.uname().nodename}:{os.getppid()}"


def test_recovery_keeps_a_lock_a_live_process_took_while_it_recovered(runtime: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Recovery read a proposal's locks, did its work, then deleted *every* lock of the proposal in
    another transaction: a lock a live process took on it meanwhile (another replica applying the
    proposal recovery had just reopened) went with the dead holder's. Now each lock's holder is
    checked again where the locks are deleted, and only the dead holder's go."""
    d, p = _cancelled_with_lock(runtime, _dead_owner())
    other = pick(runtime, skip=1)
    read_proposal = runtime.lifecycle._ctx.get

    def get_while_a_live_process_locks(pid: str) -> Any:  # recovery reads the proposal after its locks
        if pid == p.id:
            _add_lock(runtime, other.id, p.id, _live_other_owner())
        return read_proposal(pid)

    monkeypatch.setattr(runtime.lifecycle._ctx, "get", get_while_a_live_process_locks)  # what every phase reads
    results = dict(runtime.lifecycle.recover())
    assert "lock released" in results[p.id]
    assert [(lk.device_id, lk.owner) for lk in _locks(runtime)] == [(other.id, _live_other_owner())]
    with runtime.store.read() as s:
        released = [e.data for e in s.scalars(select(AuditEventRow).where(
            AuditEventRow.proposal_id == p.id, AuditEventRow.action == "lock.released"))]
    assert [e["devices"] for e in released] == [[d.id]]


def test_recovery_clears_a_lock_naming_this_very_process(runtime: Any) -> None:
    """A restarted container often gets the pid its dead predecessor had, so a lock left behind can
    name this process. Recovery runs before this process applies anything: such a lock is dead."""
    from core.execution import owner

    _, p = _cancelled_with_lock(runtime, owner())
    assert "lock released" in dict(runtime.lifecycle.recover())[p.id]
    assert _locks(runtime) == []
    assert _count(runtime, p.id, "lock.released") == 1


def test_cancel_clears_the_lock_of_a_holder_that_died_before_writing(runtime: Any) -> None:
    d = pick(runtime)
    r = radio_5g(runtime, d)
    p = _approved(runtime, [d], r, first_not(runtime, d, r, 36, 40))
    with runtime.store.write() as s:
        s.add(DeviceLockRow(device_id=d.id, proposal_id=p.id, owner=_dead_owner(), acquired_at=utcnow(),
                            expires_at=utcnow()))
    assert runtime.lifecycle.cancel(p.id, who(runtime, "alice"), "gone").state is S.CANCELLED
    assert _locks(runtime) == []


def test_recovery_leaves_a_live_lock_on_a_finished_proposal_alone(runtime: Any) -> None:
    d = pick(runtime)
    r = radio_5g(runtime, d)
    p = _approved(runtime, [d], r, first_not(runtime, d, r, 36, 40))
    runtime.lifecycle.cancel(p.id, who(runtime, "alice"), "not needed")
    with runtime.store.write() as s:  # pid 1 lives: as if another process held it right now
        s.add(DeviceLockRow(device_id=d.id, proposal_id=p.id, owner=f"{os.uname().nodename}:1",
                            acquired_at=utcnow(), expires_at=utcnow()))
    assert runtime.lifecycle.recover() == []
    assert len(_locks(runtime)) == 1
