"""A rehearsal before ring 1 predicts what the real run then shows, device by device.

The slice mixes firmwares: the Vantec CGW-3400s the inventory lists as 7.4.1 (which takes
TransmitPower -1, automatic) and the Prplnet PX-7000s. After approval some of those Vantecs are
taken back to 7.2.6 behind Gateward's back (the ACS's own job: their fresh stored tree says 7.2.6,
the inventory still 7.4.1) and two PX-7000s go offline. The rehearsal, replaying the change on each
target's stored tree, must name exactly the devices the run then fails and leaves unreached.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from campaigns.service import Campaigns
from core.kernel.errors import Conflict
from core.kernel.models import ExecutionStatus
from core.store.schema import DeviceRow, ExecutionRow
from tests.campaigns.helpers import approved, drive, who

pytestmark = pytest.mark.slow
X = ExecutionStatus
DID_NOT_HOLD = {str(X.FAILED), str(X.ROLLED_BACK), str(X.ROLLBACK_FAILED), str(X.VERIFY_FAILED)}
AUTO_POWER = [{"path": "Device.WiFi.Radio.1.TransmitPower", "value": -1}]


def _slice(rt: Any) -> tuple[list[str], list[str]]:
    from gateward.seed import twin_for

    twin = twin_for(rt)
    with rt.store.read() as s:
        rows = s.execute(select(DeviceRow.id, DeviceRow.model, DeviceRow.firmware).order_by(DeviceRow.id)).all()
    vantec = [d for d, m, fw in rows if m == "CGW-3400" and fw == "7.4.1-beta3" and twin.state(d).presence_flags()[0]]
    prpl = [d for d, m, _ in rows if m == "PX-7000" and twin.state(d).presence_flags()[0]]
    return vantec, prpl


def _downgrade(rt: Any, device_ids: list[str]) -> None:
    """The device now runs 7.2.6 (its tree, its lists); Gateward's inventory was not told."""
    from gateward.seed import take_snapshots, twin_for

    def to_72(st: Any) -> None:
        st.set_model("vantec-cgw3400-7.2")
        st.set_values({"Device.DeviceInfo.SoftwareVersion": "7.2.6-CGW3400"})

    twin = twin_for(rt)
    for d in device_ids:
        twin.transact(d, to_72)
    take_snapshots(rt, device_ids)


def test_a_rehearsal_names_the_devices_the_run_then_fails_and_leaves_unreached(ert: Any) -> None:
    from gateward.seed import twin_for

    vantec, prpl = _slice(ert)
    assert len(vantec) >= 6 and len(prpl) >= 6
    svc = Campaigns(ert)
    st = approved(ert, svc, name="auto power", target={"devices": vantec + prpl}, changes=AUTO_POWER,
                  gate={"failure_threshold": 1.0, "min_executed": 1, "max_unreached": 1.0})
    cid = st["id"]
    clean = svc.rehearse(cid, who(ert, "bob"))
    assert clean["clean"] and clean["counts"]["fail"] == 0, clean["failures"]
    # The world moves after the approval: every other Vantec after the first goes back to 7.2.6,
    # two PX-7000s drop off the network.
    downgraded = vantec[1::2]
    _downgrade(ert, downgraded)
    gone = prpl[2:4]
    for d in gone:
        twin_for(ert).inject(d, "offline")

    r = svc.rehearse(cid, who(ert, "bob"))
    assert not r["clean"]
    assert set(r["failures"]) == set(downgraded)
    assert all("TransmitPowerSupported" in why for why in r["failures"].values())
    assert set(r["offline"]) == set(gone)
    assert set(r["inventory_drift"]) == set(downgraded)
    by_class = {(k["model"], k["firmware"]): k for k in r["classes"]}
    assert by_class[("CGW-3400", "7.2.6-CGW3400")]["land"] == {"fail": len(downgraded)}
    assert by_class[("CGW-3400", "7.4.1-beta3")]["verify"] == {"ok": len(vantec) - len(downgraded)}
    assert [d["path"] for d in r["drift"]] == ["Device.WiFi.Radio.1.TransmitPower"]
    assert r["rollback"]["restorable"] == ["Device.WiFi.Radio.1.TransmitPower"]
    assert r["timing"]["rings"][0]["devices"] == st["plan"]["sizes"][0] and r["timing"]["seconds"] > 0
    assert svc.rehearsal_of(cid)["rehearsal"]["failures"] == r["failures"]  # stored with the campaign

    svc.start(cid, who(ert, "dave"))
    out = drive(svc, cid)
    assert out["state"] == "completed", out["halt_reason"]
    with ert.store.read() as s:
        status = dict(s.execute(select(ExecutionRow.device_id, ExecutionRow.status).where(
            ExecutionRow.proposal_id == out["proposal"]["id"])).all())
    failed = {d for d, x in status.items() if x in DID_NOT_HOLD}
    unreached = {d for d in vantec + prpl if status.get(d) in (None, str(X.PENDING))}
    assert failed == set(r["failures"])  # the same devices, no more, no fewer
    assert unreached == set(r["offline"])


def test_policy_can_require_a_clean_rehearsal_before_a_wide_campaign_starts(ert: Any, tmp_path: Any) -> None:
    """The pack's blast radius for a rehearsal is lowered to this slice (its data, not its rules)."""
    import json
    import shutil
    from pathlib import Path

    import policies
    from policies.engine import EmbeddedRegoEngine

    data_dir = tmp_path / "data"
    shutil.copytree(Path(policies.__file__).parent / "data", data_dir)
    rollout = json.loads((data_dir / "rollout.json").read_text())
    (data_dir / "rollout.json").write_text(json.dumps({**rollout, "rehearsal_min_targets": 10}))
    ert.lifecycle.policy = EmbeddedRegoEngine(data_dir=str(data_dir))
    vantec, prpl = _slice(ert)
    svc = Campaigns(ert)
    st = approved(ert, svc, name="auto power", target={"devices": vantec + prpl}, changes=AUTO_POWER)
    assert any("rehearsal" in o for o in svc.preview(st["id"])["plan"]["policy_obligations"])
    cid = st["id"]
    with pytest.raises(Conflict, match="requires a clean rehearsal first"):
        svc.start(cid, who(ert, "dave"))
    _downgrade(ert, vantec[1:2])
    assert not svc.rehearse(cid, who(ert, "bob"))["clean"]
    with pytest.raises(Conflict, match="predicts 1 failure"):
        svc.start(cid, who(ert, "dave"))
    from gateward.seed import take_snapshots, twin_for

    twin_for(ert).transact(vantec[1], lambda st: (st.set_model("vantec-cgw3400-7.4"),
                                                  st.restore_paths(["Device.DeviceInfo.SoftwareVersion"])))
    take_snapshots(ert, vantec[1:2])
    assert svc.rehearse(cid, who(ert, "bob"))["clean"]
    assert svc.start(cid, who(ert, "dave"))["state"] == "running"


def _rehearsal_required(ert: Any, tmp_path: Any) -> None:
    """The pack's blast radius for a rehearsal lowered to 10 targets (its data, not its rules)."""
    import json
    import shutil
    from pathlib import Path

    import policies
    from policies.engine import EmbeddedRegoEngine

    data_dir = tmp_path / "data"
    shutil.copytree(Path(policies.__file__).parent / "data", data_dir)
    rollout = json.loads((data_dir / "rollout.json").read_text())
    (data_dir / "rollout.json").write_text(json.dumps({**rollout, "rehearsal_min_targets": 10}))
    ert.lifecycle.policy = EmbeddedRegoEngine(data_dir=str(data_dir))


def test_a_start_after_ten_targets_changed_firmware_is_refused_naming_them(ert: Any, tmp_path: Any) -> None:
    """A clean rehearsal is valid for the targets as it saw them. Ten of them then change firmware
    (the ACS upgraded them; its sync told the inventory): the start names exactly those ten, and
    the next rehearsal says they changed since the last."""
    from sqlalchemy import update

    _rehearsal_required(ert, tmp_path)
    vantec, prpl = _slice(ert)
    targets = vantec + prpl
    svc = Campaigns(ert)
    st = approved(ert, svc, name="auto power", target={"devices": targets}, changes=AUTO_POWER)
    cid = st["id"]
    first = svc.rehearse(cid, who(ert, "bob"))
    assert first["clean"] and first["changed_since_last"] == [] and len(first["state"]) == len(targets)
    moved = targets[1::2][:10]
    assert len(moved) == 10
    with ert.store.write() as s:
        s.execute(update(DeviceRow).where(DeviceRow.id.in_(moved)).values(firmware="9.9.9-acs"))
    with pytest.raises(Conflict) as refused:
        svc.start(cid, who(ert, "dave"))
    assert "10 target(s) changed since the rehearsal" in str(refused.value)
    assert all(d in str(refused.value) for d in moved)
    again = svc.rehearse(cid, who(ert, "bob"))
    assert set(again["changed_since_last"]) == set(moved) and again["counts"]["changed_since_last"] == 10
    assert set(again["inventory_drift"]) >= set(moved)  # their trees still report the old firmware
    assert again["clean"]
    assert svc.start(cid, who(ert, "dave"))["state"] == "running"  # rehearsed as they are now


def test_old_or_missing_trees_are_read_from_the_device_or_not_trusted(ert: Any) -> None:
    """A tree older than the rehearsal trusts (24 h) is refreshed from the device — the paths the
    change touches, through the read-only path — and one that cannot be read is not rehearsed,
    saying how old it is; the report gives the trees' ages."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from campaigns import rehearsal
    from core.store.schema import ParameterSnapshotRow
    from gateward.seed import twin_for

    vantec, prpl = _slice(ert)
    old_online, old_offline = vantec[0], prpl[0]
    with ert.store.write() as s:
        s.execute(update(ParameterSnapshotRow).where(ParameterSnapshotRow.device_id.in_([old_online, old_offline]))
                  .values(taken_at=datetime.now(UTC) - timedelta(days=3)))
    svc = Campaigns(ert)
    st = approved(ert, svc, name="auto power", target={"devices": vantec + prpl}, changes=AUTO_POWER,
                  gate={"failure_threshold": 1.0, "min_executed": 1, "max_unreached": 1.0})
    twin_for(ert).inject(old_offline, "offline")
    r = svc.rehearse(st["id"], who(ert, "bob"))
    assert r["trees"]["refreshed"] == [old_online] and r["trees"]["too_old"] == [old_offline]
    assert r["trees"]["oldest_h"] >= 72 and r["trees"]["max_age_h"] == rehearsal.MAX_TREE_AGE_H
    assert old_online not in r["unknown"] and "older than" in r["unknown"][old_offline]
    assert r["timing"]["device_s"] == rehearsal.SIM_DEVICE_S and "measured" in r["timing"]["device_s_from"]


def test_a_rehearsal_of_many_targets_runs_as_a_job_not_inside_the_request(ert: Any,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """From ``JOB_MIN_TARGETS`` (10,000; lowered here) the request queues the rehearsal and answers
    at once; the worker's task (``Orchestrator.run_rehearsal``) stores the report."""
    from campaigns import rehearsal

    class Deferred:
        def __init__(self) -> None:
            self.calls: list[tuple[str, str]] = []

        def defer_rehearsal(self, cid: str, by: str) -> int:
            self.calls.append((cid, by))
            return 41

    monkeypatch.setattr(rehearsal, "JOB_MIN_TARGETS", 5)
    vantec, prpl = _slice(ert)
    queue = Deferred()
    svc = Campaigns(ert)
    st = approved(ert, svc, name="auto power", target={"devices": vantec + prpl}, changes=AUTO_POWER)
    svc.orch.queue = queue  # type: ignore[assignment]
    out = svc.rehearse(st["id"], who(ert, "bob"))
    assert out["state"] == "queued" and out["job"] == 41 and queue.calls == [(st["id"], "bob")]
    assert svc.rehearsal_of(st["id"])["rehearsal"] is None
    assert svc._get(st["id"]).plan["rehearsal_job"]["state"] == "queued"
    svc.orch.run_rehearsal(st["id"], "bob")
    done = svc.rehearsal_of(st["id"])
    assert done["current"] and done["rehearsal"]["by"] == "bob" and done["rehearsal"]["clean"]
    assert "rehearsal_job" not in svc._get(st["id"]).plan
