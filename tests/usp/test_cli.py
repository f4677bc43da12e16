"""``gateward usp …``: clear one-line errors, and the agents command end to end (``usp agents`` runs in a
process of its own until it is stopped; the commands that ask its agents run in process, ``testing/cli.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateward.cli import app
from testing.cli import run_cli
from testing.mqtt_broker import free_port
from tests.usp.support import BrokerInfo

pytestmark = pytest.mark.mqtt


def test_missing_broker_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWARD_MQTT_URL", f"mqtt://127.0.0.1:{free_port()}")
    result = CliRunner().invoke(app, ["usp", "events", "--seconds", "1"])
    assert result.exit_code == 2
    assert "no MQTT broker answers" in result.output


def test_bad_options_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(app, ["usp", "agents", "--mqtt", "4"])
    assert result.exit_code == 2 and "--mqtt must be 5 or 3" in result.output


@pytest.mark.slow
def test_agents_devices_and_get(tmp_path: Path, usp_broker: BrokerInfo) -> None:
    if not usp_broker.mqtt5:
        pytest.skip("needs an MQTT 5 broker")
    mine = {"GATEWARD_HOME": str(tmp_path / "var"), "GATEWARD_MQTT_URL": usp_broker.url,
            "GATEWARD_USP_ENDPOINT_ID": "proto::gw-cli-test"}
    env = {**os.environ, **mine, "COLUMNS": "200"}
    assert run_cli("seed", "--homes", "12", env=mine).returncode == 0
    agents = subprocess.Popen([sys.executable, "-m", "gateward.cli", "usp", "agents", "--report-every", "60"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert agents.stdout is not None
        line = agents.stdout.readline()
        assert "USP agents on" in line, line
        out = run_cli("usp", "devices", "--all-usp", env=mine)
        assert out.returncode == 0, out.stderr
        assert "answered a probe" in out.stdout
        device = next(w for w in out.stdout.split() if w.startswith("3C9A77-PX7000-"))
        got = run_cli("usp", "get", device, "Device.DeviceInfo.SerialNumber", env=mine)
        assert got.returncode == 0 and device.split("-")[-1] in got.stdout
        bad = run_cli("usp", "get", device, "Device.Nope.", env=mine)
        assert bad.returncode == 2 and "invalid parameter name" in bad.stderr
    finally:
        agents.terminate()
        agents.wait(30)  # the assertion: raises TimeoutExpired if SIGTERM does not stop it
