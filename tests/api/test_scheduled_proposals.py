"""A person's proposal can carry a time and conditions too (issue 44 item 4: "the console and CLI show
when"): through the API and ``gateward propose --not-before``, the proposal is decided now and
written no earlier than its time — applying before it records who asked and writes nothing, and the
answer says when the worker starts it. A time without an offset and a condition on a path outside the
data models are refused with the field named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.conftest import Api, pick, radio_of
from tests.api.test_proposals_per_target import NON_DFS


def _body(api: Api, **extra: Any) -> tuple[dict[str, Any], str, int]:
    dev = pick(api)["id"]
    idx, cur = radio_of(api, dev, "5GHz")
    target = next(c for c in NON_DFS if c != cur)
    return ({"intent": "move 5 GHz tonight", "targets": [dev],
             "changes": [{"path": f"Device.WiFi.Radio.{idx}.AutoChannelEnable", "value": False},
                         {"path": f"Device.WiFi.Radio.{idx}.Channel", "value": target}], **extra},
            dev, idx)


def test_a_scheduled_proposal_waits_and_says_when(api: Api) -> None:
    at = (datetime.now(UTC) + timedelta(hours=6)).replace(microsecond=0)
    cond = {"fact": "online", "expect": "eq", "value": True, "text": "the gateway is online then"}
    body, dev, _ = _body(api, not_before=at.isoformat(), preconditions=[cond])
    before = radio_of(api, dev, "5GHz")
    r = api.post("/api/proposals", body)
    assert r.status_code == 201, r.text
    p = r.json()["proposal"]
    assert datetime.fromisoformat(p["not_before"]) == at
    assert [c["text"] for c in p["preconditions"]] == ["the gateway is online then"]
    if p["state"] == "awaiting_approval":
        for user in ("carol", "bob"):
            p = api.post(f"/api/proposals/{p['id']}/approve", {"hash": p["hash"]}, user=user).json().get("proposal", p)
    assert p["state"] == "approved", p
    r = api.post(f"/api/proposals/{p['id']}/apply", {})
    assert r.status_code == 200, r.text
    assert datetime.fromisoformat(r.json()["outcome"]["scheduled_for"]) == at
    assert r.json()["proposal"]["state"] == "approved" and r.json()["proposal"]["start_requested_by"] == "alice"
    assert radio_of(api, dev, "5GHz") == before  # nothing written


def test_a_time_without_an_offset_or_a_foreign_path_is_refused(api: Api) -> None:
    body, _, _ = _body(api, not_before="2030-01-01T02:00:00")
    r = api.post("/api/proposals", body)
    assert r.status_code == 422 and "not_before" in r.text, r.text
    bad = {"fact": "channel", "expect": "eq", "value": 36, "paths": ["../etc/passwd"], "text": "x"}
    body, _, _ = _body(api, preconditions=[bad])
    r = api.post("/api/proposals", body)
    assert r.status_code == 422 and "paths" in r.text, r.text
    body, _, _ = _body(api, preconditions=[{"fact": "weather", "expect": "eq", "text": "sunny"}])
    assert api.post("/api/proposals", body).status_code == 422
