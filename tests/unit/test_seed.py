"""Seeding when there is nothing new to seed (a fleet already there, or zero homes) returns at once
on both databases. ``_seed_fleet`` used to call ``ensure_users`` — a write transaction of its own —
inside its open write transaction; on SQLite that second writer waited on the first until
"database is locked" (~30 s), so ``gateward seed``/``gateward run`` died on a seeded home."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from core.store.schema import DeviceRow, UserRow
from core.users import DEMO_USERS
from gateward.seed import ensure_seeded, seed_fleet


def _count(rt: Any, row: Any) -> int:
    with rt.store.read() as s:
        return int(s.scalar(select(func.count()).select_from(row)) or 0)


def test_seeding_nothing_twice_returns_at_once(runtime: Any) -> None:
    devices = _count(runtime, DeviceRow)
    for homes in (0, 0, 1, 12):  # the fixture seeded 12 homes with seed 11: nothing is new
        assert seed_fleet(runtime, homes=homes, seed=11) == devices
    assert ensure_seeded(runtime, homes=0) == devices
    assert _count(runtime, DeviceRow) == devices
    assert _count(runtime, UserRow) >= len(DEMO_USERS)  # the demo users are still ensured
