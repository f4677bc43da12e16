"""Issue 36: the drain's parts on their own — the lifecycle's write sessions, the API's 503, the
coordinator's deadline. The real processes under SIGTERM: ``tests/integration/test_sigterm.py``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.draining import DrainGate
from core.kernel.errors import ShuttingDown
from core.lifecycle import draining
from gateward.shutdown import LEFT_TO_RECOVERY, Drain, shutdown_s


@pytest.fixture(autouse=True)
def _undrained() -> Iterator[None]:
    draining.reset()
    yield
    draining.reset()  # a process never un-drains; a test process must


def test_a_write_session_is_refused_once_draining_and_waited_for_while_it_runs() -> None:
    started, release = threading.Event(), threading.Event()

    def apply() -> None:
        with draining.write_session("apply p-1"):
            started.set()
            release.wait(5)

    t = threading.Thread(target=apply)
    t.start()
    assert started.wait(5)
    draining.begin()
    assert draining.in_flight() == ["apply p-1"]
    with pytest.raises(ShuttingDown) as refused, draining.write_session("apply p-2"):
        pass
    assert refused.value.code == "shutting_down" and refused.value.http_status == 503
    assert "apply p-2 was not started" in refused.value.message
    assert not draining.wait_idle(0.05)
    release.set()
    assert draining.wait_idle(5)
    t.join(5)
    assert draining.in_flight() == []


def test_a_batch_stops_once_draining_whatever_its_own_stop_says() -> None:
    stop = draining.stop_or(lambda: False)
    assert stop() is False and draining.stop_or(None)() is False
    draining.begin()
    assert stop() is True and draining.stop_or(None)() is True


def test_the_lifecycle_refuses_an_apply_while_draining_and_writes_nothing(runtime: Any) -> None:
    from tests.integration.test_crash import _approved
    from tests.integration.test_lifecycle import first_not, pick, radio_5g, who

    d = pick(runtime)
    r = radio_5g(runtime, d)
    p = _approved(runtime, [d], r, first_not(runtime, d, r, 36, 40, 44))
    draining.begin()
    with pytest.raises(ShuttingDown):
        runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    with pytest.raises(ShuttingDown):
        runtime.lifecycle.apply_batch(p.id, [d.id], who(runtime, "alice"))
    assert runtime.lifecycle.get(p.id).state.value == "approved"  # as it was: nothing backed up or locked


def _client() -> TestClient:
    app = FastAPI()

    @app.get("/api/things")
    def things() -> dict[str, int]:
        return {"n": 1}

    @app.post("/api/things")
    def make() -> dict[str, int]:
        return {"n": 2}

    @app.get("/api/ready")
    def ready() -> dict[str, bool]:
        return {"ready": True}

    @app.get("/readyz")
    def readyz() -> dict[str, bool]:
        return {"ready": True}

    app.add_middleware(DrainGate, retry_after_s=3)
    return TestClient(app)


def test_the_api_refuses_writes_with_503_and_retry_after_while_reads_go_on() -> None:
    client = _client()
    assert client.post("/api/things").status_code == 200
    draining.begin()
    refused = client.post("/api/things", json={"big": "x" * 10})
    assert refused.status_code == 503 and refused.json()["error"] == "shutting_down"
    assert refused.headers["retry-after"] == "3"
    assert client.get("/api/things").json() == {"n": 1}
    not_ready = client.get("/api/ready")
    assert not_ready.status_code == 503 and not_ready.json()["ready"] is False
    assert not_ready.json()["checks"]["draining"].startswith("shutting down")
    probe = client.get("/readyz")
    assert probe.status_code == 503 and probe.json()["checks"]["draining"]["ok"] is False


def test_the_deadline_exits_75_naming_what_was_left() -> None:
    exits: list[int] = []
    then = threading.Event()
    drain = Drain(0.3, then=then.set, exit_=exits.append)
    with draining.write_session("apply p-9"):
        assert drain.begin("SIGTERM") and not drain.begin("SIGTERM")  # a second signal changes nothing
        time.sleep(0.6)
        assert exits == [LEFT_TO_RECOVERY] and not then.is_set() and not drain.finished.is_set()


def test_an_idle_drain_stops_serving_at_once_and_the_deadline_still_holds() -> None:
    exits: list[int] = []
    then = threading.Event()
    left_at_then: list[float] = []

    def stop_serving() -> None:
        left_at_then.append(drain.left_s())
        then.set()

    drain = Drain(3.0, then=stop_serving, exit_=exits.append)
    drain.begin()
    # it stopped serving with time left before the deadline: it did not wait for it
    assert then.wait(30) and drain.finished.is_set() and left_at_then[0] > 0
    deadline = time.monotonic() + 30  # a process that has not gone by the deadline (a hung teardown) is ended then
    while not exits and time.monotonic() < deadline:
        time.sleep(0.05)
    assert exits == [LEFT_TO_RECOVERY]


def test_ctrl_c_drains_and_a_second_one_stops_at_once(caplog: pytest.LogCaptureFixture) -> None:
    exits: list[int] = []
    drain = Drain(30, exit_=exits.append)
    with draining.write_session("apply p-7"):
        drain.on_signal("SIGINT")
        assert drain.started and exits == []  # the first Ctrl-C drains, as SIGTERM does
        drain.on_signal("SIGTERM")
        assert exits == []  # a SIGTERM while draining changes nothing (systemd sends it to every process)
        drain.on_signal("SIGINT")
        assert exits == [LEFT_TO_RECOVERY]  # the second Ctrl-C: now, as the deadline would
    assert "Ctrl-C again stops at once" in caplog.text
    assert "SIGINT again while draining with 1 write(s) in flight: apply p-7; left to recovery" in caplog.text


def test_a_second_ctrl_c_after_the_drain_finished_exits_0() -> None:
    exits: list[int] = []
    drain = Drain(30, exit_=exits.append)
    drain.on_signal("SIGINT")
    assert drain.finished.wait(2)
    drain.on_signal("SIGINT")
    assert exits == [0]


@pytest.mark.parametrize(("raw", "ok"), [("", 30.0), ("12.5", 12.5), ("0", None), ("-1", None), ("x", None),
                                         ("3601", None)])
def test_shutdown_s_is_checked(raw: str, ok: float | None) -> None:
    if ok is None:
        with pytest.raises(ValueError, match="GATEWARD_SHUTDOWN_S"):
            shutdown_s({"GATEWARD_SHUTDOWN_S": raw})
    else:
        assert shutdown_s({"GATEWARD_SHUTDOWN_S": raw}) == ok
