"""Migration 0036's indexes answer what the reads without them answered (issue 60.4).

* The device list's "contains" search (SQLite: the ids from an index of the searched text;
  PostgreSQL: 0028's trigram index) finds exactly the devices whose ``id subscriber model`` text
  contains the words, letter case aside, ``%`` ``_`` ``\\`` taken literally — after inserts,
  updates and deletes, and on an SQLite migrated before the index.
* The plans: SQLite's search reads that index, the outage read reaches the partial index of
  WAN-trouble events.
* The overview's counts and the list's facets, one ``GROUP BY`` each now, equal counting the rows.
* Upgrading a database that holds devices builds the indexes (and drops two the ``(col, id)`` pairs
  made redundant); downgrading puts it back as it was.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, delete, event, insert, select, text, update

from api.device_list import Filters, read_page
from api.device_views import facets
from api.fleet_overview import inventory
from api.fleet_trends import outages
from core.kernel.models import utcnow
from core.store import device_search
from core.store.db import Store
from core.store.schema import DeviceEventRow, DeviceRow, TopologyNodeRow
from testing.bulk_fleet import seed_bulk_fleet
from tests.conftest import PG_URL, REQUIRE, make_db_url

WORDS = ["sub-00000004", "SUB-0000000", "gb0000001", "cgw", "X%_\\1", "x%", "_", "\\", "%", "zz-none", "00", "-",
         "ö", "Ö", " sub", "1 s"]


def _device(did: str, subscriber: str | None, model: str = "CGW-3400", status: str = "active",
            region: str = "DE", vendor: str = "Acme", firmware: str = "1.0") -> dict[str, Any]:
    now = utcnow()
    return {"id": did, "vendor": vendor, "model": model, "product_class": "PC", "oui": "00D0F1", "serial": did,
            "firmware": firmware, "root": "Device", "protocol": "cwmp", "adapter": "sim", "subscriber": subscriber,
            "region": region, "service": "standard", "tags": [], "upstream_id": None, "last_seen": now,
            "created_at": now, "status": status}


@pytest.fixture
def fleet(store: Store) -> Store:
    """40 bulk devices and a few with words a search must take literally or fold."""
    seed_bulk_fleet(store, 40, seed=3, users=False)
    with store.write() as s:
        s.execute(insert(DeviceRow), [_device("X%_\\1", "Müller-Öz"), _device("plain-x1", None, model="X%Y"),
                                      _device("ÖSTER-1", "sub-Ö", model="ONT")])
    return store


def _expected(store: Store, q: str) -> set[str]:
    """What the search must find: every device whose text contains ``q``, letter case aside."""
    with store.read() as s:
        rows = s.execute(select(DeviceRow.id, DeviceRow.subscriber, DeviceRow.model)).all()
    fold = _ascii_lower if store.dialect == "sqlite" else str.lower  # SQLite's LIKE folds ASCII letters only
    return {i for i, sub, model in rows if fold(q) in fold(f"{i} {sub or ''} {model}")}


def _ascii_lower(t: str) -> str:
    return t.translate({c: c + 32 for c in range(ord("A"), ord("Z") + 1)})


def _found(store: Store, q: str) -> set[str]:
    with store.read() as s:
        page = read_page(s, Filters(q=q), limit=500)
    assert page.next_cursor is None
    return {r.id for r in page.rows}


def _check_every_word(store: Store, words: list[str]) -> None:
    for q in words:
        assert _found(store, q) == _expected(store, q), q


def _has_index(store: Store) -> bool:
    with store.read() as s:
        return device_search.has_index(s)


def test_the_search_finds_what_reading_every_row_finds(fleet: Store) -> None:
    if fleet.dialect == "sqlite":
        assert _has_index(fleet)  # the index is what is tested
    _check_every_word(fleet, WORDS)
    assert _found(fleet, "X%_\\1") == {"X%_\\1"}  # % _ \ are letters, not wildcards
    assert _found(fleet, "x%") == {"X%_\\1", "plain-x1"}  # case-blind, the model's "X%Y" too


def test_the_search_follows_every_write_to_devices(fleet: Store) -> None:
    rng = random.Random(60)
    with fleet.read() as s:
        ids = sorted(s.scalars(select(DeviceRow.id)))
    gone, moved = rng.sample(ids, 2)
    with fleet.write() as s:
        s.execute(delete(DeviceRow).where(DeviceRow.id == gone))
        s.execute(update(DeviceRow).where(DeviceRow.id == moved).values(subscriber="renamed-Zeta", model="NEW-9"))
        s.execute(insert(DeviceRow), [_device("fresh-1", "sub-fresh")])
    assert _found(fleet, gone) == set()
    assert _found(fleet, "renamed-zeta") == {moved} == _found(fleet, "new-9")
    assert _found(fleet, "sub-fresh") == {"fresh-1"}
    _check_every_word(fleet, [*WORDS, "renamed", "fresh", gone[:6]])


def test_an_sqlite_without_the_search_index_reads_the_rows(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    seed_bulk_fleet(store, 30, seed=4, users=False)
    with store.write() as s:
        s.execute(insert(DeviceRow), [_device("X%_\\1", "Müller")])
    with store.engine.begin() as c:  # as a database migrated before 0036 (the search reads the rows)
        c.exec_driver_sql("DROP INDEX ix_devices_search_text")
    store.dispose()
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    try:
        assert not _has_index(store)
        _check_every_word(store, WORDS)
        with store.write() as s:  # devices are still written
            s.execute(insert(DeviceRow), [_device("late-1", "sub-late")])
        assert _found(store, "SUB-LATE") == {"late-1"}
    finally:
        store.dispose()


def _plans(store: Store, run: Any) -> list[str]:
    """The plan of every SELECT ``run`` sends (SQLite: EXPLAIN QUERY PLAN; PostgreSQL: EXPLAIN with
    sequential scans discouraged, so an index the statement can use shows)."""
    sent: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, params))

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        with store.read() as s:
            run(s)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    plans = []
    with store.engine.connect() as c:
        raw = c.connection.dbapi_connection
        assert raw is not None
        cur = raw.cursor()
        if store.dialect != "sqlite":
            cur.execute("SET enable_seqscan = off")
        for statement, params in sent:
            cur.execute(("EXPLAIN QUERY PLAN " if store.dialect == "sqlite" else "EXPLAIN ") + statement, params)
            plans.append("\n".join(" ".join(str(x) for x in row) for row in cur.fetchall()))
        c.rollback()
    return plans


def test_the_sqlite_search_reads_the_index_of_its_text(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    try:
        seed_bulk_fleet(store, 20, seed=5, users=False)
        plans = _plans(store, lambda s: read_page(s, Filters(q="sub-0000001"), limit=50))
        searched = [p for p in plans if "ix_devices_search_text" in p]
        assert len(searched) >= 2, plans  # a walk of the problems order and the count, at least
        # and no statement reads the table's rows for it
        assert not [p for p in plans if "SCAN devices" in p.replace("SCAN devices USING INDEX", "")], plans
    finally:
        store.dispose()


def test_the_outage_read_reaches_the_partial_index(store: Store) -> None:
    """The outage rule read through the partial index: upstreams where at least half the devices
    (each counted once) reported WAN trouble in the window and at least three others share it."""
    now = utcnow()
    since = now - timedelta(hours=6)
    sizes = {"pon-1": 6, "pon-2": 4, "pon-3": 3, "pon-4": 6}
    seed_bulk_fleet(store, sum(sizes.values()) + 2, seed=6, users=False)
    with store.write() as s:
        olt = {"id": "olt-1", "kind": "olt", "label": "OLT 1", "parent_id": None, "attrs": {}}
        s.execute(insert(TopologyNodeRow), [olt, *({"id": u, "kind": "pon_port", "label": u.upper(),
                                                    "parent_id": "olt-1" if u == "pon-1" else None, "attrs": {}}
                                                   for u in sizes)])
        ids = list(s.scalars(select(DeviceRow.id).order_by(DeviceRow.id)))
        on: dict[str, list[str]] = {}
        at = 0
        for u, n in sizes.items():
            on[u] = ids[at:at + n]
            s.execute(update(DeviceRow).where(DeviceRow.id.in_(on[u])).values(upstream_id=u))
            at += n

        def ev(device: str, kind: str, ts: Any) -> dict[str, Any]:
            return {"device_id": device, "ts": ts, "kind": kind, "data": {}}

        recent = now - timedelta(minutes=5)
        s.execute(insert(DeviceEventRow), [
            *(ev(d, "wan_down", recent) for d in on["pon-1"][:3]), ev(on["pon-1"][0], "los", recent),  # 3 of 6
            ev(on["pon-1"][3], "inform", recent), ev(on["pon-1"][4], "los", now - timedelta(hours=9)),  # not trouble
            ev(on["pon-2"][0], "wan_degraded", since), ev(on["pon-2"][1], "offline", recent),  # 2 of 4, one at the edge
            *(ev(d, "wan_down", recent) for d in on["pon-3"]),  # all 3, but only 2 others share it
            *(ev(d, "wan_down", recent) for d in on["pon-4"][:2]),  # 2 of 6
            *(ev(d, "wan_down", recent) for d in ids[at:]),  # no upstream
        ])
    with store.read() as s:
        got = outages(s, 6, now)
    assert got == [
        {"upstream_id": "pon-1", "kind": "pon_port", "label": "PON-1", "parent": {"id": "olt-1", "kind": "olt",
                                                                                 "label": "OLT 1"},
         "degraded": 3, "devices": 6, "window_hours": 6},
        {"upstream_id": "pon-2", "kind": "pon_port", "label": "PON-2", "parent": None, "degraded": 2, "devices": 4,
         "window_hours": 6}]
    plans = _plans(store, lambda s: outages(s, 6, now))
    assert "ix_device_events_degraded" in plans[0], plans[0]


def test_the_overview_counts_and_the_facets_are_the_rows_counted(store: Store) -> None:
    rng = random.Random(36)
    rows = [_device(f"d-{i:03d}", f"s-{i}", model=rng.choice(["A", "B", "C"]), region=rng.choice(["DE", "FR"]),
                    vendor=rng.choice(["V1", "V2"]), firmware=rng.choice(["1", "2"]),
                    status=rng.choice(["active", "active", "retired", "absent"])) for i in range(120)]
    with store.read() as s:
        assert inventory(s).devices == 0 and facets(s) == {"vendors": {}, "models": {}, "firmwares": {}, "regions": {}}
    with store.write() as s:
        s.execute(insert(DeviceRow), rows)
    with store.read() as s:
        inv, fac = inventory(s), facets(s)
    assert inv.by_status == dict(Counter(r["status"] for r in rows))
    active = [r for r in rows if r["status"] == "active"]
    assert inv.devices == len(active)
    assert inv.groups["region"] == Counter(r["region"] for r in active)
    assert inv.groups["model"] == Counter(r["model"] for r in active)
    assert inv.groups["firmware"] == Counter(f"{r['model']} {r['firmware']}" for r in active)
    for facet, key in (("vendors", "vendor"), ("models", "model"), ("firmwares", "firmware"), ("regions", "region")):
        want = Counter(r[key] for r in rows)
        assert fac[facet] == dict(sorted(want.items())), facet
        assert list(fac[facet]) == sorted(want)


@pytest.fixture
def sqlite_at_0035(tmp_path: Path) -> Iterator[str]:
    url, cleanup = make_db_url("sqlite", tmp_path)
    store = Store(url, migrate=False)
    store.migrate("0035")
    seed_bulk_fleet(store, 25, seed=7, users=False)
    store.dispose()
    yield url
    cleanup()


def test_upgrading_builds_the_indexes_and_downgrading_removes_them(sqlite_at_0035: str) -> None:
    store = Store(sqlite_at_0035)  # to head
    try:
        assert _has_index(store)
        _check_every_word(store, ["gb0000002", "SUB-00000", "cgw"])
        store._run_alembic(command.downgrade, "0035")
    finally:
        store.dispose()
    engine = create_engine(sqlite_at_0035)
    try:
        with engine.begin() as c:
            left = c.execute(text("SELECT name FROM sqlite_master WHERE name IN ('ix_devices_search_text', "
                                  "'ix_devices_status_groups', 'ix_device_events_degraded')")).all()
            assert left == []
            back = c.execute(text("SELECT name FROM sqlite_master WHERE name IN ('ix_devices_region', "
                                  "'ix_devices_subscriber')")).all()
            assert len(back) == 2
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL and not REQUIRE, reason="needs PostgreSQL (GATEWARD_TEST_DATABASE_URL)")
def test_a_seeded_postgresql_fleet_is_vacuumed_for_index_only_counts(tmp_path: Path) -> None:
    """PostgreSQL reads a table from an index alone only where its visibility map says so, which a
    fresh table's does not until a vacuum: ``gateward seed`` vacuums ``devices`` (and analyzes the rest)."""
    from core.kernel.config import Settings
    from gateward.fleet_load import load_fleet
    from gateward.runtime import build_runtime

    url, cleanup = make_db_url("postgres", tmp_path)
    rt = build_runtime(Settings(database_url=url))
    try:
        load_fleet(rt, homes=30, seed=3)
        with rt.store.engine.connect() as c:
            got = {str(name): bool(done) for name, done in c.execute(text(
                "SELECT relname, last_vacuum IS NOT NULL FROM pg_stat_user_tables "
                "WHERE schemaname = current_schema() AND relname IN ('devices', 'telemetry')"))}
            analyzed = c.execute(text("SELECT count(*) FROM pg_stat_user_tables WHERE schemaname = current_schema() "
                                      "AND relname = 'telemetry' AND last_analyze IS NOT NULL")).scalar()
        assert got == {"devices": True, "telemetry": False} and analyzed == 1
    finally:
        rt.close()
        cleanup()


def test_the_compatibility_matrix_lists_every_class_in_the_fleet_and_its_evidence(store: Store) -> None:
    """One row per (vendor, model, firmware) of the fleet — any status — and workflow, beside every class with
    evidence; the vendor and model filters narrow both; each row carries its counts and status."""
    from core import compat

    rows = [_device("a-1", "s1", vendor="V1", model="A", firmware="1"),
            _device("a-2", "s2", vendor="V1", model="A", firmware="1", region="FR"),
            _device("a-3", "s3", vendor="V1", model="A", firmware="2", status="retired"),
            _device("b-1", "s4", vendor="V2", model="B", firmware="9")]
    data = {"compat": {"operation_workflows": {"Reboot()": "reboot"}, "default_status": "yellow",
                       "evidence": {"min_executions": 3}}}
    with store.write() as s:
        s.execute(insert(DeviceRow), rows)
        s.execute(insert(compat.CompatEvidenceRow), [
            {"vendor": "V1", "model": "A", "firmware": "1", "workflow": "config", "succeeded": 5, "failed": 1,
             "rollback_failed": 0},
            {"vendor": "V9", "model": "Z", "firmware": "0", "workflow": "reboot", "succeeded": 1, "failed": 0,
             "rollback_failed": 0}])
    with store.read() as s:
        every = compat.matrix(s, data)
        v1 = compat.matrix(s, data, vendor="V1")
        b = compat.matrix(s, data, model="B")
    keys = [(r["vendor"], r["model"], r["firmware"], r["workflow"]) for r in every]
    assert keys == sorted({(v, m, f, w) for v, m, f in [("V1", "A", "1"), ("V1", "A", "2"), ("V2", "B", "9")]
                           for w in ("config", "reboot")} | {("V9", "Z", "0", "reboot")})
    assert {(r["vendor"], r["model"], r["firmware"]) for r in v1} == {("V1", "A", "1"), ("V1", "A", "2")}
    assert {(r["vendor"], r["model"], r["firmware"]) for r in b} == {("V2", "B", "9")}
    seen = next(r for r in every if (r["model"], r["firmware"], r["workflow"]) == ("A", "1", "config"))
    assert (seen["succeeded"], seen["failed"], seen["rollback_failed"], seen["executions"], seen["failure_rate"],
            seen["source"]) == (5, 1, 0, 6, round(1 / 6, 4), "evidence")
    unseen = next(r for r in every if (r["model"], r["workflow"]) == ("B", "reboot"))
    assert (unseen["succeeded"], unseen["failed"], unseen["rollback_failed"], unseen["executions"],
            unseen["failure_rate"], unseen["evidence_status"], unseen["status"], unseen["source"]) == (
        0, 0, 0, 0, None, None, "yellow", "matrix default")
