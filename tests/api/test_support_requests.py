"""Support agents' requests (issue 39 item 5): a rollback of an applied change is a new proposal
in the approvers' queue — nothing touches the device until an approver says yes — and an outage
on the caller's upstream is shown and escalated as one case for the PON port."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, pick, radio_of


def _applied_channel_change(api: Api) -> tuple[str, str, int, int, int]:
    dev = pick(api)["id"]
    idx, before = radio_of(api, dev, "5GHz")
    after = 36 if before != 36 else 40
    r = api.post("/api/proposals", {"intent": "move 5 GHz off a crowded channel", "targets": [dev],
                                    "changes": [{"path": f"Device.WiFi.Radio.{idx}.AutoChannelEnable", "value": False},
                                                {"path": f"Device.WiFi.Radio.{idx}.Channel", "value": after}]})
    assert r.status_code == 201 and r.json()["proposal"]["state"] == "approved", r.text
    pid = r.json()["proposal"]["id"]
    assert api.post(f"/api/proposals/{pid}/apply").json()["proposal"]["state"] == "done"
    assert radio_of(api, dev, "5GHz")[1] == after
    return dev, pid, idx, before, after


def test_a_rollback_request_waits_for_an_approver_and_then_restores(api: Api) -> None:
    dev, pid, idx, before, after = _applied_channel_change(api)
    # alice (support agent) may not roll back a done proposal herself ...
    assert api.post(f"/api/proposals/{pid}/rollback", {"reason": "worse since"}).status_code == 403
    # ... she asks for it: a new proposal, routed to an approver, the device untouched.
    r = api.post("/api/support/rollback-requests", {"proposal_id": pid, "device_id": dev,
                                                     "reason": "caller says Wi-Fi is worse since the change"})
    assert r.status_code == 201, r.text
    req: dict[str, Any] = r.json()["proposal"]
    assert req["state"] == "awaiting_approval" and req["source"] == "rollback_request"
    assert req["intent"].startswith(f"roll back {pid} on {dev}")
    assert {c["path"]: c["value"] for c in req["changes"]}[f"Device.WiFi.Radio.{idx}.Channel"] == before
    assert radio_of(api, dev, "5GHz")[1] == after, "a request wrote the device"
    detail = api.get(f"/api/proposals/{req['id']}").json()
    asked = [i["code"] for a in detail["decision"]["approvals_required"] for i in a["items"]]
    assert "approval.rollback_request" in asked
    queue = api.get("/api/proposals", params={"state": "awaiting_approval"}, user="bob").json()["items"]
    assert req["id"] in [p["id"] for p in queue]
    # an approver approves; the requester applies; the old channel is back
    assert api.post(f"/api/proposals/{req['id']}/approve", {"hash": req["hash"], "comment": "ok"},
                    user="bob").status_code == 200
    assert api.post(f"/api/proposals/{req['id']}/apply").json()["proposal"]["state"] == "done"
    assert radio_of(api, dev, "5GHz")[1] == before


def test_a_rollback_request_needs_a_done_change_a_target_and_a_reason(api: Api) -> None:
    dev, pid, *_ = _applied_channel_change(api)
    other = pick(api)["id"]
    assert api.post("/api/support/rollback-requests", {"proposal_id": pid, "device_id": other,
                                                       "reason": "x"}).status_code == 404
    assert api.post("/api/support/rollback-requests", {"proposal_id": pid, "device_id": dev,
                                                       "reason": "   "}).status_code == 422
    assert api.post("/api/support/rollback-requests", {"proposal_id": "p-nope", "device_id": dev,
                                                       "reason": "x"}).status_code == 404
    pending = api.post("/api/proposals", {"intent": "power", "targets": [other], "changes": [
        {"path": "Device.WiFi.Radio.1.TransmitPower", "value": 50}]}).json()["proposal"]
    r = api.post("/api/support/rollback-requests", {"proposal_id": pending["id"], "device_id": other, "reason": "x"})
    assert r.status_code == 409 and "only an applied (done) change" in r.json()["detail"]


def _outage(api: Api) -> tuple[str, str]:
    """A home whose PON port has gone bad: every other home on it reports its WAN down now (the
    40-home test fleet has none on the simulator's outage port)."""
    from sqlalchemy import insert, select

    from core.kernel.models import utcnow
    from core.store.schema import DeviceEventRow, DeviceRow

    with api.rt.store.read() as s:
        rows = list(s.execute(select(DeviceRow.id, DeviceRow.upstream_id).where(DeviceRow.upstream_id.is_not(None))))
    by_port: dict[str, list[str]] = {}
    for dev_id, port in rows:
        if "-pon-" not in port:  # a PON port (cable homes hang off a CMTS)
            continue
        by_port.setdefault(port, []).append(dev_id)
    port, homes = max(by_port.items(), key=lambda kv: len(kv[1]))
    assert len(homes) >= 4, by_port
    dev = homes[0]
    with api.rt.store.write() as s:
        s.execute(insert(DeviceEventRow), [{"device_id": d, "ts": utcnow(), "kind": "wan_down", "data": {}}
                                           for d in homes[1:]])
    return dev, port


def test_an_outage_is_shown_and_escalated_once_for_the_pon_port(api: Api) -> None:
    dev, port = _outage(api)
    up = api.get(f"/api/support/devices/{dev}/upstream").json()
    assert up["upstream_id"] == port and up["suspected_outage"] is True and up["case"] is None
    assert [n["kind"] for n in up["chain"]][:2] == ["pon_port", "olt"]
    r = api.post(f"/api/support/devices/{dev}/escalate", {"note": "three callers from this street"})
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["device_id"] == port and case["problem"] == "upstream_outage"
    assert case["status"] == "escalated" and case["added"] is False and "escalated by alice" in case["resolution"]
    # a second escalation adds to the open case; the device's view names it
    again = api.post(f"/api/support/devices/{dev}/escalate", {"note": "a fourth"}, user="alice").json()
    assert again["id"] == case["id"] and again["added"] is True and len(again["evidence"]["escalations"]) == 2
    assert api.get(f"/api/support/devices/{dev}/upstream").json()["case"]["id"] == case["id"]
    assert api.get(f"/api/remediation/cases/{case['id']}").json()["problem"] == "upstream_outage"
    # an auditor reads but does not escalate
    assert api.post(f"/api/support/devices/{dev}/escalate", {"note": ""}, user="erin").status_code == 403
    # the network team fixes it and closes the case: the device's view no longer names it
    r = api.post(f"/api/remediation/cases/{case['id']}/close", {"reason": "OLT line card replaced"}, user="bob")
    assert r.status_code == 200 and r.json()["status"] == "closed", r.text
    assert api.get(f"/api/support/devices/{dev}/upstream").json()["case"] is None


def test_a_healthy_upstream_says_so(api: Api) -> None:
    dev = pick(api, lambda d: not api.get(f"/api/support/devices/{d['id']}/upstream").json()["degraded_siblings"])["id"]
    up = api.get(f"/api/support/devices/{dev}/upstream").json()
    assert up["suspected_outage"] is False and up["case"] is None
