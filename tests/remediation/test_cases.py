"""Cases: one per (device, problem) while active, a cooldown after closing, never reopened on the
evidence that led to the last fix; concurrent openers cannot make twins."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from brain.remediation.cases import NewCase, open_many
from brain.remediation.schema import RemediationCaseRow
from core.kernel.errors import Conflict, Forbidden, Invalid
from core.users import get_actor
from tests.remediation.conftest import Clock, case_of, conditions


def _count(svc: Any, **where: Any) -> int:
    with svc.store.read() as s:
        q = select(func.count()).select_from(RemediationCaseRow)
        for k, v in where.items():
            q = q.where(getattr(RemediationCaseRow, k) == v)
        return int(s.scalar(q) or 0)


def test_detect_opens_one_case_per_device_and_problem(svc: Any) -> None:
    first = svc.detect()
    assert first["opened"] == first["devices"] == 5 and first["duplicates"] == 0
    again = svc.detect()
    assert again["opened"] == 0 and again["duplicates"] == 5
    assert _count(svc) == 5
    c = case_of(svc, conditions()["dns_lost_after_fw_bug"][0], "dns_lost")
    assert c["status"] == "open" and c["hits"] == 2 and c["evidence"]["rules"]


def test_cooldown_then_reopen_only_on_newer_evidence(svc: Any, clock: Clock) -> None:
    from core.kernel.models import utcnow

    dev = conditions()["dfs_radar"][0]
    svc.detect(problems=["dfs_radar"])
    c = case_of(svc, dev, "dfs_radar")
    bob = get_actor(svc.store, "bob")
    closed = svc.close_case(c["id"], bob, "moved by hand")
    assert closed["status"] == "closed" and closed["cooldown_until"]
    with pytest.raises(Conflict):
        svc.close_case(c["id"], bob, "again")
    # the same (old) evidence right after closing: stale, nothing opens
    assert svc.detect(problems=["dfs_radar"])["stale"] == 1
    # new radar events inside the cooldown: suppressed (one row, counting hits)
    item = NewCase(device_id=dev, problem="dfs_radar", kind="detector", evidence={"summary": "radar"},
                   last_evidence_at=utcnow() + timedelta(minutes=5), cooldown_h=24)
    clock.advance(minutes=10)
    for _ in range(2):
        with svc.store.write() as s:
            res = open_many(s, [item], clock())
        assert res.suppressed == 1 and not res.opened
    assert _count(svc, device_id=dev, status="suppressed") == 1
    # after the cooldown, newer evidence opens a new case
    clock.advance(hours=25)
    later = NewCase(device_id=dev, problem="dfs_radar", kind="detector", evidence={"summary": "radar"},
                    last_evidence_at=clock(), cooldown_h=24)
    with svc.store.write() as s:
        res = open_many(s, [later], clock())
    assert len(res.opened) == 1
    assert _count(svc, device_id=dev, problem="dfs_radar", status="open") == 1


def test_the_database_refuses_a_second_active_case(svc: Any) -> None:
    """Two openers that both missed each other's row (their reads raced): the partial unique index
    lets one insert win; the other records a duplicate."""
    from core.kernel.ids import new_id
    from core.kernel.models import utcnow

    dev = conditions()["healthy"][0]
    now = utcnow()
    row = dict(id=new_id("rc"), device_id=dev, problem="dns_lost", kind="detector", status="open", class_key="",
               proposal_ids=[], attempts=0, hits=1, evidence={}, opened_at=now, updated_at=now)
    with svc.store.write() as s:
        s.add(RemediationCaseRow(**row))
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), svc.store.write() as s:
        s.add(RemediationCaseRow(**{**row, "id": new_id("rc")}))
    with svc.store.write() as s:  # closed and suppressed rows do not count
        s.add(RemediationCaseRow(**{**row, "id": new_id("rc"), "status": "closed", "closed_at": now}))
    assert _count(svc, device_id=dev) == 2


def test_closing_needs_a_reason_and_a_role(svc: Any) -> None:
    svc.detect(problems=["dns_lost"])
    c = case_of(svc, conditions()["dns_lost_after_fw_bug"][0], "dns_lost")
    with pytest.raises(Invalid, match="reason"):
        svc.close_case(c["id"], get_actor(svc.store, "bob"), "  ")
    with pytest.raises(Forbidden):
        svc.close_case(c["id"], get_actor(svc.store, "erin"), "auditors do not close cases")
