"""core.store.fastsql: statements run on the raw cursor must store and read values exactly as the
ORM does, inside the session's transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import String, bindparam, insert, select, update

from core.store.fastsql import Prepared
from core.store.schema import ExecutionRow, ProposalDeviceRow, ProposalRow

_PROPOSALS = ProposalRow.__table__
_EXECUTIONS = ExecutionRow.__table__


def _proposal(pid: str) -> dict[str, Any]:
    now = datetime(2026, 11, 23, 1, 2, 3, 456789, tzinfo=UTC)
    return {"id": pid, "author": "alice", "author_kind": "human", "intent": "ünïcode ✓", "targets": ["d-1"],
            "changes": [{"path": "Device.WiFi.Radio.1.Channel", "value": 36, "type": "unsignedInt"}],
            "operations": [], "rationale": "", "evidence": [], "emergency": False, "action_type": None,
            "staged": True, "source": "cli", "risk": 0.25, "state": "draft", "hash": "h" * 64, "error": None,
            "preview": {"nested": {"a": [1, 2.5, None, True]}}, "version": 1, "created_at": now,
            "updated_at": now}


def test_rows_written_raw_read_back_through_the_orm_identically(store: Any) -> None:
    row = _proposal("p-fast-1")
    ins = Prepared(insert(_PROPOSALS), list(row))
    with store.write() as s:
        ins.run_many(s, [row])
    with store.read() as s:
        got = s.get(ProposalRow, "p-fast-1")
        assert got is not None
        for key, value in row.items():
            assert getattr(got, key) == value, key
        assert got.created_at.tzinfo is not None and got.staged is True and got.emergency is False


def test_reads_convert_like_the_orm_and_literals_in_the_statement_are_bound(store: Any) -> None:
    other_zone = datetime(2026, 6, 1, 5, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    with store.write() as s:
        s.add(ProposalRow(**{**_proposal("p-fast-2"), "created_at": other_zone}))
    sel = Prepared(select(_PROPOSALS.c.id, _PROPOSALS.c.created_at, _PROPOSALS.c.preview, _PROPOSALS.c.staged,
                          _PROPOSALS.c.risk)
                   .where(_PROPOSALS.c.author == bindparam("who"), _PROPOSALS.c.version == 1).limit(5))
    with store.read() as s:
        rows = sel.all(s, {"who": "alice"})
    assert rows == [("p-fast-2", datetime(2026, 6, 1, 0, 0, tzinfo=UTC), {"nested": {"a": [1, 2.5, None, True]}},
                     True, 0.25)]
    with store.read() as s:
        assert sel.first(s, {"who": "nobody"}) is None


def test_raw_statements_commit_and_roll_back_with_the_session(store: Any) -> None:
    with store.write() as s:
        s.add(ProposalRow(**_proposal("p-fast-3")))
    upd = Prepared(update(_PROPOSALS).where(_PROPOSALS.c.id == bindparam("pid")).values(state=bindparam("st")))
    with pytest.raises(RuntimeError), store.write() as s:
        assert upd.run(s, {"pid": "p-fast-3", "st": "validated"}) == 1
        raise RuntimeError("boom")
    with store.read() as s:
        assert s.get(ProposalRow, "p-fast-3").state == "draft"  # rolled back with the session
    with store.write() as s:
        assert upd.run(s, {"pid": "p-fast-3", "st": "validated"}) == 1
        assert upd.run(s, {"pid": "missing", "st": "validated"}) == 0
    with store.read() as s:
        assert s.get(ProposalRow, "p-fast-3").state == "validated"


def test_none_and_json_null_round_trip(store: Any) -> None:
    with store.write() as s:
        s.add(ProposalRow(**_proposal("p-fast-4")))
    ins = Prepared(insert(_EXECUTIONS), ["id", "proposal_id", "device_id", "status", "key", "detail", "error",
                                         "started_at", "finished_at"])
    with store.write() as s:
        s.execute(insert(ProposalDeviceRow), [{"proposal_id": "p-fast-4", "device_id": "d-1"}])
        ins.run_many(s, [{"id": "x-1", "proposal_id": "p-fast-4", "device_id": "d-1", "status": "pending",
                          "key": "p-fast-4", "detail": {"attempt": 1}, "error": None, "started_at": None,
                          "finished_at": None}])
    with store.read() as s:
        ex = s.get(ExecutionRow, "x-1")
        assert ex is not None and ex.detail == {"attempt": 1} and ex.error is None and ex.started_at is None


def test_expanding_in_is_refused(store: Any) -> None:
    stmt = Prepared(select(_PROPOSALS.c.id).where(_PROPOSALS.c.id.in_(bindparam("ids", expanding=True))))
    with store.read() as s, pytest.raises(ValueError, match="expanding"):
        stmt.all(s, {"ids": ["a"]})


def test_a_record_saves_only_what_changed_and_refuses_a_stale_version(store: Any) -> None:
    from core.kernel.errors import Conflict
    from core.store.records import ProposalRecord

    with store.write() as s:
        ProposalRecord(**_proposal("p-fast-5")).insert(s)
    with store.write() as s:
        mine = ProposalRecord.load(s, "p-fast-5", for_update=True)
        mine.state = "validated"
        mine.save(s)
        assert mine.version == 2
    with store.write() as s:
        theirs = ProposalRecord.load(s, "p-fast-5")
    with store.write() as s:
        again = ProposalRecord.load(s, "p-fast-5")
        again.error = "x"
        again.save(s)
    with pytest.raises(Conflict), store.write() as s:
        theirs.state = "cancelled"  # read at version 2; the row is at 3 now
        theirs.save(s)
    with store.read() as s:
        row = s.get(ProposalRow, "p-fast-5")
        assert (row.state, row.error, row.version, row.intent) == ("validated", "x", 3, "ünïcode ✓")


def test_datetimes_in_any_zone_are_stored_as_the_orm_stores_them(store: Any) -> None:
    """The SQLite datetime shortcut (fastsql.faster) must write what SQLAlchemy writes."""
    zoned = datetime(2026, 6, 1, 5, 30, 0, 7, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    ins = Prepared(insert(_PROPOSALS), list(_proposal("x")))
    with store.write() as s:
        ins.run_many(s, [{**_proposal("p-fast-6"), "created_at": zoned}])
        s.add(ProposalRow(**{**_proposal("p-fast-7"), "created_at": zoned}))
    with store.read() as s:
        raw = s.execute(select(_PROPOSALS.c.created_at.cast(String))
                        .where(_PROPOSALS.c.id.in_(["p-fast-6", "p-fast-7"]))).scalars().all()
        assert len(set(raw)) == 1  # byte-identical storage
        assert s.get(ProposalRow, "p-fast-6").created_at == datetime(2026, 6, 1, 0, 0, 0, 7, tzinfo=UTC)


class _CountingCursor:
    """A driver cursor that counts reads of ``description`` (psycopg builds it anew on each read)."""

    def __init__(self, cur: Any, seen: list[int]) -> None:
        self._cur, self._seen = cur, seen

    @property
    def description(self) -> Any:
        self._seen.append(1)
        return self._cur.description

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)


def test_result_converters_come_from_the_first_description_only(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15: every statement read the cursor's ``description`` again (psycopg builds a ``Column``
    per column on each read, ~48 µs of a ``proposals`` row load) for converters already known. Now
    only the first execution of a statement reads it, and every later row converts the same way."""
    with store.write() as s:
        s.add(ProposalRow(**_proposal("p-fast-desc")))
    seen: list[int] = []
    wrapped = Prepared._cursor

    def counting(self: Prepared, s: Any) -> Any:
        cur, plan, dialect, shared = wrapped(self, s)
        return _CountingCursor(cur, seen), plan, dialect, shared

    monkeypatch.setattr(Prepared, "_cursor", counting)
    sel = Prepared(select(_PROPOSALS.c.id, _PROPOSALS.c.created_at, _PROPOSALS.c.preview)
                   .where(_PROPOSALS.c.id == bindparam("pid")))
    want = ("p-fast-desc", datetime(2026, 11, 23, 1, 2, 3, 456789, tzinfo=UTC), {"nested": {"a": [1, 2.5, None, True]}})
    with store.read() as s:
        assert sel.first(s, {"pid": "p-fast-desc"}) == want
        assert len(seen) == 1
        for _ in range(5):
            assert sel.first(s, {"pid": "p-fast-desc"}) == want
            converters, rows = sel.raw(s, {"pid": "p-fast-desc"})
            assert [fn(v) if fn else v for fn, v in zip(converters, rows[0], strict=True)] == list(want)
    assert len(seen) == 1


def test_a_records_json_columns_are_decoded_when_first_read(store: Any) -> None:
    """Issue 15: psycopg decoded a ``json`` column as it fetched the row, so loading a fleet
    proposal decoded its million targets even for a step that reuses the list it holds. The record
    now gets the stored text on both backends and decodes a column when it is first read — to
    exactly what the ORM reads, JSON null and SQL NULL included."""
    from core.store.records import ProposalRecord

    row = {**_proposal("p-fast-lazy"), "targets": [f"d-{i}" for i in range(3)] + ["ünï ✓", 'q"uote'],
           "evidence": None, "operations": [{"op": "reboot", "n": 1.5, "ok": None}]}
    with store.write() as s:
        s.add(ProposalRow(**row))
    with store.read() as s:
        rec = ProposalRecord.load(s, "p-fast-lazy")
        orm = s.get(ProposalRow, "p-fast-lazy")
        assert orm is not None
        pending = object.__getattribute__(rec, "_pending")
        assert {"targets", "changes", "operations", "preview"} <= set(pending)
        assert all(isinstance(raw, str) for _, raw in pending.values())  # undecoded, whichever driver
        for key in ("targets", "changes", "operations", "evidence", "preview"):
            assert getattr(rec, key) == getattr(orm, key), key
        assert "targets" not in object.__getattribute__(rec, "_pending")  # decoded once, then kept


def test_a_transaction_runs_its_statements_on_one_cursor(store: Any) -> None:
    """Issue 15: psycopg built a cursor (and its adaptation context) per statement; a session's
    transaction now keeps one for all of them, and a new transaction gets a new one. Every
    statement still sees its own rows, including after a failed one."""
    from sqlalchemy.exc import IntegrityError

    from core.store.fastsql import driver_cursor

    ins = Prepared(insert(_PROPOSALS), tuple(_proposal("x")))
    sel = Prepared(select(_PROPOSALS.c.id).where(_PROPOSALS.c.id == bindparam("pid")))
    with store.write() as s:
        first, _, shared = driver_cursor(s)
        ins.run_many(s, [_proposal("p-one-cursor")])
        assert sel.first(s, {"pid": "p-one-cursor"}) == ("p-one-cursor",)
        assert sel.first(s, {"pid": "nothing"}) is None
        assert driver_cursor(s)[0] is first and shared
    with store.read() as s:
        assert driver_cursor(s)[0] is not first  # the next transaction: its own cursor
        assert sel.all(s, {"pid": "p-one-cursor"}) == [("p-one-cursor",)]
    with pytest.raises(IntegrityError), store.write() as s:
        ins.run_many(s, [_proposal("p-one-cursor")])  # a duplicate key
    with store.read() as s:
        assert sel.first(s, {"pid": "p-one-cursor"}) == ("p-one-cursor",)


def test_a_schema_map_is_rendered_as_the_engine_would_translate_it(store: Any) -> None:
    """``Prepared(schema_map=...)`` runs the statement on the schema an engine's
    ``schema_translate_map`` names (the simulator's twin in a schema of its own), and only there."""
    if store.dialect != "postgresql":
        pytest.skip("schemas are PostgreSQL's; a SQLite twin has a file of its own")
    import uuid

    from sqlalchemy import text

    schema = f"gw_fastsql_{uuid.uuid4().hex[:8]}"
    sel = select(_PROPOSALS.c.id).where(_PROPOSALS.c.id == bindparam("pid"))
    mapped = Prepared(sel, schema_map={None: schema})
    assert f"{schema}.proposals" in mapped.plan(store.engine.dialect).sql
    with store.write() as s:
        s.execute(text(f'CREATE SCHEMA "{schema}"'))
        s.execute(text(f'CREATE TABLE "{schema}".proposals (id varchar PRIMARY KEY)'))
        s.execute(text(f"INSERT INTO \"{schema}\".proposals VALUES ('p-in-schema')"))
    try:
        with store.read() as s:
            assert mapped.first(s, {"pid": "p-in-schema"}) == ("p-in-schema",)
            assert Prepared(sel).first(s, {"pid": "p-in-schema"}) is None  # the store's own table
    finally:
        with store.write() as s:
            s.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
