"""A full disk and a lost database are conditions of the server, not bugs: 503 with ``Retry-After``
whatever route met them and whatever raised them; anything else unexpected is still a 500 (issue 45
item 8, issue 48 item 2).

The catch-all's branches are reached here by exceptions no handler of their own takes: a full disk
raised by the store under a cancel (the lifecycle does not translate it there, unlike in apply), and
routes that raise what a driver raises. Deleting the disk-full branch of ``api.errors.unexpected``
turns the first two tests' answers into 500s.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from core import failpoints
from tests.api.conftest import Api, make_api
from tests.integration.test_lifecycle import channel_change, pick


@pytest.fixture
def api(sqlite_runtime: Any) -> Iterator[Api]:
    a = make_api(sqlite_runtime, "sqlite")
    app = a.client.app

    def raising(exc: BaseException) -> Any:
        def route() -> None:
            raise exc
        return route

    boom_full = RuntimeError("could not write the anchor file")
    boom_full.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    for path, exc in {"/api/_test/full": boom_full,
                      "/api/_test/lost": OperationalError("SELECT 1", {}, sqlite3.OperationalError(
                          "unable to open database file")),
                      "/api/_test/bug": RuntimeError("a bug")}.items():
        app.add_api_route(path, raising(exc), methods=["GET"])  # type: ignore[attr-defined]
    yield a
    failpoints.disarm()
    a.client.close()


def test_a_full_disk_under_any_route_is_503_storage_full_with_retry_after(api: Api) -> None:
    d = pick(api.rt)
    p, _ = channel_change(api.rt, d)
    failpoints.arm(failpoints.STORE_WRITE, failpoints.DISK_FULL)
    r = api.post(f"/api/proposals/{p.id}/cancel", {"reason": "no room"}, user="alice")
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "storage_full" and "disk is full" in r.json()["detail"], r.text
    assert r.headers["retry-after"]


def test_a_full_disk_behind_another_exception_is_503_storage_full(api: Api) -> None:
    r = api.get("/api/_test/full")
    assert r.status_code == 503 and r.json()["error"] == "storage_full", r.text
    assert r.headers["retry-after"]


def test_a_lost_database_is_503_database_unavailable_with_retry_after(api: Api) -> None:
    r = api.get("/api/_test/lost")
    assert r.status_code == 503 and r.json()["error"] == "database_unavailable", r.text
    assert "unable to open database file" in r.json()["detail"] and r.headers["retry-after"]


def test_anything_else_is_still_a_500_in_the_error_shape(api: Api) -> None:
    r = api.get("/api/_test/bug")
    assert r.status_code == 500 and r.json() == {"error": "internal",
                                                 "detail": "internal error (a bug); it has been logged"}
