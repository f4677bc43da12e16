"""The first requests after a start (issue 34, item 4).

On 2 of 3 fresh starts, concurrent first requests for USP device pages answered 500 or dropped
the connection: two request threads imported the USP adapter's package at once and one of them
got it half-initialised (``ImportError: cannot import name 'UspExecutor' from partially
initialized module``). What request threads import is now imported before the server serves.
Checked the way it failed: a fresh ``gateward run`` process, its very first requests a concurrent
burst for every page of several USP devices, several starts in a row.
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from testing.servers import GatewardRun
from tests.conftest import build_test_runtime

ROOT = Path(__file__).resolve().parents[2]
STARTS = 3
# The burst is one client's: room for all of it at once (load shedding is not what is tested here).
ROOMY = {"GATEWARD_API_MAX_PER_CLIENT": "200", "GATEWARD_API_MAX_READS": "200", "GATEWARD_API_QUEUE_WAIT_S": "60"}
PAGES = ("", "?live=true", "/parameters?live=true&prefix=Device.DeviceInfo.", "/parameters", "/history",
         "/topology")


def _first_burst(run: GatewardRun, token: str, devices: list[str]) -> list[tuple[str, int | str]]:
    """Every page of every device at once, on fresh connections; (url, status or error)."""
    urls = [f"{run.base}/api/devices/{d}{page}" for d in devices for page in PAGES] * 2

    def get(url: str) -> tuple[str, int | str]:
        try:
            return url, httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=60).status_code
        except httpx.HTTPError as exc:  # a dropped connection
            return url, f"{type(exc).__name__}: {exc}"

    with concurrent.futures.ThreadPoolExecutor(len(urls)) as pool:
        return list(pool.map(get, urls))


@pytest.mark.slow
def test_concurrent_first_requests_for_usp_device_pages_all_succeed(tmp_path: Path) -> None:
    from core.store.schema import DeviceRow
    from core.users import issue_token

    url = f"sqlite:///{tmp_path / 'g.db'}"
    rt = build_test_runtime(url, homes=40)
    with rt.store.read() as s:
        usp = list(s.scalars(select(DeviceRow.id).where(DeviceRow.protocol == "usp").order_by(DeviceRow.id).limit(4)))
    token = issue_token(rt.store, "alice")
    rt.close()
    assert usp, "the test fleet has USP devices"
    failures = []
    for start in range(STARTS):  # a fresh process each time: nothing imported yet by a request
        with GatewardRun(home=tmp_path, database_url=url, homes=40, cwd=ROOT, args=["--no-worker"],
                         log=tmp_path / f"server-{start}.log", env=ROOMY) as run:
            bad = [(u, s) for u, s in _first_burst(run, token, usp) if s != 200]
            log = run.log_tail()
        if bad or "partially initialized" in log or "Traceback" in log:
            failures.append((start, bad[:5], log[-1500:]))
    assert not failures, failures


PROJECT = ("api", "core", "brain", "campaigns", "executors", "policies", "gateward")
_SERVE_PAGES = r'''
import sys
from sqlalchemy import select
from tests.conftest import build_test_runtime
from tests.api.conftest import make_api
from core.store.schema import DeviceRow

rt = build_test_runtime(sys.argv[1], homes=40)
api = make_api(rt, "sqlite")  # create_app: what requests need is imported here
with rt.store.read() as s:
    devices = {}
    for row in s.scalars(select(DeviceRow)):
        devices.setdefault((row.protocol, row.root), row.id)
before = set(sys.modules)
paths = ["/api/me", "/api/proposals", "/api/devices", "/api/devices/facets", "/api/audit", "/api/chat/threads",
         "/api/campaigns", "/api/remediation/cases", "/api/fleet", "/metrics", "/openapi.json"]
paths += [f"/api/devices/{d}{page}" for d in devices.values()
          for page in ("", "?live=true", "/parameters?live=true", "/parameters", "/history", "/topology")]
for p in paths:
    api.get(p)
d = next(iter(devices.values()))
created = api.post("/api/proposals", {"intent": "x", "targets": [d],
                                      "changes": [{"path": "Device.WiFi.Radio.1.Channel", "value": 6}]})
pid = created.json()["proposal"]["id"]
api.get(f"/api/proposals/{pid}")
api.get(f"/api/proposals/{pid}/decision")
tid = api.post("/api/chat/threads", {"title": "x"}).json()["thread_id"]
api.get(f"/api/chat/threads/{tid}")
api.post(f"/api/devices/{d}/diagnostics/ipping", {})
for name in sorted(set(sys.modules) - before):
    print(name)
'''


@pytest.mark.slow
def test_serving_the_pages_imports_no_module_of_the_project(tmp_path: Path) -> None:
    """Every module of the project that the pages, a proposal, a chat thread and a diagnostic
    need is imported when the app is built (``api.app.REQUEST_IMPORTS``): none is left to a
    request thread. A fresh interpreter, so that nothing was imported by another test."""
    done = subprocess.run([sys.executable, "-c", _SERVE_PAGES, f"sqlite:///{tmp_path / 'g.db'}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False,
                          env={**os.environ, "GATEWARD_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-3000:]
    late = [m for m in done.stdout.split() if m.split(".")[0] in PROJECT]
    assert late == [], f"imported by requests, not at start-up: {late}"
