"""The policy input's ``fleet_size`` (issue 15): counting ``devices`` is a pass over the table
(~30 ms at a million devices on PostgreSQL), which every decision paid, so it is counted at most
once per ``FLEET_SIZE_MAX_AGE_S`` per database in a process. These tests hold the count to the
table within that window and the cache to one database."""

from __future__ import annotations

from typing import Any

import pytest

from core.kernel.models import Device
from core.store import repo
from core.store.fastsql import Prepared


def _add(store: Any, *ids: str) -> None:
    with store.write() as s:
        for i in ids:
            s.add(repo.device_to_row(Device(id=i, vendor="V", model="M", firmware="1.0")))


def _counted(store: Any, **kw: Any) -> tuple[int, int]:
    """(fleet size, statements it ran)."""
    calls = 0
    real = Prepared.all

    def spy(self: Prepared, *a: Any, **k: Any) -> Any:
        nonlocal calls
        calls += 1
        return real(self, *a, **k)

    Prepared.all = spy  # type: ignore[method-assign]
    try:
        with store.read() as s:
            return repo.fleet_size(s, **kw), calls
    finally:
        Prepared.all = real  # type: ignore[method-assign]


def test_fleet_size_is_counted_once_a_window(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(repo.time, "monotonic", lambda: clock[0])
    _add(store, "V-M-1", "V-M-2")
    assert _counted(store) == (2, 1)
    _add(store, "V-M-3")
    assert _counted(store) == (2, 0)  # within the window: the count taken a moment ago, no statement
    clock[0] += repo.FLEET_SIZE_MAX_AGE_S - 0.5
    assert _counted(store) == (2, 0)
    clock[0] += 1.0  # the window has passed: counted again
    assert _counted(store) == (3, 1)
    _add(store, "V-M-4")
    assert _counted(store, max_age_s=0) == (4, 1)  # a caller that must have it exact


def test_each_database_has_its_own_count(store: Any, tmp_path: Any) -> None:
    from core.store import Store

    other = Store(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        _add(store, "V-M-1", "V-M-2", "V-M-3")
        _add(other, "V-M-9")
        assert _counted(store)[0] == 3
        assert _counted(other)[0] == 1
    finally:
        other.dispose()
