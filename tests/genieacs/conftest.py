"""Fixtures for the GenieACS suite: a twin on SQLite, the fake NBI over it, the adapter.

Everything is real except GenieACS itself: HTTP on a loopback port, the twin's database, and
the CPE behaviour of the simulator. ``nbi.rpc_log(device)`` shows what the CPE was sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.kernel.models import Change, Device, Scalar
from executors.base import ApplyResult, OperateResult
from testing.grants import grant

TR181_MODEL = "lumenet-g240w-3.2"
TR098_MODEL = "sinotel-hg8020-s105"
ODD_SERIAL = "LM-NT/90 02ü"
SSID1 = "Device.WiFi.SSID.1.SSID"


@pytest.fixture
def twin(tmp_path: Path) -> Iterator[Any]:
    from executors.sim.twin import Twin

    t = Twin(f"sqlite:///{tmp_path / 'twin.db'}")
    yield t
    t.close()


@pytest.fixture
def devices(twin: Any) -> dict[str, Device]:
    return {
        "tr181": twin.add_device(TR181_MODEL, "LMNT91000001", region="GB"),
        "tr098": twin.add_device(TR098_MODEL, "4857544391000001", region="DE"),
        "odd": twin.add_device(TR181_MODEL, ODD_SERIAL, region="DE"),
        "vantec": twin.add_device("vantec-cgw3400-7.2", "VT91000001", region="DE"),
        "usp": twin.add_device("prplnet-px7000-1.3", "PX7K91000001", region="DE"),
    }


@pytest.fixture
def nbi(twin: Any, devices: dict[str, Device]) -> Iterator[Any]:
    from testing.genieacs.fake_nbi import FakeNbi

    fake = FakeNbi(twin, tick_s=None)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def executor(nbi: Any) -> Iterator[Any]:
    from executors.genieacs.executor import GenieAcsExecutor

    # waiting for a NAT'd device's next inform off (the default waits): these tests pin the adapter's
    # own answers to an unreachable device; tests/genieacs/test_nat.py has the waits
    ex = GenieAcsExecutor(url=nbi.url, timeout_s=5.0, session_budget_s=10.0, inform_wait_s=0.0)
    yield ex
    ex.close()


@pytest.fixture
def http(nbi: Any) -> Iterator[httpx.Client]:
    """A raw HTTP client for wire-level checks of the fake NBI."""
    with httpx.Client(base_url=nbi.url, timeout=20.0) as c:
        yield c


def apply(ex: Any, device: Device, changes: list[Change], key: str = "k-1") -> ApplyResult:
    with grant(ex, device, paths=[c.path for c in changes], proposal_id="p-genieacs") as g:
        result: ApplyResult = ex.apply(device, changes, key, g)
        return result


def operate(ex: Any, device: Device, command: str, **args: Scalar) -> OperateResult:
    with grant(ex, device, commands=[command], proposal_id="p-genieacs") as g:
        result: OperateResult = ex.operate(device, command, dict(args), g)
        return result


def read(ex: Any, device: Device, path: str) -> Any:
    return ex.read(device, [path])[path].value


@contextmanager
def no_new_rpcs(nbi: Any, device_id: str, *names: str) -> Iterator[None]:
    """Assert the CPE received none of ``names`` (e.g. SetParameterValues) inside the block."""
    before = len(nbi.rpc_log(device_id))
    yield
    new = nbi.rpc_log(device_id)[before:]
    sent = [e for e in new if e["rpc"] in names and e.get("parameterList", True)]
    assert not sent, f"the CPE was sent {sent}"
