"""The change feed (``GET /api/events``) and the offline API docs, through the real app.

The feed says *what moved* — ids and action names from the audit trail, never an event's data —
resumes after a sequence number, ends after ``max_s``, and refuses a request without a token.
``/docs`` is built from packaged assets under the console's no-other-origin CSP."""

from __future__ import annotations

from typing import Any

import orjson

from testing.sse import parse_sse
from tests.api.conftest import Api


def _feed(api: Api, user: str = "erin", **params: Any) -> list[tuple[str, Any]]:
    with api.client.stream("GET", "/api/events", headers=api.h(user), params=params) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        return parse_sse(r.read().decode())


def test_feed_names_what_moved_and_nothing_more(sqlite_api: Api) -> None:
    api = sqlite_api
    dev = next(d["id"] for d in api.get("/api/devices", params={"limit": 50, "region": "DE"}).json()["items"]
               if d["root"] == "Device." and not d["busy"])
    head = _frames_head(api)
    r = api.post("/api/proposals", json={"intent": "feed test", "targets": [dev], "changes": [
        {"path": "Device.WiFi.AccessPoint.1.Security.KeyPassphrase", "value": "Lantern-Quarry-9921"}]})
    pid = r.json()["proposal"]["id"]
    frames = _feed(api, after=head, max_s=1)
    assert frames[0][0] == "hello" and frames[-1][0] == "end"
    changes = [d for k, d in frames if k == "change"]
    assert changes and pid in changes[0]["proposals"] and "proposal.created" in changes[0]["actions"]
    for ev in changes[0]["events"]:
        assert set(ev) == {"seq", "action", "proposal_id", "device_id"} and ev["seq"] > head
    assert b"Lantern-Quarry-9921" not in orjson.dumps(frames) and "feed test" not in str(frames)
    # resuming after the last one seen gives nothing twice
    again = _feed(api, after=changes[-1]["seq"], max_s=1)
    assert not [d for k, d in again if k == "change"]


def _frames_head(api: Api) -> int:
    hello = _feed(api, max_s=1)[0]
    assert hello[0] == "hello"
    return int(hello[1]["seq"])


def test_feed_says_its_heartbeat_and_keeps_it(sqlite_api: Api, monkeypatch: Any) -> None:
    """A silent feed sends a keep-alive every ``live_heartbeat_s`` and its ``hello`` says so: the
    console's watchdog is set from it (a proxy with a shorter idle timeout needs a shorter one)."""
    assert sqlite_api.rt.settings.live_heartbeat_s == 15.0  # the default
    monkeypatch.setattr(sqlite_api.rt.settings, "live_heartbeat_s", 1.0)
    with sqlite_api.client.stream("GET", "/api/events", headers=sqlite_api.h("erin"), params={"max_s": 3.4}) as r:
        body = r.read().decode()
    frames = parse_sse(body)
    assert frames[0][0] == "hello" and frames[0][1]["heartbeat_s"] == 1.0
    assert not [k for k, _ in frames if k == "change"]  # nothing moved: only keep-alives in between
    assert 2 <= body.count(": keep-alive") <= 4, body


def test_feed_needs_a_token(sqlite_api: Api) -> None:
    assert sqlite_api.client.get("/api/events").status_code == 401


def test_docs_are_served_from_this_server(sqlite_api: Api) -> None:
    page = sqlite_api.client.get("/docs")
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower() and "http" not in page.text.replace("http-equiv", "")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self';" in csp
    asset = sqlite_api.client.get("/docs-assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000
    assert sqlite_api.client.get("/redoc", follow_redirects=False).headers["location"] == "/docs"


def test_fleet_overview_adds_up(sqlite_api: Api) -> None:
    ov = sqlite_api.get("/api/fleet", user="erin").json()
    assert ov["devices"] == ov["by_status"].get("active") and ov["presence_checked"] == ov["devices"]
    assert ov["online"] + ov["unreachable"] + ov["offline"] == ov["devices"]
    for groups in (ov["by_region"], ov["by_model"], ov["by_firmware"]):
        assert sum(g["devices"] for g in groups) == ov["devices"]
        assert all(g["online"] + g["unreachable"] + g["offline"] == g["devices"] for g in groups)
    assert sqlite_api.client.get("/api/fleet").status_code == 401
