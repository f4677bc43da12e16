"""The CLI (its real entry point, in process: ``testing/cli.py``), the API (the real app in-process)
and the console module's mount."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from testing.cli import CliResult, run_cli
from tests.api.conftest import make_api
from tests.conftest import build_test_runtime
from tests.remediation.conftest import conditions

ROOT = Path(__file__).resolve().parents[2]


def _gw(url: str, *args: str) -> CliResult:
    return run_cli(*args, env={"GATEWARD_DATABASE_URL": url}, cwd=ROOT)


@pytest.mark.slow
def test_cli_walk(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    build_test_runtime(url, homes=12).close()
    dry = json.loads(_gw(url, "remediation", "detect", "--dry-run", "--json").stdout)
    assert dry["devices"] == 5 and "opened" not in dry
    run = _gw(url, "remediation", "run", "--json")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["detect"]["opened"] == 5 and out["run"]["drained"]
    assert out["run"]["cases"] == {"applied": 4, "escalated": 1}
    cases = json.loads(_gw(url, "remediation", "cases", "--status", "escalated", "--json").stdout)
    (esc,) = cases["items"]
    assert esc["problem"] == "inform_interval_drift"
    bad = _gw(url, "remediation", "close", esc["id"], "--as", "bob")
    assert bad.returncode == 2 and "needs a reason" in bad.stderr and "Traceback" not in bad.stderr
    ok = _gw(url, "remediation", "close", esc["id"], "--as", "bob", "--reason", "fixed on the ACS")
    assert ok.returncode == 0 and "closed" in ok.stdout
    compat = json.loads(_gw(url, "compat", "--evidence", "--json").stdout)
    assert compat["thresholds"]["min_executions"] == 20
    assert sum(r["succeeded"] for r in compat["rows"] if r["workflow"] == "config") >= 4
    table = _gw(url, "compat", "--workflow", "config")
    assert table.returncode == 0 and "policy uses" in table.stdout
    prof = _gw(url, "profiles", "check")
    assert prof.returncode == 0 and "no conflicts" in prof.stdout
    show = _gw(url, "profiles", "show", "business")
    assert "Device.WiFi.Radio.2.Channel = 44" in show.stdout
    missing = _gw(url, "profiles", "show", "nope")
    assert missing.returncode == 2 and "no profile 'nope'" in missing.stderr
    st = json.loads(_gw(url, "remediation", "status", "--json").stdout)
    assert st["queue_depth"] == 0 and st["group_cap"] == 25


@pytest.fixture
def api(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A fleet of its own for each test: shared by the module, the test that detected first opened
    the cases and the other, run after it in a random order, found none to open (CI: 0 == 5)."""
    import gc

    gc.collect()  # earlier tests' policy engines are dropped here, not by a collection on the app's thread
    url = f"sqlite:///{tmp_path_factory.mktemp('rapi') / 'g.db'}"
    rt = build_test_runtime(url, homes=12)
    a = make_api(rt, "sqlite")
    yield a
    rt.close()
    del a, rt
    gc.collect()


def test_api_detect_run_and_cases(api: Any) -> None:
    assert api.post("/api/remediation/detect", {}, user="alice").status_code == 403
    r = api.post("/api/remediation/detect", {"dry_run": False}, user="dave")
    assert r.status_code == 200 and r.json()["opened"] == 5
    r = api.post("/api/remediation/run", {"timeout_s": 60}, user="remediator")
    assert r.status_code == 200 and r.json()["drained"], r.json()
    st = api.get("/api/remediation/status").json()
    assert st["cases"]["applied"] == 4 and {p["problem"] for p in st["problems"]} >= {"dns_lost"}
    items = api.get("/api/remediation/cases", params={"status": "applied,escalated"}).json()
    assert items["total"] == 5
    dev = conditions()["dns_lost_after_fw_bug"][0]
    (case,) = api.get("/api/remediation/cases", params={"device_id": dev}).json()["items"]
    one = api.get(f"/api/remediation/cases/{case['id']}").json()
    assert one["problem"] == "dns_lost" and one["proposal_ids"]
    assert api.get("/api/remediation/cases/rc-nope").status_code == 404
    bad = api.post(f"/api/remediation/cases/{case['id']}/close", {"reason": "x", "extra": 1}, user="bob")
    assert bad.status_code == 422
    closed = api.post(f"/api/remediation/cases/{case['id']}/close", {"reason": "confirmed"}, user="bob")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    again = api.post(f"/api/remediation/cases/{case['id']}/close", {"reason": "again"}, user="bob")
    assert again.status_code == 409 and again.json()["error"] == "conflict"


def test_api_adopt_profiles_and_compat(api: Any) -> None:
    api.post("/api/remediation/detect", {}, user="dave")
    api.post("/api/remediation/run", {}, user="dave")
    esc = api.get("/api/remediation/cases", params={"status": "escalated"}).json()["items"]
    if esc:
        r = api.post(f"/api/remediation/cases/{esc[0]['id']}/adopt", user="dave")
        assert r.status_code == 200 and r.json()["status"] == "proposed"
        assert api.post(f"/api/remediation/cases/{esc[0]['id']}/adopt", user="dave").status_code == 409
    assert api.post("/api/remediation/cases/rc-nope/adopt", user="remediator").status_code in (403, 404)
    profiles = api.get("/api/remediation/profiles").json()
    assert {p["id"] for p in profiles["items"]} == {"baseline", "business", "cwmp-management"}
    assert api.get("/api/remediation/profiles/business").json()["version"] == 1
    assert api.get("/api/remediation/profiles/nope").status_code == 404
    assert api.get("/api/remediation/profiles/check").json()["ok"] is True
    compat = api.get("/api/compat", params={"workflow": "config"}).json()
    assert compat["items"] and all(r["workflow"] == "config" for r in compat["items"])
    assert api.post("/api/remediation/problems/dns_lost/halt", {"reason": "test"}, user="bob").json()["state"] \
        == "halted"
    assert api.post("/api/remediation/problems/dns_lost/resume", user="alice").status_code == 403
    assert api.post("/api/remediation/problems/dns_lost/resume", user="bob").json()["state"] == "running"
    assert api.post("/api/remediation/problems/nope/halt", {"reason": "x"}, user="bob").status_code == 404


def test_console_mounts_the_view(api: Any) -> None:
    main = api.client.get("/static/js/main.js").text
    assert 'import { remediationView } from "/static/remediation.js"' in main and "remediation: remediationView" in main
    assert 'data-view="remediation"' in api.client.get("/").text
    js = api.client.get("/static/remediation.js")
    assert js.status_code == 200 and "export async function remediationView" in js.text
    assert "innerHTML" not in js.text  # data goes in as text
