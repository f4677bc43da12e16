"""What the console's campaign pages read (issue 16): the live device count of a selector while a
campaign is defined, and a campaign's change windows with *when* a closed one opens and what the
emergency path is — a denied campaign says why and cannot be started."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from campaigns import obligations
from campaigns.service import EMERGENCY_PATH, window_info
from campaigns.spec import Target
from core.kernel.errors import Conflict
from tests.campaigns.helpers import PATH, who

OPEN = datetime(2026, 11, 22, 2, 30, tzinfo=UTC)     # DE local 03:30, inside 01-05
CLOSED = datetime(2026, 11, 22, 9, 40, tzinfo=UTC)   # DE local 10:40


def _window(region: str, start: int, end: int, offset: float) -> dict[str, Any]:
    """A coded window obligation as a campaign plan stores it (messages are never parsed)."""
    return {"code": "obligation.window", "message": f"window {region}", "params": {
        "region": region, "start_hour": start, "end_hour": end, "utc_offset_hours": offset}}


def test_window_info_says_when_a_closed_window_opens() -> None:
    policy = [{"code": "obligation.stage", "message": "canary", "params": {"kind": "canary", "percent": 5}},
              _window("DE", 1, 5, 1), _window("US", 23, 4, -5)]
    de, us = window_info(policy, CLOSED)
    # DE opens at 01:00 local = 00:00 UTC the next day; US (23:00 at UTC-5) at 04:00 UTC the next day
    assert de == {"region": "DE", "text": "DE 01:00-05:00 local (UTC+1 h)", "open": False,
                  "opens_at": "2026-11-23T00:00:00+00:00", "opens_in_s": 14 * 3600 + 20 * 60}
    assert us["opens_at"] == "2026-11-23T04:00:00+00:00" and us["open"] is False
    assert window_info(policy, OPEN)[0] == {"region": "DE", "text": "DE 01:00-05:00 local (UTC+1 h)", "open": True,
                                            "opens_at": None, "opens_in_s": None}
    half = obligations.parse([_window("IN", 1, 5, 5.5)]).windows[0]
    (info,) = window_info([_window("IN", 1, 5, 5.5)], CLOSED)
    opens = datetime.fromisoformat(info["opens_at"])
    assert opens == datetime(2026, 11, 22, 19, 30, tzinfo=UTC) and half.open_at(opens)


def test_selection_counts_the_devices_a_selector_matches(crt: Any, svc: Any) -> None:
    whole = svc.selection(Target())
    assert whole["devices"] == whole["fleet"] > 0 and whole["whole_fleet"] is True
    region, n = next(iter(whole["facets"]["region"].items()))
    some = svc.selection(Target(region=region))
    assert some["devices"] == n < whole["fleet"] and some["whole_fleet"] is False
    assert some["target"] == f"region={region}"
    none = svc.selection(Target(model="no-such-model"))
    assert none["devices"] == 0 and none["whole_fleet"] is False


def test_denied_campaign_shows_its_windows_and_the_emergency_path(crt: Any, svc: Any) -> None:
    crt.lifecycle.clock = lambda: CLOSED
    st = svc.create({"name": "outside", "target": {"region": "DE"}, "changes": [{"path": PATH, "value": False}]},
                    who(crt, "dave"))
    assert st["proposal"]["state"] == "denied"
    assert st["windows"] == [{"region": "DE", "text": "DE 01:00-05:00 local (UTC+1 h)", "open": False,
                              "opens_at": "2026-11-23T00:00:00+00:00", "opens_in_s": 14 * 3600 + 20 * 60}]
    assert st["emergency"] is False and st["emergency_path"] == EMERGENCY_PATH and "senior approver" in EMERGENCY_PATH
    pv = svc.preview(st["id"])
    assert pv["decision"]["allow"] is False
    assert any("outside the change window for DE" in d for d in pv["decision"]["deny"])
    with pytest.raises(Conflict, match="policy denied it"):
        svc.start(st["id"], who(crt, "dave"))


def test_selection_endpoint_over_http(crt: Any) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from core.users import issue_token

    h = {"Authorization": f"Bearer {issue_token(crt.store, 'erin')}"}
    with TestClient(create_app(crt)) as c:
        whole = c.get("/api/campaigns/selection", headers=h).json()
        region = next(iter(whole["facets"]["region"]))
        r = c.get("/api/campaigns/selection", params={"region": region, "tag": ["nope"]}, headers=h)
        assert r.status_code == 200 and r.json()["devices"] == 0, r.text
        assert c.get("/api/campaigns/selection", params={"region": "X" * 40}, headers=h).status_code == 422
        assert c.get("/api/campaigns/selection").status_code == 401


def test_demo_runs_a_campaign_at_any_hour_through_the_emergency_path(crt: Any, svc: Any) -> None:
    """The console's "create again as an emergency" posts the denied campaign's own spec with
    emergency on: policy then allows it with a senior approver (carol in the demo), and it starts
    outside the window — the window itself is not weakened (the first one stays denied)."""
    crt.lifecycle.clock = lambda: CLOSED
    denied = svc.create({"name": "outside", "target": {"region": "DE"}, "changes": [{"path": PATH, "value": False}]},
                        who(crt, "dave"))
    assert denied["proposal"]["state"] == "denied"
    again = svc.create({**denied["spec"], "name": "outside (emergency)", "emergency": True}, who(crt, "dave"))
    pid = again["proposal"]["id"]
    assert again["proposal"]["state"] == "awaiting_approval" and again["windows"] == []
    decision = svc.preview(again["id"])["decision"]
    senior = [a for a in decision["approvals_required"] if a["role"] == "senior_approver"]
    assert [(i["code"], i["params"]) for i in senior[0]["items"]] == \
        [("approval.emergency_outside_window", {"region": "DE"})]
    assert senior[0]["reason"] == senior[0]["items"][0]["message"]  # what the console shows
    with pytest.raises(Conflict, match="waits for approval"):
        svc.start(again["id"], who(crt, "dave"))
    for name in ("carol", "bob"):
        if crt.lifecycle.get(pid).state.value == "awaiting_approval":
            crt.lifecycle.approve(pid, who(crt, name))
    assert svc.start(again["id"], who(crt, "dave"))["state"] in ("running", "completed")
    assert svc.status(denied["id"])["proposal"]["state"] == "denied"


def test_the_preview_counts_the_selection_per_region_as_recorded(crt: Any, svc: Any) -> None:
    from sqlalchemy import func, select, update

    from campaigns.schema import CampaignDeviceRow, CampaignRow
    from core.store.schema import DeviceRow

    crt.lifecycle.clock = lambda: OPEN
    st = svc.create({"name": "one model", "target": {"model": _a_model(svc)},
                     "changes": [{"path": PATH, "value": False}]}, who(crt, "dave"))
    with crt.store.read() as s:
        want = {str(r): int(n) for r, n in s.execute(
            select(DeviceRow.region, func.count()).join(CampaignDeviceRow, CampaignDeviceRow.device_id == DeviceRow.id)
            .where(CampaignDeviceRow.campaign_id == st["id"]).group_by(DeviceRow.region))}
    assert len(want) >= 2 and sum(want.values()) == st["plan"]["total"]
    assert st["plan"]["regions"] == want  # counted when the campaign was recorded, not on each visit
    got = svc.preview(st["id"])["selection"]
    assert got["regions"] == want and list(got["regions"]) == sorted(want)
    moved = {**want}  # a target moved to another region later: the selection is what was recorded
    with crt.store.write() as s:
        one = s.scalars(select(CampaignDeviceRow.device_id).where(CampaignDeviceRow.campaign_id == st["id"])).first()
        old = s.scalar(select(DeviceRow.region).where(DeviceRow.id == one))
        s.execute(update(DeviceRow).where(DeviceRow.id == one).values(region="ZZ"))
    moved[str(old)] -= 1
    moved["ZZ"] = 1
    assert svc.preview(st["id"])["selection"]["regions"] == want
    with crt.store.write() as s:  # a campaign recorded before its plan kept the regions: counted on each visit
        row = s.get(CampaignRow, st["id"])
        s.execute(update(CampaignRow).where(CampaignRow.id == st["id"])
                  .values(plan={k: v for k, v in row.plan.items() if k != "regions"}))
    assert svc.preview(st["id"])["selection"]["regions"] == {k: n for k, n in moved.items() if n}


def _a_model(svc: Any) -> str:
    """The model with the most devices (the seeded fleet spreads each over several regions)."""
    models = svc.selection(Target())["facets"]["model"]
    return str(max(models, key=lambda m: models[m]))
