"""The synthetic fleet: deterministic, consistent with its conditions, and loaded in bulk (its speed
is ``gateward bench seed``'s row; here, that a load is a few multi-row statements, not a row each)."""

from __future__ import annotations

import collections
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from executors.base import DeviceOffline
from executors.sim.catalog import get_model
from executors.sim.executor import SimExecutor
from executors.sim.fleet import (
    CONDITIONS,
    OUTAGE_PORT,
    FleetSeed,
    generate_fleet,
    iter_fleet,
    load_fleet,
)
from executors.sim.twin import Twin

ANCHOR = datetime(2025, 3, 14, 21, 0, tzinfo=UTC)


def _inserts(engine: Engine) -> list[tuple[str, bool]]:
    """Each INSERT the engine sends from now on: (table, sent as one executemany)."""
    seen: list[tuple[str, bool]] = []

    def before(conn: object, cursor: object, statement: str, params: object, context: object,
               executemany: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            seen.append((statement.split()[2].strip('"'), executemany))

    event.listen(engine, "before_cursor_execute", before)
    return seen


@pytest.fixture(scope="module")
def fleet() -> FleetSeed:
    return generate_fleet(200, 7, anchor=ANCHOR)


@pytest.fixture(scope="module")
def loaded(fleet: FleetSeed, tmp_path_factory: pytest.TempPathFactory) -> tuple[Twin, SimExecutor]:
    twin = Twin(f"sqlite:///{tmp_path_factory.mktemp('fleet') / 'twin.db'}")
    twin.load_seed(fleet)
    return twin, SimExecutor(twin)


def _by_id(fleet: FleetSeed) -> dict[str, object]:
    return {d.id: d for d in fleet.devices}


# ----------------------------------------------------------------------------- determinism & speed


def test_same_seed_same_fleet(fleet: FleetSeed) -> None:
    again = generate_fleet(200, 7, anchor=ANCHOR)
    assert again.model_dump_json() == fleet.model_dump_json()
    other = generate_fleet(200, 8, anchor=ANCHOR)
    assert [d.id for d in other.devices] != [d.id for d in fleet.devices] or other.conditions != fleet.conditions


def test_streaming_gives_the_same_fleet(fleet: FleetSeed) -> None:
    chunks = list(iter_fleet(200, 7, batch_homes=40, anchor=ANCHOR))
    assert len(chunks) > 3
    assert all(len(c.devices) < 40 + 12 for c in chunks)
    merged = FleetSeed(seed=7, homes=200, anchor=ANCHOR)
    for c in chunks:
        merged.extend(c)
    assert merged.model_dump_json() == fleet.model_dump_json()


def test_two_hundred_homes_load_in_a_few_bulk_statements(tmp_path: Path) -> None:
    f = generate_fleet(200, 7)
    twin = Twin(f"sqlite:///{tmp_path / 'speed.db'}")
    inserts = _inserts(twin.engine)
    assert twin.load_seed(f, batch=100) == len(f.twin_states)
    # One multi-row statement per batch of rows: devices in batches of 100, events of 200.
    assert all(many for _, many in inserts), inserts
    devices = sum(1 for table, _ in inserts if table == "sim_devices")
    assert devices == -(-len(f.twin_states) // 100)
    assert len(inserts) - devices == -(-len(f.events) // 200)


def test_streamed_load(tmp_path: Path) -> None:
    twin = Twin(f"sqlite:///{tmp_path / 'stream.db'}")
    totals = load_fleet(twin, 120, 7, batch_homes=30, anchor=ANCHOR)
    assert totals["devices"] == twin.count() == 120
    assert load_fleet(twin, 50, 7)["devices"] == 50  # resets first


def test_loading_twice_without_reset_is_harmless(fleet: FleetSeed, tmp_path: Path) -> None:
    twin = Twin(f"sqlite:///{tmp_path / 'twice.db'}")
    assert twin.load_seed(fleet) == 200
    assert twin.load_seed(fleet, reset=False) == 0
    assert twin.count() == 200


# ----------------------------------------------------------------------------- shape


def test_devices_subscribers_and_regions(fleet: FleetSeed) -> None:
    assert len(fleet.devices) == 200 == len({d.id for d in fleet.devices})
    for d in fleet.devices:
        assert d.id == f"{d.oui}-{d.product_class}-{d.serial}"
        assert d.subscriber in fleet.subscribers
        assert d.upstream_id and d.adapter == "sim"
        assert any(t.startswith("building:") for t in d.tags)
    regions = collections.Counter(d.region for d in fleet.devices)
    assert regions["DE"] + regions["GB"] > 150 and set(regions) <= {"DE", "GB", "US", "FR"}
    labels = {s["label"] for s in fleet.subscribers.values()}
    assert "Flat 4B, 12 Harbour Road" in labels
    assert all({"label", "building", "service_tier"} <= set(s) for s in fleet.subscribers.values())
    models = collections.Counter(d.model for d in fleet.devices)
    assert len(models) >= 5


def test_topology_is_a_tree(fleet: FleetSeed) -> None:
    nodes = {n.id: n for n in fleet.topology_nodes}
    assert len(nodes) == len(fleet.topology_nodes)
    for n in nodes.values():
        if n.kind in ("olt", "cmts"):
            assert n.parent_id is None
        elif n.kind == "pon_port":
            assert nodes[n.parent_id].kind == "olt"  # type: ignore[index]
        else:
            assert nodes[n.parent_id].kind in ("pon_port", "cmts")  # type: ignore[index]
    for d in fleet.devices:
        up = nodes[d.upstream_id]  # type: ignore[index]
        access = get_model(next(s.model_key for s in fleet.twin_states if s.device_id == d.id)).upstream_kind
        assert up.kind == ("pon_port" if access == "olt" else "cmts")
    port_sizes = collections.Counter(d.upstream_id for d in fleet.devices if d.upstream_id.startswith("olt"))
    assert max(port_sizes.values()) <= 32


def test_telemetry_bounds_and_metrics(fleet: FleetSeed) -> None:
    per_device = collections.Counter(t.device_id for t in fleet.telemetry)
    assert max(per_device.values()) <= 500
    metrics = {t.metric for t in fleet.telemetry}
    assert {
        "wifi.channel_utilization_pct",
        "wifi.dfs_radar_events",
        "dns.failures",
        "wan.latency_ms",
        "wifi.client_count",
        "wan.up",
    } <= metrics
    first = ANCHOR - timedelta(hours=24)
    assert all(first < t.ts <= ANCHOR and t.ts.minute % 15 == 0 for t in fleet.telemetry)


def test_every_device_has_exactly_one_condition(fleet: FleetSeed) -> None:
    assert set(fleet.conditions) == set(CONDITIONS)
    assert all(fleet.conditions[c] for c in CONDITIONS), {c: len(v) for c, v in fleet.conditions.items()}
    seen = [d for ids in fleet.conditions.values() for d in ids]
    assert sorted(seen) == sorted(d.id for d in fleet.devices)


def test_hostile_ssids_are_in_the_air(fleet: FleetSeed) -> None:
    ssids = {n.ssid for n in fleet.wifi_neighbors}
    assert any("ignore previous instructions" in s for s in ssids)
    assert any(s.startswith("SYSTEM:") for s in ssids)
    managed = [n for n in fleet.wifi_neighbors if n.neighbor_device_id]
    assert managed and all(n.neighbor_device_id in _by_id(fleet) for n in managed)


# ----------------------------------------------------------------------------- conditions vs twin state


def _read(ex: SimExecutor, fleet: FleetSeed, device_id: str, path: str) -> object:
    d = _by_id(fleet)[device_id]
    return ex.read(d, [path])[path].value  # type: ignore[arg-type]


def _radio(fleet: FleetSeed, device_id: str, band: str) -> int:
    key = next(s.model_key for s in fleet.twin_states if s.device_id == device_id)
    return next(i for i, r in enumerate(get_model(key).radios, start=1) if r.band == band)


def test_flat_4b_is_the_dfs_story(fleet: FleetSeed, loaded: tuple[Twin, SimExecutor]) -> None:
    _, ex = loaded
    sub = next(k for k, v in fleet.subscribers.items() if v["label"] == "Flat 4B, 12 Harbour Road")
    d = next(x for x in fleet.devices if x.subscriber == sub)
    assert d.id in fleet.conditions["dfs_radar"] and d.region == "GB"
    r = _radio(fleet, d.id, "5GHz")
    assert _read(ex, fleet, d.id, f"Device.WiFi.Radio.{r}.Channel") == 52
    possible = str(_read(ex, fleet, d.id, f"Device.WiFi.Radio.{r}.PossibleChannels")).split(",")
    assert "149" in possible
    near36 = [n for n in fleet.wifi_neighbors if n.device_id == d.id and n.channel in (36, 40) and n.rssi_dbm > -70]
    assert len(near36) >= 3
    assert any(e.kind == "dfs_radar" for e in fleet.events if e.device_id == d.id)


def test_dfs_homes(fleet: FleetSeed, loaded: tuple[Twin, SimExecutor]) -> None:
    _, ex = loaded
    for device_id in fleet.conditions["dfs_radar"]:
        r = _radio(fleet, device_id, "5GHz")
        assert _read(ex, fleet, device_id, f"Device.WiFi.Radio.{r}.Channel") == 52
        assert _read(ex, fleet, device_id, f"Device.WiFi.Radio.{r}.AutoChannelEnable") is False
        crowd = [n for n in fleet.wifi_neighbors if n.device_id == device_id and n.channel == 36]
        assert len(crowd) >= 1


def test_dns_lost_homes(fleet: FleetSeed, loaded: tuple[Twin, SimExecutor]) -> None:
    twin, ex = loaded
    assert fleet.conditions["dns_lost_after_fw_bug"]
    for device_id in fleet.conditions["dns_lost_after_fw_bug"]:
        d = _by_id(fleet)[device_id]
        out = ex.read(d, ["Device.DNS.Client."])  # type: ignore[arg-type]
        assert not any(p.startswith("Device.DNS.Client.Server.") for p in out)
        kinds = [e.kind for e in fleet.events if e.device_id == device_id]
        assert "boot" in kinds and "dns_lost" in kinds
        assert twin.state(device_id).model.has_quirk("dns_lost_after_reboot")
    healthy_legacy = [i for i in fleet.conditions["healthy"] if twin.state(i).model.has_quirk("dns_lost_after_reboot")]
    for device_id in healthy_legacy[:3]:
        assert _read(ex, fleet, device_id, "Device.DNS.Client.Server.1.DNSServer")


def test_misconfigured_inform_and_healthy_profile(fleet: FleetSeed, loaded: tuple[Twin, SimExecutor]) -> None:
    _twin, ex = loaded
    for device_id in fleet.conditions["periodic_inform_misconfigured"]:
        assert _read(ex, fleet, device_id, "Device.ManagementServer.PeriodicInformInterval") == 86400
    cwmp_healthy = [i for i in fleet.conditions["healthy"] if str(_by_id(fleet)[i].protocol) == "cwmp"]  # type: ignore[attr-defined]
    for device_id in cwmp_healthy[:10]:
        assert _read(ex, fleet, device_id, "Device.ManagementServer.PeriodicInformInterval") == 3600


def test_congestion_and_coverage(fleet: FleetSeed, loaded: tuple[Twin, SimExecutor]) -> None:
    _twin, ex = loaded
    for device_id in fleet.conditions["wifi_congestion"]:
        r = _radio(fleet, device_id, "2.4GHz")
        assert _read(ex, fleet, device_id, f"Device.WiFi.Radio.{r}.Channel") == 6
        strong = [
            n
            for n in fleet.wifi_neighbors
            if n.device_id == device_id and n.band == "2.4GHz" and 5 <= n.channel <= 7 and n.rssi_dbm > -67
        ]
        assert len(strong) >= 4
        util = [
            t.value
            for t in fleet.telemetry
            if t.device_id == device_id and t.metric == "wifi.channel_utilization_pct" and t.labels["band"] == "2.4GHz"
        ]
        assert max(util) > 70
    for device_id in fleet.conditions["poor_24_coverage"]:
        r = _radio(fleet, device_id, "2.4GHz")
        power = _read(ex, fleet, device_id, f"Device.WiFi.Radio.{r}.TransmitPower")
        supported = str(_read(ex, fleet, device_id, f"Device.WiFi.Radio.{r}.TransmitPowerSupported")).split(",")
        assert power == min(int(x) for x in supported if int(x) > 0)


def test_upstream_outage(fleet: FleetSeed, loaded: tuple[Twin, SimExecutor]) -> None:
    twin, ex = loaded
    ids = fleet.conditions["upstream_outage"]
    assert ids
    on_port = [d.id for d in fleet.devices if d.upstream_id == OUTAGE_PORT]
    assert sorted(on_port) == sorted(ids)
    offline = [i for i in ids if not ex.presence(_by_id(fleet)[i]).online]  # type: ignore[arg-type]
    assert 0 < len(offline) < len(ids)
    with pytest.raises(DeviceOffline):
        _read(ex, fleet, offline[0], "Device.DeviceInfo.UpTime")
    assert all(twin.state(i).link["degraded"] for i in ids)
    down = [t for t in fleet.telemetry if t.device_id == offline[0] and t.metric == "wan.up" and t.value == 0]
    assert down


def test_neighbour_table_is_readable_on_tr181_cwmp(fleet: FleetSeed, loaded: tuple[Twin, SimExecutor]) -> None:
    _twin, ex = loaded
    d = next(x for x in fleet.devices if x.model == "ONT-G240W" and x.id in fleet.conditions["healthy"])
    out = ex.read(d, ["Device.WiFi.NeighboringWiFiDiagnostic."])
    assert out["Device.WiFi.NeighboringWiFiDiagnostic.ResultNumberOfEntries"].value >= 1


@pytest.mark.postgres
def test_fleet_loads_into_postgres(fleet: FleetSeed) -> None:
    import os
    import uuid

    url = os.environ.get("GATEWARD_TEST_DATABASE_URL")
    if not url:
        pytest.skip("GATEWARD_TEST_DATABASE_URL is not set")
    twin = Twin(url, schema=f"sim_fleet_{uuid.uuid4().hex[:10]}")
    try:
        inserts = _inserts(twin.engine)
        assert twin.load_seed(fleet, batch=50) == 200
        assert inserts and all(many for _, many in inserts), inserts  # bulk, not a row per statement
        ex = SimExecutor(twin)
        flat4b = next(d for d in fleet.devices if fleet.subscribers[d.subscriber or ""]["label"].startswith("Flat 4B"))
        r = _radio(fleet, flat4b.id, "5GHz")
        assert ex.read(flat4b, [f"Device.WiFi.Radio.{r}.Channel"])[f"Device.WiFi.Radio.{r}.Channel"].value == 52
        assert len(twin.events(flat4b.id)) >= 2
    finally:
        twin.drop()
        twin.close()


def test_parts_built_apart_are_the_fleet_in_order() -> None:
    """``iter_fleet(part=(k, n))``: n generator processes each build every n-th chunk; taken in turn
    they are the fleet's chunks, the same whatever n."""
    whole = [c.model_dump_json() for c in iter_fleet(150, 7, batch_homes=20, anchor=ANCHOR, telemetry_homes=50)]
    for n in (2, 3):
        parts = [[c.model_dump_json() for c in iter_fleet(150, 7, batch_homes=20, anchor=ANCHOR, telemetry_homes=50,
                                                          part=(k, n))] for k in range(n)]
        assert [parts[i % n][i // n] for i in range(len(whole))] == whole
        assert sum(len(p) for p in parts) == len(whole)
    with pytest.raises(ValueError):
        next(iter_fleet(10, 7, part=(2, 2)))


def test_presence_of_many_devices_is_each_device_presence(loaded: tuple[Twin, SimExecutor],
                                                          fleet: FleetSeed) -> None:
    """``presence_many`` reads the presence columns of many devices at once: the same answer as
    :meth:`presence` per device, injected faults included; an unknown device is left out."""
    twin, ex = loaded
    devices = fleet.devices[:40]
    twin.inject(devices[0].id, "offline")
    twin.inject(devices[1].id, "unreachable")
    try:
        ghost = devices[2].model_copy(update={"id": "no-such-device"})
        many = ex.presence_many([*devices, ghost])
        assert set(many) == {d.id for d in devices}
        assert many == {d.id: ex.presence(d) for d in devices}
        assert not many[devices[0].id].online and many[devices[1].id].online and not many[devices[1].id].reachable
        assert ex.reader().presence_many(devices) == many  # through the read-only facade too
    finally:
        twin.clear(devices[0].id)
        twin.clear(devices[1].id)
