"""The CLI end to end on SQLite (the real entry point, in process: ``testing/cli.py``): one-line
errors with exit 2, create → approve → start --wait (the worker runs in-process) → status with
per-ring progress bars."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from testing.cli import CliResult, run_cli
from tests.campaigns.conftest import campaign_runtime
from tests.campaigns.helpers import PATH

ROOT = Path(__file__).resolve().parents[2]


def _gw(url: str, *args: str) -> CliResult:
    return run_cli(*args, env={"GATEWARD_DATABASE_URL": url}, cwd=ROOT, columns=160)


@pytest.mark.slow
def test_cli_walk(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    rt: Any = campaign_runtime(url, homes=30)
    rt.close()
    bad = _gw(url, "campaign", "create", "x", "--as", "dave", "--all", "--emergency", "--set", f"{PATH}=false",
              "--canary", "5", "--rings", "50,20,100")
    assert bad.returncode == 2 and "rings must grow" in bad.stderr and "Traceback" not in bad.stderr
    ok = _gw(url, "campaign", "create", "hide", "--as", "dave", "--all", "--emergency", "--set", f"{PATH}=false",
             "--auto-promote", "--pause-s", "0", "--batch", "5")
    assert ok.returncode == 0, ok.stderr
    listed = json.loads(_gw(url, "campaign", "status", "--json").stdout)
    cid, pid = listed[0]["id"], listed[0]["proposal_id"]
    assert "gateward approve " + pid in ok.stdout
    pv = _gw(url, "campaign", "preview", cid)
    assert pv.returncode == 0 and "canary" in pv.stdout and "per-class diff" in pv.stdout
    for who in ("carol", "bob"):
        _gw(url, "approve", pid, "--as", who)
    run = _gw(url, "campaign", "start", cid, "--as", "dave", "--wait")
    assert run.returncode == 0, run.stderr
    assert "completed" in run.stdout and "canary" in run.stdout
    st = json.loads(_gw(url, "campaign", "status", cid, "--json").stdout)
    assert st["state"] == "completed" and st["progress"]["verified"] == st["devices"] - st["progress"]["not_started"]
