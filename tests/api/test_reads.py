"""Read surfaces: devices (filters, detail, history, topology, live reads), audit (filters,
keyset pages, chain verification), health and readiness, Prometheus metrics, and the console."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, pick


def test_device_filters(api: Api) -> None:
    all_ = api.get("/api/devices", params={"limit": 1000}).json()
    assert all_["total"] == len(all_["items"]) >= 40
    some = all_["items"][0]
    for key in ("model", "firmware", "region", "subscriber"):
        res = api.get("/api/devices", params={key: some[key]}).json()
        assert res["total"] >= 1 and all(d[key] == some[key] for d in res["items"]), key
    page = api.get("/api/devices", params={"limit": 5, "offset": 5}).json()
    assert [d["id"] for d in page["items"]] == [d["id"] for d in all_["items"][5:10]]
    facets = api.get("/api/devices/facets").json()
    assert sum(facets["models"].values()) == all_["total"] and "online" in facets["states"]


def test_device_state_filter_follows_live_presence(api: Api) -> None:
    from gateward.seed import twin_for

    dev = pick(api)["id"]
    twin = twin_for(api.rt)
    twin.inject(dev, "offline")
    try:
        offline = {d["id"] for d in api.get("/api/devices", params={"state": "offline", "limit": 1000}).json()["items"]}
        online = {d["id"] for d in api.get("/api/devices", params={"state": "online", "limit": 1000}).json()["items"]}
        assert dev in offline and dev not in online
        detail = api.get(f"/api/devices/{dev}", params={"live": "true"}).json()
        assert detail["presence"]["online"] is False and detail["live"] is None and "offline" in detail["live_error"]
    finally:
        twin.clear(dev)
    assert dev in {d["id"] for d in api.get("/api/devices", params={"state": "online", "limit": 1000}).json()["items"]}


def test_busy_state_marks_devices_with_open_proposals(api: Api) -> None:
    dev = pick(api)["id"]
    r = api.post("/api/proposals", {"intent": "new passphrase", "targets": [dev], "changes": [
        {"path": "Device.WiFi.AccessPoint.1.Security.KeyPassphrase", "value": "Quiet-Otter-2048"}]})
    assert r.json()["proposal"]["state"] == "awaiting_approval"
    busy = {d["id"] for d in api.get("/api/devices", params={"state": "busy", "limit": 1000}).json()["items"]}
    assert dev in busy
    detail = api.get(f"/api/devices/{dev}").json()
    assert detail["busy"] is True and detail["live_proposals"][0]["id"] == r.json()["proposal"]["id"]


def test_device_detail_history_topology(api: Api) -> None:
    dev = pick(api, fresh=False)
    detail = api.get(f"/api/devices/{dev['id']}").json()
    assert detail["device"]["id"] == dev["id"] and detail["presence"]["online"] is True
    assert set(detail["compat"]["workflows"]) == {"config", "reboot", "factory_reset", "download"}
    assert detail["compat"]["overall"] in ("green", "yellow", "red")
    params = {p["path"]: p["value"] for p in detail["parameters"]}
    assert any(p.startswith("Device.WiFi.Radio.") for p in params)
    assert all(v in ("********", None, "") for p, v in params.items() if p.endswith("KeyPassphrase"))
    hist = api.get(f"/api/devices/{dev['id']}/history", params={"hours": 72}).json()
    assert hist["series"], "the seeded fleet has telemetry"
    for ser in hist["series"]:
        assert ser["points"] and ser["stats"]["count"] >= len(ser["points"]) > 0
        assert ser["stats"]["min"] <= ser["stats"]["last"] <= ser["stats"]["max"]
    only = api.get(f"/api/devices/{dev['id']}/history", params={"metric": "wan.latency_ms"}).json()
    assert {s["metric"] for s in only["series"]} <= {"wan.latency_ms"}
    topo = api.get(f"/api/devices/{dev['id']}/topology").json()
    assert topo["upstream"] and topo["upstream"][0]["id"] == detail["device"]["upstream_id"]
    assert all(s["id"] != dev["id"] for s in topo["siblings"])
    assert topo["wifi_neighbors"] and all(n["untrusted"] for n in topo["wifi_neighbors"])
    rssi = [n["rssi_dbm"] for n in topo["wifi_neighbors"]]
    assert rssi == sorted(rssi, reverse=True)


def test_audit_query_pages_and_verify(api: Api) -> None:
    dev = pick(api)["id"]
    change = {"path": "Device.WiFi.AccessPoint.1.Security.KeyPassphrase", "value": "Quiet-Otter-4096"}
    r = api.post("/api/proposals", {"intent": "audit me", "targets": [dev], "changes": [change]})
    pid = r.json()["proposal"]["id"]
    events = api.get("/api/audit", params={"proposal": pid}, user="erin").json()["items"]
    assert events[-1]["action"] == "proposal.created" and all(e["proposal_id"] == pid for e in events)
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs, reverse=True)
    prefixed = api.get("/api/audit", params={"proposal": pid, "action": "policy."}, user="erin").json()["items"]
    assert prefixed and all(e["action"].startswith("policy.") for e in prefixed)
    assert api.get("/api/audit", params={"action": "policy%"}, user="erin").json()["items"] == []
    by_actor = api.get("/api/audit", params={"actor": "alice", "limit": 3}, user="erin").json()
    assert len(by_actor["items"]) == 3 and by_actor["next_before_seq"] == by_actor["items"][-1]["seq"]
    nxt = api.get("/api/audit", params={"actor": "alice", "limit": 3, "before_seq": by_actor["next_before_seq"]},
                  user="erin").json()
    assert nxt["items"][0]["seq"] < by_actor["items"][-1]["seq"]
    assert api.get("/api/audit", params={"since": "9999-12-31T23:59:59-23:59"}).status_code == 422
    v = api.get("/api/audit/verify", user="erin").json()
    assert v["ok"] is True and v["count"] >= len(events) and v["message"].startswith("audit chain OK")


def test_health_ready_metrics(api: Api) -> None:
    assert api.client.get("/api/health").json() == {"status": "ok", "demo": False}  # not `gateward run --demo`
    ready = api.client.get("/api/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    assert ready.json()["checks"]["database"].startswith("ok")
    api.get("/api/proposals")
    api.get("/api/proposals/p-unknown")
    text = api.get("/metrics", user="erin").text  # an auditor's token (issue 10: metrics need auth)
    assert 'gateward_http_requests_total{method="GET",route="/api/proposals",status="200"}' in text
    assert 'route="/api/proposals/{pid}",status="404"' in text  # templates, never concrete ids
    assert "p-unknown" not in text
    assert 'gateward_proposals{state="awaiting_approval"}' in text
    assert "gateward_http_request_duration_seconds_bucket" in text


def test_lifecycle_stage_timings_reach_metrics(sqlite_api: Api) -> None:
    dev = pick(sqlite_api)["id"]
    sqlite_api.post("/api/proposals", {"intent": "timed", "targets": [dev], "changes": [
        {"path": "Device.WiFi.AccessPoint.1.Security.KeyPassphrase", "value": "Quiet-Otter-8192"}]})
    text = sqlite_api.get("/metrics", user="dave").text
    for stage in ("validate", "preview", "decide"):
        assert f'gateward_lifecycle_stage_seconds_count{{stage="{stage}"}}' in text, stage


def test_console_is_served_with_a_strict_csp(sqlite_api: Api) -> None:
    page = sqlite_api.client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert 'src="/static/js/main.js"' in page.text and "https://" not in page.text
    js = sqlite_api.client.get("/static/js/main.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    for path in ("/static/js/api.js", "/static/js/dom.js", "/static/js/proposal.js", "/static/css/app.css"):
        body = sqlite_api.client.get(path)
        text = body.text.replace("http://www.w3.org/2000/svg", "")  # a namespace name, not a fetch
        assert body.status_code == 200 and "http://" not in text and "https://" not in text, path
    api_answer: Any = sqlite_api.get("/api/me")
    assert api_answer.headers["cache-control"] == "no-store"
    schema = sqlite_api.client.get("/openapi.json").json()
    assert {"/api/proposals", "/api/proposals/{pid}/approve", "/api/chat/threads/{thread_id}/messages",
            "/api/audit/verify", "/api/devices/{device_id}/topology"} <= set(schema["paths"])
