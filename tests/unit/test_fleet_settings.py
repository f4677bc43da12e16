"""The fleet page's time settings read one way: a number of seconds, refused by name otherwise, and
``gateward run`` refuses a bad one in one line before serving."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.fleet_metrics import online_window_s
from api.fleet_overview import presence_ttl_s

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("raw", "ttl"), [("", 30.0), ("0", 0.0), ("2.5", 2.5)])
def test_presence_seconds(monkeypatch: pytest.MonkeyPatch, raw: str, ttl: float) -> None:
    monkeypatch.setenv("GATEWARD_FLEET_PRESENCE_S", raw)
    assert presence_ttl_s() == ttl


@pytest.mark.parametrize("raw", ["soon", "-1"])
def test_bad_seconds_are_refused_by_name(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("GATEWARD_FLEET_PRESENCE_S", raw)
    monkeypatch.setenv("GATEWARD_METRICS_ONLINE_S", "0")
    with pytest.raises(ValueError, match="GATEWARD_FLEET_PRESENCE_S"):
        presence_ttl_s()
    with pytest.raises(ValueError, match=r"GATEWARD_METRICS_ONLINE_S.*> 0"):
        online_window_s()


def test_run_refuses_a_bad_presence_setting_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "GATEWARD_HOME": str(tmp_path), "GATEWARD_DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}",
           "GATEWARD_FLEET_PRESENCE_S": "soon"}
    out = subprocess.run([sys.executable, "-m", "gateward.cli", "run", "--port", "0"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode != 0
    assert "GATEWARD_FLEET_PRESENCE_S='soon': not a number of seconds" in out.stderr + out.stdout
    assert "Traceback" not in out.stderr
