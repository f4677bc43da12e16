"""Inventory fixtures: one seeded runtime per backend per module (seeding is the slow part), and
helpers that build devices the seeded fleet does not have (unique serials per test)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BACKENDS, module_runtime

_serials = itertools.count(1)


@pytest.fixture(scope="module", params=BACKENDS)
def rt(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from module_runtime(request, tmp_path_factory, "inventory", homes=16)


@pytest.fixture
def acs(tmp_path: Path) -> Iterator[Any]:
    """GenieACS's NBI as the local double serves it, over a twin of its own (no CPE sessions:
    ``tick_s=None``; tests drive what the ACS lists)."""
    from executors.sim.twin import Twin
    from testing.genieacs.fake_nbi import FakeNbi

    twin = Twin(f"sqlite:///{tmp_path / 'twin.db'}")
    nbi = FakeNbi(twin, tick_s=None)
    nbi.start()
    yield nbi
    nbi.stop()
    twin.close()


def serial(prefix: str = "SN") -> str:
    """A serial no other test (and no seeded device) uses."""
    return f"{prefix}{next(_serials):06d}X"


def actor(rt: Any, name: str) -> Any:
    from core.users import get_actor

    return get_actor(rt.store, name)


def audit_events(rt: Any, action: str, device_id: str | None = None) -> list[Any]:
    from sqlalchemy import select

    from core.store.schema import AuditEventRow

    with rt.store.read() as s:
        q = select(AuditEventRow).where(AuditEventRow.action == action)
        if device_id is not None:
            q = q.where(AuditEventRow.device_id == device_id)
        return list(s.scalars(q.order_by(AuditEventRow.seq)))
