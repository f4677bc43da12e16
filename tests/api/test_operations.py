"""What operations see (issue 36): probes, request ids, one log line per request and per governed
action, the fleet's Prometheus series, and a Grafana dashboard that reads only series we export.

Through the real app over a seeded SQLite fleet; the broker check against a port nothing listens
on and against the shared broker's address when it is there.
"""

from __future__ import annotations

import json
import logging
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import Api, pick

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "docs" / "grafana" / "gateward.json"
PASSPHRASE_PATH = "Device.WiFi.AccessPoint.1.Security.KeyPassphrase"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- probes
def test_livez_and_readyz_need_no_token(sqlite_api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWARD_MQTT_URL", raising=False)
    live = sqlite_api.client.get("/livez")
    assert live.status_code == 200 and live.json() == {"live": True}
    ready = sqlite_api.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["ready"] is True and set(body["checks"]) == {"database", "policy"}  # no broker configured
    assert body["checks"]["database"] == {"ok": True, "detail": "answered (sqlite)"}
    assert body["checks"]["policy"]["ok"] is True and "revision" in body["checks"]["policy"]["detail"]
    assert sqlite_api.client.get("/api/health").json()["status"] == "ok"  # kept as it was


def test_readyz_says_which_check_failed(sqlite_api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    port = _free_port()
    monkeypatch.setenv("GATEWARD_MQTT_URL", f"mqtt://127.0.0.1:{port}")
    monkeypatch.setattr(sqlite_api.rt.settings, "mqtt_url", f"mqtt://u:broker-pw-9@127.0.0.1:{port}")
    ready = sqlite_api.client.get("/readyz")
    assert ready.status_code == 503
    broker = ready.json()["checks"]["broker"]
    assert broker["ok"] is False and f"127.0.0.1:{port} unreachable" in broker["detail"]
    assert "broker-pw-9" not in ready.text
    assert ready.json()["checks"]["database"]["ok"] is True  # the others still reported


def test_readyz_fails_when_the_opa_server_is_gone(sqlite_api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from policies.engine import OpaServerEngine

    monkeypatch.delenv("GATEWARD_MQTT_URL", raising=False)
    gone = OpaServerEngine(f"http://127.0.0.1:{_free_port()}", 200)
    monkeypatch.setattr(sqlite_api.rt, "policy", gone)
    try:
        ready = sqlite_api.client.get("/readyz")
    finally:
        gone.close()
    assert ready.status_code == 503
    policy = ready.json()["checks"]["policy"]
    assert policy["ok"] is False and "does not answer its health check" in policy["detail"]


# --------------------------------------------------------------------------- request ids and log lines
def _fields(caplog: pytest.LogCaptureFixture, logger: str) -> list[dict[str, Any]]:
    return [dict(r.fields) for r in caplog.records if r.name == logger and isinstance(getattr(r, "fields", None), dict)]


def test_request_id_is_echoed_or_made(sqlite_api: Api) -> None:
    given = sqlite_api.client.get("/api/me", headers={**sqlite_api.h("alice"), "X-Request-ID": "lb-7f3a.42"})
    assert given.headers["x-request-id"] == "lb-7f3a.42"
    made = sqlite_api.client.get("/api/me", headers=sqlite_api.h("alice"))
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    hostile = sqlite_api.client.get("/api/me", headers={**sqlite_api.h("alice"), "X-Request-ID": "a b\"<script>"})
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["x-request-id"])
    refused = sqlite_api.client.get("/api/me")  # 401: the id is there on refusals too
    assert refused.status_code == 401 and refused.headers["x-request-id"]


def test_one_line_per_request_and_per_governed_action(sqlite_api: Api, caplog: pytest.LogCaptureFixture) -> None:
    dev = pick(sqlite_api)["id"]
    caplog.set_level(logging.INFO)
    created = sqlite_api.client.post("/api/proposals", json={"intent": "logged", "targets": [dev], "changes": [
        {"path": PASSPHRASE_PATH, "value": "Quiet-Otter-8192"}]},
        headers={**sqlite_api.h("alice"), "X-Request-ID": "req-ops-1"})
    assert created.status_code in (200, 201), created.text
    pid = created.json()["proposal"]["id"]
    requests = [f for f in _fields(caplog, "gateward.request") if f["request_id"] == "req-ops-1"]
    assert len(requests) == 1
    line = requests[0]
    assert line["method"] == "POST" and line["path"] == "/api/proposals" and line["route"] == "/api/proposals"
    assert line["status"] == created.status_code and line["actor"] == "alice"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] > 0
    actions = [f for f in _fields(caplog, "gateward.action") if f["request_id"] == "req-ops-1"]
    assert len(actions) == 1, actions
    act = actions[0]
    assert act["action"] == "submit" and act["actor"] == "alice" and act["proposal"] == pid
    assert act["device"] == dev and act["outcome"] == created.json()["proposal"]["state"]
    assert 0 < act["duration_ms"] <= line["duration_ms"]
    assert "Quiet-Otter-8192" not in caplog.text


def test_a_refused_action_logs_its_error_code(sqlite_api: Api, caplog: pytest.LogCaptureFixture) -> None:
    dev = pick(sqlite_api)["id"]
    made = sqlite_api.post("/api/proposals", {"intent": "self-approve", "targets": [dev], "changes": [
        {"path": PASSPHRASE_PATH, "value": "Quiet-Otter-8193"}]}).json()["proposal"]
    pid = made["id"]
    caplog.set_level(logging.INFO)
    refused = sqlite_api.client.post(f"/api/proposals/{pid}/approve", json={"comment": "mine", "hash": made["hash"]},
                                     headers={**sqlite_api.h("alice"), "X-Request-ID": "req-ops-2"})  # the author
    assert refused.status_code in (403, 409), refused.text
    acts = [f for f in _fields(caplog, "gateward.action") if f["request_id"] == "req-ops-2"]
    assert [(a["action"], a["outcome"], a["proposal"]) for a in acts] == [("approve", refused.json()["error"], pid)]


def test_json_lines_are_parseable_and_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateward.logs import JsonFormatter, TextFormatter

    monkeypatch.setenv("GATEWARD_OPA_TOKEN", "opa-tok-55aa17")
    rec = logging.LogRecord("gateward.request", logging.INFO, __file__, 1,
                            "calling %s with token opa-tok-55aa17 and Bearer gw_abcdefgh12345678", None, None)
    rec.fields = {"request_id": "r-1", "status": 200, "actor": "alice",  # type: ignore[attr-defined]
                  "path": "postgresql://gw:db-pass-3@db/gw", "duration_ms": 1.5}
    rec.args = ("postgresql://gw:db-pass-3@db:5432/gw",)
    line = JsonFormatter().format(rec)
    out = json.loads(line)
    assert out["level"] == "info" and out["logger"] == "gateward.request" and out["request_id"] == "r-1"
    assert out["status"] == 200 and out["duration_ms"] == 1.5 and out["ts"].endswith("+00:00")
    for secret in ("opa-tok-55aa17", "db-pass-3", "gw_abcdefgh12345678"):
        assert secret not in line
    assert "postgresql://gw:***@db:5432/gw" in out["msg"] and "Bearer ********" in out["msg"]
    text = TextFormatter().format(rec)
    assert "opa-tok-55aa17" not in text and "db-pass-3" not in text


def test_a_url_setting_is_masked_only_in_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """The broker's and the database's address are what an operator reads a log for; only a
    password inside them is secret (a URL setting was masked whole: 'listening on ********')."""
    from gateward.logs import redact

    monkeypatch.setenv("GATEWARD_MQTT_URL", "mqtt://127.0.0.1:18883")
    monkeypatch.setenv("GATEWARD_DATABASE_URL", "postgresql+psycopg://gw:pg-pass-991@db.example:5432/gw")
    assert redact("USP events: listening on mqtt://127.0.0.1:18883") == "USP events: listening on mqtt://127.0.0.1:18883"
    line = redact("database postgresql+psycopg://gw:pg-pass-991@db.example:5432/gw; the password pg-pass-991 again")
    assert "pg-pass-991" not in line and "db.example:5432" in line


def test_log_format_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateward.logs import log_config

    monkeypatch.delenv("GATEWARD_LOG_FORMAT", raising=False)
    assert "JsonFormatter" in log_config("json")["formatters"]["gateward"]["()"]
    assert "TextFormatter" in log_config("text")["formatters"]["gateward"]["()"]
    monkeypatch.setenv("GATEWARD_LOG_FORMAT", "text")
    assert "TextFormatter" in log_config("json")["formatters"]["gateward"]["()"]
    monkeypatch.setenv("GATEWARD_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="GATEWARD_LOG_FORMAT='xml': use json or text"):
        log_config("json")


# --------------------------------------------------------------------------- Prometheus
def _samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def test_fleet_series_are_exported(sqlite_api: Api) -> None:
    from sqlalchemy import func, select

    from core.store.schema import DeviceRow

    sqlite_api.client.app.state.metrics.fleet.cache_s = 0  # type: ignore[attr-defined]
    text = sqlite_api.get("/metrics", user="erin").text
    got = _samples(text)
    with sqlite_api.rt.store.read() as s:
        total = s.scalar(select(func.count()).select_from(DeviceRow))
    devices = sum(v for k, v in got.items() if k.startswith("gateward_devices{"))
    assert devices == total
    assert {k for k in got if k.startswith("gateward_devices{")} >= {
        f'gateward_devices{{state="{s}"}}' for s in ("online", "offline", "unknown")}
    assert got["gateward_approvals_pending"] == got['gateward_proposals{state="awaiting_approval"}']
    assert got["gateward_store_up"] == 1.0
    for family in ("gateward_campaigns", "gateward_campaign_devices", "gateward_remediation_cases"):
        assert f"# TYPE {family} gauge" in text, family


def test_governed_actions_are_counted(sqlite_api: Api) -> None:
    dev = pick(sqlite_api)["id"]
    before = _samples(sqlite_api.get("/metrics", user="erin").text)
    made = sqlite_api.post("/api/proposals", {"intent": "counted", "targets": [dev], "changes": [
        {"path": PASSPHRASE_PATH, "value": "Quiet-Otter-8194"}]}).json()["proposal"]
    after = _samples(sqlite_api.get("/metrics", user="erin").text)
    key = f'gateward_governed_actions_total{{action="submit",outcome="{made["state"]}"}}'
    assert after[key] == before.get(key, 0.0) + 1
    count = 'gateward_governed_action_seconds_count{action="submit"}'
    assert after[count] == before.get(count, 0.0) + 1


def test_dashboard_reads_only_exported_series(sqlite_api: Api) -> None:
    """Every expression of docs/grafana/gateward.json names series /metrics exports (a renamed or
    removed series fails here, not on an operator's empty panel)."""
    text = sqlite_api.get("/metrics", user="erin").text
    exported = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    samples = {k.split("{")[0] for k in _samples(text)}
    board = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", []) if "expr" in t]
    assert len(exprs) >= 10
    named = set()
    for expr in exprs:
        names = set(re.findall(r"\bgateward_[a-z_]+\b", expr))
        assert names, expr
        named |= names
        for name in names:
            # a family is exported from the start, its samples only once recorded: a histogram no
            # test has observed yet in this process has its ``# TYPE`` line and no ``_bucket`` line
            family = re.sub(r"_(bucket|count|sum|total|created)$", "", name)
            assert name in samples or name in exported or family in exported, f"{name} (in {expr!r}) is not exported"
    for wanted in ("gateward_devices", "gateward_approvals_pending", "gateward_campaigns", "gateward_campaign_devices",
                   "gateward_remediation_cases", "gateward_governed_actions_total",
                   "gateward_governed_action_seconds_bucket", "gateward_http_requests_total"):
        assert wanted in named, f"the dashboard has no panel on {wanted}"


def test_devices_online_offline_unknown_follow_last_seen(sqlite_api: Api) -> None:
    from datetime import timedelta

    from sqlalchemy import select, update

    from core.kernel.models import utcnow
    from core.store.schema import DeviceRow

    fleet = sqlite_api.client.app.state.metrics.fleet  # type: ignore[attr-defined]
    fleet.cache_s = 0
    a, b = pick(sqlite_api, fresh=True)["id"], pick(sqlite_api, fresh=True)["id"]
    with sqlite_api.rt.store.read() as s:
        rows = s.execute(select(DeviceRow.id, DeviceRow.last_seen).where(DeviceRow.id.in_([a, b]))).all()
    kept = {str(r[0]): r[1] for r in rows}
    with sqlite_api.rt.store.write() as s:  # both heard from 5 minutes ago: online
        s.execute(update(DeviceRow).where(DeviceRow.id.in_([a, b])).values(last_seen=utcnow() - timedelta(minutes=5)))
    before = fleet.read()["devices"]
    with sqlite_api.rt.store.write() as s:
        s.execute(update(DeviceRow).where(DeviceRow.id == a).values(last_seen=None))
        s.execute(update(DeviceRow).where(DeviceRow.id == b).values(last_seen=utcnow() - timedelta(days=3)))
    after = fleet.read()["devices"]
    try:
        assert after.get("online", 0) == before.get("online", 0) - 2
        assert after.get("unknown", 0) == before.get("unknown", 0) + 1  # never heard from
        assert after.get("offline", 0) == before.get("offline", 0) + 1  # not for 3 days (the window: a day)
    finally:
        with sqlite_api.rt.store.write() as s:
            for dev, seen in kept.items():
                s.execute(update(DeviceRow).where(DeviceRow.id == dev).values(last_seen=seen))
