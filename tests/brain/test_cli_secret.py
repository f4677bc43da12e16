"""``gateward chat``'s secret field (issue 54): ``--secret-stdin`` for one turn, ``/secret`` (typed
without echo) in the session, and ``gateward show`` naming what the secret is for with the
fingerprint the agent saw. The passphrase never appears in what the command prints."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

SECRET = "Linden-Allee-2287"


@pytest.fixture
def cli(world: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    import gateward.cli as gw

    monkeypatch.setattr(gw, "_runtime", world.runtime)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return lambda args, stdin=None: CliRunner().invoke(gw.app, args, input=stdin)


def test_secret_stdin_drafts_it_and_show_gives_its_fingerprint(cli: Any, device: Any) -> None:
    from core.secret_fingerprint import secret_fingerprint

    res = cli(["chat", "--device", device("healthy", 11), "--as", "alice", "-m", "change the wifi password",
               "--secret-stdin", "--json"], stdin=SECRET + "\n")
    assert res.exit_code == 0, res.output
    assert SECRET not in res.output
    events = [json.loads(line) for line in res.output.splitlines() if line.startswith("{")]
    prop = next(e for e in events if e["kind"] == "proposal")
    fp = secret_fingerprint(SECRET)
    assert {s["new_fingerprint"] for s in prop["data"]["secrets"]} == {fp}
    shown = cli(["show", prop["data"]["proposal_id"]])
    assert shown.exit_code == 0 and SECRET not in shown.output
    assert f"fingerprint {fp}" in shown.output and "Wi-Fi passphrase" in shown.output


def test_secret_stdin_needs_a_message(cli: Any, device: Any) -> None:
    res = cli(["chat", "--device", device("healthy", 11), "--as", "alice", "--secret-stdin"], stdin=SECRET + "\n")
    assert res.exit_code == 2 and "--message" in res.output


def test_the_session_asks_for_the_secret_without_echo(cli: Any, device: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import getpass

    asked: list[str] = []
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": asked.append(prompt) or SECRET)
    res = cli(["chat", "--device", device("healthy", 12), "--as", "alice"],
              stdin="the customer wants a new wifi password\n/quit\n")
    assert res.exit_code == 0, res.output
    assert asked and "proposal" in res.output and SECRET not in res.output
