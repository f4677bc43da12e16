"""``GATEWARD_AUDIT_CHAIN=after`` (issue 60 item 3; ``core.audit_pending``): a transaction commits its
events unlinked, with the change they record, and they are linked into the chain right after — before
the caller goes on. What must hold as when they were chained at commit: the caller reads its events
in the trail, in chain order, exactly as stored; a rollback (or a savepoint's) leaves nothing; one
dense chain that verifies under threads and under two processes' engines; nothing lost when the
chaining after a commit fails (the next one links the leftovers first); a trail changed behind
Gateward's back is still an alarm before the next event."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from core import audit, audit_pending
from core.store import Store


@pytest.fixture
def pg(store: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    if store.dialect != "postgresql":
        pytest.skip("PostgreSQL only: SQLite's one writer chains at commit")
    monkeypatch.setenv("GATEWARD_AUDIT_CHAIN", "after")
    yield store


def _trail(store: Any) -> list[dict[str, Any]]:
    with store.read() as s:
        rows = s.execute(text("SELECT seq, actor, action, proposal_id, data::text, prev_hash, hash "
                              "FROM audit_events ORDER BY seq")).all()
    return [{"seq": r[0], "actor": r[1], "action": r[2], "proposal_id": r[3], "data": orjson.loads(r[4]),
             "prev_hash": r[5], "hash": r[6]} for r in rows]


def _pending(store: Any) -> list[tuple[int, int | None]]:
    with store.read() as s:
        return [(int(r[0]), r[1]) for r in s.execute(text("SELECT id, seq FROM audit_pending ORDER BY id")).all()]


def _verified(store: Any) -> audit.ChainReport:
    with store.read() as s:
        return audit.verify_chain(s)


def test_the_events_are_in_the_trail_when_the_commit_returns(pg: Any) -> None:
    collected: list[dict[str, Any]] = []
    with pg.write() as s:
        s.info[audit.COLLECT] = collected
        audit.append(s, actor="alice", action="t.one", proposal_id="p-1", data={"n": 1, "psk": "x"})
        audit.append(s, actor="alice", action="t.two", data={"path": "Device.WiFi.AccessPoint.1.Security.KeyPassphrase",
                                                           "value": "hunter2hunter2"})
        with pg.read() as other:  # not before the commit: the change and its events are one commit
            assert other.execute(text("SELECT count(*) FROM audit_pending")).scalar() == 0
    trail = _trail(pg)
    assert [(e["seq"], e["action"]) for e in trail] == [(1, "t.one"), (2, "t.two")]
    assert "hunter2" not in orjson.dumps(trail).decode()  # masked before it was written unlinked
    assert [(c["seq"], c["action"], c["hash"], c["prev_hash"]) for c in collected] == \
        [(e["seq"], e["action"], e["hash"], e["prev_hash"]) for e in trail]
    assert collected[0]["data"] == trail[0]["data"]
    assert _pending(pg) == [(1, 1), (2, 2)]  # each marked with its place
    report = _verified(pg)
    assert report.ok and report.count == 2, report.reason
    assert not any("wait to be chained" in c for c in report.checked)


def test_a_rollback_or_a_savepoint_rolled_back_leaves_nothing(pg: Any) -> None:
    with pytest.raises(RuntimeError), pg.write() as s:
        audit.append(s, actor="a", action="t.gone")
        raise RuntimeError("the change failed")
    with pg.write() as s:
        audit.append(s, actor="a", action="t.kept.1")
        try:
            with s.begin_nested():
                audit.append(s, actor="a", action="t.savepoint")  # written unlinked in the savepoint
                raise ValueError("undo the savepoint only")
        except ValueError:
            pass
        audit.append(s, actor="a", action="t.kept.2")
    assert [e["action"] for e in _trail(pg)] == ["t.kept.1", "t.kept.2"]
    assert all(seq is not None for _, seq in _pending(pg))
    assert _verified(pg).ok


def test_events_left_unchained_are_linked_first_and_reported_meanwhile(pg: Any, monkeypatch: pytest.MonkeyPatch,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    """The chaining after a commit fails (the database went away between the two): the commit
    stands, its events wait; verify says so; the next commit links them first, in order."""
    real = audit._chain

    def broken(engine: Any, c: Any) -> int:
        raise OSError("connection lost")

    monkeypatch.setattr(audit, "_chain", broken)
    with pg.write() as s:
        audit.append(s, actor="a", action="t.first")
        audit.append(s, actor="a", action="t.second")
    assert "not chained yet" in caplog.text
    assert _trail(pg) == [] and _pending(pg) == [(1, None), (2, None)]
    report = _verified(pg)
    assert report.ok and any("2 committed event(s) wait to be chained" in c for c in report.checked)
    monkeypatch.setattr(audit, "_chain", real)
    with pg.write() as s:
        audit.append(s, actor="a", action="t.third")
    assert [(e["seq"], e["action"]) for e in _trail(pg)] == [(1, "t.first"), (2, "t.second"), (3, "t.third")]
    assert _verified(pg).ok


def test_recover_links_what_a_stopped_process_left(pg: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit, "wait_chained", lambda *a, **k: None)  # the process stopped after its commit
    with pg.write() as s:
        audit.append(s, actor="a", action="t.left")
    monkeypatch.undo()
    assert audit.chain_leftovers(pg) == 1
    assert audit.chain_leftovers(pg) == 0
    assert [e["action"] for e in _trail(pg)] == ["t.left"]


def test_threads_and_a_second_process_keep_one_dense_chain(pg: Any, db_url: str) -> None:
    """Six threads of one process and three of another (its own engine, its own chain turns) commit
    at once; each sees its own events as stored, every event is linked once, the chain verifies."""
    second = Store(db_url)
    errors: list[BaseException] = []
    seen: dict[str, list[dict[str, Any]]] = {}

    def work(store: Any, name: str) -> None:
        try:
            mine: list[dict[str, Any]] = []
            for i in range(8):
                got: list[dict[str, Any]] = []
                with store.write() as s:
                    s.info[audit.COLLECT] = got
                    audit.append(s, actor=name, action=f"c.{i}", data={"i": i})
                    audit.append(s, actor=name, action=f"c.{i}.b")
                assert [g["action"] for g in got] == [f"c.{i}", f"c.{i}.b"]
                mine += got
            seen[name] = mine
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=work, args=(pg, f"a{t}")) for t in range(6)]
        threads += [threading.Thread(target=work, args=(second, f"b{t}")) for t in range(3)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        second.dispose()
    assert not errors, errors
    trail = _trail(pg)
    assert [e["seq"] for e in trail] == list(range(1, 9 * 16 + 1))
    by_seq = {e["seq"]: e for e in trail}
    for name, rows in seen.items():
        assert len(rows) == 16
        for r in rows:  # what each caller was handed is what the trail holds at that place
            assert (by_seq[r["seq"]]["actor"], by_seq[r["seq"]]["action"], by_seq[r["seq"]]["hash"]) == \
                (name, r["action"], r["hash"])
    for name in seen:  # each thread's events in its own order
        own = [e["action"] for e in trail if e["actor"] == name]
        assert own == [a for i in range(8) for a in (f"c.{i}", f"c.{i}.b")]
    assert all(seq is not None for _, seq in _pending(pg))
    assert _verified(pg).ok


def test_a_row_written_behind_gatewards_back_is_an_alarm_before_the_next_event(pg: Any) -> None:
    with pg.write() as s:
        audit.append(s, actor="a", action="t.honest")
    head = _trail(pg)[-1]
    with pg.write() as s:  # a correct next link, written by someone without the audit key
        s.execute(text("INSERT INTO audit_events (seq, ts, actor, action, data, prev_hash, hash) "
                       "VALUES (2, now(), 'mallory', 'forged', '{}', :prev, :h)"),
                  {"prev": head["hash"], "h": "f" * 64})
    with pg.write() as s:
        audit.append(s, actor="a", action="t.after")
    actions = [e["action"] for e in _trail(pg)]
    assert actions == ["t.honest", "forged", audit.TAMPER_ACTION, "t.after"]


def test_chained_rows_are_swept_once_old(pg: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_pending, "SWEEP_EVERY", 2)
    monkeypatch.setattr(audit_pending, "KEEP_S", 3600)
    for i in range(3):
        with pg.write() as s:
            audit.append(s, actor="a", action=f"t.{i}")
    assert len(_pending(pg)) == 3  # chained, kept: not an hour old
    monkeypatch.setattr(audit_pending, "KEEP_S", -1)
    with pg.write() as s:  # seq 4 crosses a multiple of 2: rows chained before now go
        audit.append(s, actor="a", action="t.3")
    assert _pending(pg) == []
    assert [e["action"] for e in _trail(pg)] == ["t.0", "t.1", "t.2", "t.3"] and _verified(pg).ok


def test_a_key_that_cannot_sign_refuses_the_change(pg: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.kernel.errors import Invalid

    monkeypatch.setenv("GATEWARD_AUDIT_KEY", "short")
    with pytest.raises(Invalid, match="too short"), pg.write() as s:
        audit.append(s, actor="a", action="t.unsigned")
    assert _pending(pg) == []
