"""API fixtures: one seeded runtime per backend per module (seeding is the slow part), an
in-process client (Starlette's TestClient over the real app, real store, real policy engine,
real simulated fleet) and bearer tokens for every demo user.

Tests in a module share the fleet, so each test creates its own proposals and picks devices
through :func:`pick` rather than assuming a clean slate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import BACKENDS, build_test_runtime, make_db_url, seeded_runtime

USERS = ("alice", "sam", "bob", "carol", "dave", "erin", "remediator")


@dataclass
class Api:
    rt: Any
    client: TestClient
    tokens: dict[str, str]
    backend: str

    def h(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def get(self, path: str, user: str = "alice", **kw: Any) -> Any:
        return self.client.get(path, headers=self.h(user), **kw)

    def post(self, path: str, json: Any = None, user: str = "alice", **kw: Any) -> Any:
        return self.client.post(path, json=json, headers=self.h(user), **kw)

    def put(self, path: str, json: Any = None, user: str = "alice", **kw: Any) -> Any:
        return self.client.put(path, json=json, headers=self.h(user), **kw)


def make_api(rt: Any, backend: str, **app_kw: Any) -> Api:
    from api.app import create_app
    from core.users import issue_token

    tokens = {u: issue_token(rt.store, u) for u in USERS}
    client = TestClient(create_app(rt, **app_kw), raise_server_exceptions=False)
    return Api(rt=rt, client=client, tokens=tokens, backend=backend)


@pytest.fixture(scope="module", params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp: Path = tmp_path_factory.mktemp(f"api-{request.param}")
    rt, cleanup = seeded_runtime(request.param, tmp, homes=40)
    a = make_api(rt, request.param)
    try:
        yield a
    finally:
        a.client.close()
        cleanup()


@pytest.fixture(scope="module")
def sqlite_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    url, cleanup = make_db_url("sqlite", tmp_path_factory.mktemp("api-sqlite-only"))
    rt = build_test_runtime(url, homes=40)
    a = make_api(rt, "sqlite")
    try:
        yield a
    finally:
        a.client.close()
        rt.close()
        cleanup()


_used: set[str] = set()


def pick(api: Api, pred: Callable[[dict[str, Any]], bool] | None = None, *, fresh: bool = True) -> dict[str, Any]:
    """An online TR-181 device with no open proposal (each test gets its own when ``fresh``)."""
    items = api.get("/api/devices", params={"limit": 1000, "presence": "true"}).json()["items"]
    for d in items:
        key = f"{api.backend}:{id(api)}:{d['id']}"
        if d["root"] != "Device." or d["busy"] or not (d["presence"] or {}).get("reachable"):
            continue
        if fresh and key in _used:
            continue
        if pred is not None and not pred(d):
            continue
        if fresh:
            _used.add(key)
        return dict(d)
    pytest.fail("no suitable device left in the test fleet")


def radio_of(api: Api, device_id: str, band: str) -> tuple[int, int]:
    """(radio index, current channel) for ``band`` read live through the API."""
    res = api.get(f"/api/devices/{device_id}/parameters",
                  params={"live": "true", "prefix": "Device.WiFi.Radio."}).json()
    values = {p["path"]: p["value"] for p in res["live"]}
    for path, v in values.items():
        if path.endswith(".OperatingFrequencyBand") and v == band:
            idx = int(path.split(".")[3])
            return idx, int(values[f"Device.WiFi.Radio.{idx}.Channel"])
    pytest.fail(f"{device_id} has no {band} radio")
