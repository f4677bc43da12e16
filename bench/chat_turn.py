"""``chat_turn``: wall time of one support-chat turn as an agent waits for it (issue 38).

Why: ``gateward chat -m`` took 3–6 s a turn while the planner's own turn is ~0.1 s — the command's
set-up, not the thinking. Measured here on a seeded fleet (the database seeded and migrated once,
then reused by every turn):

* **CLI** — ``gateward chat -d DEVICE --as alice -m MESSAGE`` as a fresh process each time
  (interpreter start + imports + runtime + the turn), interleaved with ``python -c pass`` as the
  machine's baseline; CPU time beside wall time because it barely moves when other work shares the
  cores. Without bytecode written (``PYTHONDONTWRITEBYTECODE``, the development machines) every
  run compiles Gateward's sources; the ``*_pyc`` rows time it again with the bytecode cached, as an
  installed package runs.
* **CLI via server** (``cli_server_*``) — ``gateward chat --server URL -d DEVICE -m MESSAGE`` as a fresh
  process with the agent's token in ``GATEWARD_TOKEN`` and no database configured: the turn runs in
  the running ``gateward run`` (``gateward/chat_remote.py``), the process loads httpx, not the planner.
* **console** — the API a console uses on a running ``gateward run``: ``POST …/messages`` in a
  thread opened just before (``POST /api/chat/threads``), timed until the turn's event stream ends.

Two kinds of turn: a question that needs only an answer (``brain.answers``: no LangGraph, no
operation matcher) and a symptom the planner diagnoses (the graph: evidence → findings → a
question or a draft). Goals (issue 38): p50 ≤ 1 s from the CLI, ≤ 0.5 s from the console.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.framework import BenchResult, percentile

NAME = "chat_turn"
# metrics every --quick run reports (tests/bench_smoke)
KEYS = ("cli_question_p50_s", "cli_diagnosis_p50_s", "console_question_p50_s", "console_diagnosis_p50_s")
DESCRIPTION = ("p50 wall of one chat turn: gateward chat -m (fresh process, in-process or --server) and the console "
               "API, question vs diagnosis")

TURNS = {
    "question": "what firmware is it on, and when did it last reboot?",
    "diagnosis": "the customer says the wifi drops every evening",
}


def _prepare(url: str, homes: int) -> tuple[str, str]:
    """Seed the fleet once (migrations run here, not in a timed turn): (a TR-181 device, a token)."""
    from core.kernel.config import Settings
    from core.store import repo
    from core.users import issue_token
    from gateward.runtime import build_runtime
    from gateward.seed import seed_fleet

    rt = build_runtime(Settings(database_url=url))
    try:
        seed_fleet(rt, homes=homes, seed=7)
        with rt.store.read() as s:
            devices = repo.list_devices(s, limit=homes * 4)[0]
        device = next(d for d in devices if str(d.root) == "Device.")
        return device.id, issue_token(rt.store, "alice")
    finally:
        rt.close()


def _console_turn(client: Any, device: str, text: str) -> tuple[float, str]:
    """One console turn in a thread the console has open: post the message, read the stream to its
    end (the thread is opened before the clock starts, as the console opens it with the chat)."""
    tid = client.post("/api/chat/threads", json={"device_id": device}).json()["thread_id"]
    start = time.perf_counter()
    last = ""
    with client.stream("POST", f"/api/chat/threads/{tid}/messages", json={"text": text}) as r:
        for line in r.iter_lines():
            if line.startswith("data:"):
                with contextlib.suppress(ValueError):
                    last = json.loads(line[5:]).get("kind", last)
    return time.perf_counter() - start, last


def run(quick: bool) -> BenchResult:
    import httpx

    from bench.api_latency import _server
    from bench.cli_wall import _gateward, _run

    runs = 5 if quick else 15
    homes = 60 if quick else 200
    tmp = Path(tempfile.mkdtemp(prefix="gw-chat-turn-"))
    (tmp / "home").mkdir()
    url = f"sqlite:///{tmp / 'gateward.db'}"
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWARD_", "OPENAI_"))}
    base_env.update({"GATEWARD_HOME": str(tmp / "home"), "GATEWARD_DATABASE_URL": url})
    no_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE")) or sys.dont_write_bytecode
    modes = {"": base_env}
    if no_bytecode:
        pyc = {k: v for k, v in base_env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        modes["_pyc"] = {**pyc, "PYTHONPYCACHEPREFIX": str(tmp / "pyc")}
    device, token = _prepare(url, homes)
    gw = _gateward()
    commands: dict[str, tuple[list[str], dict[str, str]]] = {}
    for suffix, env in modes.items():
        commands[f"python_pass{suffix}"] = ([sys.executable, "-c", "pass"], env)
        for kind, text in TURNS.items():
            commands[f"cli_{kind}{suffix}"] = ([*gw, "chat", "-d", device, "--as", "alice", "-m", text], env)
    metrics: dict[str, float] = {}
    rows: list[tuple[str, str]] = []
    try:
        for argv, env in commands.values():  # warm-up: page cache, cached bytecode (*_pyc)
            _run(argv, env)
        wall: dict[str, list[float]] = {k: [] for k in commands}
        cpu: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(runs):  # interleaved: a burst of load hits every command alike
            for key, (argv, env) in commands.items():
                w, c = _run(argv, env)
                wall[key].append(w)
                cpu[key].append(c)
        for key in commands:
            metrics[f"{key}_p50_s"] = round(percentile(wall[key], 50), 3)
            metrics[f"{key}_cpu_p50_s"] = round(percentile(cpu[key], 50), 3)
            rows.append((f"{key} wall p50 (cpu p50)",
                         f"{metrics[f'{key}_p50_s']:.3f} s ({metrics[f'{key}_cpu_p50_s']:.3f} s)"))
        kinds: dict[str, str] = {}
        with _server(url, tmp / "home", homes) as (base, _pid), httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
            for text in TURNS.values():
                _console_turn(client, device, text)  # warm-up: the server's first turn loads the planner
            # The agent's shell for --server: the server and a token, no database, no actor.
            agent = {k: v for k, v in modes[""].items() if k != "GATEWARD_DATABASE_URL"}
            agent.update({"GATEWARD_SERVER_URL": base, "GATEWARD_TOKEN": token})
            remote: dict[str, tuple[list[str], dict[str, str]]] = {"python_pass_server": commands["python_pass"]}
            for kind, text in TURNS.items():
                remote[f"cli_server_{kind}"] = ([*gw, "chat", "-d", device, "-m", text], agent)
            for argv, env in remote.values():  # warm-up
                _run(argv, env)
            console: dict[str, list[float]] = {k: [] for k in TURNS}
            for key in remote:
                wall[key], cpu[key] = [], []
            for _ in range(runs * 2):
                for kind, text in TURNS.items():
                    seconds, kinds[kind] = _console_turn(client, device, text)
                    console[kind].append(seconds)
            for _ in range(runs):
                for key, (argv, env) in remote.items():
                    w, c = _run(argv, env)
                    wall[key].append(w)
                    cpu[key].append(c)
        for key in remote:
            metrics[f"{key}_p50_s"] = round(percentile(wall[key], 50), 3)
            metrics[f"{key}_cpu_p50_s"] = round(percentile(cpu[key], 50), 3)
            rows.append((f"{key} wall p50 (cpu p50 of the CLI process)",
                         f"{metrics[f'{key}_p50_s']:.3f} s ({metrics[f'{key}_cpu_p50_s']:.3f} s)"))
        for kind, xs in console.items():
            metrics[f"console_{kind}_p50_s"] = round(percentile(xs, 50), 3)
            metrics[f"console_{kind}_p95_s"] = round(percentile(xs, 95), 3)
            rows.append((f"console_{kind} wall p50 / p95 (last event: {kinds.get(kind)})",
                         f"{metrics[f'console_{kind}_p50_s']:.3f} / {metrics[f'console_{kind}_p95_s']:.3f} s"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load = os.getloadavg()[0]
    rows.append(("load average (1 min) at the end", f"{load:.2f}"))
    return BenchResult(
        name=NAME, metrics=metrics, rows=rows,
        params={"quick": quick, "runs": runs, "homes": homes, "device": device, "turns": TURNS,
                "bytecode_written": not no_bytecode, "loadavg_1m": round(load, 2)},
        notes=["cli_*: a fresh `gateward chat -m` process per turn on a seeded, migrated SQLite fleet; "
               "python_pass: the interpreter alone (how much of a figure is the machine).",
               "cli_server_*: a fresh `gateward chat --server URL -m` process (token in GATEWARD_TOKEN, no database) "
               "whose turn runs in the running `gateward run`; its cpu is the CLI process's alone (the server's "
               "work is in the wall time). python_pass_server: the baseline again, in the same minutes.",
               "console_*: one message through the API of a running `gateward run` (its thread opened before "
               "the clock starts), until the event stream ends.",
               "Goals (issue 38): a turn p50 <= 1 s from the CLI, <= 0.5 s from the console."],
    )
