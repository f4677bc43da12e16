"""Issue 15, bad input: under load the API sheds with 429 / 503 and a ``Retry-After``, never a 500,
and a stuck device cannot stall other work.

The saturation tests drive the real app (real store, real policy engine, real simulated fleet)
through ``httpx`` over ASGI with many requests in flight at once, and tiny limits so that the
pools are full for certain. The stuck-device and slot hand-over tests wrap a small real ASGI app
whose device route blocks until the test lets it go, so "stuck" lasts exactly as long as the test
says.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from starlette.types import Receive, Scope, Send

from api.app import create_app
from api.limits import DEVICE, READ, WRITE, BodyGuard, LoadShedder, ShedLimits, work_class
from core.store.schema import ProposalRow
from tests.api.conftest import Api, pick

SHED = {429, 503}


async def _burst(app: Any, requests: list[tuple[str, str, str, Any]]) -> list[httpx.Response]:
    """All ``requests`` (method, path, token, json) in flight at once against ``app``."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        return list(await asyncio.gather(*(
            client.request(m, p, json=body, headers={"Authorization": f"Bearer {tok}"} if tok else {})
            for m, p, tok, body in requests)))


def _assert_shed_shape(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["retry-after"] == "1"
    assert r.json()["error"] == code and "retry after 1 s" in r.json()["detail"]


def test_saturated_reads_get_503_with_retry_after_never_500(sqlite_api: Api) -> None:
    app = create_app(sqlite_api.rt, limits=ShedLimits(reads=1, per_client=1000, queue_wait_s=0))
    tok = sqlite_api.tokens["alice"]
    answers = asyncio.run(_burst(app, [("GET", "/api/proposals?limit=50", tok, None)] * 40))
    statuses = [r.status_code for r in answers]
    assert set(statuses) <= {200, 503}, statuses
    assert 200 in statuses and 503 in statuses, statuses
    for r in answers:
        if r.status_code == 503:
            _assert_shed_shape(r, 503, "overloaded")
    # Every slot came back: a lone request afterwards is served.
    assert asyncio.run(_burst(app, [("GET", "/api/proposals", tok, None)]))[0].status_code == 200


def test_one_client_over_its_share_gets_429_and_others_are_served(sqlite_api: Api) -> None:
    app = create_app(sqlite_api.rt, limits=ShedLimits(reads=1000, per_client=1, queue_wait_s=0))
    greedy, other = sqlite_api.tokens["alice"], sqlite_api.tokens["bob"]
    answers = asyncio.run(_burst(app, [("GET", "/api/proposals", greedy, None)] * 20
                                 + [("GET", "/api/me", other, None)]))
    statuses = [r.status_code for r in answers]
    assert set(statuses) <= {200, 429}, statuses
    assert 429 in statuses[:20], statuses
    assert statuses[20] == 200  # bob is not alice's queue
    for r in answers:
        if r.status_code == 429:
            _assert_shed_shape(r, 429, "too_many_requests")


def test_saturated_creates_shed_before_anything_is_recorded(api: Api) -> None:
    """POST /api/proposals under load: 201 or 503, never 500, and a shed request left nothing
    behind — the proposals in the store are exactly the 201s."""
    app = create_app(api.rt, limits=ShedLimits(device=1, per_client=1000, queue_wait_s=0))
    dev = pick(api)["id"]
    intent = f"shed test {api.backend}"
    body = {"intent": intent, "targets": [dev], "changes": [{"path": "Device.WiFi.Radio.1.Channel", "value": 6}]}
    answers = asyncio.run(_burst(app, [("POST", "/api/proposals", api.tokens["alice"], body)] * 12))
    statuses = [r.status_code for r in answers]
    assert set(statuses) <= {201, 503}, [(r.status_code, r.text[:200]) for r in answers]
    assert 201 in statuses and 503 in statuses, statuses
    for r in answers:
        if r.status_code == 503:
            _assert_shed_shape(r, 503, "overloaded")
        else:
            assert r.json()["proposal"]["state"] in {"approved", "awaiting_approval", "denied", "invalid"}
    with api.rt.store.read() as s:
        recorded = s.scalar(select(func.count()).select_from(ProposalRow).where(ProposalRow.intent == intent))
    assert recorded == statuses.count(201)


class _Fleet:
    """A real ASGI app: ``/api/proposals/P/apply`` waits for ``release`` (a device that hangs);
    everything else answers 200 at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"].endswith("/apply"):
            self.entered += 1
            await self.release.wait()
        if scope["path"] == "/api/locked":
            raise OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked"))
        if scope["path"] == "/api/restarted":  # the server went away under a pooled connection
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"),
                                   connection_invalidated=True)
        if scope["path"] == "/api/bad-sql":
            raise OperationalError("SELEC 1", {}, Exception("syntax error at or near SELEC"))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})


def test_a_stuck_device_does_not_stall_reads_or_other_writes() -> None:
    async def scenario() -> tuple[list[int], list[int], int]:
        fleet = _Fleet()
        app = LoadShedder(fleet, ShedLimits(device=2, per_client=1000, queue_wait_s=0.05))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            stuck = [asyncio.create_task(client.post(f"/api/proposals/p{i}/apply")) for i in range(2)]
            while fleet.entered < 2:
                await asyncio.sleep(0.001)
            third = await client.post("/api/proposals/p9/apply")  # device slots full → shed
            others = [r.status_code for r in await asyncio.gather(
                client.get("/api/proposals"), client.get("/api/devices/x"), client.post("/api/proposals/p1/approve"))]
            fleet.release.set()
            done = [r.status_code for r in await asyncio.gather(*stuck)]
        return others, done, third.status_code

    others, done, third = asyncio.run(scenario())
    assert others == [200, 200, 200]
    assert third == 503
    assert done == [200, 200]


def test_a_waiting_request_gets_the_freed_slot() -> None:
    """Within ``queue_wait_s`` a request waits for a slot rather than failing at once."""
    async def scenario() -> list[int]:
        fleet = _Fleet()
        app = LoadShedder(fleet, ShedLimits(device=1, per_client=1000, queue_wait_s=5))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            first = asyncio.create_task(client.post("/api/proposals/a/apply"))
            second = asyncio.create_task(client.post("/api/proposals/b/apply"))
            while fleet.entered < 1:
                await asyncio.sleep(0.001)
            await asyncio.sleep(0.05)
            assert fleet.entered == 1  # the second waits for the slot
            fleet.release.set()
            return [r.status_code for r in await asyncio.gather(first, second)]

    assert asyncio.run(scenario()) == [200, 200]


def test_a_saturated_database_is_503_not_500() -> None:
    async def scenario() -> httpx.Response:
        app = LoadShedder(_Fleet(), ShedLimits())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            return await client.get("/api/locked")

    _assert_shed_shape(asyncio.run(scenario()), 503, "overloaded")


def test_a_lost_database_connection_is_503_and_other_database_errors_are_not_shed() -> None:
    async def scenario() -> tuple[httpx.Response, BaseException | None]:
        app = LoadShedder(_Fleet(), ShedLimits())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            lost = await client.get("/api/restarted")
            try:
                await client.get("/api/bad-sql")
            except OperationalError as exc:
                return lost, exc
            return lost, None

    lost, other = asyncio.run(scenario())
    _assert_shed_shape(lost, 503, "overloaded")
    assert other is not None  # not a saturation: left to the app's own error handling


def test_work_classes() -> None:
    assert work_class("GET", "/api/proposals") == READ
    assert work_class("POST", "/api/proposals") == DEVICE  # live preview reads the device
    assert work_class("PUT", "/api/proposals/p1") == DEVICE
    assert work_class("POST", "/api/proposals/p1/apply") == DEVICE
    assert work_class("POST", "/api/proposals/p1/approve") == WRITE
    assert work_class("GET", "/api/devices/d1/parameters", b"live=true&prefix=Device.") == DEVICE
    assert work_class("GET", "/api/devices", b"limit=10&presence=true") == DEVICE
    assert work_class("GET", "/api/devices/d1/parameters", b"live=false") == READ
    assert work_class("GET", "/api/health") is None and work_class("GET", "/api/events") is None
    assert work_class("GET", "/static/app.js") is None


def test_bad_limits_in_the_environment_name_the_variable() -> None:
    assert ShedLimits.from_env({"GATEWARD_API_MAX_READS": "5"}).reads == 5
    with pytest.raises(ValueError, match="GATEWARD_API_MAX_READS"):
        ShedLimits.from_env({"GATEWARD_API_MAX_READS": "0"})
    with pytest.raises(ValueError, match="GATEWARD_API_QUEUE_WAIT_S"):
        ShedLimits.from_env({"GATEWARD_API_QUEUE_WAIT_S": "soon"})


def test_a_slow_upload_holds_no_slot() -> None:
    """The body is read (BodyGuard) before a slot is taken: a client trickling its body in cannot
    keep the one device slot from someone else."""
    async def scenario() -> tuple[int, int]:
        stalled = asyncio.Event()

        async def trickle() -> Any:
            yield b'{"intent": '
            await stalled.wait()
            yield b'"x"}'

        app = BodyGuard(LoadShedder(_Fleet(), ShedLimits(device=1, per_client=1000, queue_wait_s=0)))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            slow = asyncio.create_task(client.post("/api/proposals", content=trickle(),
                                                   headers={"content-type": "application/json"}))
            await asyncio.sleep(0.05)
            other = await client.post("/api/proposals", json={"intent": "y"})
            stalled.set()
            return other.status_code, (await slow).status_code

    assert asyncio.run(scenario()) == (200, 200)
