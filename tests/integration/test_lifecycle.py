"""The lifecycle end to end on the simulated fleet, on SQLite and (when configured) PostgreSQL.

One test per safety invariant of ``docs/safety.md``, each trying to break it.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text

from core.audit import verify_chain
from core.kernel.errors import Conflict, DeviceUnavailable, Forbidden, Locked, NotFound
from core.kernel.models import Change, ProposalDraft, ProposalState, Root
from core.store import repo
from core.store.schema import AuditEventRow, BackupRow, PolicyDecisionRow
from core.users import get_actor
from executors.base import WriteGrant, WriteRefused

S = ProposalState
CH = "Device.WiFi.Radio.{r}.Channel"
ACE = "Device.WiFi.Radio.{r}.AutoChannelEnable"


def who(rt: Any, name: str) -> Any:
    return get_actor(rt.store, name)


def pick(rt: Any, *, root: Root = Root.DEVICE, region: str | None = None, skip: int = 0,
         protocol: str = "cwmp") -> Any:
    with rt.store.read() as s:
        devs, _ = repo.list_devices(s, region=region, limit=1000)
    found = [d for d in devs if d.root is root and str(d.protocol) == protocol]
    if len(found) <= skip:
        pytest.fail(f"the seeded fleet has no {root} {protocol} device #{skip} in {region} (found {len(found)})")
    d = found[skip]
    for f in ("offline", "unreachable"):
        twin_clear(rt, d.id, f)
    return d


def pick_two_alike(rt: Any) -> tuple[Any, Any, int]:
    """The first two TR-181 CWMP devices whose 5 GHz radio has the same index, and that index, so
    one change names the same radio on both. Picked, not skipped: a "layouts differ" skip hid the
    multi-device rollback tests whenever the seed changed."""
    d1 = pick(rt)
    r = radio_5g(rt, d1)
    k = 1
    while True:  # pick() fails with a clear message once the fleet runs out
        d2 = pick(rt, skip=k)
        if _radio_5g_index(rt, d2) == r:
            return d1, d2, r
        k += 1


def _radio_5g_index(rt: Any, d: Any) -> int | None:
    values = rt.router.reader(d).read(d, ["Device.WiFi.Radio."])
    return next((int(p.split(".")[3]) for p, v in values.items()
                 if p.endswith(".OperatingFrequencyBand") and v.value == "5GHz"), None)


def twin(rt: Any) -> Any:
    from gateward.seed import twin_for

    return twin_for(rt)


def twin_clear(rt: Any, device_id: str, kind: str | None = None) -> None:
    twin(rt).clear(device_id, kind)


def radio_5g(rt: Any, d: Any) -> int:
    values = rt.router.reader(d).read(d, ["Device.WiFi.Radio."])
    for path, v in values.items():
        if path.endswith(".OperatingFrequencyBand") and v.value == "5GHz":
            return int(path.split(".")[3])
    pytest.fail(f"{d.id} has no 5 GHz radio; the seeded TR-181 devices must have one")
    return 0


def channel_change(rt: Any, d: Any, channel: int = 36, author: str = "alice") -> Any:
    r = radio_5g(rt, d)
    draft = ProposalDraft(intent="move 5 GHz off a busy channel", targets=[d.id],
                          changes=[Change(path=ACE.format(r=r), value=False),
                                   Change(path=CH.format(r=r), value=channel)],
                          rationale="neighbours crowd the current channel")
    return rt.lifecycle.submit(draft, who(rt, author)), r


def read(rt: Any, d: Any, path: str) -> Any:
    return rt.router.reader(d).read(d, [path])[path].value


def first_not(rt: Any, d: Any, r: int, *candidates: int) -> int:
    cur = read(rt, d, CH.format(r=r))
    return next(c for c in candidates if c != cur)


# ------------------------------------------------------------------------------------------ happy path

def test_allowed_change_applies_and_verifies(runtime: Any) -> None:
    d = pick(runtime)
    r = radio_5g(runtime, d)
    target = first_not(runtime, d, r, 36, 40, 44)
    p, r = channel_change(runtime, d, target)
    assert p.state is S.APPROVED, p.error
    out = runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    assert out.proposal.state is S.DONE, out.proposal.error
    assert read(runtime, d, CH.format(r=r)) == target
    with runtime.store.read() as s:
        backup = s.scalar(select(BackupRow).where(BackupRow.proposal_id == p.id))
        assert backup is not None and CH.format(r=r) in backup.params
        assert verify_chain(s).ok


def test_double_apply_is_refused(runtime: Any) -> None:
    d = pick(runtime)
    r = radio_5g(runtime, d)
    p, _ = channel_change(runtime, d, first_not(runtime, d, r, 36, 40))
    runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    with pytest.raises(Conflict, match="done"):
        runtime.lifecycle.apply(p.id, who(runtime, "alice"))


# ------------------------------------------------------------------------------------------ validation

@pytest.mark.parametrize(("path", "value", "needle"), [
    ("Device.WiFi.Radio.1.Chanel", 6, "unknown parameter"),
    ("Device.WiFi.Radio.1.Channel", 300, "300 is outside 1..255"),
    ("Device.WiFi.Radio.1.Channel", "abc", "'abc' is not an unsignedInt"),
    ("Device.WiFi.Radio.1.OperatingChannelBandwidth", "7MHz", "is not one of"),
    ("Device.DeviceInfo.UpTime", 5, "read-only"),
])
def test_bad_values_are_invalid_with_a_clear_error(runtime: Any, path: str, value: Any, needle: str) -> None:
    d = pick(runtime)
    before = twin(runtime).params(d.id)
    draft = ProposalDraft(intent="bad", targets=[d.id], changes=[Change(path=path, value=value)])
    p = runtime.lifecycle.submit(draft, who(runtime, "alice"))
    assert p.state is S.INVALID
    assert needle in (p.error or "")
    assert twin(runtime).params(d.id) == before


def test_unknown_device_is_not_found(runtime: Any) -> None:
    draft = ProposalDraft(intent="x", targets=["NOPE-NOPE-1"], changes=[Change(path=CH.format(r=1), value=6)])
    with pytest.raises(NotFound, match="unknown device"):
        runtime.lifecycle.create(draft, who(runtime, "alice"))


# ------------------------------------------------------------------------------------------ invariant 1

def test_executor_write_without_grant_is_refused(runtime: Any) -> None:
    d = pick(runtime)
    writer = runtime.router.writer(d)
    with pytest.raises(WriteRefused, match="no grant"):
        writer.apply(d, [Change(path=CH.format(r=1), value=6)], "k")
    forged = WriteGrant(proposal_id="p-x", proposal_hash="h", device_id=d.id, purpose="apply",
                        paths=frozenset({CH.format(r=1)}), nonce="n", mac="0" * 64)
    with pytest.raises(WriteRefused, match="signature"):
        writer.apply(d, [Change(path=CH.format(r=1), value=6)], "k", forged)
    with pytest.raises(WriteRefused):
        writer.operate(d, "reboot", {}, None)


def test_read_only_facade_has_no_write_path(runtime: Any) -> None:
    d = pick(runtime)
    reader = runtime.router.reader(d)
    for attr in ("apply", "operate", "_apply", "_operate"):
        assert not hasattr(reader, attr)


def test_unapproved_proposal_cannot_be_applied(runtime: Any) -> None:
    d = pick(runtime)
    draft = ProposalDraft(intent="new passphrase", targets=[d.id], changes=[Change(
        path="Device.WiFi.AccessPoint.1.Security.KeyPassphrase", value="Orchard-Lantern-4417")])
    p = runtime.lifecycle.submit(draft, who(runtime, "alice"))
    assert p.state is S.AWAITING_APPROVAL, p.error
    with pytest.raises(Conflict, match="awaiting_approval"):
        runtime.lifecycle.apply(p.id, who(runtime, "alice"))


def _needs_approval(rt: Any, d: Any) -> Any:
    draft = ProposalDraft(intent="new passphrase", targets=[d.id], changes=[Change(
        path="Device.WiFi.AccessPoint.1.Security.KeyPassphrase", value="Orchard-Lantern-4417")])
    p = rt.lifecycle.submit(draft, who(rt, "alice"))
    assert p.state is S.AWAITING_APPROVAL, p.error
    return p


def test_self_approval_is_refused(runtime: Any) -> None:
    p = _needs_approval(runtime, pick(runtime))
    with pytest.raises(Forbidden, match="separation of duties"):
        runtime.lifecycle.approve(p.id, who(runtime, "alice"))


def test_approval_needs_the_role(runtime: Any) -> None:
    p = _needs_approval(runtime, pick(runtime))
    with pytest.raises(Forbidden, match="cannot approve"):
        runtime.lifecycle.approve(p.id, who(runtime, "sam"))  # another support agent
    with pytest.raises(Forbidden, match="job"):
        runtime.lifecycle.approve(p.id, who(runtime, "remediator"))


def test_edit_voids_approval_and_decision(runtime: Any) -> None:
    d = pick(runtime)
    p = _needs_approval(runtime, d)
    approved = runtime.lifecycle.approve(p.id, who(runtime, "bob"))
    assert approved.state is S.APPROVED
    edited = runtime.lifecycle.edit(p.id, ProposalDraft(intent="new passphrase", targets=[d.id], changes=[
        Change(path="Device.WiFi.AccessPoint.1.Security.KeyPassphrase", value="Different-Phrase-9921")]),
        who(runtime, "alice"))
    assert edited.state is S.DRAFT and edited.hash != p.hash
    with pytest.raises(Conflict):
        runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    # Even forcing the state back to approved by hand does not help: the approval is for the old hash.
    with runtime.store.engine.begin() as c:
        c.execute(text("UPDATE proposals SET state='approved' WHERE id=:i"), {"i": p.id})
    with pytest.raises(Conflict, match="changed after policy decided"):
        runtime.lifecycle.apply(p.id, who(runtime, "alice"))


def test_approving_a_changed_proposal_is_a_conflict(runtime: Any) -> None:
    p = _needs_approval(runtime, pick(runtime))
    with pytest.raises(Conflict, match="changed since you reviewed it"):
        runtime.lifecycle.approve(p.id, who(runtime, "bob"), expected_hash="0" * 64)


def test_tampered_row_is_refused(runtime: Any) -> None:
    d = pick(runtime)
    r = radio_5g(runtime, d)
    p, _ = channel_change(runtime, d, first_not(runtime, d, r, 36, 40))
    assert p.state is S.APPROVED
    with runtime.store.engine.begin() as c:  # someone edits the stored change after approval
        c.execute(text("UPDATE proposals SET changes=:c WHERE id=:i"),
                  {"c": f'[{{"path": "Device.WiFi.Radio.{r}.Channel", "value": 165, "type": "unsignedInt"}}]',
                   "i": p.id})
    before = read(runtime, d, CH.format(r=r))
    with pytest.raises(Conflict, match="no longer matches its hash"):
        runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    assert read(runtime, d, CH.format(r=r)) == before


def test_decision_for_another_hash_is_refused(runtime: Any) -> None:
    d = pick(runtime)
    r = radio_5g(runtime, d)
    p, _ = channel_change(runtime, d, first_not(runtime, d, r, 36, 40))
    with runtime.store.engine.begin() as c:
        c.execute(text("UPDATE policy_decisions SET proposal_hash=:h WHERE proposal_id=:i"), {"h": "f" * 64, "i": p.id})
    with pytest.raises(Conflict, match="changed after policy decided"):
        runtime.lifecycle.apply(p.id, who(runtime, "alice"))


def test_auditor_cannot_apply_or_propose(runtime: Any) -> None:
    d = pick(runtime)
    draft = ProposalDraft(intent="x", targets=[d.id], changes=[Change(path=CH.format(r=1), value=6)])
    with pytest.raises(Forbidden):
        runtime.lifecycle.create(draft, who(runtime, "erin"))


def test_device_lock_blocks_a_second_proposal(runtime: Any) -> None:
    from core.kernel.models import utcnow
    from core.store.schema import DeviceLockRow

    d = pick(runtime)
    r = radio_5g(runtime, d)
    p, _ = channel_change(runtime, d, first_not(runtime, d, r, 36, 40))
    with runtime.store.write() as s:  # another process is mid-apply on this device
        s.add(DeviceLockRow(device_id=d.id, proposal_id="p-other", owner="elsewhere:1", acquired_at=utcnow(),
                            expires_at=utcnow()))
    with pytest.raises(Locked, match="locked by proposal p-other"):
        runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    assert runtime.lifecycle.get(p.id).state is S.APPROVED


def test_a_proposal_cancelled_while_submit_previews_gets_no_decision(runtime: Any, monkeypatch: Any) -> None:
    """Submit records its decision on the row it wrote a moment earlier, without reading it again:
    a cancel that lands between the two transactions must still refuse the decision."""
    d = pick(runtime)
    r = radio_5g(runtime, d)
    lc = runtime.lifecycle
    real = lc._previews.take
    seen: list[str] = []

    def preview_then_cancel(p: Any, *a: Any, **k: Any) -> Any:
        out = real(p, *a, **k)
        lc.cancel(p.id, who(runtime, "alice"), reason="changed my mind")  # another request of the author's
        seen.append(p.id)
        return out

    monkeypatch.setattr(lc._previews, "take", preview_then_cancel)
    draft = ProposalDraft(intent="x", targets=[d.id], changes=[Change(path=CH.format(r=r), value=44)])
    with pytest.raises(Conflict):
        lc.submit(draft, who(runtime, "alice"))
    assert lc.get(seen[0]).state is S.CANCELLED
    with runtime.store.read() as s:
        assert s.scalar(select(PolicyDecisionRow.id).where(PolicyDecisionRow.proposal_id == seen[0])) is None


def test_a_proposal_changed_between_gates_and_backup_writes_nothing(runtime: Any, monkeypatch: Any) -> None:
    """The backup moves the row the gates read without reading it again: a change stored in
    between (here a bare version bump, as any save makes) refuses the apply before any write."""
    d = pick(runtime)
    r = radio_5g(runtime, d)
    before = read(runtime, d, CH.format(r=r))
    p, _ = channel_change(runtime, d, first_not(runtime, d, r, 36, 40))
    lc = runtime.lifecycle
    real = lc._io.backup_params

    def bump_then_backup(*a: Any, **k: Any) -> Any:
        with runtime.store.write() as s:
            s.execute(text("UPDATE proposals SET version = version + 1 WHERE id = :pid"), {"pid": p.id})
        return real(*a, **k)

    monkeypatch.setattr(lc._io, "backup_params", bump_then_backup)
    with pytest.raises(Conflict, match="changed during backup; nothing was changed"):
        lc.apply(p.id, who(runtime, "alice"))
    assert read(runtime, d, CH.format(r=r)) == before
    assert lc.get(p.id).state is S.APPROVED
    with runtime.store.read() as s:
        actions = list(s.scalars(select(AuditEventRow.action).where(AuditEventRow.proposal_id == p.id)))
        assert actions[-1] == "apply.deferred" and "proposal.backed_up" not in actions
        assert s.execute(text("SELECT count(*) FROM device_locks")).scalar() == 0


def test_one_locked_target_takes_no_lock_on_the_others(runtime: Any) -> None:
    """The locks are taken in one statement that skips a held device: a proposal that finds one of
    its devices locked names the holder and keeps none of the locks it took on the others; its own
    leftover lock (a crashed attempt) says it is already being applied."""
    from core.kernel.models import utcnow
    from core.store.schema import DeviceLockRow

    d1, d2, r = pick_two_alike(runtime)
    draft = ProposalDraft(intent="two radios", targets=[d1.id, d2.id],
                          changes=[Change(path=ACE.format(r=r), value=False), Change(path=CH.format(r=r), value=44)])
    p = runtime.lifecycle.submit(draft, who(runtime, "alice"))
    assert p.state is S.APPROVED, p.error

    def locks() -> dict[str, str]:
        with runtime.store.read() as s:
            return {dev: pid for dev, pid in s.execute(select(DeviceLockRow.device_id, DeviceLockRow.proposal_id))}

    for holder, message in (("p-other", "locked by proposal p-other"), (p.id, "already being applied")):
        with runtime.store.write() as s:
            s.add(DeviceLockRow(device_id=d2.id, proposal_id=holder, owner="elsewhere:1", acquired_at=utcnow(),
                                expires_at=utcnow()))
        with pytest.raises(Locked, match=message):
            runtime.lifecycle.apply(p.id, who(runtime, "alice"))
        assert locks() == {d2.id: holder}  # nothing taken on d1
        with runtime.store.write() as s:
            s.execute(text("DELETE FROM device_locks"))
    assert runtime.lifecycle.get(p.id).state is S.APPROVED
    assert runtime.lifecycle.apply(p.id, who(runtime, "alice")).proposal.state is S.DONE
    assert locks() == {}


def test_offline_device_defers_without_writing(runtime: Any) -> None:
    d = pick(runtime)
    r = radio_5g(runtime, d)
    p, _ = channel_change(runtime, d, first_not(runtime, d, r, 36, 40))
    twin(runtime).inject(d.id, "offline")
    with pytest.raises(DeviceUnavailable, match="nothing was changed"):
        runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    twin(runtime).clear(d.id)
    assert runtime.lifecycle.get(p.id).state is S.APPROVED
    assert runtime.lifecycle.apply(p.id, who(runtime, "alice")).proposal.state is S.DONE


# ------------------------------------------------------------------------------------------ invariant 2

def test_policy_error_denies(runtime: Any) -> None:
    from core.kernel.models import Decision
    from policies.base import PolicyEngine

    class Broken(PolicyEngine):
        name = "broken"
        revision = "x"

        def decide(self, input_doc: dict[str, Any]) -> Decision:
            try:
                raise RuntimeError("engine exploded")
            except RuntimeError as exc:
                return Decision.fail_closed(f"policy error: {exc}")

    runtime.lifecycle.policy = Broken()
    d = pick(runtime)
    p, _ = channel_change(runtime, d, 36)
    assert p.state is S.DENIED and "policy error" in (p.error or "")


# ------------------------------------------------------------------------------------------ invariant 3

def test_change_that_does_not_stick_is_rolled_back(runtime: Any) -> None:
    d = pick(runtime)
    r = radio_5g(runtime, d)
    before = read(runtime, d, CH.format(r=r))
    p, _ = channel_change(runtime, d, first_not(runtime, d, r, 36, 40))
    twin(runtime).inject(d.id, "not_sticky", path=CH.format(r=r))
    out = runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    assert out.proposal.state is S.ROLLED_BACK
    assert "verification failed" in (out.proposal.error or "")
    assert read(runtime, d, CH.format(r=r)) == before
    with runtime.store.read() as s:
        execs = repo.executions_for(s, p.id)
    assert [e.status for e in execs] == ["rolled_back"]


def test_fault_on_second_device_rolls_back_the_first(runtime: Any) -> None:
    d1, d2, r1 = pick_two_alike(runtime)
    r2 = r1
    b1 = read(runtime, d1, CH.format(r=r1))
    target = next(c for c in (36, 40, 44) if c not in (b1, read(runtime, d2, CH.format(r=r2))))
    draft = ProposalDraft(intent="two homes", targets=[d1.id, d2.id],
                          changes=[Change(path=ACE.format(r=r1), value=False),
                                   Change(path=CH.format(r=r1), value=target)])
    p = runtime.lifecycle.submit(draft, who(runtime, "alice"))
    if p.state is S.AWAITING_APPROVAL:
        p = runtime.lifecycle.approve(p.id, who(runtime, "bob"))
    assert p.state is S.APPROVED, p.error
    twin(runtime).inject(d2.id, "fault_on_set", code=9002)
    out = runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    assert out.proposal.state is S.ROLLED_BACK
    assert d1.id in out.rolled_back and d2.id in out.failed
    assert read(runtime, d1, CH.format(r=r1)) == b1


def test_failed_rollback_raises_an_alarm(runtime: Any) -> None:
    d = pick(runtime)
    r = radio_5g(runtime, d)
    p, _ = channel_change(runtime, d, first_not(runtime, d, r, 36, 40))
    # The first Set lands, verification finds it did not stick, and the restoring Set faults.
    twin(runtime).inject(d.id, "not_sticky", path=CH.format(r=r))
    twin(runtime).inject(d.id, "fail_after_n_sets", n=1)
    out = runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    assert out.proposal.state is S.FAILED
    assert out.alarms and "rollback failed" in out.alarms[0]
    with runtime.store.read() as s:
        alarm = s.scalar(select(AuditEventRow).where(AuditEventRow.action == "alarm.rollback_failed"))
    assert alarm is not None and alarm.data["severity"] == "critical"


# ------------------------------------------------------------------------------------------ secrets

def test_passphrase_never_leaves_in_clear(runtime: Any) -> None:
    d = pick(runtime)
    secret = "Orchard-Lantern-4417"
    p = _needs_approval(runtime, d)
    runtime.lifecycle.approve(p.id, who(runtime, "bob"))
    runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    with runtime.store.read() as s:
        audit_blob = str([r.data for r in s.scalars(select(AuditEventRow))])
        decision = s.scalar(select(PolicyDecisionRow).where(PolicyDecisionRow.proposal_id == p.id))
        preview = repo.get_proposal_row(s, p.id).preview
        from core.views import proposal_detail

        detail = proposal_detail(s, p.id)
    for blob in (audit_blob, str(decision.input), str(preview), str(detail)):
        assert secret not in blob
    assert runtime.lifecycle.get(p.id).state is S.DONE


# ------------------------------------------------------------------------------------------ audit

def test_every_state_change_is_audited(runtime: Any) -> None:
    d = pick(runtime)
    r = radio_5g(runtime, d)
    p, _ = channel_change(runtime, d, first_not(runtime, d, r, 36, 40))
    runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    with runtime.store.read() as s:
        actions = [r.action for r in s.scalars(select(AuditEventRow).where(AuditEventRow.proposal_id == p.id)
                                               .order_by(AuditEventRow.seq))]
        dev_events = [r for r in s.scalars(select(AuditEventRow).where(AuditEventRow.proposal_id == p.id,
                                                                      AuditEventRow.device_id == d.id))]
    for a in ("proposal.created", "proposal.validated", "proposal.previewed", "policy.allowed",
              "proposal.backed_up", "device.applied", "device.verified", "proposal.done"):
        assert a in actions
    assert all(e.model == d.model and e.firmware == d.firmware and e.subscriber == d.subscriber for e in dev_events)


def test_row_missing_on_the_device_is_backed_up_as_absent_and_restored(runtime: Any) -> None:
    """A firmware bug emptied the TR-098 DNS list: the TR-181 row does not exist yet. The change
    still gets a backup (absent), applies, and a rollback clears the row again."""
    from core.kernel.models import Root

    d = pick(runtime, root=Root.IGD)
    path = "Device.DNS.Client.Server.1.DNSServer"
    twin(runtime).transact(d.id, lambda s: s.set_values({k: "" for k in s.tree()
                                                         if k.endswith("WANIPConnection.1.DNSServers")}))
    reader = runtime.router.reader(d)
    from executors.base import InvalidParameterName

    with pytest.raises(InvalidParameterName):
        reader.read(d, [path])
    p = runtime.lifecycle.submit(ProposalDraft(intent="restore DNS", targets=[d.id],
                                               changes=[Change(path=path, value="192.0.2.53")]), who(runtime, "alice"))
    if p.state is S.AWAITING_APPROVAL:
        p = runtime.lifecycle.approve(p.id, who(runtime, "bob"))
    out = runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    assert out.proposal.state is S.DONE, out.proposal.error
    assert read(runtime, d, path) == "192.0.2.53"
    with runtime.store.read() as s:
        backup = s.scalar(select(BackupRow).where(BackupRow.proposal_id == p.id))
    assert backup.params[path]["absent"] is True
    back = runtime.lifecycle.rollback(p.id, who(runtime, "bob"), "test")
    assert back.proposal.state is S.ROLLED_BACK, back.proposal.error
    with pytest.raises(InvalidParameterName):
        reader.read(d, [path])
