"""Every id that registration accepts is addressable by every device route (issue 45).

A serial may hold ``/`` (``LM-NT/9002``: real ONTs report such serials; ``devices add|import``, the ACS
sync and USP onboarding register them), and every device route took one path segment for the id, so
``GET /api/devices/<id>`` could not reach such a device and an id ending in ``/tree`` or ``/history``
would have named another device's page. Here devices whose ids carry each character the id grammar
allows (``core.kernel.ids``: in the serial ``. _ : + / -``, in the product class ``. _ : + ( ) -`` and an
inner space), registered through the API, are walked through every device route with the id
percent-encoded as one segment (``encodeURIComponent``, as the console does); each answer must be
about that device. Devices ``…-SNX``, ``…-SNX/tree`` and ``…-SNX/history`` must not collide.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from executors.sim.twin import Twin
from tests.inventory.conftest import serial

ROOT = Path(__file__).resolve().parents[2]
MODEL = "lumenet-g240w-3.2"  # the simulator's catalogue: OUI A4C3F0, product class G240W
SERIAL_CHARS = "._:+/-"
PRODUCT_CLASS_CHARS = "._:+()- "


@pytest.fixture(scope="module")
def api(rt: Any) -> Iterator[Any]:
    from tests.api.conftest import make_api

    a = make_api(rt, "inventory-ids")
    yield a
    a.client.close()


@pytest.fixture(scope="module")
def twin(rt: Any) -> Iterator[Twin]:
    t = Twin(rt.store.url)
    yield t
    t.close()


def enc(device_id: str) -> str:
    return quote(device_id, safe="")


def register(api: Any, twin: Twin | None, device_id: str, product_class: str) -> None:
    """In the simulated fleet too when ``twin`` is given (so its live reads and diagnostics answer),
    then in the inventory through ``POST /api/devices``."""
    if twin is not None:
        record = twin.add_device(MODEL, device_id.split("-", 2)[2])
        assert record.id == device_id
    r = api.post("/api/devices", {"id": device_id, "product_class": product_class, "adapter": "sim",
                                  "root": "Device.", "vendor": "Lumenet", "model": "ONT-G240W", "firmware": "3.2",
                                  "region": "DE"}, user="dave")
    assert r.status_code == 201, r.text
    assert r.json()["id"] == device_id


def walk(api: Any, device_id: str, *, live: bool) -> None:
    """Every device route, each answering about ``device_id``."""
    e = enc(device_id)
    r = api.get(f"/api/devices/{e}")
    assert r.status_code == 200, (device_id, r.text)
    assert r.json()["device"]["id"] == device_id
    for sub in ("parameters", "tree", "history", "topology"):
        r = api.get(f"/api/devices/{e}/{sub}")
        assert r.status_code == 200, (device_id, sub, r.text)
        assert r.json()["device_id"] == device_id, (sub, r.json())
    r = api.get(f"/api/support/devices/{e}/upstream")
    assert r.status_code == 200 and r.json()["device_id"] == device_id, r.text
    if live:  # read from the simulated device itself
        r = api.post(f"/api/devices/{e}/diagnostics/ipping", {"host": "192.0.2.1", "repetitions": 1})
        assert r.status_code == 200, (device_id, r.text)
        assert device_id in str(r.json()), r.json()
    r = api.post(f"/api/support/devices/{e}/escalate", {"note": "tested"})
    assert r.status_code == 409 and f"{device_id} has no known upstream" in r.json()["detail"], r.text
    r = api.post(f"/api/devices/{e}/retire", {"reason": "walked every route"}, user="dave")
    assert r.status_code == 200 and r.json()["id"] == device_id and r.json()["status"] == "retired", r.text


@pytest.mark.parametrize("char", list(SERIAL_CHARS))
def test_a_serial_with_each_allowed_character_reaches_every_route(api: Any, twin: Twin, char: str) -> None:
    device_id = f"A4C3F0-G240W-{serial('S')}{char}9"
    register(api, twin, device_id, "G240W")
    walk(api, device_id, live=True)


@pytest.mark.parametrize("char", list(PRODUCT_CLASS_CHARS))
def test_a_product_class_with_each_allowed_character_reaches_every_route(api: Any, char: str) -> None:
    product_class = f"PC{char}9"
    device_id = f"A4C3F0-{product_class}-{serial('P')}"
    register(api, None, device_id, product_class)
    walk(api, device_id, live=False)


def test_ids_ending_like_a_sub_route_do_not_collide(api: Any, twin: Twin) -> None:
    base = f"A4C3F0-G240W-{serial('C')}"
    ids = [base, f"{base}/tree", f"{base}/history", f"{base}/tree/history"]
    for device_id in ids:
        register(api, twin, device_id, "G240W")
    for device_id in ids:
        assert api.get(f"/api/devices/{enc(device_id)}").json()["device"]["id"] == device_id
        for sub in ("tree", "history"):
            assert api.get(f"/api/devices/{enc(device_id)}/{sub}").json()["device_id"] == device_id
    # Unencoded, a '/' separates segments: the sub-route of the device, never the device named so.
    assert api.get(f"/api/devices/{base}/tree").json()["device_id"] == base
    assert api.get(f"/api/devices/{base}/history").json()["device_id"] == base


def test_a_usp_endpoint_with_a_slash_can_be_accepted_and_rejected(rt: Any, api: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Onboarding's routes take the endpoint ID (``os::OUI-Serial``), whose serial may hold a ``/``."""
    from tests.inventory.test_onboarding import OUI, contact

    doc: dict[str, Any] = {"allow": {"endpoint_ids": [], "ouis": []}, "defaults": {"region": "DE"}}
    monkeypatch.setitem(rt.policy.policy_data, "onboarding", doc)
    ok, no = f"{serial('U')}/1", f"{serial('U')}/2"
    for sn in (ok, no):
        contact(rt, f"os::{OUI}-{sn}", oui=OUI, serial_number=sn)
    r = api.post(f"/api/onboarding/{enc(f'os::{OUI}-{ok}')}/accept", {"vendor": "Acme"}, user="dave")
    assert r.status_code == 201 and r.json()["id"] == f"{OUI}-PX9-{ok}", r.text
    r = api.post(f"/api/onboarding/{enc(f'os::{OUI}-{no}')}/reject", {"reason": "not ours"}, user="dave")
    assert r.status_code == 200 and r.json()["endpoint_id"] == f"os::{OUI}-{no}", r.text
    assert api.get(f"/api/devices/{enc(f'{OUI}-PX9-{ok}')}").json()["device"]["id"] == f"{OUI}-PX9-{ok}"


@pytest.mark.slow
@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_a_real_server_routes_an_encoded_slash_as_part_of_the_id(tmp_path: Path, http: str) -> None:
    """What a real server hands the app (uvicorn decodes the path; the raw path keeps ``%2F``) with
    either HTTP parser, not only the in-process client."""
    from core.users import issue_token
    from testing.servers import GatewardRun
    from tests.conftest import build_test_runtime

    url = f"sqlite:///{tmp_path / 'g.db'}"
    rt = build_test_runtime(url, homes=2)
    token = issue_token(rt.store, "dave")
    rt.close()
    device_id = "A4C3F0-G240W-LM-NT/9002"
    with GatewardRun(home=tmp_path, database_url=url, homes=2, cwd=ROOT, args=["--no-worker", "--http", http]) as run, \
            httpx.Client(base_url=run.base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        r = c.post("/api/devices", json={"id": device_id, "product_class": "G240W", "adapter": "sim",
                                         "root": "Device.", "vendor": "L", "model": "M", "firmware": "1"})
        assert r.status_code == 201, r.text
        assert c.get(f"/api/devices/{enc(device_id)}").json()["device"]["id"] == device_id
        for sub in ("tree", "history"):
            assert c.get(f"/api/devices/{enc(device_id)}/{sub}").json()["device_id"] == device_id
        # Issue 56: an encoded '%' is decoded once — "%252F" is the text "%2F", no second '/'.
        for twice in ("A4C3F0-G240W-LM-NT%252F9002", "A4C3F0-G240W-LM-NT%252F9002/tree"):
            r = c.get(f"/api/devices/{twice}")
            assert r.status_code == 404 and device_id not in r.text, (twice, r.text[:200])


def test_an_encoded_percent_is_decoded_once(api: Any, twin: Twin) -> None:
    """Issue 56: ``%252F`` is an encoded ``%`` and ``2F`` — the text ``%2F`` — but it was decoded twice
    (by the server, then by the route's parameter), so ``X%252F9`` reached device ``X/9``. Ids never hold
    ``%``: the text ``%2F`` names no device. (The in-process client itself decodes the path twice,
    ``starlette.testclient``; the raw path it passes is right, and is what routes here. A real server:
    ``test_a_real_server_routes_an_encoded_slash_as_part_of_the_id``.)"""
    base = f"A4C3F0-G240W-{serial('D')}"
    register(api, twin, f"{base}/9", "G240W")
    assert api.get(f"/api/devices/{enc(base + '/9')}").status_code == 200  # the device, encoded once
    for path in (f"/api/devices/{base}%252F9", f"/api/devices/{base}%252f9", f"/api/devices/{base}%25252F9",
                 f"/api/devices/{base}%252F9/tree", f"/api/devices/{base}%252F9/history",
                 f"/api/support/devices/{base}%252F9/upstream"):
        r = api.get(path)
        assert r.status_code == 404, (path, r.status_code, r.text[:200])
        assert f"{base}/9" not in r.text
