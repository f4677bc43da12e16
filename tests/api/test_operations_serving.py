"""``gateward run`` in production logs JSON lines from every API process (issue 36): a request's
line and the governed action it caused, under the client's X-Request-ID, from one of two
``--workers`` processes; secrets taken from ``*_FILE`` reach the process and never the log."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from testing.servers import GatewardRun
from tests.conftest import build_test_runtime

ROOT = Path(__file__).resolve().parents[2]


def _lines(log: Path) -> list[dict[str, Any]]:
    out = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


@pytest.mark.slow
def test_production_run_logs_json_from_each_worker(tmp_path: Path) -> None:
    from core.store import repo
    from core.users import issue_token

    url = f"sqlite:///{tmp_path / 'g.db'}"
    rt = build_test_runtime(url, homes=3)
    with rt.store.read() as s:
        device = next(d.id for d in repo.list_devices(s, limit=100)[0] if d.root == "Device.")
    token = issue_token(rt.store, "alice")
    rt.close()
    secret = tmp_path / "opa-token"
    secret.write_text("never-logged-5c2e9\n")
    env = {"GATEWARD_OPA_TOKEN_FILE": str(secret), "GATEWARD_LOG_FORMAT": ""}
    with GatewardRun(home=tmp_path, database_url=url, homes=3, cwd=ROOT, args=["--no-worker", "--workers", "2"],
                     env=env) as run:
        assert httpx.get(f"{run.base}/readyz", timeout=60).status_code == 200
        hdr = {"Authorization": f"Bearer {token}", "X-Request-ID": "serving-ops-1"}
        r = httpx.post(f"{run.base}/api/proposals", headers=hdr, timeout=120, json={
            "intent": "logged", "targets": [device], "changes": [{"path": "Device.WiFi.Radio.1.Channel", "value": 6}]})
        assert r.status_code == 201, r.text
        assert r.headers["x-request-id"] == "serving-ops-1"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            mine = [x for x in _lines(run.log) if x.get("request_id") == "serving-ops-1"]
            if len(mine) >= 2:
                break
            time.sleep(0.2)
    by_logger = {x["logger"]: x for x in mine}
    assert set(by_logger) == {"gateward.request", "gateward.action"}, mine
    req, act = by_logger["gateward.request"], by_logger["gateward.action"]
    assert (req["method"], req["path"], req["status"], req["actor"]) == ("POST", "/api/proposals", 201, "alice")
    assert (act["action"], act["actor"], act["device"]) == ("submit", "alice", device)
    assert act["proposal"] == r.json()["proposal"]["id"] and act["outcome"] == r.json()["proposal"]["state"]
    assert "never-logged-5c2e9" not in run.log.read_text(errors="replace")
