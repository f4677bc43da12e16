"""A GenieACS NBI behind https that the operator's CA does not vouch for, or a CA file that is not
there, is a clear answer through the API — never a 500 (issue 36).

A seeded fleet whose first healthy TR-181 CWMP device is managed through the project's NBI double
served over TLS (a certificate from a trustme CA), the adapter built by the real factory from
``GATEWARD_GENIEACS_*``.
"""

from __future__ import annotations

import gc
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from sqlalchemy import update

from core.kernel.models import Root
from core.store import repo
from core.store.schema import DeviceRow
from tests.api.conftest import Api, make_api

LIVE = "Device.DeviceInfo."


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str | None], tuple[Api, str]]]:
    from core.kernel.config import Settings
    from core.routing import ExecutorRouter
    from executors import genieacs
    from executors.sim.executor import SimExecutor
    from executors.sim.twin import Twin
    from gateward.runtime import build_runtime
    from gateward.seed import seed_fleet
    from testing.genieacs.fake_nbi import FakeNbi

    ca = trustme.CA()
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem.bytes())
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "other-ca.pem"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    url = f"sqlite:///{tmp_path / 'gateward.db'}"
    twin = Twin(url)
    nbi = FakeNbi(twin, tick_s=None)
    nbi.start(ssl_context=ctx)
    made: list[Any] = []

    def make(ca_file: str | None) -> tuple[Api, str]:
        for k in ("USERNAME", "PASSWORD", "AUTH_HEADER", "INSECURE"):
            monkeypatch.delenv(f"GATEWARD_GENIEACS_{k}", raising=False)
        monkeypatch.setenv("GATEWARD_GENIEACS_CA_FILE", str(tmp_path / (ca_file or "no.pem")))
        settings = Settings(database_url=url, genieacs_url=nbi.url)
        rt = build_runtime(settings, router=ExecutorRouter({"sim": lambda: SimExecutor(twin),
                                                            "genieacs": lambda: genieacs.factory(settings)}))
        made.append(rt)
        if not made[1:]:
            seed_fleet(rt, homes=8, seed=11)
        with rt.store.read() as s:
            fleet, _ = repo.list_devices(s, limit=1000)
        d = next(d for d in fleet if str(d.protocol) == "cwmp" and d.root is not Root.IGD and not twin.faults(d.id))
        with rt.store.write() as s:
            s.execute(update(DeviceRow).where(DeviceRow.id == d.id).values(adapter="genieacs"))
        return make_api(rt, "sqlite"), d.id

    yield make
    for rt in made:
        rt.close()
    made.clear()
    gc.collect()
    nbi.stop()
    twin.close()


def test_the_right_ca_reads_live(world: Callable[[str | None], tuple[Api, str]]) -> None:
    api, dev = world("ca.pem")
    res = api.get(f"/api/devices/{dev}/parameters", params={"live": "true", "prefix": LIVE})
    assert res.status_code == 200, res.text
    assert any(p["path"].startswith(LIVE) for p in res.json()["live"])


@pytest.mark.parametrize("ca_file, says", [("other-ca.pem", "GATEWARD_GENIEACS_CA_FILE"),
                                           (None, "GATEWARD_GENIEACS_CA_FILE=")])
def test_wrong_or_missing_ca_is_never_a_500(world: Callable[[str | None], tuple[Api, str]],
                                            ca_file: str | None, says: str) -> None:
    api, dev = world(ca_file)
    live = api.get(f"/api/devices/{dev}/parameters", params={"live": "true", "prefix": LIVE})
    assert live.status_code != 500, live.text
    assert says in live.text, live.text
    created = api.post("/api/proposals", {"intent": "tls", "targets": [dev], "changes": [
        {"path": "Device.WiFi.SSID.1.SSID", "value": "Over-TLS"}]})
    assert created.status_code != 500, created.text
    presence = api.get("/api/devices", params={"presence": "true", "limit": 1000})
    assert presence.status_code == 200
