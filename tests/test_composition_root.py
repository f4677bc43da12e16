"""One composition root (issue 14, item 5): the runtime builds each service once; the API's routers
receive those very instances through ``api.deps``; the one worker serves both queues; every CLI
command that acts as a person requires ``--as`` (or ``GATEWARD_ACTOR``) and loses nothing without it.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.conftest import build_test_runtime


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    runtime = build_test_runtime(f"sqlite:///{tmp_path_factory.mktemp('root') / 'g.db'}", homes=6)
    yield runtime
    runtime.close()


def _client(rt: Any) -> tuple[TestClient, dict[str, str]]:
    from api.app import create_app
    from core.users import issue_token

    return (TestClient(create_app(rt), raise_server_exceptions=False),
            {"Authorization": f"Bearer {issue_token(rt.store, 'dave')}"})


# ============================================================================ one instance per runtime
def test_each_service_is_built_once_even_under_concurrent_first_use(rt: Any) -> None:
    seen: dict[str, list[int]] = {"campaigns": [], "remediation": []}
    start = threading.Barrier(8)

    def grab() -> None:
        start.wait()
        for name in seen:
            seen[name].append(id(getattr(rt, name)))

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert {k: len(set(v)) for k, v in seen.items()} == {"campaigns": 1, "remediation": 1}
    assert rt.campaigns is rt.campaigns and rt.remediation is rt.remediation
    assert rt.campaigns.rt is rt and rt.remediation.rt is rt  # built over this runtime, not another


def test_two_runtimes_do_not_share_services(rt: Any, tmp_path: Path) -> None:
    other = build_test_runtime(f"sqlite:///{tmp_path / 'other.db'}", homes=2)
    try:
        assert other.campaigns is not rt.campaigns and other.remediation is not rt.remediation
        assert other.campaigns.store is other.store
    finally:
        other.close()
        del other
        gc.collect()  # its policy engine must be dropped on this thread, not by a collection on a server thread


# ============================================================================ routers use injected services
def test_routers_serve_the_runtimes_own_services(rt: Any) -> None:
    from api.routers import campaigns, remediation

    assert not hasattr(campaigns, "_services") and not hasattr(remediation, "_services")  # no module caches
    client, h = _client(rt)
    with client:
        assert client.get("/api/campaigns", headers=h).status_code == 200
        assert client.get("/api/remediation/status", headers=h).status_code == 200
        assert client.get("/api/fleet", headers=h).status_code == 200
    # The routers went through the runtime: the services it holds are the ones they built on.
    assert rt._campaigns is rt.campaigns and rt._remediation is rt.remediation


def test_a_router_answers_from_the_service_it_is_given(rt: Any) -> None:
    """Override the dependency with another real service (one profile only): the route's answer
    follows it, so the route reads the injected service and builds none of its own."""
    from api.deps import get_remediation
    from brain.remediation.profiles import ProfileSet
    from brain.remediation.service import Remediation

    full = rt.remediation.profiles.profiles
    assert len(full) >= 2, "the packaged profile set should hold several profiles"
    narrowed = Remediation(rt, profiles=ProfileSet(profiles=full[:1]))
    client, h = _client(rt)
    client.app.dependency_overrides[get_remediation] = lambda: narrowed  # type: ignore[attr-defined]
    with client:
        got = client.get("/api/remediation/profiles", headers=h).json()
    assert [p["id"] for p in got["items"]] == [full[0].id]
    client2, h2 = _client(rt)  # a second app over the same runtime: back to the runtime's own
    with client2:
        again = client2.get("/api/remediation/profiles", headers=h2).json()
    assert got["total"] == 1 and again["total"] == len(full)


def test_two_apps_over_one_runtime_share_its_services(rt: Any) -> None:
    before = (rt.campaigns, rt.remediation)
    for _ in range(2):
        client, h = _client(rt)
        with client:
            assert client.get("/api/campaigns", headers=h).status_code == 200
            assert client.get("/api/remediation/cases", headers=h).status_code == 200
    assert (rt.campaigns, rt.remediation) == before


# ============================================================================ one worker
def test_the_one_worker_serves_both_queues_with_the_runtimes_remediation(rt: Any) -> None:
    import campaigns.worker as cw
    from brain.remediation.worker import QUEUE as REMEDIATION_QUEUE
    from brain.remediation.worker import UNIT_TASK
    from campaigns.queue import BATCH_TASK
    from gateward import worker

    seen: dict[str, Any] = {}
    original = cw.serve

    async def spy(queue: Any, **kw: Any) -> None:  # records what the real engine is asked to run, then runs it
        seen.update(kw, tasks=set(queue.app.tasks))
        await original(queue, **kw)

    cw.serve = spy
    try:
        with worker.EmbeddedWorker(rt, tick_s=0.05) as w:
            threading.Event().wait(1.0)
        assert w.error is None
    finally:
        cw.serve = original
    assert set(seen["queues"]) == {"campaigns", REMEDIATION_QUEUE}
    assert {BATCH_TASK, UNIT_TASK} <= seen["tasks"]
    assert seen["context"]["gateward_remediation"] is rt.remediation


# ============================================================================ --as
ACTING = [
    ["propose", "--device", "D", "--set", "Device.WiFi.Radio.1.Channel=36", "--reason", "r"],
    ["approve", "p-1"], ["reject", "p-1", "--reason", "r"], ["cancel", "p-1"], ["apply", "p-1"],
    ["rollback", "p-1", "--reason", "r"], ["diagnose", "D"],
    ["chat", "--device", "D", "-m", "hello", "--planner", "offline"],
    ["campaign", "create", "n", "--all", "--set", "Device.WiFi.Radio.1.Channel=36"], ["campaign", "start", "c-1"],
    ["campaign", "pause", "c-1"], ["campaign", "resume", "c-1"], ["campaign", "promote", "c-1"],
    ["campaign", "abort", "c-1", "--reason", "r"],
    ["devices", "add", "--adapter", "sim", "--root", "Device.", "--vendor", "V", "--model", "M", "--firmware", "F"],
    ["devices", "retire", "D", "--reason", "r"], ["devices", "accept", "os::X"],
    ["devices", "reject", "os::X", "--reason", "r"],
    ["remediation", "close", "k-1"], ["remediation", "adopt", "k-1"], ["remediation", "halt", "wifi"],
    ["remediation", "resume", "wifi"],
]


@pytest.fixture
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from core.kernel.config import get_settings

    monkeypatch.setenv("GATEWARD_HOME", str(tmp_path))
    monkeypatch.setenv("GATEWARD_DATABASE_URL", f"sqlite:///{tmp_path / 'g.db'}")
    monkeypatch.delenv("GATEWARD_ACTOR", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.mark.parametrize("args", ACTING, ids=lambda a: " ".join(a[:2]))
def test_acting_commands_require_as_and_touch_nothing_without_it(args: list[str], empty_home: Path) -> None:
    from gateward.cli import app

    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, res.output
    out = res.stderr if res.stderr_bytes is not None else res.output
    assert "--as NAME" in out and "GATEWARD_ACTOR" in out
    assert not (empty_home / "g.db").exists()  # refused before any runtime was built


def test_imports_require_as_too(empty_home: Path) -> None:
    from gateward.cli import app

    rows = empty_home / "rows.csv"
    rows.write_text("id,adapter,root,vendor,model,firmware\nX-Y-1,sim,Device.,V,M,F\n")
    res = CliRunner().invoke(app, ["devices", "import", str(rows)])
    assert res.exit_code == 2 and "--as NAME" in res.stderr
    assert rows.read_text().count("\n") == 2 and not (empty_home / "g.db").exists()


def test_gateward_actor_names_who_acts(empty_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the environment variable the command gets past the check and fails on its own merits
    (an unknown user: the name was read and looked up in the directory)."""
    from gateward import cli

    monkeypatch.setenv("GATEWARD_ACTOR", "nobody-here")
    monkeypatch.setattr(cli, "_runtime", None)
    try:
        res = CliRunner().invoke(cli.app, ["approve", "p-1"])
        assert res.exit_code == 2
        assert "--as NAME" not in res.stderr and "nobody-here" in res.stderr
    finally:
        if cli._runtime is not None:
            cli._runtime.close()


def test_read_commands_take_no_actor(empty_home: Path) -> None:
    from gateward.cli import app

    for args in (["proposals"], ["show"], ["device"], ["campaign", "status"], ["devices", "pending"],
                 ["remediation", "status"], ["audit", "verify"]):
        res = CliRunner().invoke(app, [*args, "--help"])
        assert res.exit_code == 0 and "--as" not in res.output, args
    acting = CliRunner().invoke(app, ["approve", "--help"])
    assert "--as" in acting.output and "GATEWARD_ACTOR" in acting.output
