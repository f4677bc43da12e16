"""The database-grouped fleet decision (core.fleet_facts) must equal the per-device Python path
(policies.classes.decide_fleet over every device's facts) — same verdict, reasons, approvals, risk,
obligations and number of classes — on a fleet with varied history, stale devices and overlaps."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, update

from core import lifecycle as lifecycle_mod
from core.kernel.config import Settings
from core.kernel.models import Change, ProposalDraft, Selector, utcnow
from core.store.schema import DeviceEventRow, DeviceRow, ExecutionRow, ProposalRow
from core.users import get_actor
from gateward.runtime import build_runtime
from policies.classes import decide_fleet
from testing.bulk_fleet import seed_bulk_fleet


@pytest.fixture
def fleet_rt(db_url: str) -> Any:
    # What is compared is what policy says, not how fast: a machine stalled for a second under other
    # load (seen in CI: a 1,096 ms evaluation) would turn one side into a timeout deny.
    rt = build_runtime(Settings(database_url=db_url, policy_timeout_ms=60_000))
    seed_bulk_fleet(rt.store, 1500, seed=9)
    yield rt
    rt.close()


def _vary_history(rt: Any) -> None:
    rng = random.Random(3)
    now = utcnow()
    with rt.store.read() as s:
        ids = [r[0] for r in s.execute(DeviceRow.__table__.select().with_only_columns(DeviceRow.id))]
    boots = [{"device_id": d, "ts": now - timedelta(hours=rng.randint(1, 20)), "kind": "boot", "data": {}}
             for d in rng.sample(ids, 60) for _ in range(rng.choice((1, 2, 3)))]
    fails = [{"id": f"x-{i}", "proposal_id": "p-old", "device_id": d, "status": "rolled_back", "key": "p-old",
              "detail": {}, "started_at": now - timedelta(days=1)} for i, d in enumerate(rng.sample(ids, 40))]
    stale = rng.sample(ids, 50)
    with rt.store.write() as s:
        s.execute(insert(ProposalRow), [{"id": "p-old", "author": "dave", "author_kind": "human", "intent": "old",
                                         "targets": [], "changes": [], "operations": [], "rationale": "",
                                         "evidence": [], "emergency": False, "staged": False, "source": "test",
                                         "state": "rolled_back", "hash": "x", "version": 1, "created_at": now,
                                         "updated_at": now}])
        s.execute(insert(DeviceEventRow), boots)
        s.execute(insert(ExecutionRow), fails)
        s.execute(update(DeviceRow).where(DeviceRow.id.in_(stale)).values(last_seen=now - timedelta(days=3)))


def test_sql_classes_match_per_device_decisions(fleet_rt: Any) -> None:
    rt = fleet_rt
    _vary_history(rt)
    dave = get_actor(rt.store, "dave")
    # Another live proposal on a few devices setting the same path: per-device precedence context.
    other = rt.lifecycle.create(ProposalDraft(intent="other", selector=Selector(limit=7),
                                              changes=[Change(path="Device.WiFi.Radio.2.Channel", value=44)]), dave)
    assert other.state.value == "draft"
    p = rt.lifecycle.create(ProposalDraft(intent="channel plan", selector=Selector(), staged=True, changes=[
        Change(path="Device.WiFi.Radio.2.AutoChannelEnable", value=False),
        Change(path="Device.WiFi.Radio.2.Channel", value=36)]), dave)
    rt.lifecycle.validate(p.id, dave)
    rt.lifecycle.preview(p.id, dave, source="snapshot")
    assert len(p.targets) > lifecycle_mod.FLEET_SQL_MIN
    sql = rt.lifecycle.decide(p.id, dave, dry_run=True)
    python = decide_fleet(rt.policy, rt.lifecycle.policy_input(p.id))
    assert sql.allow == python.decision.allow
    assert sorted(sql.deny) == sorted(python.decision.deny)
    assert [(a.role, a.reason) for a in sql.approvals_required] == \
        [(a.role, a.reason) for a in python.decision.approvals_required]
    assert sql.risk == python.decision.risk
    assert sql.obligations == python.decision.obligations
    # The coded items agree too (what campaigns and remediation read), in the same order.
    assert sql.obligation_items == python.decision.obligation_items
    assert sql.deny_items == python.decision.deny_items
    assert [a.items for a in sql.approvals_required] == [a.items for a in python.decision.approvals_required]
    from core.store import repo

    with rt.store.read() as s:
        stored = repo.latest_decision(s, p.id, include_dry_run=True).input
    assert stored["classes"] == len(python.classes)
    # The overlap with the other live proposal is caught, naming it, by both paths.
    assert any(other.id in d for d in sql.deny), sql.deny
    assert stored["classes"] > 10  # radios, regions, models, history buckets, stale devices
