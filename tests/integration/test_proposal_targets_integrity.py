"""``proposal_devices`` references ``proposals`` on both databases (migration 0022, issue 15).

SQLite keeps its foreign key; PostgreSQL checks once per statement (a row-by-row foreign key cost
~45 % of creating a million-target proposal). Whichever it is, the guarantees are the foreign
key's: no target of an unknown proposal, targets deleted with their proposal, a referenced id not
changed, the proposal locked against deletion while targets are being recorded — and down and up
again keep every row. On SQLite the table has no rowid (migration 0023: each target written once,
not twice), with the same keys, foreign key and ``device_id`` index.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError

from core.kernel.models import utcnow
from core.store.db import Store
from core.store.schema import ProposalDeviceRow, ProposalRow


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    st = Store(db_url)
    st.migrate()
    yield st
    st.dispose()


def _proposal(s: Any, pid: str) -> None:
    now = utcnow()
    s.execute(insert(ProposalRow), [{"id": pid, "author": "dave", "author_kind": "human", "intent": "t",
                                     "targets": ["d-1", "d-2"], "changes": [], "operations": [], "rationale": "",
                                     "evidence": [], "emergency": False, "staged": False, "source": "test",
                                     "state": "draft", "hash": "x", "version": 1, "created_at": now,
                                     "updated_at": now}])


def _targets(store: Store, pid: str | None = None) -> list[tuple[str, str]]:
    q = select(ProposalDeviceRow.proposal_id, ProposalDeviceRow.device_id)
    if pid is not None:
        q = q.where(ProposalDeviceRow.proposal_id == pid)
    with store.read() as s:
        return sorted(map(tuple, s.execute(q)))  # type: ignore[arg-type]


def test_targets_need_their_proposal_and_go_with_it(store: Store) -> None:
    with store.write() as s:
        _proposal(s, "p-a")
        s.execute(insert(ProposalDeviceRow), [{"proposal_id": "p-a", "device_id": d} for d in ("d-1", "d-2")])
    assert _targets(store, "p-a") == [("p-a", "d-1"), ("p-a", "d-2")]

    # One statement naming a known and an unknown proposal: refused whole, nothing kept.
    with pytest.raises(IntegrityError), store.write() as s:
        s.execute(insert(ProposalDeviceRow), [{"proposal_id": "p-a", "device_id": "d-3"},
                                              {"proposal_id": "p-nope", "device_id": "d-1"}])
    with pytest.raises(IntegrityError), store.write() as s:  # moved onto an unknown proposal
        s.execute(update(ProposalDeviceRow).where(ProposalDeviceRow.device_id == "d-2")
                  .values(proposal_id="p-nope"))
    with pytest.raises(IntegrityError), store.write() as s:  # a referenced id does not change
        s.execute(update(ProposalRow).where(ProposalRow.id == "p-a").values(id="p-b"))
    assert _targets(store) == [("p-a", "d-1"), ("p-a", "d-2")]

    with store.write() as s:
        _proposal(s, "p-c")
        s.execute(update(ProposalRow).where(ProposalRow.id == "p-c").values(id="p-d"))  # no targets: allowed
        s.execute(delete(ProposalRow).where(ProposalRow.id == "p-a"))
    assert _targets(store) == []


def test_recording_targets_locks_the_proposal_against_deletion(store: Store) -> None:
    if store.dialect != "postgresql":
        pytest.skip("SQLite has one writer: a delete waits for the whole transaction anyway")
    with store.write() as s:
        _proposal(s, "p-l")
    with store.write() as s:
        s.execute(insert(ProposalDeviceRow), [{"proposal_id": "p-l", "device_id": "d-1"}])
        with store.engine.connect() as other, pytest.raises(OperationalError, match="lock timeout"):
            other.execute(text("SET lock_timeout = '300ms'"))
            other.execute(text("DELETE FROM proposals WHERE id = 'p-l'"))
    assert _targets(store, "p-l") == [("p-l", "d-1")]


def _foreign_keys(store: Store) -> int | None:
    if store.dialect != "postgresql":
        return None
    with store.read() as s:
        return int(s.scalar(text("SELECT count(*) FROM information_schema.table_constraints WHERE table_schema = "
                                 "current_schema() AND table_name = 'proposal_devices' "
                                 "AND constraint_type = 'FOREIGN KEY'")) or 0)


def _sqlite_shape(store: Store) -> tuple[bool, list[str]] | None:
    """SQLite: (the table has no rowid, its indexes' names); None on PostgreSQL."""
    if store.dialect != "sqlite":
        return None
    with store.read() as s:
        ddl = s.scalar(text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'proposal_devices'"))
        indexes = sorted(s.scalars(text("SELECT name FROM pragma_index_list('proposal_devices')")))
    return "WITHOUT ROWID" in str(ddl).upper(), indexes


def test_on_sqlite_the_targets_live_in_the_primary_key(store: Store) -> None:
    if store.dialect != "sqlite":
        pytest.skip("PostgreSQL has no rowid")
    without_rowid, indexes = _sqlite_shape(store) or (False, [])
    assert without_rowid
    assert "ix_proposal_devices_device_id" in indexes
    with store.write() as s:
        _proposal(s, "p-w")
        s.execute(insert(ProposalDeviceRow), [{"proposal_id": "p-w", "device_id": d} for d in ("d-2", "d-1")])
    with pytest.raises(IntegrityError), store.write() as s:  # the primary key still holds
        s.execute(insert(ProposalDeviceRow), [{"proposal_id": "p-w", "device_id": "d-1"}])
    with store.read() as s:  # the device_id index answers "which proposals target this device"
        plan = " ".join(str(r[-1]) for r in s.execute(text(
            "EXPLAIN QUERY PLAN SELECT proposal_id FROM proposal_devices WHERE device_id = 'd-1'")))
    assert "ix_proposal_devices_device_id" in plan
    assert _targets(store, "p-w") == [("p-w", "d-1"), ("p-w", "d-2")]


def test_down_and_up_keep_the_targets(store: Store) -> None:
    pg = store.dialect == "postgresql"
    assert _foreign_keys(store) == (0 if pg else None)  # PostgreSQL: the statement check instead
    with store.write() as s:
        _proposal(s, "p-m")
        s.execute(insert(ProposalDeviceRow), [{"proposal_id": "p-m", "device_id": f"d-{i}"} for i in range(5)])
    before = _targets(store)
    cfg = store.alembic_config()
    with store._write_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0021")
    assert _targets(store) == before
    assert _foreign_keys(store) == (1 if pg else None)
    shape = _sqlite_shape(store)
    assert shape is None or not shape[0]  # SQLite: a rowid table again, its index kept
    assert shape is None or "ix_proposal_devices_device_id" in shape[1]
    with pytest.raises(IntegrityError), store.write() as s:  # the foreign key is back
        s.execute(insert(ProposalDeviceRow), [{"proposal_id": "p-nope", "device_id": "d-1"}])
    store._migrated = False
    store.migrate()
    assert _targets(store) == before
    shape = _sqlite_shape(store)
    assert shape is None or shape[0]
    with pytest.raises(IntegrityError), store.write() as s:
        s.execute(insert(ProposalDeviceRow), [{"proposal_id": "p-nope", "device_id": "d-1"}])


def test_the_check_finds_its_proposal_by_key_on_a_grown_table(store: Store) -> None:
    """PostgreSQL (migration 0025): the statement check looks its proposal up by primary key on a
    connection whose plans were made while ``proposals`` was small — its cached plans of 0022 went
    on reading the whole table as it grew (a sequential scan a check, ~20 % of the database's CPU a
    proposal in the lifecycle bench). Counted in the transaction's own table statistics."""
    if store.dialect != "postgresql":
        pytest.skip("SQLite checks its foreign key by index, row by row")
    with store.engine.connect() as conn:
        for i in range(12):  # past PL/pgSQL's custom plans: the session keeps a generic one
            with conn.begin():
                _proposal(conn, f"p-small-{i}")
                conn.execute(insert(ProposalDeviceRow), [{"proposal_id": f"p-small-{i}", "device_id": "d-1"}])
        with conn.begin():  # the table grows; nothing invalidates the session's plans
            now = utcnow()
            conn.execute(insert(ProposalRow), [
                {"id": f"p-bulk-{i}", "author": "dave", "author_kind": "human", "intent": "t", "targets": [],
                 "changes": [], "operations": [], "rationale": "", "evidence": [], "emergency": False,
                 "staged": False, "source": "test", "state": "draft", "hash": "x", "version": 1,
                 "created_at": now, "updated_at": now} for i in range(3000)])
        with conn.begin():
            _proposal(conn, "p-grown")
            before = conn.execute(text("SELECT seq_scan, seq_tup_read FROM pg_stat_xact_user_tables "
                                       "WHERE relid = 'proposals'::regclass")).one()
            conn.execute(insert(ProposalDeviceRow), [{"proposal_id": "p-grown", "device_id": d}
                                                     for d in ("d-1", "d-2")])
            after = conn.execute(text("SELECT seq_scan, seq_tup_read FROM pg_stat_xact_user_tables "
                                      "WHERE relid = 'proposals'::regclass")).one()
        assert (after.seq_scan - before.seq_scan, after.seq_tup_read - before.seq_tup_read) == (0, 0)
        with pytest.raises(IntegrityError, match="no proposal 'p-gone'"), conn.begin():  # still refused
            conn.execute(insert(ProposalDeviceRow), [{"proposal_id": "p-grown", "device_id": "d-3"},
                                                     {"proposal_id": "p-gone", "device_id": "d-1"}])
    assert _targets(store, "p-grown") == [("p-grown", "d-1"), ("p-grown", "d-2")]
