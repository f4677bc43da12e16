"""The twin's persistent state: one fleet for every process, faults that survive, cheap reads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from executors.base import UnknownDevice
from executors.sim import faults
from executors.sim.twin import Twin

REPO = Path(__file__).resolve().parents[2]
M = "lumenet-g240w-3.2"
LEGACY = "sinotel-hg8020-s105"


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'twin.db'}"


@pytest.fixture
def twin(url: str) -> Twin:
    return Twin(url)


def test_add_and_read_back(twin: Twin) -> None:
    d = twin.add_device(M, "LMNT00000001", region="GB", subscriber="sub-1", upstream_id="olt-x-pon-1", tags=["a"])
    assert d.id == "A4C3F0-G240W-LMNT00000001"
    assert twin.has(d.id) and twin.count() == 1
    assert twin.device(d.id).subscriber == "sub-1"
    params = twin.params(d.id)
    assert params["Device.DeviceInfo.SerialNumber"] == "LMNT00000001"
    assert params["Device.WiFi.Radio.1.RegulatoryDomain"] == "GBI"
    assert params["Device.DeviceInfo.UpTime"] >= 86400  # dynamic, from the boot time
    assert params["Device.WiFi.AccessPoint.1.Security.KeyPassphrase"]  # the twin itself knows secrets
    assert [x.id for x in twin.devices(upstream_id="olt-x-pon-1")] == [d.id]
    with pytest.raises(UnknownDevice):
        twin.state("nope")


def test_two_twins_on_one_database_see_one_fleet(url: str) -> None:
    a, b = Twin(url), Twin(url)
    d = a.add_device(M, "LMNT00000002")
    b.state(d.id)  # warm b's cache
    a.inject(d.id, "offline")
    assert "offline" in b.faults(d.id)  # the version counter invalidates b's cached copy
    a.clear(d.id)
    assert b.faults(d.id) == {}


def test_another_process_can_inject(url: str, twin: Twin) -> None:
    d = twin.add_device(M, "LMNT00000003")
    twin.state(d.id)
    code = (
        f"from executors.sim.twin import Twin; t = Twin({url!r}); "
        f"t.inject({d.id!r}, 'reject_value', path='Device.WiFi.SSID.1.SSID')"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)
    assert twin.faults(d.id)["reject_value"]["paths"] == ["Device.WiFi.SSID.1.SSID"]


def test_fault_kinds_are_validated(twin: Twin) -> None:
    d = twin.add_device(M, "LMNT00000004")
    with pytest.raises(ValueError, match="unknown fault kind"):
        twin.inject(d.id, "gremlins")
    with pytest.raises(ValueError):
        twin.inject(d.id, "slow")
    with pytest.raises(ValueError):
        twin.inject(d.id, "offline", path="x")
    twin.inject(d.id, "slow", seconds=0.5)  # the CLI's spelling
    twin.inject(d.id, "not_sticky", path="A")
    twin.inject(d.id, "not_sticky", path="B")
    f = twin.faults(d.id)
    assert f["slow"] == {"delay_s": 0.5}
    assert f["not_sticky"]["paths"] == ["A", "B"]
    twin.clear(d.id, "slow")
    assert set(twin.faults(d.id)) == {"not_sticky"}
    assert set(faults.FAULT_KINDS) >= {
        "offline",
        "unreachable",
        "fault_on_set",
        "reject_value",
        "reboot_required",
        "slow",
        "not_sticky",
        "fail_after_n_sets",
    }


def test_events_are_logged(twin: Twin) -> None:
    d = twin.add_device(M, "LMNT00000005")
    twin.device_change(d.id, {"Device.WiFi.SSID.1.SSID": "Renamed at home"})
    twin.inform(d.id)
    evs = twin.events(d.id)
    assert [e.kind for e in evs] == ["value_change", "inform"]
    assert evs[0].data["events"] == ["4 VALUE CHANGE"]
    assert twin.params(d.id)["Device.WiFi.SSID.1.SSID"] == "Renamed at home"
    later = twin.events(d.id, since_id=evs[0].id)
    assert [e.kind for e in later] == ["inform"]


def test_transact_is_atomic_and_retries(twin: Twin, url: str) -> None:
    d = twin.add_device(M, "LMNT00000006")
    other = Twin(url)
    calls = []

    def fn(s):  # type: ignore[no-untyped-def]
        calls.append(s.version)
        if len(calls) == 1:
            other.inject(d.id, "reboot_required")  # a concurrent write between read and commit
        s.set_values({"Device.WiFi.SSID.1.SSID": "mine"})
        return "ok"

    assert twin.transact(d.id, fn) == "ok"
    assert len(calls) == 2 and calls[1] == calls[0] + 1
    assert twin.params(d.id)["Device.WiFi.SSID.1.SSID"] == "mine"
    assert "reboot_required" in twin.faults(d.id)

    def boom(s):  # type: ignore[no-untyped-def]
        s.set_values({"Device.WiFi.SSID.1.SSID": "never"})
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        twin.transact(d.id, boom)
    assert twin.params(d.id)["Device.WiFi.SSID.1.SSID"] == "mine"


def test_tombstones_delete_rows(twin: Twin) -> None:
    d = twin.add_device(M, "LMNT00000007")
    twin.device_change(d.id, {"Device.DNS.Client.Server.": None})  # type: ignore[dict-item]
    params = twin.params(d.id)
    assert not any(p.startswith("Device.DNS.Client.Server.") for p in params)
    assert params["Device.DNS.Client.ServerNumberOfEntries"] == 0


def test_set_upstream_degrades_and_repairs(twin: Twin) -> None:
    a = twin.add_device(M, "LMNT00000008", upstream_id="pon-9")
    b = twin.add_device(LEGACY, "4857544300000009", upstream_id="pon-9")
    twin.inject(b.id, "offline")
    assert twin.set_upstream("pon-9", degraded=True, latency_ms=300, loss_pct=30) == 2
    assert twin.state(a.id).link["degraded"] is True
    twin.set_upstream("pon-9", degraded=False)
    assert twin.state(a.id).link["degraded"] is False
    assert "offline" not in twin.faults(b.id)


def test_reset_and_iter_states(twin: Twin) -> None:
    for i in range(3):
        twin.add_device(M, f"LMNT1000000{i}")
    assert [s.id for s in twin.iter_states(batch=2)] == sorted(s.id for s in twin.iter_states())
    twin.reset()
    assert twin.count() == 0


def test_in_memory_database_works() -> None:
    t = Twin("sqlite://")
    d = t.add_device(M, "LMNT2")
    assert t.params(d.id)["Device.DeviceInfo.SerialNumber"] == "LMNT2"


def test_schema_needs_postgres(url: str) -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        Twin(url, schema="x")
