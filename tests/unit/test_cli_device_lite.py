"""``gateward device ID`` on the DB-API (issue 15): the same answer as the simulator adapter.

The CLI reads a simulated device from the twin's rows with ``sqlite3``/``psycopg`` and answers with
the adapter's own code (``executors/sim/lite.py``, ``executors/sim/state.py``) instead of building
the executor stack. These tests hold that shortcut to the adapter it replaces:

- in process, :class:`~executors.sim.lite.LiteTwin` against :class:`~executors.sim.executor.SimExecutor`
  on every device of a seeded fleet plus one of every catalogue model (a clock fixed for both):
  presence, the CLI's overview read, an unknown path, faults (offline, unreachable, slow), a device
  the twin lacks;
- the secret table (``executors/sim/secret_paths.json``) is what ``core.kernel.secrets`` computes today, and
  agrees with it on every concrete path a read returned;
- in fresh processes, ``gateward device ID`` prints the same lines (an uptime aside) and exits with
  the same code as the full runtime's path, for TR-181, TR-098 and USP-protocol simulated devices,
  offline and unreachable ones, unknown IDs, a device missing from the twin, ``--path``, and devices
  on the ``usp`` and ``genieacs`` adapters (which still go through the router) — and imports none of
  SQLAlchemy, pydantic, the settings model or the data-model registry on the simulated path.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BACKENDS, module_runtime

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_790_000_000.0  # a fixed clock for both readers: uptime is computed at read time
# Never on the DB-API path of a simulated device.
LIVE_HEAVY = ("sqlalchemy", "pydantic", "pydantic_settings", "core.kernel.config", "core.kernel.models",
              "core.kernel.secrets",
              "core.kernel.datamodel.registry", "core.store.db", "core.kernel.ports.executor", "executors.base",
              "executors.sim.executor", "executors.sim.twin",
              "executors.sim.fleet", "executors.usp", "executors.genieacs", "gateward.runtime", "regorus",
              "policies.engine", "core.lifecycle", "alembic", "fastapi", "langgraph", "openai")


@pytest.fixture(scope="module", params=BACKENDS)
def rt(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from module_runtime(request, tmp_path_factory, "cli-device-lite", homes=12)


@pytest.fixture(scope="module")
def fleet(rt: Any) -> dict[str, Any]:
    """The seeded twin plus one device of every catalogue model (one with objects deleted), and
    the devices the CLI cases need: faulted ones, one missing from the twin, one per adapter."""
    from core.store import repo
    from executors.sim.catalog import models
    from gateward.seed import twin_for

    twin = twin_for(rt)
    extra = [twin.add_device(m.key, f"LITE{i:08d}", region=m.regions[0]).id for i, m in enumerate(models())]
    bare = twin.add_device("prplnet-px7000-1.3", "LITEBARE0001", region="DE",
                           overrides={"Device.WiFi.": None, "Device.DNS.Client.": None})
    with rt.store.read() as s:
        items, _ = repo.list_devices(s, limit=1000)
    by = {d.id: d for d in items}

    def pick(root: str, protocol: str, n: int = 0) -> str:
        return [d.id for d in items if str(d.root) == root and str(d.protocol) == protocol and d.adapter == "sim"][n]

    cases = {"tr181": pick("Device.", "cwmp"), "tr098": pick("InternetGatewayDevice.", "cwmp"),
             "usp_proto": pick("Device.", "usp"), "offline": pick("Device.", "cwmp", 1),
             "unreachable": pick("InternetGatewayDevice.", "cwmp", 1), "genieacs": pick("Device.", "cwmp", 2)}
    twin.inject(cases["offline"], "offline")
    twin.inject(cases["unreachable"], "unreachable")
    twin.set_presence(pick("Device.", "cwmp", 3), reachable=False)  # behind a NAT: the stored flag, not a fault
    twin.set_presence(pick("InternetGatewayDevice.", "cwmp", 2), online=False)  # powered off
    with rt.store.write() as s:  # adapters other than the simulator: read through the router, as before
        s.merge(repo.device_to_row(by[cases["genieacs"]].model_copy(update={"adapter": "genieacs"})))
        agent = by[cases["usp_proto"]].model_copy(update={"id": "3C9A77-PX7000-AGENT0001", "serial": "AGENT0001",
                                                          "adapter": "usp"})
        s.add(repo.device_to_row(agent))
        cases["usp_adapter"] = agent.id
        ghost = by[cases["tr181"]].model_copy(update={"id": "00D0F1-CGW3400-GHOST0001", "serial": "GHOST0001"})
        s.add(repo.device_to_row(ghost))  # in the inventory, on the sim adapter, not in the simulated fleet
        s.add(repo.device_to_row(bare))  # a USP gateway without Wi-Fi or DNS client objects
    twin.close()
    return {"ids": [d.id for d in items if d.adapter == "sim"] + extra + [bare.id], "cases": cases,
            "ghost": ghost.id, "bare": bare.id}


def _readers(rt: Any, sleeps: list[tuple[str, float]]) -> tuple[Any, Any]:
    from executors.sim.executor import SimExecutor
    from executors.sim.lite import LiteTwin, connect
    from executors.sim.twin import Twin

    url = rt.settings.sim_database_url or rt.store.url
    full = SimExecutor(Twin(url, clock=lambda: NOW, fresh_s=0.05), sleep=lambda s: sleeps.append(("full", s)))
    db = connect(url)
    assert db is not None, url
    return full.reader(), LiteTwin(db, clock=lambda: NOW, sleep=lambda s: sleeps.append(("lite", s)))


def _values(values: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(k, v.path, v.device_path, v.value, type(v.value), v.type, v.writable) for k, v in values.items()]


def _outcome(fn: Any, *args: Any) -> Any:
    from executors.base import ExecutorError

    try:
        return ("ok", fn(*args))
    except ExecutorError as exc:
        return ("error", type(exc), str(exc), exc.message, getattr(exc, "per_parameter", None))


def test_lite_twin_answers_as_the_simulator_adapter(rt: Any, fleet: dict[str, Any]) -> None:
    from core.device_overview import CLI_OBJECTS, OVERVIEW_OBJECTS, read_overview
    from executors.sim.twin import Twin

    sleeps: list[tuple[str, float]] = []
    full, lite = _readers(rt, sleeps)
    slow = fleet["cases"]["tr181"]
    Twin(rt.settings.sim_database_url or rt.store.url).inject(slow, "slow", delay_s=0.0125)

    class Dev:  # what the CLI hands the lite reader: a DeviceView (only the id is read)
        def __init__(self, device_id: str) -> None:
            self.id = device_id

    class Model:  # what the router hands the adapter: the model (only the id is read)
        def __init__(self, device_id: str) -> None:
            self.id = device_id

    kinds = set()
    for device_id in fleet["ids"] + [fleet["ghost"]]:
        a, b = Model(device_id), Dev(device_id)
        pa, pb = _outcome(full.presence, a), _outcome(lite.presence, b)
        if pa[0] == "ok":
            pa = ("ok", pa[1].model_dump())
            pb = ("ok", pb[1]._asdict())
        assert pa == pb, device_id
        for paths in (CLI_OBJECTS, OVERVIEW_OBJECTS, ["Device.DeviceInfo.SoftwareVersion", "Device.Nope"],
                      ["Device.Nope."], ["Device.WiFi.Radio.1.Channel"]):
            ra, rb = _outcome(full.read, a, paths), _outcome(lite.read, b, paths)
            if ra[0] == "ok":
                ra, rb = ("ok", _values(ra[1])), ("ok", _values(rb[1]))
            assert ra == rb, (device_id, paths)
            kinds.add(ra[0] if ra[0] == "ok" else ra[1].__name__)
        oa, ob = read_overview(full, a, CLI_OBJECTS), read_overview(lite, b, CLI_OBJECTS)
        assert (_values({v.path: v for v in oa.values}), oa.absent, oa.error) == \
               (_values({v.path: v for v in ob.values}), ob.absent, ob.error), device_id
    assert {"ok", "InvalidParameterName", "DeviceOffline", "UnknownDevice"} <= kinds
    assert [s for who, s in sleeps if who == "full"] == [s for who, s in sleeps if who == "lite"] != []


def test_secret_table_is_current_and_agrees_on_every_path_read(rt: Any, fleet: dict[str, Any]) -> None:
    from core.kernel.secrets import MASK, is_secret_path, mask_value
    from executors.sim import lite, secret_table
    from executors.sim.catalog import generic_path

    assert json.loads(lite.SECRET_TABLE_PATH.read_text()) == secret_table.secret_table(), \
        "regenerate executors/sim/secret_paths.json: python -m executors.sim.secret_table"
    assert lite.MASK == MASK
    _, reader = _readers(rt, [])
    seen = set()
    for device_id in fleet["ids"]:
        class Dev:
            id = device_id
        try:
            values = reader.read(Dev, ["Device."])
        except Exception:  # offline or unreachable: nothing to mask
            continue
        for v in values.values():
            seen.add(v.path)
            assert generic_path(v.path) in lite._secret_table(), v.path  # answered from the table
            assert lite.is_secret_path(v.path) == is_secret_path(v.path), v.path
            assert lite.mask_value(v.path, v.value) == mask_value(v.path, v.value)
    assert any(lite.is_secret_path(p) for p in seen) and len(seen) > 100
    assert lite.is_secret_path("Device.X_ACME_Foo.Password") is True  # not in the table: core.kernel.secrets judges
    assert lite.mask_value("Device.DeviceInfo.SerialNumber", None) is None


def test_catalogue_and_identities_keep_their_types_and_stored_form() -> None:
    """``catalog.json`` checked against the catalogue's types (pydantic validated it at load while
    the classes were pydantic models); identities stored as the models stored them."""
    from pydantic import TypeAdapter

    from executors.sim import catalog as cat
    from executors.sim.twin import sim_devices

    raw = json.loads(cat.CATALOG_PATH.read_text())
    raw.pop("_comment", None)
    for key, m in raw["models"].items():
        m.update(key=key, root_path=m.pop("root"), protocol_name=m.pop("protocol"))
    assert TypeAdapter(cat.Catalog).validate_python(raw) == cat.catalog()  # what Catalog.model_validate checked
    model = cat.get_model("sinotel-hg8020-s105")
    ident = cat.default_identity(model, "4857544300000001")
    ident.neighbors = [cat.NeighborEntry(ssid="x", bssid="02:00:00:00:00:01", channel=6, band="2.4GHz", rssi=-60)]
    stored = cat.dump_identity(ident)
    assert json.loads(stored) == json.loads(TypeAdapter(cat.Identity).dump_json(ident))
    assert cat.load_identity(stored) == ident == cat.load_identity(stored.encode())
    assert cat.load_identity(json.dumps({**json.loads(stored), "later_field": 1})) == ident
    from executors.sim import lite

    assert tuple(c.name for c in sim_devices.columns) == lite.COLUMNS


def test_the_twins_database_is_the_adapters(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``ReadRuntime.sim_database_url`` is what ``default_router`` gives the simulator adapter."""
    from core.kernel.config import Settings
    from gateward.read_runtime import ReadRuntime

    main = f"sqlite:///{tmp_path / 'main.db'}"
    for sim in (None, "", f"sqlite:///{tmp_path / 'twin.db'}", "postgresql://u@h/db"):
        monkeypatch.delenv("GATEWARD_SIM_DATABASE_URL", raising=False)
        if sim is not None:
            monkeypatch.setenv("gateward_sim_database_url", sim)
        settings = Settings(database_url=main)
        from core.store.db import normalise_url

        expected = settings.sim_database_url or normalise_url(settings.resolved_database_url())
        assert ReadRuntime(main).sim_database_url() == expected, sim
        monkeypatch.delenv("gateward_sim_database_url", raising=False)


# ---------------------------------------------------------------------------- the command itself
_CHILD = """
import contextlib, io, json, sys, traceback
from gateward import cli
if sys.argv[1] == "full":
    cli.rt()  # the full runtime: every read through its store and router (the path before issue 15)
out = []
for args in json.loads(sys.argv[2]):
    stdout, stderr = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        sys.argv = ["gateward", *args]
        try:
            cli.main()
        except SystemExit as exc:
            code = exc.code
        except Exception as exc:  # what typer's exception hook would print
            code, stderr = "raised", io.StringIO(type(exc).__name__ + ": " + str(exc))
    out.append({"args": args, "code": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()})
print("RESULT:" + json.dumps({"out": out, "loaded": sorted(sys.modules)}))
"""
_UPTIME = re.compile(r"(UpTime\s*│\s*)\d+\s*")  # the one value that moves between two reads


def _steady(text: str) -> str:
    """``text`` without what moves between two reads: uptimes, and the ACS's time since an inform."""
    return re.sub(r"last inform [^,;)]+ ago", "last inform T ago", _UPTIME.sub(r"\1N ", text))


def _child(mode: str, cases: list[list[str]], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", _CHILD, mode, json.dumps(cases)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    marker = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT:")]
    assert marker, f"child failed: {done.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(marker[-1][len("RESULT:"):])
    return result


def _env(rt: Any, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWARD_")}
    env.update(GATEWARD_DATABASE_URL=rt.store.url, GATEWARD_HOME=os.environ["GATEWARD_HOME"],
               GATEWARD_POLICY_TIME="02:30", COLUMNS="250", **extra)
    return env


@pytest.fixture(scope="module")
def nbi(rt: Any) -> Iterator[str]:
    from gateward.seed import twin_for
    from testing.genieacs.fake_nbi import FakeNbi

    twin = twin_for(rt)
    fake = FakeNbi(twin, tick_s=None)
    fake.start()
    yield fake.url
    fake.stop()
    twin.close()


def test_device_prints_what_the_full_runtime_printed(rt: Any, fleet: dict[str, Any], nbi: str) -> None:
    c = fleet["cases"]
    cases = [["device", c["tr181"]], ["device", c["tr098"]], ["device", c["usp_proto"]], ["device", fleet["bare"]],
             ["device", c["offline"]], ["device", c["unreachable"]], ["device", "NOPE-NOPE-1"],
             ["device", fleet["ghost"]], ["device", c["tr181"], "--path", "Device.DeviceInfo.ModelName",
                                          "--path", "Device.Nope."],
             ["device", c["tr098"], "--path", "Device.Nope."], ["device", c["usp_adapter"]],
             ["device", c["genieacs"]]]
    env = _env(rt, GATEWARD_MQTT_URL="mqtt://127.0.0.1:1", GATEWARD_GENIEACS_URL=nbi)
    lean, full = _child("lean", cases, env), _child("full", cases, env)
    for a, b in zip(lean["out"], full["out"], strict=True):
        assert a["code"] == b["code"], (a, b)
        assert _steady(a["stdout"]) == _steady(b["stdout"]), a["args"]
        assert a["stderr"] == b["stderr"], a["args"]
    shown = {tuple(o["args"]): o for o in lean["out"]}
    assert "online and reachable" in shown[("device", c["tr098"])]["stdout"]
    assert "Device.WiFi.Radio.1.Channel" in shown[("device", c["tr098"])]["stdout"]
    assert "********" in shown[("device", c["tr181"])]["stdout"]  # secrets still masked
    assert "online=False" in shown[("device", c["offline"])]["stdout"]
    assert shown[("device", c["unreachable"])]["code"] == 2
    assert "cannot be reached" in shown[("device", c["unreachable"])]["stderr"]
    assert "unknown device 'NOPE-NOPE-1'" in shown[("device", "NOPE-NOPE-1")]["stderr"]
    assert "no such device in the simulated fleet" in shown[("device", fleet["ghost"])]["stderr"]
    assert "not on this device: Device.WiFi.Radio., Device.DNS.Client." in shown[("device", fleet["bare"])]["stdout"]
    assert "cannot reach the MQTT broker" in shown[("device", c["usp_adapter"])]["stdout"]
    assert "online and reachable" in shown[("device", c["genieacs"])]["stdout"]


def test_a_simulated_device_is_read_without_the_executor_stack(rt: Any, fleet: dict[str, Any]) -> None:
    c = fleet["cases"]
    for key in ("tr181", "tr098", "usp_proto"):
        result = _child("lean", [["device", c[key]]], _env(rt))
        assert result["out"][0]["code"] == 0, result["out"]
        loaded = set(result["loaded"])
        assert sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in LIVE_HEAVY)) == [], key
        assert "executors.sim.lite" in loaded
        assert ("core.kernel.datamodel.tr098" in loaded) is (key == "tr098")  # TR-181 trees need no translation
