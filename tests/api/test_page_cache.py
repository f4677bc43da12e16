"""Issue 15: the queue (``GET /api/proposals``) is served by a lean handler (``api.lean``) and answered
from rendered pages keyed by the audit head (``api.page_cache``). What must hold:

* the lean handler answers exactly what FastAPI's own parameter handling of the declared endpoint
  answers, for good and bad input, with and without a token;
* a change committed by another process is listed on the very next request (no stale page after a
  write that completed), and so is one made through the API itself;
* the token is checked before a cached page is sent;
* the PostgreSQL head probe never answers a request from a read that started before it arrived,
  and concurrent requests share reads.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import page_cache
from api.app import create_app
from api.routers import proposals
from api.schemas import ProposalList
from core.store.db import make_engine
from tests.api.conftest import Api, pick

ROOT = Path(__file__).resolve().parents[2]


def _create(api: Api, intent: str) -> str:
    r = api.post("/api/proposals", {"intent": intent, "targets": [pick(api)["id"]],
                                    "changes": [{"path": "Device.WiFi.Radio.1.Channel", "value": 6}]})
    assert r.status_code == 201, r.text
    return str(r.json()["proposal"]["id"])


QUERIES = ["", "limit=5", "limit=5&offset=2", "limit=0", "limit=501", "limit=abc", "limit=1.5", "limit=",
           "limit=1&limit=3", "offset=-1", "offset=10000001", "state=approved&state=awaiting_approval",
           "state=awaiting_approval&state=approved", "state=bogus", "state=", "state=approved&state=nope",
           "&".join(["state=approved"] * 21), "device=", "device=" + "x" * 129, "author=alice", "author=",
           "author=" + "a" * 65, "foo=1", "limit=%20%205", "offset=1000000&limit=2"]


def test_the_lean_handler_answers_what_fastapi_would(api: Api) -> None:
    """The same endpoint served both ways, through every middleware: identical status and body."""
    _create(api, f"lean equivalence {api.backend}")
    app = create_app(api.rt)
    app.router.add_api_route("/api/ref-proposals", proposals.list_proposals, methods=["GET"],
                             response_model=ProposalList)  # a plain APIRoute: FastAPI parses the parameters
    with TestClient(app, raise_server_exceptions=False) as client:
        for headers in (api.h("alice"), {}, {"Authorization": "Bearer gw_nope"}, {"Authorization": "Basic abc"}):
            for q in QUERIES:
                lean = client.get(f"/api/proposals?{q}", headers=headers)
                ref = client.get(f"/api/ref-proposals?{q}", headers=headers)
                assert (lean.status_code, lean.json()) == (ref.status_code, ref.json()), (q, headers)
                assert lean.headers.get("www-authenticate") == ref.headers.get("www-authenticate")
        assert client.get("/api/proposals?limit=abc", headers=api.h("alice")).json()["error"] == "invalid_request"


def test_a_page_is_served_again_until_something_changes(api: Api) -> None:
    app = create_app(api.rt)
    pages = app.state.list_pages
    with TestClient(app, raise_server_exceptions=False) as client:
        first = client.get("/api/proposals?limit=500", headers=api.h("alice")).json()
        hits = pages.hits
        assert client.get("/api/proposals?limit=500", headers=api.h("alice")).json() == first
        assert pages.hits == hits + 1
        # A write through the API moves the head: the next read is a miss and shows it.
        pid = _create(api, f"cache write {api.backend}")
        r = client.post(f"/api/proposals/{pid}/cancel", json={"reason": "page cache"}, headers=api.h("alice"))
        assert r.status_code == 200, r.text
        after = client.get("/api/proposals?limit=500", headers=api.h("alice")).json()
        assert after["total"] == first["total"] + 1
        assert next(i for i in after["items"] if i["id"] == pid)["state"] == "cancelled"
        # The token is checked before a cached page is sent.
        bad = client.get("/api/proposals?limit=500", headers={"Authorization": "Bearer gw_nope"})
        assert bad.status_code == 401 and "invalid or revoked" in bad.json()["detail"]
        assert client.get("/api/proposals?limit=500").status_code == 401


_OTHER_PROCESS = textwrap.dedent("""
    import sys
    from core.kernel.config import Settings
    from core.kernel.models import Change, ProposalDraft
    from core.users import get_actor
    from gateward.runtime import build_runtime

    url, pid, target = sys.argv[1:4]
    rt = build_runtime(Settings(database_url=url))
    alice = get_actor(rt.store, "alice")
    rt.lifecycle.cancel(pid, alice, "changed by another process")
    new = rt.lifecycle.create(ProposalDraft(intent="made by another process", targets=[target],
                                            changes=[Change(path="Device.WiFi.Radio.1.Channel", value=1)]), alice)
    rt.close()
    print(new.id)
""")


def test_a_change_by_another_process_is_listed_on_the_next_request(api: Api) -> None:
    pid = _create(api, f"other process {api.backend}")
    app = create_app(api.rt)
    with TestClient(app, raise_server_exceptions=False) as client:
        def listed() -> dict[str, Any]:
            r = client.get("/api/proposals?limit=500", headers=api.h("alice"))
            assert r.status_code == 200, r.text
            return dict(r.json())

        before = listed()
        assert listed() == before and app.state.list_pages.hits >= 1  # warm: served from the cache
        done = subprocess.run([sys.executable, "-c", _OTHER_PROCESS, str(api.rt.store.url), pid, pick(api)["id"]],
                              cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        new_id = done.stdout.strip().splitlines()[-1]
        after = listed()  # the very next request, no waiting
        states = {i["id"]: i["state"] for i in after["items"]}
        assert states[pid] == "cancelled"
        assert new_id in states and after["total"] == before["total"] + 1


def test_the_cache_is_bounded_by_entries_and_bytes() -> None:
    cache = page_cache.PageCache(max_entries=3, max_bytes=40)
    for i in range(5):
        cache.put(("k", i), 1, b"x" * 5)
    assert len(cache) == 3 and cache.get(("k", 0), 1) is None and cache.get(("k", 4), 1) == b"xxxxx"
    cache.put(("big",), 1, b"y" * 11)  # over a quarter of the byte budget: not kept
    assert cache.get(("big",), 1) is None
    cache.put(("a",), 1, b"z" * 10)
    cache.put(("b",), 1, b"z" * 10)
    cache.put(("c",), 1, b"z" * 10)
    assert cache._bytes <= 40
    assert cache.get(("c",), 2) is None  # read at another head: a miss
    cache.put(("c",), 5, b"new")
    cache.put(("c",), 4, b"older")  # a slow reader finishing late does not replace a newer page
    assert cache.get(("c",), 5) == b"new"


def test_an_in_memory_database_is_read_uncached() -> None:
    probe = page_cache.HeadProbe.for_engine(make_engine("sqlite://"))
    assert asyncio.run(probe.read()) is None


def test_sqlite_head_follows_other_connections(sqlite_api: Api) -> None:
    probe = page_cache.HeadProbe.for_engine(sqlite_api.rt.store.engine)
    assert isinstance(probe, page_cache.SQLiteHead)
    before = asyncio.run(probe.read())
    _create(sqlite_api, "sqlite head")
    after = asyncio.run(probe.read())
    assert before is not None and after is not None and after > before
    asyncio.run(probe.aclose())


def _pg_probe(api: Api, sql: str = page_cache.HEAD_SQL) -> page_cache.PostgresHead:
    probe = page_cache.HeadProbe.for_engine(api.rt.store.engine)
    assert isinstance(probe, page_cache.PostgresHead)
    probe.sql = sql
    return probe


def test_postgres_head_never_answers_from_a_read_begun_before_the_request(api: Api) -> None:
    if api.backend != "postgres":
        pytest.skip("the PostgreSQL probe")
    # A slow read (its snapshot is taken when it starts), a commit while it runs, then a request:
    # the request must not take the slow read's answer, which cannot contain the commit.
    slow = _pg_probe(api, "SELECT pg_sleep(0.4), (SELECT max(seq) FROM audit_events)")

    async def scenario() -> tuple[int | None, int | None, int]:
        first = asyncio.create_task(slow.read())
        await asyncio.sleep(0.1)  # the slow read is under way
        committed = threading.Event()

        def write() -> None:
            _create(api, "committed during a head read")
            committed.set()

        await asyncio.to_thread(write)
        assert committed.is_set()
        from sqlalchemy import func, select

        from core.store.schema import AuditEventRow
        with api.rt.store.read() as s:
            head_now = int(s.scalar(select(func.max(AuditEventRow.seq))) or 0)
        second = await slow.read()
        return await first, second, head_now

    first, second, head_now = asyncio.run(scenario())
    assert first is not None and second is not None
    assert first < head_now <= second


def test_postgres_head_reads_are_shared(api: Api) -> None:
    if api.backend != "postgres":
        pytest.skip("the PostgreSQL probe")
    probe = _pg_probe(api)

    async def burst() -> list[int | None]:
        out = await asyncio.gather(*(probe.read() for _ in range(16)))
        await probe.aclose()
        return list(out)

    values = asyncio.run(burst())
    assert len(set(values)) == 1 and values[0] is not None
    assert probe.reads <= 2, probe.reads  # one read, or one under way plus the one after it
