"""A turn that only asks for facts is answered without the planner graph (issue 38 item 5): the
CLI's ~1.4 s of LangGraph/LangChain imports and graph set-up are paid only by turns that need
them, and the answer is the one the graph's answer path gives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def test_a_fact_question_builds_no_graph_and_is_recorded(rt: Any, device: Any, actor: Any) -> None:
    from brain.service import ChatService

    svc = ChatService(rt, planner="offline")
    try:
        alice = actor("alice")
        tid = svc.start(device("healthy", 6), alice)
        events = list(svc.send(tid, "which channel is the 2.4 GHz radio on?", alice))
        assert events[-1].kind == "answer" and "Device.WiFi.Radio." in events[-1].text
        assert "graph" not in svc.__dict__  # LangGraph never compiled for this turn
        assert svc.awaiting(tid) is None and "graph" not in svc.__dict__
        assert [e.kind for e in svc.history(tid)][-1] == "answer"
        # a request in the same thread runs the graph as before
        later = list(svc.send(tid, "the wifi drops every evening", alice))
        assert "graph" in svc.__dict__ and later[-1].kind in ("question", "proposal", "escalation", "answer")
    finally:
        svc.close()


def test_a_secret_or_a_request_never_takes_the_fast_path(rt: Any, device: Any, actor: Any) -> None:
    from brain.service import ChatService

    svc = ChatService(rt, planner="offline")
    try:
        alice = actor("alice")
        tid = svc.start(device("healthy", 7), alice)
        list(svc.send(tid, "what firmware is it on? the new wifi password is 'Green-Meadow-2044'", alice))
        assert "graph" in svc.__dict__
        assert all("Green-Meadow-2044" not in e.text for e in svc.history(tid))
    finally:
        svc.close()


@pytest.mark.slow
def test_cli_question_turn_imports_no_langgraph(tmp_path: Path) -> None:
    """``gateward chat -m 'what firmware …?'`` in a fresh process on a seeded database: answered,
    without importing LangGraph, LangChain or Alembic."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWARD_", "OPENAI_"))}
    env.update({"GATEWARD_HOME": str(tmp_path), "GATEWARD_DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}"})
    subprocess.run([sys.executable, "-m", "gateward.cli", "seed", "--homes", "20"], env=env, check=True,
                   capture_output=True)
    probe = ("import sys, runpy; sys.argv = ['gateward', 'chat', '-d', 'A4C3F0-G240W-LMNT00000001', '--as', "
             "'alice', '-m', 'what firmware is it on?']\n"
             "try:\n    runpy.run_module('gateward.cli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
             "print('LOADED', sorted(m for m in ('langgraph', 'langchain_core', 'langsmith', 'alembic') "
             "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert "answer" in out.stdout and "Device.DeviceInfo.SoftwareVersion" in out.stdout
    assert "LOADED []" in out.stdout, out.stdout[-500:]
