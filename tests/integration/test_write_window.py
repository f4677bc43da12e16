"""Issue 34, item 2: the change window a decision bound a write to is checked when the write starts.

A two-device change decided at 02:30 inside the DE window (01-05 local, UTC+1) and applied by a
process whose clock says 14:00 used to end ``done`` on both devices, while the same change decided
at 14:00 was denied. Now every write start — ``gateward apply``, ``POST .../apply``, a campaign batch
delivered again — re-reads the decision's ``obligation.window`` and refuses outside it: 409 / one CLI
line naming the window and when it next opens; the proposal stays approved, no lock is left and
nothing reaches a device. An emergency (no window obligation: a senior approver signed it) is not
affected.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from core.kernel.errors import WindowClosed
from core.kernel.models import Change, ProposalDraft, ProposalState
from core.store.schema import DeviceLockRow
from testing.cli import run_cli
from tests.integration.test_lifecycle import pick, twin, who

S = ProposalState
PATH = "Device.WiFi.AccessPoint.1.SSIDAdvertisementEnabled"
INSIDE = datetime(2026, 11, 22, 2, 30, tzinfo=UTC)   # DE local 03:30: open
OUTSIDE = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)  # DE local 15:00: closed


def _two_de(rt: Any) -> list[Any]:
    return [pick(rt, region="DE"), pick(rt, region="DE", skip=1)]


def _approved(rt: Any, devices: list[Any], *, emergency: bool = False) -> Any:
    draft = ProposalDraft(intent="hide the SSID", targets=[d.id for d in devices], emergency=emergency,
                          changes=[Change(path=PATH, value=False)])
    p = rt.lifecycle.submit(draft, who(rt, "alice"))
    for name in ("carol", "bob"):
        if rt.lifecycle.get(p.id).state is S.AWAITING_APPROVAL:
            rt.lifecycle.approve(p.id, who(rt, name))
    p = rt.lifecycle.get(p.id)
    assert p.state is S.APPROVED, p.error
    return p


def _writes(rt: Any, devices: list[Any]) -> int:
    return sum(len(twin(rt).events(d.id, kinds=["set"])) for d in devices)


def _locks(rt: Any) -> int:
    with rt.store.read() as s:
        return int(s.scalar(select(func.count()).select_from(DeviceLockRow)) or 0)


def test_a_change_decided_inside_its_window_is_refused_by_gateward_apply_outside_it(runtime: Any,
                                                                                   db_url: str) -> None:
    runtime.lifecycle.clock = lambda: INSIDE
    devices = _two_de(runtime)
    p = _approved(runtime, devices)
    decided = runtime.lifecycle.decide(p.id, dry_run=True)
    assert any(o.code == "obligation.window" for o in decided.obligation_items)
    before = _writes(runtime, devices)
    child = run_cli("apply", p.id, "--as", "alice",
                    env={"GATEWARD_DATABASE_URL": db_url, "GATEWARD_POLICY_TIME": "14:00"})
    assert child.returncode == 2, (child.stdout, child.stderr)
    assert "Traceback" not in child.stderr
    line = " ".join(child.stderr.split())
    assert "change window" in line and "DE 01:00-05:00 local (UTC+1 h)" in line, line
    assert "next opens at" in line and "00:00 UTC" in line and "stays approved" in line, line
    assert runtime.lifecycle.get(p.id).state is S.APPROVED
    assert _locks(runtime) == 0
    assert _writes(runtime, devices) == before  # nothing reached either device
    # Inside the window the same approval still applies.
    out = runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    assert out.proposal.state is S.DONE, out.proposal.error


def test_the_api_answers_409_outside_the_window_and_the_proposal_stays_approved(runtime: Any) -> None:
    from tests.api.conftest import make_api

    runtime.lifecycle.clock = lambda: INSIDE
    devices = _two_de(runtime)
    p = _approved(runtime, devices)
    api = make_api(runtime, "any")
    try:
        runtime.lifecycle.clock = lambda: OUTSIDE
        r = api.post(f"/api/proposals/{p.id}/apply", user="alice")
        assert r.status_code == 409, r.text
        body = r.json()
        assert body["error"] == "window_closed" and "DE 01:00-05:00" in body["detail"], body
        assert body["opens_at"].startswith("2026-11-23T00:00"), body
    finally:
        api.client.close()
    assert runtime.lifecycle.get(p.id).state is S.APPROVED
    assert _locks(runtime) == 0 and _writes(runtime, devices) == 0


def test_an_emergency_outside_the_window_is_unchanged(runtime: Any) -> None:
    runtime.lifecycle.clock = lambda: OUTSIDE
    devices = _two_de(runtime)
    p = _approved(runtime, devices, emergency=True)  # a senior approver signed it for this hour
    out = runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    assert out.proposal.state is S.DONE, out.proposal.error


def test_a_campaign_batch_delivered_again_after_the_window_closed_writes_nothing(db_url: str) -> None:
    """The window is the lifecycle's gate, not only the orchestrator's: a batch the campaign
    dispatched inside the window and a worker runs after it closed writes nothing, and runs once it
    opens again. (A batch the campaign did not dispatch is refused whatever the hour: the one gate
    asks the campaign, ``campaigns.admission``.)"""
    from sqlalchemy import select, update

    from campaigns.schema import CampaignBatchRow
    from campaigns.service import Campaigns
    from core.kernel.errors import ObligationUnmet
    from tests.campaigns.conftest import campaign_runtime
    from tests.campaigns.helpers import approved, writes

    crt = campaign_runtime(db_url)
    try:
        crt.lifecycle.clock = lambda: INSIDE
        svc = Campaigns(crt)
        st = approved(crt, svc, emergency=False, target={"region": "DE"})
        pid, cid = st["proposal"]["id"], st["id"]
        svc.start(cid, who(crt, "dave"))  # its first batch is queued (no job queue here)
        with crt.store.write() as s:
            b = s.scalars(select(CampaignBatchRow).where(CampaignBatchRow.campaign_id == cid)
                          .order_by(CampaignBatchRow.seq)).first()
            assert b is not None
            targets = list(b.device_ids)
            s.execute(update(CampaignBatchRow).where(CampaignBatchRow.id == b.id).values(state="running"))
        others = [t for t in crt.lifecycle.get(pid).targets if t not in targets][-1:]  # the last ring's
        with pytest.raises(ObligationUnmet, match="is at ring 0; devices of ring"):
            crt.lifecycle.apply_batch(pid, others, who(crt, "remediator"))
        crt.lifecycle.clock = lambda: OUTSIDE
        with pytest.raises(WindowClosed, match="DE 01:00-05:00"):
            crt.lifecycle.apply_batch(pid, targets, who(crt, "remediator"))
        assert sum(writes(crt, pid).values()) == 0 and _locks(crt) == 0
        crt.lifecycle.clock = lambda: INSIDE
        out = crt.lifecycle.apply_batch(pid, targets, who(crt, "remediator"))
        assert sorted(out.verified) == sorted(targets)
    finally:
        crt.close()
