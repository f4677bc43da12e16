"""A campaign end to end through the lifecycle, driven inline (no queue): rings, gate, halt,
rollback, pause/resume, manual promotion, vanished devices, firmware — on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from campaigns.schema import CampaignDeviceRow
from core.kernel.errors import Conflict, Forbidden, Invalid
from core.kernel.models import ProposalState
from core.store.schema import DeviceLockRow
from tests.campaigns.helpers import PATH, approved, drive, value, who, writes


def _ring_of(rt: Any, cid: str) -> dict[str, int]:
    with rt.store.read() as s:
        return dict(s.execute(select(CampaignDeviceRow.device_id, CampaignDeviceRow.ring).where(
            CampaignDeviceRow.campaign_id == cid)).all())


def test_selector_mistakes_are_refused(crt: Any, svc: Any) -> None:
    base = {"name": "x", "changes": [{"path": PATH, "value": False}], "emergency": True}
    with pytest.raises(Invalid, match="matches no device"):
        svc.create({**base, "target": {"model": "NO-SUCH-MODEL"}}, who(crt, "dave"))
    with pytest.raises(Invalid, match="every device of the fleet"):
        svc.create(base, who(crt, "dave"))
    with pytest.raises(Invalid, match="looser than policy"):
        svc.create({**base, "target": {"all_fleet": True}, "canary_pct": 40, "rings": [100]}, who(crt, "dave"))
    with pytest.raises(Forbidden):
        svc.create({**base, "target": {"all_fleet": True}}, who(crt, "erin"))


def test_campaign_rolls_out_ring_by_ring_and_changes_each_device_once(crt: Any, svc: Any) -> None:
    st = approved(crt, svc)
    assert st["plan"]["sizes"][0] >= 5 and sum(st["plan"]["sizes"]) == st["devices"]
    with pytest.raises(Conflict):
        svc.resume(st["id"], who(crt, "carol"))
    svc.start(st["id"], who(crt, "dave"))
    done = drive(svc, st["id"])
    assert done["state"] == "completed", (done["halt_reason"], done["error"])
    assert done["proposal"]["state"] == "done"
    w = writes(crt, done["proposal"]["id"])
    reached = done["progress"].get("verified", 0)
    assert reached == sum(w.values()) and set(w.values()) == {1}  # every verified device written exactly once
    assert all(value(crt, d) is False for d in list(w)[:10])
    finals = [a for a in done["analyses"] if a["final"]]
    assert [a["ring"] for a in finals] == list(range(len(st["plan"]["sizes"])))
    assert all(a["outcome"] == "pass" for a in finals)
    with crt.store.read() as s:
        assert s.scalar(select(func.count()).select_from(DeviceLockRow)) == 0


def test_gate_breach_halts_and_rolls_back_every_changed_device(crt: Any, svc: Any) -> None:
    from gateward.seed import twin_for

    st = approved(crt, svc, gate={"min_executed": 5})
    rings = _ring_of(crt, st["id"])
    later = [d for d, r in rings.items() if r == 2]
    twin = twin_for(crt)
    for d in later[: max(6, len(later) // 3)]:
        twin.inject(d, "fault_on_set", code=9002)
    before = {d: value(crt, d) for d in rings}
    svc.start(st["id"], who(crt, "dave"))
    out = drive(svc, st["id"])
    assert out["state"] == "aborted", out
    assert "failure rate" in out["halt_reason"]
    assert out["proposal"]["state"] == "rolled_back"
    assert any(a["outcome"] == "fail" for a in out["analyses"])
    assert {d: value(crt, d) for d in rings} == before  # every device back as it was
    assert set(writes(crt, out["proposal"]["id"]).values()) <= {1}


def test_person_pauses_resumes_and_promotes_by_hand(crt: Any, svc: Any) -> None:
    st = approved(crt, svc, promotion={"mode": "manual"})
    cid = st["id"]
    with pytest.raises(Forbidden):
        svc.pause(cid, who(crt, "erin"))
    svc.start(cid, who(crt, "alice"))
    first = drive(svc, cid)
    assert first["state"] == "running" and first["ring_state"] == "waiting" and first["ring"] == 0
    svc.pause(cid, who(crt, "alice"), "customer calls")
    paused = svc.status(cid)
    assert paused["state"] == "paused" and "customer calls" in paused["halt_reason"]
    with pytest.raises(Forbidden):
        svc.resume(cid, who(crt, "alice"))  # a support agent may stop a rollout, not restart it
    with pytest.raises(Conflict):
        svc.promote(cid, who(crt, "carol"))
    svc.resume(cid, who(crt, "carol"))
    svc.promote(cid, who(crt, "carol"))
    nxt = drive(svc, cid)
    assert nxt["ring"] == 1 and nxt["ring_state"] == "waiting"
    svc.promote(cid, who(crt, "bob"))
    svc.promote(cid, who(crt, "bob")) if drive(svc, cid)["ring_state"] == "waiting" else None
    assert drive(svc, cid)["state"] == "completed"


def test_vanished_devices_are_swept_then_pause_loudly(crt: Any, svc: Any) -> None:
    from gateward.seed import twin_for

    st = approved(crt, svc, gate={"max_unreached": 0.05}, retry_unreached=1)
    rings = _ring_of(crt, st["id"])
    ring1 = [d for d, r in rings.items() if r == 1]
    twin = twin_for(crt)
    gone = ring1[: max(2, len(ring1) // 3)]
    for d in gone:
        twin.inject(d, "offline")
    svc.start(st["id"], who(crt, "dave"))
    out = drive(svc, st["id"])
    assert out["state"] == "paused", out
    assert "unreachable" in out["halt_reason"] and out["ring"] == 1
    for d in gone:
        twin.clear(d)
    svc.resume(out["id"], who(crt, "carol"))  # the person accepts the ring; the rest goes on
    end = drive(svc, out["id"])
    assert end["state"] == "completed"
    assert "never reached" in (end["error"] or "")  # loud, not a silent partial rollout
    assert end["progress"]["not_started"] == len(gone)


def test_abort_by_a_person_restores_and_a_new_campaign_is_refused_start(crt: Any, svc: Any) -> None:
    st = approved(crt, svc, promotion={"mode": "manual"})
    cid = st["id"]
    svc.start(cid, who(crt, "dave"))
    drive(svc, cid)
    changed = writes(crt, st["proposal"]["id"])
    assert changed and all(value(crt, d) is False for d in changed)
    with pytest.raises(Invalid, match="reason"):
        svc.abort(cid, who(crt, "bob"), " ")
    svc.abort(cid, who(crt, "bob"), "wrong SSID policy")
    out = drive(svc, cid)
    assert out["state"] == "aborted" and out["proposal"]["state"] == "rolled_back"
    assert all(value(crt, d) is not False or d not in changed for d in changed)
    with pytest.raises(Conflict):
        svc.start(cid, who(crt, "dave"))


def test_firmware_campaign_upgrades_and_updates_the_inventory(crt: Any, svc: Any) -> None:
    from core.store import repo

    old, new = "V3R017C10S105", "V3R017C10S120"
    with crt.store.read() as s:
        devs, _ = repo.list_devices(s, model="HG8020-L", firmware=old, limit=500)
    assert devs, "fleet without HG8020-L on the old firmware"
    st = approved(crt, svc, changes=[], target={"model": "HG8020-L", "firmware": old},
                  firmware={"url": f"https://firmware.gateward.example/huawei/{new}.bin", "version": new})
    assert st["kind"] == "firmware"
    svc.start(st["id"], who(crt, "dave"))
    out = drive(svc, st["id"])
    assert out["state"] == "completed", (out["halt_reason"], out["error"])
    with crt.store.read() as s:
        after = repo.get_devices(s, [d.id for d in devs])
    reached = [d for d in after.values() if d.firmware == new]
    assert len(reached) == out["progress"]["verified"] > 0  # inventory follows verified upgrades
    d = reached[0]
    got = crt.router.reader(d).read(d, ["Device.DeviceInfo.SoftwareVersion"])["Device.DeviceInfo.SoftwareVersion"]
    assert got.value == new
    rereg = [a["metrics"]["reregistered"] for a in out["analyses"] if a["final"] and a["metrics"]["verified"]]
    assert rereg and all(r is not None and r > 0 for r in rereg)  # re-registration was checked live


def test_bricking_firmware_fails_the_canary(crt: Any, svc: Any) -> None:
    from core.store import repo
    from gateward.seed import twin_for

    old, new = "V3R017C10S105", "V3R017C10S120"
    with crt.store.read() as s:
        devs, _ = repo.list_devices(s, model="HG8020-L", firmware=old, limit=500)
    twin = twin_for(crt)
    for d in devs:
        twin.inject(d.id, "download_bricks")
    st = approved(crt, svc, changes=[], target={"model": "HG8020-L", "firmware": old}, gate={"min_executed": 1},
                  firmware={"url": f"https://firmware.gateward.example/huawei/{new}.bin", "version": new})
    svc.start(st["id"], who(crt, "dave"))
    out = drive(svc, st["id"])
    assert out["state"] in ("aborted", "failed", "paused"), out["state"]
    assert out["rings_detail"][0]["failed"] >= 1
    assert all(r["verified"] + r["failed"] == 0 for r in out["rings_detail"][1:])  # nothing past the canary


def test_recovery_leaves_a_running_campaign_alone(crt: Any, svc: Any) -> None:
    st = approved(crt, svc, promotion={"mode": "manual"})
    svc.start(st["id"], who(crt, "dave"))
    drive(svc, st["id"])  # canary done, proposal applying, no lock held between batches
    before = writes(crt, st["proposal"]["id"])
    assert crt.lifecycle.recover() == []  # `gateward recover` must not roll a live rollout back
    assert crt.lifecycle.get(st["proposal"]["id"]).state is ProposalState.APPLYING
    assert all(value(crt, d) is False for d in before)
