"""A campaign is decided once but runs for hours: the change window it was approved in binds every
later batch. Policy states the windows as obligations; the engine holds new batches (and stops a
running one before its next device) while a window is closed, and goes on when it opens."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from campaigns import obligations
from campaigns.schema import CampaignBatchRow
from core.kernel.models import PolicyItem
from core.store.schema import AuditEventRow
from tests.campaigns.helpers import PATH, approved, drive, who, writes

OPEN = datetime(2026, 11, 22, 2, 30, tzinfo=UTC)     # DE local 03:30, inside 01-05
CLOSED = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)   # DE local 10:30


def _window(region: str, start: int, end: int, offset: float) -> PolicyItem:
    # The message is deliberately not the pack's wording: only code and params are read.
    return PolicyItem(code="obligation.window", message=f"any words {region}", params={
        "region": region, "start_hour": start, "end_hour": end, "utc_offset_hours": offset})


def test_window_obligation_parses_and_wraps_midnight() -> None:
    plan = obligations.parse([PolicyItem(code="obligation.stage", message="x", params={"kind": "canary", "percent": 5}),
                              _window("DE", 1, 5, 1), _window("US", 23, 4, -5)])
    assert plan.stages == [5.0] and plan.has_canary
    de, us = plan.windows
    assert (de.region, de.start_hour, de.end_hour, de.utc_offset_h) == ("DE", 1, 5, 1.0)
    assert de.open_at(OPEN) and not de.open_at(CLOSED)
    assert us.open_at(datetime(2026, 11, 22, 4, 0, tzinfo=UTC))       # 23:00 local, the start
    assert us.open_at(datetime(2026, 11, 22, 8, 59, tzinfo=UTC))      # 03:59 local
    assert not us.open_at(datetime(2026, 11, 22, 9, 0, tzinfo=UTC))   # 04:00 local, the end
    assert [w.region for w in plan.closed_windows(OPEN)] == ["US"]


def test_stored_plans_are_read_from_items_only_whatever_their_messages_say() -> None:
    """A plan is read from its coded items; its messages are for people and never parsed (issue 34:
    migration 0026 gave old-style plans their items, ``tests/campaigns/test_migration_0026.py``)."""
    plan = obligations.from_plan({"policy": ["reworded"], "policy_items": [
        {"code": "obligation.stage", "message": "reworded", "params": {"kind": "canary", "percent": 5}},
        _window("DE", 1, 5, 1).model_dump(mode="json")]})
    assert plan.stages == [5.0] and [w.region for w in plan.closed_windows(CLOSED)] == ["DE"]
    assert obligations.from_plan({"policy": ["stage: canary 5%", "window: DE 1-5 local, UTC offset 1 h"]}).empty
    assert obligations.from_plan({}).empty


def test_an_obligation_with_bad_params_is_refused_not_guessed() -> None:
    with pytest.raises(obligations.ObligationError, match="start_hour"):
        obligations.parse([PolicyItem(code="obligation.window", message="w", params={"region": "DE"})])
    with pytest.raises(obligations.ObligationError, match="percent"):
        obligations.parse([{"code": "obligation.stage", "params": {"kind": "ring", "percent": "5%"}}])


def test_campaign_holds_outside_its_window_and_goes_on_when_it_opens(crt: Any, svc: Any) -> None:
    clock = {"now": OPEN}
    crt.lifecycle.clock = lambda: clock["now"]
    st = approved(crt, svc, emergency=False, target={"region": "DE"},
                  promotion={"mode": "auto", "pause_s": 0})
    de = {"region": "DE", "start_hour": 1, "end_hour": 5, "utc_offset_hours": 1}
    assert {"code": "obligation.window", "message": "window: DE 1-5 local, UTC offset 1 h",
            "params": de} in st["plan"]["policy_items"]
    assert "window: DE 1-5 local, UTC offset 1 h" in st["plan"]["policy"]  # what the console shows
    cid = st["id"]
    svc.start(cid, who(crt, "dave"))
    # the canary runs inside the window
    first = drive(svc, cid, until=lambda s: s["progress"].get("verified", 0) >= 1)
    assert first["window_hold"] == []
    clock["now"] = CLOSED
    with crt.store.read() as s:
        pending = list(s.scalars(select(CampaignBatchRow.id).where(
            CampaignBatchRow.campaign_id == cid, CampaignBatchRow.state == "queued")))
    assert pending, "the window must close while batches are queued"
    for bid in pending:  # handed to the queue before the window closed: it must not write now
        svc.orch.run_batch(bid)
    with crt.store.read() as s:
        assert {s.get(CampaignBatchRow, b).state for b in pending} == {"halted"}
    for _ in range(5):
        svc.orch.step(cid)
        with crt.store.read() as s:
            queued = list(s.scalars(select(CampaignBatchRow.id).where(
                CampaignBatchRow.campaign_id == cid, CampaignBatchRow.state == "queued")))
        for bid in queued:  # a batch already handed to the queue must not write either
            svc.orch.run_batch(bid)
    before = sum(writes(crt, st["proposal"]["id"]).values())
    for _ in range(5):
        svc.orch.step(cid)
    status = svc.status(cid)
    assert status["state"] == "running" and status["window_hold"] == ["DE 01:00-05:00 local (UTC+1 h)"]
    assert sum(writes(crt, st["proposal"]["id"]).values()) == before
    assert status["progress"].get("verified", 0) < status["devices"]
    with crt.store.read() as s:
        holds = s.scalar(select(func.count()).select_from(AuditEventRow).where(
            AuditEventRow.action == "campaign.window_hold"))
    assert holds == 1  # audited once per closed spell, not every tick
    clock["now"] = OPEN
    done = drive(svc, cid)
    assert done["state"] == "completed", (done["halt_reason"], done["error"])
    w = writes(crt, done["proposal"]["id"])
    assert set(w.values()) == {1} and sum(w.values()) == done["progress"]["verified"]  # each device once


def test_emergency_campaign_has_no_window_hold(crt: Any, svc: Any) -> None:
    crt.lifecycle.clock = lambda: CLOSED
    st = approved(crt, svc)  # emergency, the whole fleet
    assert st["plan"]["policy_items"] and not any(o["code"] == "obligation.window" for o in st["plan"]["policy_items"])
    assert PATH in str(st["spec"]["changes"])
