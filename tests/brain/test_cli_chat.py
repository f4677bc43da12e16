"""``gateward chat`` as a support agent runs it (in-process, on the session's seeded fleet)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner


@pytest.fixture
def cli(world: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    import gateward.cli as gw

    monkeypatch.setattr(gw, "_runtime", world.runtime)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return lambda args: CliRunner().invoke(gw.app, args)


def test_chat_one_shot_from_message_to_verified_change(cli: Any, device: Any) -> None:
    dev = device("dfs_radar", 5)
    res = cli(["chat", "--device", dev, "--as", "alice", "--message", "Wi-Fi dies every evening", "--apply", "--json"])
    assert res.exit_code == 0, res.output
    events = [json.loads(line) for line in res.output.splitlines() if line.startswith("{")]
    assert "proposal" in [e["kind"] for e in events]
    assert events[-1]["kind"] == "outcome" and events[-1]["data"]["state"] == "done"


def test_chat_shows_the_proposal_and_how_to_continue(cli: Any, device: Any) -> None:
    res = cli(["chat", "--device", device("wifi_congestion", 1), "--as", "alice", "-m", "wifi slow in the evening"])
    assert res.exit_code == 0, res.output
    assert "proposal" in res.output and "→" in res.output and "waiting for confirm" in res.output
    tid = res.output.split("thread ", 1)[1].split()[0]
    again = cli(["chat", "--thread", tid, "--as", "alice", "-m", "cancel"])
    assert again.exit_code == 0 and "withdrawn" in again.output


def test_chat_interactive_session(cli: Any, device: Any) -> None:
    from gateward.cli import app

    res = CliRunner().invoke(app, ["chat", "--device", device("healthy", 0), "--as", "alice"],
                             input="hello?\n/history\n/quit\n")
    assert res.exit_code == 0, res.output
    assert "question" in res.output


def test_chat_refuses_bad_input_with_one_line(cli: Any) -> None:
    bad = cli(["chat", "--device", "nope", "--as", "alice", "-m", "hi"])
    assert bad.exit_code == 2 and "unknown device" in bad.output
    none = cli(["chat", "--as", "alice", "-m", "hi"])
    assert none.exit_code == 2 and "--device" in none.output
    llm = cli(["chat", "--device", "x", "--as", "alice", "-m", "hi", "--planner", "llm"])
    assert llm.exit_code == 2 and "OPENAI_API_KEY" in llm.output
    who = cli(["chat", "--device", "x", "--as", "mallory", "-m", "hi"])
    assert who.exit_code == 2 and "unknown user" in who.output
