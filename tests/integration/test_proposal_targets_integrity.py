"""``proposal_devices`` references ``proposals`` on both databases (migration 0022, issue 15).

SQLite keeps its foreign key; PostgreSQL checks once per statement (a row-by-row foreign key cost
~45 % of creating a million-target proposal). Whichever it is, the guarantees are the foreign
key's: no target of an unknown proposal, targets deleted with their proposal, a referenced id not
changed, the proposal locked against deletion while targets are being recorded — and down and up
again keep every row.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError

from core.models import utcnow
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
    with pytest.raises(IntegrityError), store.write() as s:  # the foreign key is back
        s.execute(insert(ProposalDeviceRow), [{"proposal_id": "p-nope", "device_id": "d-1"}])
    store._migrated = False
    store.migrate()
    assert _targets(store) == before
    with pytest.raises(IntegrityError), store.write() as s:
        s.execute(insert(ProposalDeviceRow), [{"proposal_id": "p-nope", "device_id": "d-1"}])
