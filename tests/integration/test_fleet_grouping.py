"""Fleet-scale grouping shortcuts give what the plain SQL gives (issue 15, campaign gate).

* ``repo.target_classes``: on SQLite the targets stream out in id order and Python keeps the first
  of each class; it must name the same representatives, in the same order, as
  ``min(id) ... GROUP BY`` (what PostgreSQL still runs, hashing: no sort reads the targets).
* ``repo.select_devices``: the ids in code point order on both backends.
* ``core.store.grouping.hash_grouping``: the settings it changes are back afterwards.
* ``parameter_snapshots.params`` on PostgreSQL is jsonb (migration 0021); the fleet preview's value
  extraction reads the same text that json's did.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text, update

from core.kernel.config import Settings
from core.kernel.errors import Invalid
from core.kernel.models import Change, ProposalDraft, ProposalState, Selector
from core.store import repo
from core.store.grouping import HASH_GROUPING_MIN, hash_grouping
from core.store.schema import AuditEventRow, DeviceRow, ParameterSnapshotRow, ProposalDeviceRow
from core.users import get_actor
from gateward.runtime import build_runtime
from testing.bulk_fleet import seed_bulk_fleet


def _group_by_min(s: Any, pid: str) -> list[str]:
    q = (select(func.min(DeviceRow.id)).join(ProposalDeviceRow, ProposalDeviceRow.device_id == DeviceRow.id)
         .where(ProposalDeviceRow.proposal_id == pid)
         .group_by(DeviceRow.vendor, DeviceRow.model, DeviceRow.firmware, DeviceRow.protocol, DeviceRow.root)
         .order_by(DeviceRow.vendor, DeviceRow.model, DeviceRow.firmware, DeviceRow.protocol, DeviceRow.root))
    return list(s.scalars(q))


def test_target_classes_equal_group_by(db_url: str) -> None:
    rt = build_runtime(Settings(database_url=db_url))
    try:
        seed_bulk_fleet(rt.store, 400, seed=4)
        with rt.store.write() as s:  # classes whose strings a naive key would confuse, and a larger id first
            ids = sorted(s.scalars(select(DeviceRow.id)))
            s.execute(update(DeviceRow).where(DeviceRow.id.in_(ids[5:40:3])).values(model='a","b'))
            s.execute(update(DeviceRow).where(DeviceRow.id.in_(ids[6:40:3])).values(model="a", firmware='","b'))
            s.execute(update(DeviceRow).where(DeviceRow.id == ids[-1]).values(vendor="AAA", protocol="usp"))
            s.execute(update(DeviceRow).where(DeviceRow.id.in_(ids[100:110])).values(root="InternetGatewayDevice."))
        dave = get_actor(rt.store, "dave")
        p = rt.lifecycle.create(ProposalDraft(intent="x", selector=Selector(), staged=True,
                                              changes=[Change(path="Device.WiFi.Radio.2.Channel", value=36)]), dave)
        part = rt.lifecycle.create(ProposalDraft(intent="y", targets=ids[200:260:7] + ids[:3],
                                                 changes=[Change(path="Device.WiFi.Radio.2.Channel", value=36)]), dave)
        with rt.store.read() as s:
            for pid in (p.id, part.id):
                got = repo.target_classes(s, pid)
                assert got == _group_by_min(s, pid)
            assert len(repo.target_classes(s, p.id)) >= 8
    finally:
        rt.close()


def _plan_nodes(node: dict[str, Any], subplans: bool = True) -> list[dict[str, Any]]:
    """A plan node and those below it; ``subplans=False`` leaves out InitPlans (a CTE's plan)."""
    return [node, *(n for child in node.get("Plans", ())
                    if subplans or child.get("Parent Relationship") not in ("InitPlan", "SubPlan")
                    for n in _plan_nodes(child, subplans))]


def test_validation_classes_never_sort_the_targets(db_url: str) -> None:
    """PostgreSQL (issue 15): with the ORDER BY on the grouping statement itself the planner sorted
    every target, on disk, to group them in order (1M: 1.9 s of a 10 s gate). The classes are
    grouped by hashing in a CTE and only the groups are sorted: no Sort node reads the targets."""
    rt = build_runtime(Settings(database_url=db_url))
    try:
        with rt.store.read() as s:
            if s.get_bind().dialect.name != "postgresql":
                pytest.skip("PostgreSQL only: SQLite groups the targets in Python (first_of_each)")
        seed_bulk_fleet(rt.store, 3000, seed=6)  # vacuumed and analyzed, as autovacuum keeps a fleet
        p = rt.lifecycle.create(ProposalDraft(intent="x", selector=Selector(), staged=True,
                                              changes=[Change(path="Device.WiFi.Radio.2.Channel", value=36)]),
                                get_actor(rt.store, "dave"))
        with rt.store.read() as s, hash_grouping(s, len(p.targets)):
            sql = str(repo._TARGET_CLASSES.stmt.compile(dialect=s.get_bind().dialect))
            plan = s.execute(text("EXPLAIN (FORMAT JSON) " + sql.replace("%(pid)s", f"'{p.id}'"))).scalar_one()
            nodes = _plan_nodes(plan[0]["Plan"])
            for sort in (n for n in nodes if n["Node Type"] == "Sort"):  # what each sort reads, itself
                assert "proposal_devices" not in {n.get("Relation Name") for n in _plan_nodes(sort, False)}, nodes
            assert any(n.get("Strategy") == "Hashed" for n in nodes), nodes
            assert len(repo.target_classes(s, p.id, len(p.targets))) == 4  # the bench fleet's four classes
    finally:
        rt.close()


def test_hash_grouping_restores_settings(db_url: str) -> None:
    rt = build_runtime(Settings(database_url=db_url))
    try:
        with rt.store.read() as s:
            if s.get_bind().dialect.name != "postgresql":
                with hash_grouping(s):
                    assert s.execute(text("SELECT 1")).scalar() == 1
                return
            before = [s.execute(text(f"SHOW {n}")).scalar() for n in ("enable_sort", "work_mem", "jit")]
            with hash_grouping(s):
                assert s.execute(text("SHOW enable_sort")).scalar() == "off"
                assert s.execute(text("SHOW jit")).scalar() == "off"
                assert s.execute(text("SHOW work_mem")).scalar() == "64MB"
            assert [s.execute(text(f"SHOW {n}")).scalar() for n in ("enable_sort", "work_mem", "jit")] == before
            with hash_grouping(s, rows=HASH_GROUPING_MIN - 1):  # a handful of targets: left as they are
                assert [s.execute(text(f"SHOW {n}")).scalar() for n in ("enable_sort", "work_mem", "jit")] == before
            with hash_grouping(s, rows=HASH_GROUPING_MIN):
                assert s.execute(text("SHOW enable_sort")).scalar() == "off"
            assert [s.execute(text(f"SHOW {n}")).scalar() for n in ("enable_sort", "work_mem", "jit")] == before
    finally:
        rt.close()


def test_hash_grouping_costs_three_round_trips_and_none_for_a_few_targets(db_url: str,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15: the settings were read, set and restored one statement each, nine round trips for
    every single-device proposal validated on PostgreSQL. Now three for a fleet, none for a few."""
    rt = build_runtime(Settings(database_url=db_url))
    try:
        with rt.store.read() as s:
            if s.get_bind().dialect.name != "postgresql":
                pytest.skip("PostgreSQL only: SQLite has no planner settings to change")
            import psycopg

            sent: list[str] = []
            execute = psycopg.Cursor.execute

            def counting(self: Any, query: Any, *args: Any, **kw: Any) -> Any:
                sent.append(str(query))
                return execute(self, query, *args, **kw)

            monkeypatch.setattr(psycopg.Cursor, "execute", counting)
            with hash_grouping(s):
                pass
            assert len(sent) == 3, sent
            sent.clear()
            with hash_grouping(s, rows=1):
                pass
            assert sent == []
    finally:
        rt.close()


def test_snapshot_values_read_as_before(db_url: str) -> None:
    """What the preview extracts from a stored document: strings, booleans and numbers as the text
    json's extraction gave (PostgreSQL now reads jsonb), absent paths as NULL."""
    from core.fleet_facts import json_value

    rt = build_runtime(Settings(database_url=db_url))
    try:
        seed_bulk_fleet(rt.store, 3, seed=1)
        with rt.store.write() as s:
            dev = s.scalars(select(DeviceRow.id).order_by(DeviceRow.id)).first()
            s.execute(insert(ParameterSnapshotRow), [{"device_id": dev, "taken_at": rt.lifecycle.clock(),
                                                      "source": "test", "params": {
                "A.S": {"value": "x y", "type": "string"}, "A.B": {"value": True, "type": "boolean"},
                "A.N": {"value": 36, "type": "unsignedInt"}, "A.F": {"value": False, "type": "boolean"}}}])
        with rt.store.read() as s:
            col = ParameterSnapshotRow.params
            row = s.execute(select(*(json_value(s, col, k) for k in ("A.S", "A.B", "A.N", "A.F", "A.none")))
                            .where(ParameterSnapshotRow.device_id == dev, ParameterSnapshotRow.source == "test")
                            ).one()
            pg = s.get_bind().dialect.name == "postgresql"
            assert list(row) == (["x y", "true", "36", "false", None] if pg else ["x y", 1, 36, 0, None])
            if pg:
                kind = s.execute(text("SELECT data_type FROM information_schema.columns WHERE "
                                      "table_name = 'parameter_snapshots' AND column_name = 'params' "
                                      "AND table_schema = current_schema()")).scalar()
                assert kind == "jsonb"
            stored = s.execute(select(col).where(ParameterSnapshotRow.source == "test")).scalar_one()
            assert stored["A.N"] == {"value": 36, "type": "unsignedInt"}
    finally:
        rt.close()


def test_sqlite_groups_equal_group_by_and_leave_nothing_behind(tmp_path: Any) -> None:
    """``sqlite_groups`` counts and takes the smallest value per key as ``count(*), min(v) GROUP BY``
    would, rows in any order, a skip list honoured, keys that differ only in case or type kept
    apart; its temporary table is gone afterwards, in a read or a write transaction, also when the
    statement fails."""
    import sqlite3

    import pytest
    from sqlalchemy import column, literal_column, table

    from core.store.db import Store
    from core.store.grouping import sqlite_groups

    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    try:
        rows = [("b", "x-9"), ("a", "x-5"), ("b", "x-1"), ("A", "x-2"), ("1", "x-3"), ("b", "x-10"), ("a", "x-4")]
        with store.write() as s:
            s.execute(text("CREATE TABLE kv (k, v TEXT)"))
            s.execute(text("INSERT INTO kv VALUES (:k, :v)"), [{"k": k, "v": v} for k, v in rows]
                      + [{"k": 1, "v": "x-7"}])  # the number 1, not the string "1"
        kv = table("kv", column("k"), column("v"))
        expected = {("b", 3, "x-1"), ("a", 2, "x-4"), ("A", 1, "x-2"), ("1", 1, "x-3"), (1, 1, "x-7")}
        with store.read() as s:
            assert set(sqlite_groups(s, select(kv.c.k, kv.c.v))) == expected
            assert set(sqlite_groups(s, select(kv.c.k, kv.c.v), skip={"x-1", "x-4"})) == {
                ("b", 2, "x-10"), ("a", 1, "x-5"), ("A", 1, "x-2"), ("1", 1, "x-3"), (1, 1, "x-7")}
            assert {(k, n) for k, n, _ in sqlite_groups(s, select(kv.c.k))} == {(k, n) for k, n, _ in expected}
            with pytest.raises(sqlite3.OperationalError):  # the driver's, as a raw cursor raises it
                sqlite_groups(s, select(literal_column("no_such_column"), kv.c.v))
            with pytest.raises(sqlite3.IntegrityError):  # a NULL key: GROUP BY would make one group of them
                sqlite_groups(s, select(literal_column("NULL"), kv.c.v))
            assert s.execute(text("SELECT count(*) FROM sqlite_temp_master")).scalar() == 0
        with store.write() as s:
            assert set(sqlite_groups(s, select(kv.c.k, kv.c.v).where(kv.c.k != "b"))) == expected - {("b", 3, "x-1")}
            assert s.execute(text("SELECT count(*) FROM sqlite_temp_master")).scalar() == 0
    finally:
        store.dispose()


def _proposal_row(s: Any, pid: str) -> None:
    from core.kernel.models import utcnow
    from core.store.schema import ProposalRow

    now = utcnow()
    s.execute(insert(ProposalRow), [{"id": pid, "author": "dave", "author_kind": "human", "intent": "t",
                                     "targets": [], "changes": [], "operations": [], "rationale": "",
                                     "evidence": [], "emergency": False, "staged": False, "source": "test",
                                     "state": "draft", "hash": "x", "version": 1, "created_at": now,
                                     "updated_at": now}])


def _reltuples(s: Any) -> float:
    return float(s.execute(text("SELECT reltuples FROM pg_class WHERE oid = 'proposal_devices'::regclass")).scalar())


def test_a_large_target_set_gets_planner_statistics_or_skips_them_quietly(db_url: str, monkeypatch: Any) -> None:
    """PostgreSQL: recording a large target set takes the table's statistics in the same transaction
    (the planner then knows a new proposal has a million targets, not a few hundred), a small one
    does not; when another session holds the statistics lock, the targets are still recorded and the
    transaction's lock_timeout is what it was."""
    import pytest
    from sqlalchemy import create_engine

    from core.store import grouping
    from core.store.db import Store

    store = Store(db_url)
    store.migrate()
    try:
        if store.dialect != "postgresql":
            with store.write() as s:
                assert grouping.analyze_targets(s) is False
            pytest.skip("SQLite has no planner statistics to refresh here")
        monkeypatch.setattr(repo, "PLANNER_STATS_MIN", 20)
        with store.write() as s:
            _proposal_row(s, "p-small")
            repo.add_targets(s, "p-small", [f"d-{i}" for i in range(19)])
            assert _reltuples(s) <= 0  # never analyzed (-1), or empty
        with store.write() as s:
            _proposal_row(s, "p-big")
            repo.add_targets(s, "p-big", [f"d-{i}" for i in range(25)])
            assert _reltuples(s) == 19 + 25  # its own rows counted, before the commit
        other = create_engine(store.url)
        try:
            with other.begin() as conn:  # a VACUUM, or another large set being recorded
                conn.execute(text("LOCK TABLE proposal_devices IN SHARE UPDATE EXCLUSIVE MODE"))
                with store.write() as s:
                    s.execute(text("SET LOCAL lock_timeout = '5s'"))
                    _proposal_row(s, "p-locked")
                    repo.add_targets(s, "p-locked", [f"d-{i}" for i in range(30)])
                    assert _reltuples(s) == 44  # not taken
                    assert s.execute(text("SHOW lock_timeout")).scalar() == "5s"
        finally:
            other.dispose()
        with store.read() as s:
            assert s.scalar(select(func.count()).select_from(ProposalDeviceRow)) == 19 + 25 + 30
    finally:
        store.dispose()


def test_a_selector_gives_its_devices_in_code_point_order(db_url: str) -> None:
    """Both backends select a fleet without ORDER BY, as one JSON array, and sort the ids by code
    point (issue 15): the same order whatever PostgreSQL's collation, and also when the table's own
    order (rowids, heap) differs from it."""
    rt = build_runtime(Settings(database_url=db_url))
    try:
        seed_bulk_fleet(rt.store, 120, seed=5)
        with rt.store.write() as s:
            some = repo.get_devices(s, sorted(s.scalars(select(DeviceRow.id)))[:6])
            for n, d in enumerate(some.values()):  # written last, sorting first: rowid order is not id order
                # ... and cases a linguistic collation orders otherwise ("B" < "a" by code point)
                new_id = f"000000-EARLY-{9 - n:04d}" if n < 4 else ("a-lower", "B-upper")[n - 4]
                s.add(repo.device_to_row(d.model_copy(update={"id": new_id, "serial": f"EARLY{n}"})))
            s.flush()
            retired = sorted(s.scalars(select(DeviceRow.id)))[10:14]
            s.execute(update(DeviceRow).where(DeviceRow.id.in_(retired)).values(status="retired"))
        with rt.store.read() as s:
            for sel in (Selector(), Selector(region="GB"), Selector(model=next(iter(some.values())).model)):
                q = select(DeviceRow.id).where(DeviceRow.status == "active").order_by(DeviceRow.id)
                for field in ("region", "model"):
                    if getattr(sel, field):
                        q = q.where(getattr(DeviceRow, field) == getattr(sel, field))
                want = sorted(s.scalars(q))
                assert want and repo.select_devices(s, sel) == want
                assert not set(retired) & set(want)
            assert repo.select_devices(s, Selector(region="nowhere")) == []  # no device: an empty list
    finally:
        rt.close()


def test_a_few_named_targets_validate_from_the_devices_create_read(db_url: str, monkeypatch: Any) -> None:
    """A few targets named one by one (``FEW_TARGETS``): ``create`` reads the devices whole and
    validation takes each class's representative from them (issue 15) — the same representatives
    as the class pass, and the same verdict, with neither the existence read nor the class pass."""
    rt = build_runtime(Settings(database_url=db_url))
    try:
        seed_bulk_fleet(rt.store, 40, seed=4)
        with rt.store.write() as s:
            ids = sorted(s.scalars(select(DeviceRow.id)))
            s.execute(update(DeviceRow).where(DeviceRow.id.in_(ids[:12:2])).values(root="InternetGatewayDevice."))
            s.execute(update(DeviceRow).where(DeviceRow.id.in_(ids[1:12:4])).values(model='a","b'))
        dave = get_actor(rt.store, "dave")
        targets = ids[:12] + ids[30:33]
        for change in (Change(path="Device.WiFi.Radio.2.Channel", value=36),
                       Change(path="Device.WiFi.Radio.2.NoSuchParameter", value=7)):  # refused for every class
            draft = ProposalDraft(intent="few", targets=targets, changes=[change])
            read_whole: list[Any] = []
            real = repo.targetable_devices

            def spy(s: Any, named: Any, _real: Any = real, _seen: list[Any] = read_whole) -> Any:
                found = _real(s, named)
                _seen.append(found)
                return found

            monkeypatch.setattr(repo, "targetable_devices", spy)
            monkeypatch.setattr(repo, "target_classes", lambda *a, **k: pytest.fail("class pass for a few targets"))
            monkeypatch.setattr(repo, "existing_ids", lambda *a, **k: pytest.fail("existence read for a few"))
            few = rt.lifecycle.submit(draft, dave)
            monkeypatch.undo()
            many = rt.lifecycle.create(draft, dave)
            with contextlib.suppress(Invalid):
                rt.lifecycle.validate(many.id)  # the class pass
            many = rt.lifecycle.get(many.id)
            with rt.store.read() as s:
                assert set(repo.class_representatives(read_whole[0])) == set(_group_by_min(s, few.id))
                problems = {pid: s.scalar(select(AuditEventRow.data).where(
                    AuditEventRow.proposal_id == pid, AuditEventRow.action == "proposal.invalid"))
                    for pid in (few.id, many.id)}
            if change.path.endswith("NoSuchParameter"):  # refused alike, for the same reasons
                assert few.state is ProposalState.INVALID and many.state is ProposalState.INVALID
                assert len(problems[few.id]["errors"]) > 1  # one per class: each class was validated
                assert sorted(problems[few.id]["errors"]) == sorted(problems[many.id]["errors"])
            else:  # passed validation alike (submit then goes on to preview and policy)
                assert many.state is ProposalState.VALIDATED and problems[many.id] is None
                assert few.state not in (ProposalState.INVALID, ProposalState.DRAFT), few.error
    finally:
        rt.close()
