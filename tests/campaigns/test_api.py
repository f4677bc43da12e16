"""Campaign endpoints over the real app (TestClient): the error shape, roles, the whole walk from
definition to a completed rollout with the in-process worker, and the console's assets."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.routers import campaigns as campaign_routes
from tests.campaigns.helpers import PATH

USERS = ("alice", "bob", "carol", "dave", "erin")


@pytest.fixture
def client(crt: Any) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    from api.app import create_app
    from core.users import issue_token

    app = create_app(crt)
    if not any(getattr(r, "path", "").startswith("/api/campaigns") for r in app.routes):
        app.include_router(campaign_routes.router)  # until api/app.py includes it
    tokens = {u: {"Authorization": f"Bearer {issue_token(crt.store, u)}"} for u in USERS}
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c, tokens


def test_campaign_over_http(crt: Any, client: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    from gateward.worker import EmbeddedWorker

    c, h = client
    body = {"name": "api", "target": {"all_fleet": True}, "emergency": True, "sweep_delay_s": 0,
            "changes": [{"path": PATH, "value": False}], "promotion": {"mode": "auto", "pause_s": 0},
            "rate": {"initial_batch": 5, "max_batch": 20, "max_window": 4}}
    bad = c.post("/api/campaigns", json={**body, "rings": [50, 10, 100]}, headers=h["dave"])
    assert bad.status_code == 422 and bad.json()["error"] == "invalid" and "rings must grow" in bad.json()["detail"]
    assert c.post("/api/campaigns", json=body, headers=h["erin"]).status_code == 403
    assert c.post("/api/campaigns", json=body).status_code == 401
    r = c.post("/api/campaigns", json=body, headers=h["dave"])
    assert r.status_code == 201, r.text
    cid, pid = r.json()["id"], r.json()["proposal"]["id"]
    pv = c.get(f"/api/campaigns/{cid}/preview", headers=h["erin"]).json()
    assert sum(pv["plan"]["sizes"]) == pv["selection"]["devices"] and pv["decision"]["allow"] is True
    early = c.post(f"/api/campaigns/{cid}/start", headers=h["dave"])
    assert early.status_code == 409 and "approve" in early.json()["detail"]
    for approver in ("carol", "bob"):
        if c.get(f"/api/proposals/{pid}", headers=h["dave"]).json()["proposal"]["state"] == "awaiting_approval":
            ok = c.post(f"/api/proposals/{pid}/approve", json={"comment": "ok", "hash": r.json()["proposal"]["hash"]},
                        headers=h[approver])
            assert ok.status_code == 200, ok.text
    with EmbeddedWorker(crt, concurrency=2):
        assert c.post(f"/api/campaigns/{cid}/start", headers=h["dave"]).status_code == 200
        end = time.monotonic() + 120
        while time.monotonic() < end:
            st = c.get(f"/api/campaigns/{cid}", headers=h["alice"]).json()
            if st["terminal"]:
                break
            time.sleep(0.3)
    assert st["state"] == "completed", st
    # Issue 34: the status names the person the writes were made for and the workers that made them.
    assert st["run_by"] == "dave" and st["workers"] and all(":" in w["worker"] for w in st["workers"])
    tl = c.get(f"/api/campaigns/{cid}/timeline", headers=h["alice"]).json()
    assert tl["batches"] and sum(b["verified"] for b in tl["batches"]) >= st["progress"]["verified"]
    assert c.post(f"/api/campaigns/{cid}/pause", json={}, headers=h["alice"]).status_code == 409
    assert c.post(f"/api/campaigns/{cid}/abort", json={"reason": "x"}, headers=h["erin"]).status_code == 403
    assert c.get("/api/campaigns/c-nope", headers=h["alice"]).status_code == 404
    listed = c.get("/api/campaigns", headers=h["alice"]).json()
    assert any(i["id"] == cid for i in listed["items"])
    js = c.get("/static/campaigns.js")
    assert js.status_code == 200 and "campaignsView" in js.text


def test_rehearsal_and_effects_over_http(crt: Any, client: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    """The console's rehearsal panel and effect chart read these: a rehearsal is run and stored by
    someone who may start or approve, read by anyone signed in; unknown campaigns are 404s."""
    from gateward.seed import take_snapshots

    c, h = client
    body = {"name": "api rehearsal", "target": {"all_fleet": True}, "emergency": True, "control_pct": 20,
            "changes": [{"path": PATH, "value": False}],
            "gate": {"kpis": [{"metric": "wifi.channel_utilization_pct"}]}}
    cid = c.post("/api/campaigns", json=body, headers=h["dave"]).json()["id"]
    assert c.get(f"/api/campaigns/{cid}/rehearsal", headers=h["erin"]).json()["rehearsal"] is None
    assert c.post(f"/api/campaigns/{cid}/rehearse", headers=h["erin"]).status_code == 403
    with crt.store.read() as s:
        from sqlalchemy import select

        from campaigns.schema import CampaignDeviceRow

        ids = list(s.scalars(select(CampaignDeviceRow.device_id).where(CampaignDeviceRow.campaign_id == cid)))
    first = c.post(f"/api/campaigns/{cid}/rehearse", headers=h["bob"]).json()
    # nothing stored to replay on: the paths the change touches are read from each device that answers
    assert first["trees"]["missing"] == len(ids) and first["counts"]["refreshed"] == len(ids) - len(first["offline"])
    assert set(first["unknown"]) == set(first["offline"])
    take_snapshots(crt, ids)
    r = c.post(f"/api/campaigns/{cid}/rehearse", headers=h["bob"])
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["unknown"] <= r.json()["counts"]["offline"]  # only devices no snapshot could read
    got = c.get(f"/api/campaigns/{cid}/rehearsal", headers=h["erin"]).json()
    assert got["current"] is True and got["rehearsal"]["by"] == "bob" and got["required"] is None
    eff = c.get(f"/api/campaigns/{cid}/effects", headers=h["erin"]).json()
    assert eff["cohort"]["matched_on"][:3] == ["model", "firmware", "region"] and eff["kpis"] == []
    for path in ("rehearsal", "effects"):
        miss = c.get(f"/api/campaigns/c-nope/{path}", headers=h["erin"])
        assert miss.status_code == 404 and miss.json()["error"] == "not_found"
