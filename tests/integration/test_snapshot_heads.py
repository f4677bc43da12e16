"""``snapshot_heads`` (migration 0020) must always say what the snapshots say: for every device, the
newest *full* snapshot (never a backup row) and its radio values as the database extracts them —
after inserts in any order, deletes of the head (falls back to the one before), updates that move
or demote a snapshot, and the deletion of a device. The fleet decision groups by these rows, so a
stale head would be a wrong policy input; each case is compared with the old derivation
(``max(id)`` over full snapshots, the JSON extracted from that document)."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from sqlalchemy import delete, func, insert, select, text, update

from core.fleet_facts import RADIO_PATHS, json_value, radios_of
from core.kernel.models import utcnow
from core.store.schema import DeviceRow, ParameterSnapshotRow, SnapshotHeadRow
from testing.bulk_fleet import seed_bulk_fleet


def _derived(store: Any) -> dict[str, tuple[int, tuple[Any, ...]]]:
    """Each device's head as the fleet queries computed it before the table existed."""
    with store.read() as s:
        newest = (select(ParameterSnapshotRow.device_id, func.max(ParameterSnapshotRow.id).label("mid"))
                  .where(ParameterSnapshotRow.source != "backup")
                  .group_by(ParameterSnapshotRow.device_id).subquery())
        cols = [json_value(s, ParameterSnapshotRow.params, p) for p in RADIO_PATHS]
        rows = s.execute(select(ParameterSnapshotRow.device_id, ParameterSnapshotRow.id, *cols)
                         .join(newest, newest.c.mid == ParameterSnapshotRow.id)).all()
    return {r[0]: (r[1], tuple(r[2:])) for r in rows}


def _heads(store: Any) -> dict[str, tuple[int, tuple[Any, ...]]]:
    with store.read() as s:
        rows = s.execute(select(SnapshotHeadRow.device_id, SnapshotHeadRow.snapshot_id, SnapshotHeadRow.radios)).all()
    return {r[0]: (r[1], radios_of(r[2])) for r in rows}


def _snap(device_id: str, band2: str | None, auto2: Any, source: str = "poll") -> dict[str, Any]:
    params: dict[str, Any] = {"Device.WiFi.Radio.1.OperatingFrequencyBand": {"value": "2.4GHz"},
                              "Device.WiFi.Radio.1.AutoChannelEnable": {"value": True}}
    if band2 is not None:
        params["Device.WiFi.Radio.2.OperatingFrequencyBand"] = {"value": band2}
        params["Device.WiFi.Radio.2.AutoChannelEnable"] = {"value": auto2}
    return {"device_id": device_id, "taken_at": utcnow(), "source": source, "params": params}


def test_heads_follow_every_write_to_the_snapshots(store: Any) -> None:
    seed_bulk_fleet(store, 40, seed=2)
    assert _heads(store) == _derived(store) and len(_heads(store)) == 40
    rng = random.Random(7)
    with store.read() as s:
        ids = list(s.scalars(select(DeviceRow.id).order_by(DeviceRow.id)))
    # Newer snapshots (boolean spellings a device or an ACS may send), backups that must not win.
    with store.write() as s:
        s.execute(insert(ParameterSnapshotRow), [
            _snap(d, rng.choice(("5GHz", "6GHz", None)), rng.choice((True, False, "true", "0", 1)),
                  source=rng.choice(("poll", "verified", "backup"))) for d in ids for _ in range(2)])
    assert _heads(store) == _derived(store)
    backups_only = ids[0]
    with store.write() as s:  # a device whose full snapshots are all gone: no head, not a backup's
        s.execute(delete(ParameterSnapshotRow).where(ParameterSnapshotRow.device_id == backups_only,
                                                     ParameterSnapshotRow.source != "backup"))
        s.execute(insert(ParameterSnapshotRow), [_snap(backups_only, "5GHz", False, source="backup")])
    heads = _heads(store)
    assert backups_only not in heads and heads == _derived(store)
    with store.write() as s:  # delete each device's head: the one before takes its place
        top = [h[0] for h in _heads(store).values()]
        s.execute(delete(ParameterSnapshotRow).where(ParameterSnapshotRow.id.in_(top[:10])))
    assert _heads(store) == _derived(store)
    with store.write() as s:  # demote a head to a backup, move one to another device, rewrite one
        top = sorted(h[0] for h in _heads(store).values())
        s.execute(update(ParameterSnapshotRow).where(ParameterSnapshotRow.id == top[0]).values(source="backup"))
        s.execute(update(ParameterSnapshotRow).where(ParameterSnapshotRow.id == top[1]).values(device_id=ids[-1]))
        s.execute(update(ParameterSnapshotRow).where(ParameterSnapshotRow.id == top[2])
                  .values(params=_snap(ids[5], "6GHz", "false")["params"]))
    assert _heads(store) == _derived(store)
    with store.write() as s:  # a deleted device takes its snapshots and its head with it
        s.execute(delete(DeviceRow).where(DeviceRow.id == ids[7]))
    heads = _heads(store)
    assert ids[7] not in heads and heads == _derived(store)


def test_an_unreadable_snapshot_fails_the_decision_not_the_write(store: Any) -> None:
    """SQLite stores JSON as text: a document it cannot parse is recorded as ``invalid`` (the
    snapshot's write still succeeds), and reading that head raises, so a decision over it fails
    and denies instead of judging the device without radios."""
    if store.dialect != "sqlite":
        pytest.skip("PostgreSQL refuses invalid JSON at the column")
    seed_bulk_fleet(store, 2, seed=2)
    with store.read() as s:
        dev = s.scalars(select(DeviceRow.id)).first()
    with store.write() as s:
        s.execute(text("INSERT INTO parameter_snapshots (device_id, taken_at, source, params) "
                       "VALUES (:d, '2026-11-23 00:00:00', 'poll', '{not json')"), {"d": dev})
        raw = s.scalar(select(SnapshotHeadRow.radios).where(SnapshotHeadRow.device_id == dev))
    assert raw == "invalid"
    with pytest.raises(ValueError, match="not valid JSON"):
        radios_of(raw)
    assert radios_of(orjson.dumps(["5GHz", True]).decode()) == ("5GHz", 1)
