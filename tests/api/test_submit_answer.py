"""Issue 15: the answer of ``POST /api/proposals`` is built from what ``submit`` committed
(``api.proposal_views.submitted_detail``) instead of read back in 7–8 statements. It must be
exactly the detail ``GET /api/proposals/{id}`` reads from the store right after, for every way a
submit can end (approved, awaiting approval, denied, invalid), a secret value, per-device values,
several named targets and a selector (whose targets ``create`` did not read whole).
"""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, pick, radio_of
from tests.api.test_proposals import PASSPHRASE


def _post(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    r = api.post("/api/proposals", body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _same_as_read_back(api: Api, answer: dict[str, Any]) -> dict[str, Any]:
    pid = answer["proposal"]["id"]
    r = api.get(f"/api/proposals/{pid}")
    assert r.status_code == 200, r.text
    stored = r.json()
    for key in stored:
        assert answer[key] == stored[key], f"{pid}: {key} differs between the POST answer and the read-back detail"
    assert answer == stored
    return stored


def _channel(api: Api, device: str, channel: int, auto: bool = False) -> dict[str, Any]:
    idx, _ = radio_of(api, device, "5GHz")
    return {"intent": f"channel {channel}", "targets": [device], "changes": [
        {"path": f"Device.WiFi.Radio.{idx}.AutoChannelEnable", "value": auto},
        {"path": f"Device.WiFi.Radio.{idx}.Channel", "value": channel}],
        "rationale": "crowded", "evidence": [{"kind": "neighbours", "summary": "6 APs on the channel"}]}


def test_every_way_a_submit_ends_answers_what_is_stored(api: Api) -> None:
    dev = pick(api, lambda d: d["region"] == "DE")["id"]
    _, cur = radio_of(api, dev, "5GHz")
    answers = {
        "approved": _post(api, _channel(api, dev, 36 if cur != 36 else 40)),
        "invalid": _post(api, _channel(api, pick(api, lambda d: d["region"] == "DE")["id"], 165)),
        "denied": _post(api, _channel(api, pick(api, lambda d: d["region"] == "DE")["id"], 36, auto=True)),
        "awaiting_approval": _post(api, {
            "intent": "new passphrase", "targets": [pick(api)["id"]], "rationale": "caller verified",
            "changes": [{"path": "Device.WiFi.AccessPoint.1.Security.KeyPassphrase", "value": PASSPHRASE}]}),
    }
    for state, answer in answers.items():
        assert answer["proposal"]["state"] == state, (state, answer["proposal"].get("error"))
        stored = _same_as_read_back(api, answer)
        actions = [e["action"] for e in stored["log"]]
        assert actions[0] == "proposal.created" and len(actions) >= 2, actions
        assert stored["approvals"] == [] and stored["executions"] == [] and stored["backup"] == []
        assert stored["blast_radius"]["targets"] == 1 and stored["blast_radius"]["by_model"]
        if state == "invalid":
            assert stored["decision"] is None and stored["preview"] is None
        else:
            assert stored["decision"]["current"] is True and stored["decision"]["explanation"]
            assert stored["preview"]["devices"][0]["device_id"] == answer["proposal"]["targets"][0]
    # The secret never leaves, in the answer built from memory as in the one read back.
    assert PASSPHRASE not in str(answers["awaiting_approval"])


def test_several_targets_per_device_values_and_a_selector(api: Api) -> None:
    a, b, c = (pick(api)["id"] for _ in range(3))
    shared = _post(api, {"intent": "one channel on three", "targets": [a, b, c],
                         "changes": [{"path": "Device.WiFi.Radio.1.Channel", "value": 6}]})
    assert _same_as_read_back(api, shared)["blast_radius"]["targets"] == 3
    d, e = pick(api)["id"], pick(api)["id"]
    per = _post(api, {"intent": "per device", "targets": [d, e], "changes": [
        {"path": "Device.WiFi.Radio.1.Channel", "value": 1, "target": d},
        {"path": "Device.WiFi.Radio.1.Channel", "value": 11, "target": e}]})
    assert [row["device_id"] for row in _same_as_read_back(api, per)["proposal"]["per_device"]] == [d, e]
    region = pick(api)["region"]
    chosen = _post(api, {"intent": "region", "selector": {"region": region, "limit": 5},
                         "changes": [{"path": "Device.WiFi.Radio.1.Channel", "value": 6}]})
    stored = _same_as_read_back(api, chosen)
    assert stored["blast_radius"]["by_region"] == {region: len(chosen["proposal"]["targets"])}
