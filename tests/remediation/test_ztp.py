"""Zero-touch provisioning: a factory reset or first contact (simulator log, USP OnBoardRequest /
Boot!, GenieACS 0 BOOTSTRAP) opens a provisioning case; the baseline profile goes through the same
gates as any change; conflicting profiles are reported and hold the device back; replays do nothing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from brain.remediation.ingest import Ingestor, Signal, TwinSource, twin_signal
from brain.remediation.profiles import ProfileSet, fleet_conflicts, load_profiles
from core.kernel.errors import Invalid
from core.kernel.models import Change, Evidence, ProposalDraft, ProposalState, utcnow
from core.store import repo
from core.users import get_actor
from gateward.seed import twin_for
from testing.grants import grant
from tests.remediation.conftest import case_of, make_service

S = ProposalState


def _devices(rt: Any) -> list[Any]:
    with rt.store.read() as s:
        devs, _ = repo.list_devices(s, limit=1000)
    return devs


def _factory_reset(rt: Any, d: Any) -> None:
    """A reset from outside Gateward: through a clone of the runtime's adapter (same fleet), which
    the runtime did not bind to its lifecycle, so a test authority's grant is accepted there."""
    outside = rt.router.writer(d).with_timeout(None)
    with grant(outside, d, commands=["factory_reset"], proposal_id="p-test-reset", proposal_hash="") as g:
        outside.operate(d, "factory_reset", {}, g)


def _make_business(rt: Any, d: Any) -> Any:
    from sqlalchemy import update

    from core.store.schema import DeviceRow

    with rt.store.write() as s:
        s.execute(update(DeviceRow).where(DeviceRow.id == d.id).values(service="business"))
    return next(x for x in _devices(rt) if x.id == d.id)


def test_factory_reset_reprovisions_through_the_gates(rt: Any, svc: Any) -> None:
    d = _make_business(rt, next(x for x in _devices(rt) if str(x.protocol) == "cwmp"))
    ing = Ingestor(svc)
    src = TwinSource(twin_for(rt))
    assert ing.poll(src).signals == 0  # the first poll starts at the end of the log
    _factory_reset(rt, d)
    rep = ing.poll(src)
    assert rep.ztp_opened == 1 and rep.events >= 1
    c = case_of(svc, d.id, "provision")
    assert c["kind"] == "ztp" and c["evidence"]["trigger"] == "factory_reset"
    svc.drain(timeout_s=30)
    c = case_of(svc, d.id, "provision")
    assert c["status"] == "applied", c["resolution"]
    (pid,) = c["proposal_ids"]
    p = rt.lifecycle.get(pid)
    assert p.state is S.DONE and p.source == "ztp" and p.author == "remediator"
    assert p.action_type == "wifi.channel_change"
    assert {(ch.path, ch.value) for ch in p.changes} == {("Device.WiFi.Radio.2.Channel", 44)}
    assert {e.data["id"] for e in p.evidence if e.kind == "profile"} == {"baseline", "business", "cwmp-management"}
    with rt.store.read() as s:
        rec = repo.latest_decision(s, pid)
        assert rec is not None and rec.allow and not rec.result["approvals_required"]
        assert {x["id"] for x in rec.input["context"]["profiles"]} == {"baseline", "business", "cwmp-management"}
    assert rt.router.reader(d).read(d, ["Device.WiFi.Radio.2.Channel"])["Device.WiFi.Radio.2.Channel"].value == 44
    # the same events replayed (cursor lost): nothing new, the device is not provisioned twice
    svc.tick()
    again = ing.ingest([twin_signal("bootstrap", d.id, utcnow() - timedelta(hours=1), {"cause": "factory_reset"})
                        or Signal("bootstrap", utcnow(), d.id)], detect=False)
    assert again.ztp_opened == 0


def test_compliant_device_is_closed_without_a_proposal(rt: Any, svc: Any) -> None:
    d = next(x for x in _devices(rt) if x.service != "business")
    svc.trigger_ztp(d.id, "bootstrap", source="test")
    svc.drain(timeout_s=30)
    c = case_of(svc, d.id, "provision")
    assert c["status"] == "closed" and "already at its baseline" in c["resolution"] and not c["proposal_ids"]


def _write(dirpath: Path, pid: str, match: dict[str, Any], params: dict[str, Any], version: int = 1) -> None:
    (dirpath / f"{pid}.json").write_text(json.dumps({"id": pid, "version": version, "match": match,
                                                     "parameters": params}))


def test_conflicting_profiles_are_reported_and_hold_the_device_back(rt: Any, tmp_path: Path) -> None:
    d = next(x for x in _devices(rt) if str(x.protocol) == "cwmp")
    _write(tmp_path, "eu-radio", {"regions": [d.region]}, {"Device.WiFi.Radio.2.Channel": 44,
                                                           "Device.WiFi.Radio.2.AutoChannelEnable": False})
    _write(tmp_path, "model-radio", {"models": [d.model]}, {"Device.WiFi.Radio.2.Channel": 36,
                                                            "Device.WiFi.Radio.2.AutoChannelEnable": False}, 4)
    _write(tmp_path, "other", {"models": ["nothing-like-it"], "regions": ["ZZ"]}, {"Device.WiFi.Radio.2.Channel": 149})
    ps = load_profiles(tmp_path)
    pairs = ps.potential_conflicts()
    assert [(a.id, b.id, c.path) for a, b, c in pairs] == [("eu-radio", "model-radio", "Device.WiFi.Radio.2.Channel")]
    with rt.store.read() as s:
        fleet = fleet_conflicts(ps, s)
    assert any(f["model"] == d.model and f["region"] == d.region and f["devices"] >= 1 for f in fleet)
    svc = make_service(rt)
    svc.profiles = ps
    before = rt.router.reader(d).read(d, ["Device.WiFi.Radio.2.Channel"])["Device.WiFi.Radio.2.Channel"].value
    svc.trigger_ztp(d.id, "factory_reset", source="test")
    svc.drain(timeout_s=30)
    c = case_of(svc, d.id, "provision")
    assert c["status"] == "escalated" and "profile conflict" in c["resolution"]
    assert "eu-radio sets 44" in c["resolution"] and "model-radio sets 36" in c["resolution"]
    assert not c["proposal_ids"]
    assert rt.router.reader(d).read(d, ["Device.WiFi.Radio.2.Channel"])["Device.WiFi.Radio.2.Channel"].value == before


def test_policy_precedence_denies_a_change_against_a_profile(rt: Any, tmp_path: Path) -> None:
    """Defence in depth: even if the job's own conflict check were bypassed, a proposal that carries
    a profile it disagrees with is denied by policy, naming the profile."""
    d = next(x for x in _devices(rt) if str(x.protocol) == "cwmp")
    _write(tmp_path, "a", {}, {"Device.WiFi.Radio.2.Channel": 44})
    _write(tmp_path, "b", {}, {"Device.WiFi.Radio.2.Channel": 36}, 7)
    ps = load_profiles(tmp_path)
    draft = ProposalDraft(intent="provision", targets=[d.id], source="ztp", action_type="wifi.channel_change",
                          changes=[Change(path="Device.WiFi.Radio.2.Channel", value=44),
                                   Change(path="Device.WiFi.Radio.2.AutoChannelEnable", value=False)],
                          evidence=[Evidence(kind="profile", summary=p.id, data=p.evidence()) for p in ps.profiles])
    p = rt.lifecycle.submit(draft, get_actor(rt.store, "remediator"))
    assert p.state is S.DENIED and "profile b v7 sets 36" in (p.error or "")


def test_unknown_device_first_contact_is_escalated(svc: Any) -> None:
    rep = Ingestor(svc).ingest([Signal("onboard", utcnow(), identity={"oui": "ABCDEF", "serial": "NEW0001",
                                                                      "product_class": "PX7000"},
                                       ztp="onboard", source="usp")], detect=False)
    assert rep.unknown == 1 and rep.ztp_opened == 1
    c = case_of(svc, "ABCDEF-PX7000-NEW0001", "provision")
    assert c["status"] == "escalated" and "not in the inventory" in c["resolution"]


def test_bad_profiles_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, "x", {}, {"Device.WiFi.AccessPoint.1.Security.KeyPassphrase": "hunter22hunter22"})
    with pytest.raises(Invalid, match="secret"):
        load_profiles(tmp_path)
    (tmp_path / "x.json").unlink()
    _write(tmp_path, "y", {}, {"Device.Nope.Thing": 1})
    with pytest.raises(Invalid, match="not in the TR-181 data model"):
        load_profiles(tmp_path)
    (tmp_path / "y.json").unlink()
    (tmp_path / "z.json").write_text("{")
    with pytest.raises(Invalid, match="malformed JSON"):
        load_profiles(tmp_path)
    with pytest.raises(Invalid, match="defined twice"):
        ProfileSet([load_profiles().profiles[0], load_profiles().profiles[0]])


def test_shipped_profiles_have_no_conflicts() -> None:
    assert load_profiles().potential_conflicts() == []


@pytest.mark.slow
def test_genieacs_bootstrap_opens_a_provisioning_case(rt: Any, svc: Any) -> None:
    from brain.remediation.ingest import GenieAcsSource
    from executors.genieacs.nbi import NbiClient
    from testing.genieacs.fake_nbi import FakeNbi

    d = next(x for x in _devices(rt) if str(x.protocol) == "cwmp" and str(x.root) == "Device.")
    fake = FakeNbi(twin_for(rt), tick_s=None)
    fake.start()
    client = NbiClient(fake.url, timeout_s=10)
    try:
        ing = Ingestor(svc)
        src = GenieAcsSource(client)
        assert ing.poll(src).signals == 0  # first poll: remember the position only
        before = datetime.fromisoformat(ing.position("genieacs").replace("Z", "+00:00"))
        assert before is not None
        fake.inform(d.id, ["2 PERIODIC"])
        assert ing.poll(src).ztp_opened == 0
        fake.inform(d.id, ["0 BOOTSTRAP", "1 BOOT"])
        rep = ing.poll(src)
        assert rep.ztp_opened == 1
        c = case_of(svc, d.id, "provision")
        assert c["evidence"]["source"] == "genieacs" and c["evidence"]["trigger"] == "bootstrap"
        assert ing.poll(src).ztp_opened == 0  # the cursor moved
    finally:
        client.close()
        fake.stop()
