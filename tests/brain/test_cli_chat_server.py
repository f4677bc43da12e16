"""``gateward chat --server URL``: a support agent's CLI talking to a running ``gateward run``
(issue 38 item 5) — the same events as in-process, one clear line for every refusal, and a
process that never imports SQLAlchemy, LangGraph, the planner or the policy engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from testing.servers import GatewardRun, free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
QUESTION = "what firmware is it on, and when did it last reboot?"
HEAVY = ("sqlalchemy", "langgraph", "langchain_core", "brain", "policies", "alembic", "networkx", "core.store")


class Served:
    def __init__(self, base: str, device: str, tmp: Path, tokens: dict[str, str],
                 conditions: dict[str, list[str]]) -> None:
        self.base, self.device, self.tmp, self.tokens = base, device, tmp, tokens
        self.conditions = conditions

    def env(self, who: str = "alice", **extra: str) -> dict[str, str]:
        """The agent's shell: the server and a token file, no database, no actor."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWARD_", "OPENAI_"))}
        tok = self.tmp / f"{who}.token"
        tok.write_text(self.tokens[who] + "\n")
        env.update({"GATEWARD_HOME": str(self.tmp / "agent"), "GATEWARD_SERVER_URL": self.base,
                    "GATEWARD_TOKEN_FILE": str(tok)})
        env.update(extra)
        return env


def gw(env: dict[str, str], *args: str, importtime: bool = False,
       stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    x = ["-X", "importtime"] if importtime else []
    return subprocess.run([sys.executable, *x, "-m", "gateward.cli", "chat", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, input=stdin)


def imported(stderr: str) -> set[str]:
    """Module names from ``-X importtime``'s lines (``import time: self | cumulative | name``)."""
    out = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            out.add(line.rsplit("|", 1)[1].strip())
    return out


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    from core.kernel.config import Settings
    from core.store import repo
    from core.users import issue_token
    from executors.sim.fleet import generate_fleet
    from gateward.runtime import build_runtime
    from gateward.seed import seed_fleet

    tmp = tmp_path_factory.mktemp("chat-server")
    (tmp / "home").mkdir()
    (tmp / "agent").mkdir()
    url = f"sqlite:///{tmp / 'gateward.db'}"
    rt = build_runtime(Settings(database_url=url))
    try:
        seed_fleet(rt, homes=6, seed=7)
        with rt.store.read() as s:
            device = next(d for d in repo.list_devices(s, limit=50)[0] if str(d.root) == "Device.").id
        tokens = {who: issue_token(rt.store, who) for who in ("alice", "bob")}
    finally:
        rt.close()
    conditions = {k: list(v) for k, v in generate_fleet(6, 7, telemetry=False).conditions.items()}
    # Judged inside the shipped night windows whatever the hour the suite runs (as the evals are).
    with GatewardRun(home=tmp / "home", database_url=url, homes=6, cwd=ROOT,
                     env={"GATEWARD_POLICY_TIME": "02:30"}) as run:
        yield Served(run.base, device, tmp, tokens, conditions)


def test_a_turn_through_the_server_prints_the_events_and_loads_nothing_heavy(served: Served) -> None:
    res = gw(served.env(), "-d", served.device, "-m", QUESTION, "--json", importtime=True)
    assert res.returncode == 0, res.stderr[-2000:]
    events = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    kinds = [e["kind"] for e in events]
    assert "answer" in kinds, res.stdout
    assert all(e["thread_id"] == events[0]["thread_id"] for e in events)
    mods = imported(res.stderr)
    assert "httpx" in mods  # the parse works: the client's own import is there
    heavy = sorted(m for m in mods if m.split(".")[0] in HEAVY or m.startswith(HEAVY))
    assert heavy == [], heavy

    # The thread is on the server: its owner reads it through the API the console uses.
    tid = events[0]["thread_id"]
    r = httpx.get(f"{served.base}/api/chat/threads/{tid}",
                  headers={"Authorization": f"Bearer {served.tokens['alice']}"})
    assert r.status_code == 200 and r.json()["thread"]["owner"] == "alice"
    assert [e["kind"] for e in r.json()["events"]][-len(kinds):] == kinds


def test_text_output_is_the_in_process_format_and_a_thread_continues(served: Served) -> None:
    res = gw(served.env(), "-d", served.device, "-m", QUESTION)
    assert res.returncode == 0, res.stderr
    assert "planner server http://127.0.0.1:" in res.stdout
    assert any(line.startswith("answer ") for line in res.stdout.splitlines()), res.stdout
    tid = res.stdout.split("thread ", 1)[1].split()[0]
    again = gw(served.env(), "--thread", tid, "-m", "and what channel is the 5 GHz radio on?")
    assert again.returncode == 0, again.stderr
    assert f"thread {tid}" in again.stdout


def test_diagnosis_turn_streams_the_planner_steps(served: Served) -> None:
    res = gw(served.env(), "-d", served.device, "-m", "the customer says the wifi drops every evening", "--json")
    assert res.returncode == 0, res.stderr
    kinds = [json.loads(line)["kind"] for line in res.stdout.splitlines() if line.startswith("{")]
    assert kinds and set(kinds) & {"question", "proposal", "answer", "escalation"}, kinds


def test_a_proposal_waits_for_confirm_and_apply_runs_it_through_the_server(served: Served) -> None:
    dev = served.conditions["wifi_congestion"][0]
    res = gw(served.env(), "-d", dev, "-m", "wifi slow in the evening")
    assert res.returncode == 0, res.stderr
    assert "proposal" in res.stdout and "→" in res.stdout, res.stdout
    tid = res.stdout.split("thread ", 1)[1].split()[0]
    said = " ".join(res.stdout.split())  # rich wraps at the terminal's width
    assert "waiting for confirm on" in said and f"gateward chat --server {served.base} --thread {tid} -m apply" in said
    applied = gw(served.env(), "--thread", tid, "-m", "apply", "--json")
    assert applied.returncode == 0, applied.stderr
    events = [json.loads(line) for line in applied.stdout.splitlines() if line.startswith("{")]
    assert events[-1]["kind"] == "outcome" and events[-1]["data"]["state"] == "done", events[-1]


def test_interactive_session_through_the_server(served: Served) -> None:
    res = gw(served.env(), "-d", served.conditions["healthy"][0], stdin="hello?\n/history\n/quit\n")
    assert res.returncode == 0, res.stderr
    assert "question" in res.stdout and "type your message" in res.stdout


def one_line_error(res: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


def test_refusals_are_one_line_and_non_zero(served: Served) -> None:
    bad = gw(served.env(GATEWARD_TOKEN="gw_not-a-real-token", GATEWARD_TOKEN_FILE=""), "-d", served.device,
             "-m", QUESTION)
    assert bad.returncode == 2 and "refused the API token" in one_line_error(bad)

    other = gw(served.env(), "--thread", "nope-thread", "-m", "hi")
    assert other.returncode == 2 and "unknown chat thread 'nope-thread'" in one_line_error(other)

    mine = gw(served.env("alice"), "-d", served.device, "-m", QUESTION)
    tid = mine.stdout.split("thread ", 1)[1].split()[0]
    theirs = gw(served.env("bob"), "--thread", tid, "-m", "hi")
    assert theirs.returncode == 2 and f"forbidden: thread {tid} belongs to alice" in one_line_error(theirs)

    who = gw(served.env("bob"), "--as", "alice", "-d", served.device, "-m", "hi")
    assert who.returncode == 2 and "the API token belongs to bob, not alice" in one_line_error(who)

    none = gw(served.env(GATEWARD_TOKEN_FILE=""), "-d", served.device, "-m", "hi")
    assert none.returncode == 2 and "GATEWARD_TOKEN" in one_line_error(none)

    away = gw(served.env(GATEWARD_SERVER_URL=f"http://127.0.0.1:{free_port()}"), "-d", served.device, "-m", "hi")
    assert away.returncode == 1 and "cannot reach the Gateward server" in one_line_error(away)


@pytest.fixture
def draining_server() -> Iterator[str]:
    """The API's drain gate (``api/draining.py``, what ``gateward run`` mounts) in front of a chat route,
    served by uvicorn on a free port with this process draining (as after SIGTERM)."""
    import threading
    import time

    import uvicorn
    from fastapi import FastAPI

    from api.draining import DrainGate
    from core.lifecycle import draining

    app = FastAPI()

    @app.post("/api/chat/threads")
    def start() -> dict[str, str]:  # reached only if the gate let the write through
        return {"thread_id": "t-should-not-open"}

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(DrainGate(app), host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    draining.begin()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        draining.reset()
        server.should_exit = True
        t.join(10)


def test_a_server_shutting_down_is_one_line(served: Served, draining_server: str) -> None:
    res = gw(served.env(GATEWARD_SERVER_URL=draining_server), "-d", served.device, "-m", QUESTION)
    assert res.returncode == 1 and "is shutting down" in one_line_error(res), res.stderr


def test_the_token_is_a_secret_setting() -> None:
    from core.kernel.secret_env import SECRET_SETTINGS, secret_report

    assert "GATEWARD_TOKEN" in SECRET_SETTINGS
    report: Any = dict(secret_report({"GATEWARD_TOKEN_FILE": "/run/secrets/gw"}))
    assert report["GATEWARD_TOKEN"] == "set (file)"
