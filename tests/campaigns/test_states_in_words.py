"""What a campaign says it is (issue 39, item 2): a campaign policy denied is closed, not "created"
for ever and counted as active; one an approver rejected likewise; a finished one does not say
"ring 4 of 4 (finishing)"; a ring waiting for promotion says who or when; an aborted one's rings
say they were rolled back; a canary that had to take one device of every class says so."""

from __future__ import annotations

from typing import Any

import pytest

from campaigns.states import TERMINAL
from core.kernel.errors import Conflict
from tests.campaigns.helpers import PATH, approved, drive, who
from tests.campaigns.test_console_reads import CLOSED


def test_a_campaign_policy_denied_is_closed_not_active(crt: Any, svc: Any) -> None:
    crt.lifecycle.clock = lambda: CLOSED
    st = svc.create({"name": "outside", "target": {"region": "DE"}, "changes": [{"path": PATH, "value": False}]},
                    who(crt, "dave"))
    assert st["proposal"]["state"] == "denied"
    assert st["state"] == "denied" and st["terminal"] is True and "denied" in TERMINAL
    assert st["phase"] == "never started (policy denied it)"
    assert "outside the change window for DE" in (st["halt_reason"] or "")
    assert st["finished_at"] is not None
    assert {r["status"] for r in st["rings_detail"]} == {"never ran"}
    listed = {c["id"]: c for c in svc.list()}
    assert listed[st["id"]]["state"] == "denied"
    with pytest.raises(Conflict):
        svc.start(st["id"], who(crt, "dave"))


def test_a_campaign_an_approver_rejected_reads_rejected(crt: Any, svc: Any) -> None:
    st = svc.create({"name": "e", "target": {"region": "DE"}, "emergency": True,
                     "changes": [{"path": PATH, "value": False}]}, who(crt, "dave"))
    assert st["state"] == "created" and st["phase"].startswith("not started")
    crt.lifecycle.reject(st["proposal"]["id"], who(crt, "carol"), "not this week")
    assert svc.status(st["id"])["state"] == "rejected"
    assert {c["id"]: c["state"] for c in svc.list()}[st["id"]] == "rejected"


def test_waiting_rings_say_who_promotes_and_finished_says_done(crt: Any, svc: Any) -> None:
    st = approved(crt, svc, promotion={"mode": "manual"})
    cid = st["id"]
    svc.start(cid, who(crt, "dave"))
    waiting = drive(svc, cid)
    assert waiting["ring_state"] == "waiting"
    assert waiting["phase"] == f"ring 1 of {waiting['rings']} passed: waiting for a person to promote"
    while (nxt := drive(svc, cid))["state"] != "completed":
        svc.promote(cid, who(crt, "carol"))
    assert nxt["phase"] == f"all {nxt['rings']} rings done"
    assert "finishing" not in nxt["phase"]
    assert {r["status"] for r in nxt["rings_detail"]} == {"done"}


def test_auto_promotion_says_when(crt: Any, svc: Any) -> None:
    st = approved(crt, svc, promotion={"mode": "auto", "pause_s": 3600})
    svc.start(st["id"], who(crt, "dave"))
    out = drive(svc, st["id"], until=lambda s: s["ring_state"] == "waiting")
    assert out["promote_at"] is not None
    assert out["phase"] == f"ring 1 of {out['rings']} passed: promotes automatically at {out['promote_at']}"


def test_an_aborted_campaign_reads_rolled_back_not_done(crt: Any, svc: Any) -> None:
    st = approved(crt, svc, promotion={"mode": "manual"})
    cid = st["id"]
    svc.start(cid, who(crt, "dave"))
    drive(svc, cid)
    svc.abort(cid, who(crt, "bob"), "wrong SSID policy")
    out = drive(svc, cid)
    assert out["state"] == "aborted"
    assert out["phase"] == f"stopped in ring 1 of {out['rings']}"
    assert out["rings_detail"][0]["status"] == "rolled back"
    assert "done" not in {r["status"] for r in out["rings_detail"]}


def test_the_canary_says_what_share_it_really_holds(crt: Any, svc: Any) -> None:
    st = approved(crt, svc, canary_pct=1)
    canary = st["rings_detail"][0]
    total = st["devices"]
    assert canary["classes"] > 1
    assert canary["size"] >= canary["classes"]  # one device of every model x firmware class
    assert canary["share_pct"] == round(100 * canary["size"] / total, 1)
    assert canary["one_per_class"] is True
    assert st["rings_detail"][1]["one_per_class"] is False


def test_the_change_window_is_checked_before_create(crt: Any, svc: Any) -> None:
    from campaigns.spec import Target

    crt.lifecycle.clock = lambda: CLOSED
    sel = svc.selection(Target(region="DE"))
    assert sel["windows"] == [{"region": "DE", "text": "DE 01:00-05:00 local (UTC+1 h)", "open": False,
                               "opens_at": "2026-11-23T00:00:00+00:00", "opens_in_s": 14 * 3600 + 20 * 60}]
    # what create then decides agrees with what the form was told
    st = svc.create({"name": "outside", "target": {"region": "DE"}, "changes": [{"path": PATH, "value": False}]},
                    who(crt, "dave"))
    assert st["state"] == "denied" and st["windows"] == sel["windows"]
    assert svc.selection(Target(model="no-such-model"))["windows"] == []


def test_a_window_applies_to_one_device_when_it_runs_a_listed_operation(crt: Any, svc: Any) -> None:
    from campaigns.spec import Target

    crt.lifecycle.clock = lambda: CLOSED
    assert svc._windows_for(Target(region="DE"), 1, []) == []  # a single-device fix runs any time
    (de,) = svc._windows_for(Target(region="DE"), 1, ["download"])  # firmware is windowed on any count
    assert de["region"] == "DE" and de["open"] is False
