"""A fleet pass cut across the cores groups exactly as one connection does (issue 15, campaign gate).

On a SQLite file, a pass over a large proposal's targets is cut into ranges of target id, each
grouped on a connection of its own at once (``core.store.grouping.sqlite_groups``). These tests
force the cut on a small fleet (``parallel_parts``) and hold it to what matters:

* the classes, representatives, counts and preview summaries are the ones a single connection
  gives, and so is the gate's decision;
* it is cut only when the other connections read what the transaction reads: a transaction that
  holds the write lock and has written nothing. A transaction that wrote (its own uncommitted
  rows), a plain read transaction (possibly older than theirs) and an in-memory database group on
  their own connection;
* ``Store.fleet_read`` never waits for the write lock its own thread holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from core import fleet_facts
from core.kernel.config import Settings
from core.kernel.models import Change, ProposalDraft, Selector, utcnow
from core.store import grouping, repo
from core.store.schema import DeviceEventRow, DeviceRow, ProposalDeviceRow
from core.users import get_actor
from gateward.runtime import Runtime, build_runtime
from testing.bulk_fleet import seed_bulk_fleet

CHANGES = [("Device.WiFi.Radio.2.AutoChannelEnable", False, False), ("Device.WiFi.Radio.2.Channel", 36, False)]


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = build_runtime(Settings(database_url=f"sqlite:///{tmp_path / 'fleet.db'}"))
    seed_bulk_fleet(runtime.store, 1_200, seed=8)  # above FLEET_SQL_MIN: the decision groups too
    with runtime.store.write() as s:  # recent reboots on a few devices: their own classes
        ids = sorted(s.scalars(select(DeviceRow.id)))
        s.execute(insert(DeviceEventRow), [{"device_id": d, "ts": utcnow(), "kind": "boot", "data": {}}
                                           for d in ids[3:60:4] for _ in range(4)])
    yield runtime
    runtime.close()


class Parts:
    """How many ranges a pass is cut into (``want``; 1: not cut) and how many were grouped apart."""

    def __init__(self) -> None:
        self.want = 1
        self.apart = 0


@pytest.fixture
def parts(monkeypatch: pytest.MonkeyPatch) -> Parts:
    got = Parts()
    real = grouping._group_apart
    monkeypatch.setattr(grouping, "parallel_parts", lambda targets: got.want)

    def counted(*args: Any) -> Any:
        got.apart += 1
        return real(*args)

    monkeypatch.setattr(grouping, "_group_apart", counted)
    return got


def _fleet(rt: Runtime, **kw: Any) -> Any:
    dave = get_actor(rt.store, "dave")
    draft = ProposalDraft(intent="channel plan", changes=[Change(path=p, value=v) for p, v, _ in CHANGES],
                          staged=True, **kw)  # a campaign's proposal: more than 1,000 targets
    return rt.lifecycle.create(draft, dave)


def _passes(s: Any, pid: str, n: int, exclude: set[str]) -> tuple[Any, ...]:
    classes = fleet_facts.device_classes(s, pid, max_reboots_24h=3, failed_steps=(1.0, 3.0), exclude=exclude,
                                         targets=n)
    preview = fleet_facts.preview_facts(s, pid, CHANGES, n)
    return (repo.target_classes(s, pid, n), sorted(classes, key=lambda c: repr(c.key)),
            sorted(preview.classes, key=repr), preview.missing, preview.stale)


def test_a_cut_pass_groups_as_one_connection_does(rt: Runtime, parts: Parts) -> None:
    p = _fleet(rt, selector=Selector())
    n = len(p.targets)
    exclude = set(p.targets[10:200:9])
    with rt.store.write() as s:
        alone = _passes(s, p.id, n, exclude)
    parts.want = 3
    with rt.store.write() as s:
        cut = _passes(s, p.id, n, exclude)
    assert parts.apart == 3 * 3  # three passes, each on three connections
    assert cut == alone
    classes = alone[1]
    assert sum(c.count for c in classes) == n - len(exclude)
    assert any(c.key[7] for c in classes)  # the rebooting devices are a class of their own
    assert len(classes) > 8


def test_the_gate_decides_the_same_cut_or_not(rt: Runtime, parts: Parts) -> None:
    """validate, snapshot preview and decision through the lifecycle, with the cut and without."""
    dave = get_actor(rt.store, "dave")

    def gate() -> tuple[Any, ...]:
        p = _fleet(rt, selector=Selector())
        rt.lifecycle.validate(p.id, dave)
        rt.lifecycle.preview(p.id, dave, source="snapshot")
        preview = rt.lifecycle.preview_of(p.id) or {}
        decision = rt.lifecycle.decide(p.id, dave)
        got = rt.lifecycle.get(p.id)
        rt.lifecycle.cancel(p.id, dave, "next run")  # no longer live: the next one overlaps nothing
        summary = sorted(preview.get("classes", []), key=repr)
        return (got.state, decision.allow, sorted(decision.deny), decision.risk, summary,
                preview.get("uncovered"), sorted(preview.get("absent", [])))

    parts.want = 3
    cut = gate()
    # Validation's pass cut in three, and the decision groups the same pass (core.fleet_pass); the preview of
    # 1,200 targets reads every document, so its pass is its own, cut in three too.
    assert parts.apart == 2 * 3
    parts.want = 1
    alone = gate()
    assert parts.apart == 6
    assert cut == alone
    assert alone[4]


def test_a_pass_after_its_transaction_wrote_reads_on_its_own_connection(rt: Runtime, parts: Parts) -> None:
    p = _fleet(rt, selector=Selector())
    n = len(p.targets)
    parts.want = 3
    with rt.store.write() as s:
        dropped = p.targets[:40]
        s.execute(ProposalDeviceRow.__table__.delete().where(ProposalDeviceRow.proposal_id == p.id,
                                                            ProposalDeviceRow.device_id.in_(dropped)))
        classes = fleet_facts.device_classes(s, p.id, max_reboots_24h=3, failed_steps=(1.0,), targets=n)
        # Its own uncommitted delete is seen: other connections would still count those 40.
        assert sum(c.count for c in classes) == n - 40
        s.rollback()
    assert parts.apart == 0


def test_a_plain_read_or_an_in_memory_database_is_not_cut(rt: Runtime, parts: Parts) -> None:
    from sqlalchemy import func

    from core.store.db import Store
    from core.store.schema import ProposalRow

    p = _fleet(rt, selector=Selector())
    parts.want = 3
    with rt.store.read() as s:  # a read transaction may be older than a new connection's
        assert len(repo.target_classes(s, p.id, len(p.targets))) > 1
    assert parts.apart == 0
    memory = Store("sqlite://")  # another connection would open another, empty, database
    try:
        with memory.write() as s:
            s.execute(insert(ProposalRow), [{
                "id": "p-m", "author": "dave", "author_kind": "human", "intent": "t", "targets": [], "changes": [],
                "operations": [], "rationale": "", "evidence": [], "emergency": False, "staged": False,
                "source": "test", "state": "draft", "hash": "x", "version": 1, "created_at": utcnow(),
                "updated_at": utcnow()}])
            s.execute(insert(ProposalDeviceRow), [{"proposal_id": "p-m", "device_id": f"d-{i:03d}"} for i in range(30)])
        with memory.write() as s:
            stmt = (select(func.json_array(func.substr(ProposalDeviceRow.device_id, 4, 1)), ProposalDeviceRow.device_id)
                    .where(ProposalDeviceRow.proposal_id == "p-m"))
            got = grouping.sqlite_groups(s, stmt, split=grouping.TargetSplit("p-m", 30))
        assert got == [('["0"]', 10, "d-000"), ('["1"]', 10, "d-010"), ('["2"]', 10, "d-020")]
    finally:
        memory.dispose()
    assert parts.apart == 0
    with rt.store.write() as s:  # the file database, in a transaction that holds the write lock: cut
        assert len(repo.target_classes(s, p.id, len(p.targets))) > 1
    assert parts.apart == 3


def test_fleet_read_inside_a_write_of_its_thread_does_not_wait_for_itself(rt: Runtime, parts: Parts) -> None:
    p = _fleet(rt, selector=Selector())
    parts.want = 3
    with rt.store.fleet_read(len(p.targets)) as s:  # alone: holds the write lock, so it is cut
        first = repo.target_classes(s, p.id, len(p.targets))
    with rt.store.write() as outer:
        outer.execute(select(1))
        with rt.store.fleet_read(len(p.targets)) as s:  # inside a write: a plain read, at once
            assert repo.target_classes(s, p.id, len(p.targets)) == first
    assert parts.apart == 3


def test_a_failed_extra_connection_costs_time_not_the_answer(rt: Runtime, parts: Parts,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    import logging
    import sqlite3

    p = _fleet(rt, selector=Selector())
    with rt.store.write() as s:
        alone = repo.target_classes(s, p.id, len(p.targets))
    parts.want = 2

    def broken(*args: Any) -> Any:
        parts.apart += 1
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(grouping, "_group_apart", broken)
    with caplog.at_level(logging.WARNING, logger="gateward.store"), rt.store.write() as s:
        assert repo.target_classes(s, p.id, len(p.targets)) == alone  # grouped again on its own connection
    assert parts.apart >= 1
    assert "grouping on one" in caplog.text
