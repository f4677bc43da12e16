"""Every long-running worker command logs as ``gateward run`` does (issue 36): one JSON object a
line on stderr (``GATEWARD_LOG_FORMAT``, redacted) — ``gateward remediation worker`` as well as
``gateward worker``, which are the same worker. A real process, stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import build_test_runtime

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _json_lines(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """(the JSON objects, the lines that are not one)."""
    objs: list[dict[str, Any]] = []
    other: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            objs.append(obj)
        else:
            other.append(line)
    return objs, other


@pytest.mark.parametrize("command", [["remediation", "worker"], ["worker"]], ids=["remediation-worker", "worker"])
def test_a_worker_command_logs_json_lines(tmp_path: Path, command: list[str]) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    build_test_runtime(url, homes=3).close()
    secret = tmp_path / "opa-token"
    secret.write_text("never-logged-7f3a1\n")
    env = {**{k: v for k, v in os.environ.items() if k not in ("GATEWARD_LOG_FORMAT", "GATEWARD_FAILPOINTS")},
           "GATEWARD_DATABASE_URL": url, "GATEWARD_SHUTDOWN_S": "20", "PYTHONUNBUFFERED": "1",
           "GATEWARD_OPA_TOKEN_FILE": str(secret)}
    err = tmp_path / "stderr.log"
    proc = subprocess.Popen([sys.executable, "-m", "gateward.cli", *command], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=err.open("wb"))
    try:
        end = time.monotonic() + 90
        # The queue's worker says it started (INFO, from procrastinate) — only a configured process logs it.
        while not any("Starting worker" in str(o.get("msg")) for o in _json_lines(err.read_text())[0]):
            assert proc.poll() is None, err.read_text()[-3000:]
            assert time.monotonic() < end, f"no JSON line saying the worker started:\n{err.read_text()[-3000:]}"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = err.read_text()
    assert code == 0, text[-3000:]
    objs, other = _json_lines(text)
    assert not other, other  # every line a JSON object: nothing a log pipeline cannot parse
    assert all({"ts", "level", "logger", "msg"} <= set(o) for o in objs), objs
    assert any(o["logger"] == "gateward.shutdown" and "draining" in o["msg"] for o in objs), objs
    assert "never-logged-7f3a1" not in text
