"""Proposals through the API: the lifecycle's gates, roles and separation of duties hold on the
server, secrets never leave, and every state the console shows is the store's own."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from tests.api.conftest import Api, pick, radio_of

PASSPHRASE = "Harbour-Lantern-7731"


def _channel_change(api: Api, device: str, user: str = "alice") -> dict[str, Any]:
    idx, cur = radio_of(api, device, "5GHz")
    target = 36 if cur != 36 else 40
    r = api.post("/api/proposals", {
        "intent": "move 5 GHz off a crowded channel", "targets": [device],
        "changes": [{"path": f"Device.WiFi.Radio.{idx}.AutoChannelEnable", "value": False},
                    {"path": f"Device.WiFi.Radio.{idx}.Channel", "value": target}],
        "rationale": "neighbours crowd the current channel",
        "evidence": [{"kind": "neighbours", "summary": "6 APs on the channel"}]}, user=user)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _secret_change(api: Api, device: str, user: str = "alice") -> dict[str, Any]:
    r = api.post("/api/proposals", {
        "intent": "subscriber asked for a new Wi-Fi passphrase", "targets": [device],
        "changes": [{"path": "Device.WiFi.AccessPoint.1.Security.KeyPassphrase", "value": PASSPHRASE}],
        "rationale": "caller verified"}, user=user)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_allowed_change_is_applied_and_verified(api: Api) -> None:
    dev = pick(api)["id"]
    d = _channel_change(api, dev)
    p = d["proposal"]
    assert p["state"] == "approved" and p["source"] == "api"
    assert d["decision"]["allow"] is True and d["decision"]["current"] is True
    assert d["decision"]["explanation"].startswith(f"Proposal {p['id']}")
    lines = d["preview"]["devices"][0]["lines"]
    assert [ln["path"].rsplit(".", 1)[1] for ln in lines] == ["AutoChannelEnable", "Channel"]
    assert d["blast_radius"]["targets"] == 1 and sum(d["blast_radius"]["by_model"].values()) == 1
    r = api.post(f"/api/proposals/{p['id']}/apply")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["proposal"]["state"] == "done"
    assert out["outcome"]["applied"] == [dev] and out["outcome"]["failed"] == {}
    assert [e["status"] for e in out["executions"]] == ["verified"]
    assert out["backup"] and out["backup"][0]["device_id"] == dev
    actions = [e["action"] for e in out["log"]]
    assert actions[0] == "proposal.created" and actions[-1] == "proposal.done" and "device.verified" in actions
    # the device really holds the new channel now
    assert radio_of(api, dev, "5GHz")[1] == lines[1]["after"]
    # applying twice is a conflict, not a second write
    again = api.post(f"/api/proposals/{p['id']}/apply")
    assert again.status_code == 409 and again.json()["error"] == "conflict"


def test_separation_of_duties_and_roles_on_the_server(api: Api) -> None:
    dev = pick(api)["id"]
    d = _secret_change(api, dev, user="alice")
    pid, h = d["proposal"]["id"], d["proposal"]["hash"]
    assert d["proposal"]["state"] == "awaiting_approval"
    assert d["decision"]["approvals_required"][0]["role"] == "approver"
    # the author cannot approve (even holding the hash)
    r = api.post(f"/api/proposals/{pid}/approve", {"hash": h}, user="alice")
    assert r.status_code == 403 and "separation of duties" in r.json()["detail"]
    # roles that cannot approve: another support agent, an auditor, an admin, a job
    for user in ("sam", "erin", "dave", "remediator"):
        r = api.post(f"/api/proposals/{pid}/approve", {"hash": h}, user=user)
        assert r.status_code == 403, (user, r.text)
    # nothing may be applied before approval
    r = api.post(f"/api/proposals/{pid}/apply")
    assert r.status_code == 409 and "awaiting_approval" in r.json()["detail"]
    # an auditor may not apply at all
    assert api.post(f"/api/proposals/{pid}/apply", user="erin").status_code == 403
    # the approver approves the hash they saw; the author applies
    r = api.post(f"/api/proposals/{pid}/approve", {"hash": h, "comment": "caller verified"}, user="bob")
    assert r.status_code == 200 and r.json()["proposal"]["state"] == "approved"
    assert r.json()["approvals"][0] == {**r.json()["approvals"][0], "actor": "bob", "role": "approver",
                                        "comment": "caller verified", "current": True}
    r = api.post(f"/api/proposals/{pid}/apply")
    assert r.status_code == 200 and r.json()["proposal"]["state"] == "done"


def test_approving_a_proposal_that_changed_is_409(api: Api) -> None:
    dev = pick(api)["id"]
    d = _secret_change(api, dev)
    pid, old = d["proposal"]["id"], d["proposal"]["hash"]
    # a hash the approver never saw
    r = api.post(f"/api/proposals/{pid}/approve", {"hash": "0" * 64}, user="bob")
    assert r.status_code == 409 and r.json()["current_hash"] == old
    # the author edits: new hash, gates run again, the old approval target is void
    r = api.put(f"/api/proposals/{pid}", {
        "intent": "subscriber asked for a new Wi-Fi passphrase (retyped)", "targets": [dev],
        "changes": [{"path": "Device.WiFi.AccessPoint.1.Security.KeyPassphrase", "value": PASSPHRASE + "!"}]})
    assert r.status_code == 200, r.text
    new = r.json()["proposal"]["hash"]
    assert new != old and r.json()["proposal"]["state"] == "awaiting_approval"
    r = api.post(f"/api/proposals/{pid}/approve", {"hash": old}, user="bob")
    assert r.status_code == 409 and "changed since you reviewed it" in r.json()["detail"]
    # only the author may edit
    r = api.put(f"/api/proposals/{pid}", {"intent": "x", "targets": [dev],
                                          "changes": [{"path": "Device.WiFi.Radio.1.Channel", "value": 6}]}, user="sam")
    assert r.status_code == 403
    r = api.post(f"/api/proposals/{pid}/approve", {"hash": new}, user="carol")
    assert r.status_code == 200 and r.json()["proposal"]["state"] == "approved"


def test_reject_and_cancel(api: Api) -> None:
    dev = pick(api)["id"]
    pid = _secret_change(api, dev)["proposal"]["id"]
    assert api.post(f"/api/proposals/{pid}/reject", {"reason": ""}, user="bob").status_code == 422
    assert api.post(f"/api/proposals/{pid}/reject", {"reason": "no"}, user="alice").status_code == 403
    assert api.post(f"/api/proposals/{pid}/cancel", {}, user="sam").status_code == 403
    r = api.post(f"/api/proposals/{pid}/reject", {"reason": "not verified"}, user="bob")
    assert r.status_code == 200 and r.json()["proposal"]["state"] == "rejected"
    assert "rejected by bob" in r.json()["proposal"]["error"]
    assert api.post(f"/api/proposals/{pid}/apply").status_code == 409
    dev2 = pick(api)["id"]
    pid2 = _secret_change(api, dev2)["proposal"]["id"]
    r = api.post(f"/api/proposals/{pid2}/cancel", {"reason": "caller hung up"})
    assert r.status_code == 200 and r.json()["proposal"]["state"] == "cancelled"


def test_denied_and_invalid_proposals_say_why(api: Api) -> None:
    dev = pick(api, lambda d: d["region"] == "DE")
    idx, _ = radio_of(api, dev["id"], "5GHz")
    # A channel the radio itself does not list is refused at validate, naming the device's own list.
    r = api.post("/api/proposals", {"intent": "try channel 165", "targets": [dev["id"]],
                                    "changes": [{"path": f"Device.WiFi.Radio.{idx}.AutoChannelEnable", "value": False},
                                                {"path": f"Device.WiFi.Radio.{idx}.Channel", "value": 165}]})
    assert r.status_code == 201
    assert r.json()["proposal"]["state"] == "invalid" and "165" in r.json()["proposal"]["error"]
    # A valid value that policy refuses is denied with the rule's reason.
    r = api.post("/api/proposals", {"intent": "fixed channel with auto on", "targets": [dev["id"]],
                                    "changes": [{"path": f"Device.WiFi.Radio.{idx}.AutoChannelEnable", "value": True},
                                                {"path": f"Device.WiFi.Radio.{idx}.Channel", "value": 36}]})
    assert r.status_code == 201
    d = r.json()
    assert d["proposal"]["state"] == "denied" and d["decision"]["allow"] is False, d["proposal"]
    assert any("contradict" in reason for reason in d["decision"]["deny"])
    dec = api.get(f"/api/proposals/{d['proposal']['id']}/decision").json()
    assert dec["allow"] is False and "DENIED" in dec["explanation"] and dec["engine"] and len(dec["revision"]) == 64
    assert dec["input"]["proposal"]["id"] == d["proposal"]["id"]
    r = api.post("/api/proposals", {"intent": "typo", "targets": [pick(api)["id"]],
                                    "changes": [{"path": "Device.WiFi.Radio.1.Chanel", "value": 6}]})
    assert r.status_code == 201 and r.json()["proposal"]["state"] == "invalid"
    assert "Chanel" in r.json()["proposal"]["error"]
    assert api.get(f"/api/proposals/{r.json()['proposal']['id']}/decision").status_code == 404


def test_rollback_after_done_needs_a_reviewer(api: Api) -> None:
    dev = pick(api)["id"]
    before = radio_of(api, dev, "5GHz")[1]
    pid = _channel_change(api, dev)["proposal"]["id"]
    assert api.post(f"/api/proposals/{pid}/apply").json()["proposal"]["state"] == "done"
    assert api.post(f"/api/proposals/{pid}/rollback", {"reason": "complaint"}, user="alice").status_code == 403
    r = api.post(f"/api/proposals/{pid}/rollback", {"reason": "customer complaint"}, user="bob")
    assert r.status_code == 200, r.text
    assert r.json()["proposal"]["state"] == "rolled_back" and r.json()["outcome"]["rolled_back"] == [dev]
    assert radio_of(api, dev, "5GHz")[1] == before


def test_list_filters_by_state_device_and_author(api: Api) -> None:
    dev = pick(api)["id"]
    pid = _secret_change(api, dev, user="sam")["proposal"]["id"]
    r = api.get("/api/proposals", params={"state": ["awaiting_approval", "approved"], "author": "sam"})
    assert r.status_code == 200
    body = r.json()
    assert pid in [p["id"] for p in body["items"]] and body["total"] >= 1
    assert all(p["state"] in ("awaiting_approval", "approved") and p["author"] == "sam" for p in body["items"])
    by_dev = api.get("/api/proposals", params={"device": dev}).json()
    assert [p["id"] for p in by_dev["items"]] == [pid] and by_dev["total"] == 1
    item = by_dev["items"][0]
    assert item["target_count"] == 1 and item["targets"] == [dev]


def test_secrets_never_leave_the_server(api: Api) -> None:
    dev = pick(api)["id"]
    d = _secret_change(api, dev)
    pid, h = d["proposal"]["id"], d["proposal"]["hash"]
    api.post(f"/api/proposals/{pid}/approve", {"hash": h}, user="bob")
    api.post(f"/api/proposals/{pid}/apply")
    digest = hashlib.sha256(PASSPHRASE.lower().encode()).hexdigest()
    seen = [
        api.get(f"/api/proposals/{pid}").text, api.get(f"/api/proposals/{pid}/decision").text,
        api.get("/api/proposals", params={"device": dev}).text, api.get("/api/audit", params={"proposal": pid}).text,
        api.get(f"/api/devices/{dev}").text, api.get(f"/api/devices/{dev}", params={"live": "true"}).text,
        api.get(f"/api/devices/{dev}/parameters", params={"live": "true", "prefix": "Device.WiFi."}).text,
    ]
    for text in seen:
        assert PASSPHRASE not in text and digest not in text
    decision = json.loads(seen[1])
    facts = decision["input"]["proposal"]["changes"][0]["secret_facts"]
    assert facts["sha256_lower"] == "********" and facts["length"] == len(PASSPHRASE)
    live = json.loads(seen[6])["live"]
    passphrases = [p for p in live if p["path"].endswith("KeyPassphrase")]
    assert passphrases and all(p["value"] == "********" for p in passphrases)
