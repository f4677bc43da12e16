"""Commits that only prepare the next step (``Store.write(durable=False)``, issue 15).

On PostgreSQL such a commit does not wait for its WAL flush; the invariant that makes that safe is
that nothing leaves the database on it: every device write, operation and restore, and every
answer of ``submit``/``apply``, comes after a synchronous commit on the same thread, which flushes
the WAL — and with it every earlier commit. These tests check the store's part (the setting is
the one transaction's, ``ensure_durable`` flushes) and the lifecycle's (what reaches a device or a
caller was made durable first), and that the relaxed commits are actually taken.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, text

from core import audit
from core.kernel.models import Change, ProposalDraft, ProposalState
from core.users import get_actor
from testing.fleet_picks import online_5ghz_radios


def _setting(s: Any) -> str:
    return str(s.execute(text("SHOW synchronous_commit")).scalar())


def _at_commit(s: Any) -> list[str]:
    """``synchronous_commit`` as the transaction's COMMIT will read it: recorded by a listener on
    this session, which runs after the class-wide ones (the audit append that may set it)."""
    seen: list[str] = []
    if s.get_bind().dialect.name == "postgresql":
        event.listen(s, "before_commit", lambda sess: seen.append(_setting(sess)))
    return seen


@pytest.mark.parametrize("audited", [False, True], ids=["no-events", "audited"])
def test_a_relaxed_write_is_that_transaction_alone(store: Any, audited: bool) -> None:
    """Relaxed means the commit reads ``off``: said by a statement of its own, or — with audit
    events queued — by the audit append in the same call (``core.store.commit_info``)."""
    pg = store.dialect == "postgresql"
    with store.write(durable=False) as s:
        seen = _at_commit(s)
        s.execute(text("CREATE TABLE IF NOT EXISTS durable_probe (x integer)"))
        s.execute(text("INSERT INTO durable_probe VALUES (1)"))
        if audited:
            audit.append(s, actor="alice", action="durable.probe")
    if pg:
        assert seen == ["off"]
    assert store.durable_pending() is pg  # SQLite: the argument changes nothing
    with store.read() as s:  # committed and visible at once, like any commit
        assert s.execute(text("SELECT count(*) FROM durable_probe")).scalar() == 1
        if pg:
            assert _setting(s) == "on"  # SET LOCAL: the next transaction is back to synchronous
    with store.write() as s:
        seen = _at_commit(s)
        if audited:
            audit.append(s, actor="alice", action="durable.probe.2")
    if pg:
        assert seen == ["on"]
    assert not store.durable_pending()  # a synchronous commit flushed it


def test_ensure_durable_flushes_the_wal_past_a_relaxed_commit(store: Any) -> None:
    if store.dialect != "postgresql":
        pytest.skip("PostgreSQL's asynchronous commit")
    with store.write(durable=False) as s:
        s.execute(text("CREATE TABLE IF NOT EXISTS durable_probe (x integer)"))
        s.execute(text("INSERT INTO durable_probe VALUES (2)"))
        # Below this transaction's commit record: a flush that covers the commit covers this LSN.
        # (Read after the commit, the insert position may hold other sessions' WAL, which a flush
        # up to this commit need not reach.)
        written = s.execute(text("SELECT pg_current_wal_insert_lsn()")).scalar()
    assert store.durable_pending()
    store.ensure_durable()
    assert not store.durable_pending()
    with store.read() as s:
        behind = s.execute(text("SELECT pg_current_wal_flush_lsn() < CAST(:lsn AS pg_lsn)"),
                           {"lsn": str(written)}).scalar()
    assert behind is False, "ensure_durable returned before the WAL was flushed past the relaxed commit"
    store.ensure_durable()  # nothing pending: no transaction at all
    assert not store.durable_pending()


def test_any_synchronous_write_after_a_relaxed_one_flushes_even_if_it_logs_nothing(store: Any) -> None:
    """The mark is cleared by the next synchronous commit on the thread, so that commit must flush
    even when its own work wrote nothing (PostgreSQL skips the flush for a transaction that logged
    nothing): otherwise a device write guarded by ``ensure_durable`` could follow an unflushed commit."""
    if store.dialect != "postgresql":
        pytest.skip("PostgreSQL's asynchronous commit")
    with store.write(durable=False) as s:
        s.execute(text("CREATE TABLE IF NOT EXISTS durable_probe (x integer)"))
        s.execute(text("INSERT INTO durable_probe VALUES (3)"))
        written = s.execute(text("SELECT pg_current_wal_insert_lsn()")).scalar()
    with store.write() as s:
        s.execute(text("SELECT 1"))  # logs nothing of its own
    assert not store.durable_pending()
    with store.read() as s:
        behind = s.execute(text("SELECT pg_current_wal_flush_lsn() < CAST(:lsn AS pg_lsn)"),
                           {"lsn": str(written)}).scalar()
    assert behind is False, "the mark was cleared by a commit that did not flush the relaxed one"


def test_an_audited_synchronous_write_after_a_relaxed_one_flushes_it(store: Any) -> None:
    """With audit events queued the mark's WAL message is not sent: the append's rows are WAL of
    the transaction's own, so its synchronous commit flushes — past the relaxed commit too."""
    if store.dialect != "postgresql":
        pytest.skip("PostgreSQL's asynchronous commit")
    with store.write(durable=False) as s:
        s.execute(text("CREATE TABLE IF NOT EXISTS durable_probe (x integer)"))
        s.execute(text("INSERT INTO durable_probe VALUES (4)"))
        audit.append(s, actor="alice", action="durable.relaxed")
        written = s.execute(text("SELECT pg_current_wal_insert_lsn()")).scalar()
    assert store.durable_pending()
    with store.write() as s:
        audit.append(s, actor="alice", action="durable.sync")
    assert not store.durable_pending()
    with store.read() as s:
        behind = s.execute(text("SELECT pg_current_wal_flush_lsn() < CAST(:lsn AS pg_lsn)"),
                           {"lsn": str(written)}).scalar()
    assert behind is False, "an audited synchronous commit did not flush the relaxed one before it"


@contextmanager
def _watched(rt: Any) -> Iterator[list[tuple[str, Any]]]:
    """Record, in order, every write transaction (``durable`` or not) and every device write with
    whether this thread then held a commit not yet durable."""
    log: list[tuple[str, Any]] = []
    store, lc, io = rt.store, rt.lifecycle, rt.lifecycle._io  # io: the lifecycle's one device-I/O object
    real_write, real_device_write = store.write, io.write

    @contextmanager
    def write(*, durable: bool = True, **kw: Any) -> Iterator[Any]:
        with real_write(durable=durable, **kw) as s:
            yield s
        log.append(("commit", durable))

    def device_write(p: Any, d: Any, changes: Any, **kw: Any) -> Any:
        writer = lc.router.writer(d)
        real_apply = writer.apply

        def apply(*a: Any, **k: Any) -> Any:
            log.append(("device", store.durable_pending()))
            return real_apply(*a, **k)

        writer.apply = apply
        try:
            return real_device_write(p, d, changes, **kw)
        finally:
            del writer.apply

    store.write, io.write = write, device_write
    try:
        yield log
    finally:
        del store.write, io.write


def _radio_change(rt: Any) -> list[tuple[str, int]]:
    """(device id, 5 GHz radio) of online TR-181 devices of the seeded fleet."""
    return [(d.id, radio) for d, radio in online_5ghz_radios(rt)]


def test_no_device_and_no_answer_on_a_commit_not_yet_durable(runtime: Any) -> None:
    rt, alice = runtime, get_actor(runtime.store, "alice")
    pg = rt.store.dialect == "postgresql"
    done = 0
    for device_id, radio in _radio_change(rt)[:6]:
        with _watched(rt) as log:
            p = rt.lifecycle.submit(ProposalDraft(
                intent="durability check", targets=[device_id],
                changes=[Change(path=f"Device.WiFi.Radio.{radio}.AutoChannelEnable", value=False),
                         Change(path=f"Device.WiFi.Radio.{radio}.Channel", value=44)]), alice)
            assert not rt.store.durable_pending(), "submit answered on a commit not yet durable"
            if p.state is not ProposalState.APPROVED:
                continue
            out = rt.lifecycle.apply(p.id, alice)
            assert not rt.store.durable_pending(), "apply answered on a commit not yet durable"
        assert out.proposal.state is ProposalState.DONE
        devices = [pending for kind, pending in log if kind == "device"]
        assert devices and not any(devices), f"a device write ran on a commit not yet durable: {log}"
        relaxed = [d for kind, d in log if kind == "commit" and d is False]
        assert len(relaxed) == 3, f"submit's first commit, apply's gates and backup prepare: {log}"
        # Each relaxed commit is followed by a synchronous one before the next device write.
        last_relaxed = max(i for i, (kind, d) in enumerate(log) if kind == "commit" and d is False)
        first_device = next(i for i, (kind, _) in enumerate(log) if kind == "device")
        assert any(kind == "commit" and d is True for kind, d in log[last_relaxed:first_device]) or not pg
        done += 1
    assert done >= 1, "no proposal of the seeded fleet was approved without a person"


def test_an_invalid_proposal_is_answered_durably(runtime: Any) -> None:
    """``submit`` that stops at validation (its only commit was relaxed) still answers durably."""
    rt, alice = runtime, get_actor(runtime.store, "alice")
    device_id, _ = _radio_change(rt)[0]
    with _watched(rt) as log:
        p = rt.lifecycle.submit(ProposalDraft(
            intent="bad path", targets=[device_id],
            changes=[Change(path="Device.WiFi.Radio.1.NoSuchParameter", value=1)]), alice)
    assert p.state is ProposalState.INVALID
    assert not rt.store.durable_pending()
    commits = [d for kind, d in log if kind == "commit"]
    assert commits[0] is False  # the relaxed create + validate …
    if rt.store.dialect == "postgresql":
        assert commits[-1] is True  # … then made durable before the answer
