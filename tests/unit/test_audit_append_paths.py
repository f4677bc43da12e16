"""The audit append's statements (issue 15): on PostgreSQL the chain lock + both heads, and the
events + re-signed head, are one statement each (migration 0019). These tests hold the new path to
what the four-statement path stored, and try to break the chain with concurrent appenders."""

from __future__ import annotations

import threading
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from core import audit, audit_hint
from core.kernel.models import Device
from core.store.fastsql import Prepared


@pytest.fixture(autouse=True)
def _chained_at_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests count the statements of the chaining at commit (the default), whatever the
    environment says; the chaining after commit has its own (``test_audit_after_commit``)."""
    monkeypatch.setenv("GATEWARD_AUDIT_CHAIN", "commit")


def _rows(store: Any) -> list[tuple[Any, ...]]:
    with store.read() as s:
        return [tuple(r) for r in s.execute(text(
            "SELECT seq, ts, actor, action, proposal_id, device_id, subscriber, model, firmware, data, prev_hash, "
            "hash FROM audit_events ORDER BY seq")).all()]


def test_append_stores_exactly_the_linked_rows(store: Any) -> None:
    """Every column of every row is what ``_Pending.linked`` computed (hash over those values),
    several events a transaction, nested and non-ASCII data, no device and a device."""
    dev = Device(id="OUI-PC-9", vendor="V", model="M", firmware="1.0", subscriber="sub-9")
    expected: list[dict[str, Any]] = []
    seq, prev = 0, audit.GENESIS
    for i in range(4):
        pending = [audit._Pending(audit.utcnow(), "alice", f"t.{i}.a", "p-1", dev, None,
                                  {"i": i, "nested": {"z": [1, 2.5, None], "a": "é ü"},
                                   "ssid": "home\x00net", "odd": "📶 \"q\" \\ \u2028"}),
                   audit._Pending(audit.utcnow(), "system", f"t.{i}.b", None, None, "D-2", None)]
        with store.write() as s:
            audit._enqueue(s, pending)
        for ev in pending:
            seq += 1
            row = ev.linked(seq, prev)
            expected.append(row)
            prev = row["hash"]
    got = _rows(store)
    assert len(got) == len(expected)
    for row, want in zip(got, expected, strict=True):
        data = row[9] if isinstance(row[9], dict) else orjson.loads(row[9])
        assert row[0] == want["seq"] and row[2:9] == (want["actor"], want["action"], want["proposal_id"],
                                                        want["device_id"], want["subscriber"], want["model"],
                                                        want["firmware"])
        assert data == want["data"] and row[10] == want["prev_hash"] and row[11] == want["hash"]
    with store.read() as s:
        report = audit.verify_chain(s)
        head = s.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).one()
        cast = "data::text" if store.dialect == "postgresql" else "data"
        stored = [r[0] for r in s.execute(text(f"SELECT {cast} FROM audit_events ORDER BY seq")).all()]
    # the JSON text itself is what the engine's serialiser writes (the row insert's), byte for byte
    assert stored == [orjson.dumps(w["data"]).decode() for w in expected]
    assert report.ok and report.count == 8, report.reason
    assert tuple(head) == (8, expected[-1]["hash"])


def test_concurrent_appenders_keep_one_dense_chain(store: Any) -> None:
    """Threads appending at once: the lock taken with the head read (one statement on PostgreSQL)
    must still hand each transaction the head the previous one committed."""
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(6):
                with store.write() as s:
                    audit.append(s, actor=f"w{t}", action=f"c.{i}", data={"t": t, "i": i})
                    audit.append(s, actor=f"w{t}", action=f"c.{i}.2")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    rows = _rows(store)
    assert [r[0] for r in rows] == list(range(1, 49))
    with store.read() as s:
        report = audit.verify_chain(s)
    assert report.ok and report.count == 48, report.reason


def test_rows_inserted_behind_the_chain_are_alarmed_on_the_next_append(store: Any) -> None:
    """A row written outside Gateward (valid link, no keyed head) is found by the next append,
    which writes ``alarm.audit_tampered`` first — on the one-statement path too."""
    with store.write() as s:
        audit.append(s, actor="alice", action="first")
    with store.read() as s:
        tail = s.execute(text("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")).one()
    forged = audit._Pending(audit.utcnow(), "mallory", "forged", None, None, None, {}).linked(tail[0] + 1, tail[1])
    with store.write() as s:
        audit._FAST_INSERT.run_many(s, [forged])  # the raw row insert: no keyed head re-signed
    with store.write() as s:
        audit.append(s, actor="alice", action="after")
    actions = [r[3] for r in _rows(store)]
    assert actions == ["first", "forged", audit.TAMPER_ACTION, "after"]
    with store.read() as s:
        report = audit.verify_chain(s)
    assert not report.ok and report.first_broken_seq == 2


def test_checkpoints_still_written_every_n_events(store: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("GATEWARD_AUDIT_CHECKPOINT_EVERY", "3")  # settings are cached per environment
    for i in range(7):
        with store.write() as s:
            audit.append(s, actor="alice", action=f"k.{i}")
    with store.read() as s:
        seqs = [r[0] for r in s.execute(text("SELECT seq FROM audit_checkpoints ORDER BY seq")).all()]
        report = audit.verify_chain(s)
    assert seqs == [3, 6] and report.ok, (seqs, report.reason)


def _statements(fn: Any) -> list[str]:
    """The fastsql calls ``fn()`` makes, by kind."""
    seen: list[str] = []
    original = Prepared.first, Prepared.all, Prepared.run, Prepared.run_many

    def spy(name: str, real: Any) -> Any:
        def wrapped(self: Prepared, *a: Any, **k: Any) -> Any:
            seen.append(name)
            return real(self, *a, **k)
        return wrapped

    try:
        Prepared.all, Prepared.run, Prepared.run_many = (spy("all", original[1]), spy("run", original[2]),
                                                         spy("run_many", original[3]))
        fn()
    finally:
        Prepared.first, Prepared.all, Prepared.run, Prepared.run_many = original
    return seen


def _append_two(store: Any, tag: str = "") -> None:
    with store.write() as s:
        audit.append(s, actor="alice", action=f"a{tag}")
        audit.append(s, actor="alice", action=f"b{tag}")


def test_postgres_append_is_one_statement_on_the_head_it_signed(store: Any) -> None:
    """On PostgreSQL a transaction's append costs one statement when the chain's head is the one
    this process signed last (migration 0024), two otherwise (the first append of a process);
    on SQLite three (head read, insert, head update; BEGIN IMMEDIATE already serialises)."""
    first = _statements(lambda: _append_two(store, "0"))
    again = _statements(lambda: _append_two(store, "1"))
    if store.dialect == "postgresql":
        assert first == ["all", "all"]  # gateward_audit_append answers the heads; gateward_audit_write
        assert again == ["all"]
    else:
        assert again == ["all", "run_many", "run"]
    with store.read() as s:
        report = audit.verify_chain(s)
    assert report.ok and report.count == 4, report.reason


def test_threads_of_one_process_append_on_the_head_the_previous_one_signed(store: Any, monkeypatch: Any) -> None:
    """Threads of one process committing audited transactions at once take turns from the head
    hint's read to their commit, so each append finds the head it expects: one statement each on
    PostgreSQL, never the fallback (API threads under 8 concurrent clients missed ~90 %)."""
    # A machine stalled past the bounded wait would let a commit go on without its turn (and miss,
    # correctly): what is held here is the turn-taking, not the bound.
    monkeypatch.setattr(audit, "TURN_WAIT_S", 60.0)
    _append_two(store, "warm")  # the process's first append reads the heads: two statements
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            barrier.wait()
            for i in range(6):
                _append_two(store, f"{t}.{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def race() -> None:
        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()

    seen = _statements(race)
    assert not errors, errors
    if store.dialect == "postgresql":
        assert seen == ["all"] * 24  # one gateward_audit_append a commit
    with store.read() as s:
        report = audit.verify_chain(s)
    assert report.ok and report.count == 50, report.reason


def test_a_turn_never_waits_while_holding_the_chain_lock_and_never_forever(store: Any, monkeypatch: Any) -> None:
    """A transaction that wrote its events mid-transaction (``audit.flush``) holds the chain lock
    already: its commit must not wait for a turn (another thread could be waiting for that lock
    inside the database, a cycle PostgreSQL would not see). A plain commit waits for a turn held elsewhere at most
    ``TURN_WAIT_S``, then goes on to the chain lock as before — one dense, verified chain."""
    if store.dialect != "postgresql":
        pytest.skip("PostgreSQL's chain lock: SQLite's one writer serialises every commit")
    _append_two(store, "warm")
    turn = audit._TURNS[store._write_engine]  # the engine its write sessions are bound to
    took: list[bool] = []  # each time a commit asked for its turn: whether it got it
    take_turn = audit._take_turn

    def counted(session: Any, bind: Any) -> None:
        take_turn(session, bind)
        took.append(audit._TURN in session.info)

    monkeypatch.setattr(audit, "_take_turn", counted)
    assert turn.acquire(timeout=5)  # another thread's commit holds the turn, and keeps it
    try:
        with store.write() as s:
            with s.begin_nested():
                audit.append(s, actor="alice", action="in-savepoint")
                audit.flush(s)  # written now, mid-transaction: the chain lock is held
            audit.append(s, actor="alice", action="after-savepoint")
        assert took == []  # holding the chain lock, its commit never asked for (never waited on) a turn
        monkeypatch.setattr(audit, "TURN_WAIT_S", 0.3)
        _append_two(store, "bounded")
        assert took == [False]  # a plain commit asked, waited its bound, and went on without the turn
    finally:
        turn.release()
    _append_two(store, "after")
    with store.read() as s:
        report = audit.verify_chain(s)
    assert report.ok and report.count == 8, report.reason
    assert turn.acquire(blocking=False)  # no transaction kept its turn
    turn.release()


def test_a_head_someone_else_moved_is_read_and_linked_onto(store: Any, db_url: str, monkeypatch: Any) -> None:
    """A process on another host (another engine, sharing no head file) appends between two of
    ours: our expected head is stale, so the append falls back to the head it read under the lock —
    one dense, verified chain, no alarm. The same after one of our own appends rolled back (its
    head never existed)."""
    from core.store import Store

    other = Store(db_url)
    try:
        _append_two(store, "0")
        with monkeypatch.context() as elsewhere:
            elsewhere.setattr(audit_hint, "publish", lambda *_: None)  # another host: nothing left here
            _append_two(other, "1")
        moved = _statements(lambda: _append_two(store, "2"))
        try:
            with store.write() as s:
                audit.append(s, actor="alice", action="rolled-back")
                audit.flush(s)  # written (and its head remembered) inside the transaction ...
                raise RuntimeError("... which then rolls back")
        except RuntimeError:
            pass
        after_rollback = _statements(lambda: _append_two(store, "3"))
        _append_two(other, "4")  # on this host again
    finally:
        other.dispose()
    if store.dialect == "postgresql":
        assert moved == ["all", "all"] and after_rollback == ["all", "all"]
    actions = [r[3] for r in _rows(store)]
    assert actions == ["a0", "b0", "a1", "b1", "a2", "b2", "a3", "b3", "a4", "b4"]
    assert audit.TAMPER_ACTION not in actions
    with store.read() as s:
        report = audit.verify_chain(s)
    assert report.ok and report.count == 10, report.reason


def _hint_file(store: Any) -> Any:
    path = audit_hint.head_file(store._write_engine.url)
    assert path is not None
    return path


def test_processes_on_one_host_expect_the_head_the_last_of_them_signed(store: Any, db_url: str) -> None:
    """Two processes (two engines) taking turns: each append expects the head the other just signed
    (the host's head file), so every one after the first is one statement on PostgreSQL — in the
    four-process lifecycle bench ~94 % of appends took the fallback before. One dense, verified
    chain, no alarm."""
    if store.dialect != "postgresql":
        pytest.skip("PostgreSQL's one-statement append: SQLite's writer reads the head under its own lock")
    from core.store import Store

    other = Store(db_url)
    try:
        _append_two(store, "warm")
        seen = _statements(lambda: [_append_two(st, f"{st is other}.{i}") for i in range(5) for st in (other, store)])
    finally:
        other.dispose()
    assert seen == ["all"] * 10, seen
    actions = [r[3] for r in _rows(store)]
    assert audit.TAMPER_ACTION not in actions and len(actions) == 22
    with store.read() as s:
        report = audit.verify_chain(s)
    assert report.ok and report.count == 22, report.reason


def test_a_torn_forged_or_stale_head_file_costs_only_the_checked_fallback(store: Any, db_url: str) -> None:
    """The head file is never trusted: a record that does not parse, one whose MAC does not verify
    (a later seq claimed), and an older head are each ignored or merely expected — the append then
    reads and checks the heads as without a hint. The chain stays dense and verified, no alarm."""
    if store.dialect != "postgresql":
        pytest.skip("the head file serves PostgreSQL's one-statement append")
    from core.audit_anchor import load_key
    from core.store import Store

    key = load_key(create=True)
    assert key is not None
    _append_two(store, "0")
    path = _hint_file(store)
    valid = path.read_bytes()
    head = audit_hint.newer_than(store._write_engine, key, -1)
    assert head is not None and head.seq == 2  # what the append left: the head it signed
    assert audit_hint.newer_than(store._write_engine, key, head.seq) is None  # not newer than ours
    forged = orjson.loads(valid)
    forged["seq"] += 5
    other = Store(db_url)
    try:
        for record in (b"{torn", orjson.dumps(forged), valid):
            path.write_bytes(record.ljust(audit_hint.RECORD))
            if record is not valid:
                assert audit_hint.newer_than(other._write_engine, key, -1) is None
            _append_two(store, "x")  # the file now holds this head again ...
            path.write_bytes(record.ljust(audit_hint.RECORD))  # ... put the bad record back
            assert _statements(lambda: _append_two(other, "y")) == ["all", "all"]  # fallback, checked
    finally:
        other.dispose()
    actions = [r[3] for r in _rows(store)]
    assert audit.TAMPER_ACTION not in actions and len(actions) == 14
    with store.read() as s:
        report = audit.verify_chain(s)
    assert report.ok and report.count == 14, report.reason


def test_no_head_file_where_it_cannot_be_made(store: Any, db_url: str, tmp_path: Any, monkeypatch: Any) -> None:
    """A head file that cannot be created (its directory is a file) leaves the process appending
    as if alone on the host: every append still lands."""
    if store.dialect != "postgresql":
        pytest.skip("the head file serves PostgreSQL's one-statement append")
    from core.store import Store

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setattr(audit_hint, "head_file", lambda _url: blocker / "x.head")
    other = Store(db_url)
    try:
        _append_two(other, "0")
        _append_two(other, "1")
        assert audit_hint._FILES.get(other._write_engine, "absent") is None
    finally:
        other.dispose()
    with store.read() as s:
        report = audit.verify_chain(s)
    assert report.ok and report.count == 4, report.reason


def test_a_keyed_head_changed_in_any_column_is_not_expected(store: Any) -> None:
    """The one-statement path writes only onto exactly the head row this process signed: a head
    whose time was moved (its MAC left as it was, so no longer valid) must go through the check
    and be alarmed, as a forged head always was."""
    _append_two(store, "0")
    with store.write() as s:
        s.execute(text("UPDATE audit_head SET ts = ts + interval '1 second' WHERE id = 1"
                       if store.dialect == "postgresql" else
                       "UPDATE audit_head SET ts = datetime(ts, '+1 second') WHERE id = 1"))
    _append_two(store, "1")
    actions = [r[3] for r in _rows(store)]
    assert actions == ["a0", "b0", audit.TAMPER_ACTION, "a1", "b1"], actions


def test_the_append_function_sets_the_commit_asynchronous_only_when_asked(store: Any) -> None:
    """``relaxed`` is the transaction's own ``synchronous_commit = off``, in effect for its COMMIT,
    and nothing is written without an expected head."""
    if store.dialect != "postgresql":
        import pytest

        pytest.skip("PostgreSQL's function")
    for relaxed, want in ((True, "off"), (False, "on")):
        with store.write() as s:
            found = audit._PG_APPEND.first(s, {"k": audit._AUDIT_LOCK_KEY, "relaxed": relaxed,
                                               **audit._NOTHING_EXPECTED, **audit._NOTHING_WRITTEN})
            assert found is not None and found[0] == 0
            assert s.execute(text("SHOW synchronous_commit")).scalar() == want
        with store.read() as s:
            assert s.execute(text("SHOW synchronous_commit")).scalar() == "on"
