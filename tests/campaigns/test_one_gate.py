"""A staged change is written only as its decision said: in its campaign's rings, never whole
(issue 54, "a campaign written whole"; docs/safety.md invariant 8).

Found by probing: editing a campaign's proposal through ``PUT /api/proposals/{id}`` dropped its
staged flag (the form has none); once the approvers signed the new hash, a plain apply wrote every
target at once — no rings, no control group, no rehearsal of the new content — while the campaign
page still showed the old value. And a plain proposal whose decision carried stage obligations
applied at once. The one gate (``core.lifecycle.gates``) now holds the decision's obligations on
every way in, asking the campaign (``campaigns.admission``) before every staged batch."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from campaigns.schema import CampaignBatchRow, CampaignRow
from campaigns.service import Campaigns
from core.kernel.errors import ObligationUnmet
from core.kernel.models import Change, ProposalDraft, ProposalState
from core.store.schema import AuditEventRow
from tests.campaigns.helpers import PATH, approved, drive, value, who, writes

S = ProposalState
USERS = ("alice", "bob", "carol", "dave", "erin")


@pytest.fixture
def client(crt: Any) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    from api.app import create_app
    from core.users import issue_token

    tokens = {u: {"Authorization": f"Bearer {issue_token(crt.store, u)}"} for u in USERS}
    with TestClient(create_app(crt), raise_server_exceptions=False) as c:
        yield c, tokens


def _approve_all(c: TestClient, h: dict[str, dict[str, str]], pid: str) -> None:
    for approver in ("carol", "bob"):
        got = c.get(f"/api/proposals/{pid}", headers=h["dave"]).json()["proposal"]
        if got["state"] == "awaiting_approval":
            r = c.post(f"/api/proposals/{pid}/approve", json={"comment": "ok", "hash": got["hash"]},
                       headers=h[approver])
            assert r.status_code == 200, r.text


def _actions(rt: Any, pid: str) -> list[str]:
    with rt.store.read() as s:
        return list(s.scalars(select(AuditEventRow.action).where(AuditEventRow.proposal_id == pid)
                              .order_by(AuditEventRow.seq)))


def test_an_edited_campaign_proposal_stays_staged_and_is_never_applied_whole(
        crt: Any, client: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    c, h = client
    svc = Campaigns(crt)
    st = approved(crt, svc)  # every home of the fleet, hidden SSIDs: a staged rollout in rings
    cid, pid = st["id"], st["proposal"]["id"]
    before = crt.lifecycle.get(pid)
    assert before.staged and len(before.targets) >= 50

    # The author edits the value through the API form, which carries no staged flag.
    body = {"intent": before.intent, "targets": list(before.targets), "emergency": True,
            "changes": [{"path": PATH, "value": True}]}
    edited = c.put(f"/api/proposals/{pid}", json=body, headers=h["dave"])
    assert edited.status_code == 200, edited.text
    after = crt.lifecycle.get(pid)
    assert after.staged, "an edit turned a campaign's proposal into a plain one"
    assert after.hash != before.hash and after.state is S.AWAITING_APPROVAL
    assert "campaign.proposal_edited" in _actions(crt, pid)  # the approvers are told, in the trail
    page = c.get(f"/api/campaigns/{cid}", headers=h["alice"]).json()
    assert page["spec"]["changes"] == [{"path": PATH, "value": True, "type": None, "target": None}] or \
        [ch["value"] for ch in page["spec"]["changes"]] == [True]  # the page shows what will be written

    _approve_all(c, h, pid)
    assert crt.lifecycle.get(pid).state is S.APPROVED
    whole = c.post(f"/api/proposals/{pid}/apply", headers=h["dave"])
    assert whole.status_code == 409 and whole.json()["error"] == "obligation_unmet", whole.text
    assert sum(writes(crt, pid).values()) == 0  # nothing reached any device

    # The campaign still rolls it out, ring by ring, with the new content.
    svc.start(cid, who(crt, "dave"))
    done = drive(svc, cid)
    assert done["state"] == "completed", done
    assert all(value(crt, d) is True for d in after.targets)
    assert max(writes(crt, pid).values()) == 1  # each device once


def test_a_plain_proposal_whose_decision_demands_rings_is_never_applied_at_once(crt: Any) -> None:
    lc = crt.lifecycle
    with crt.store.read() as s:
        from core.store import repo

        devs, _ = repo.list_devices(s, limit=1000)
    ids = [d.id for d in devs][:55]  # the pack's rollout plans stage 50 targets and more
    draft = ProposalDraft(intent="hide every SSID", targets=ids, emergency=True,
                          changes=[Change(path=PATH, value=False)])
    p = lc.submit(draft, who(crt, "dave"))
    decision = lc.decide(p.id, who(crt, "dave"), dry_run=True)
    assert any(i.code == "obligation.stage" for i in decision.obligation_items)
    for name in ("carol", "bob"):
        if lc.get(p.id).state is S.AWAITING_APPROVAL:
            lc.approve(p.id, who(crt, name))
    got = lc.get(p.id)
    assert got.state is S.APPROVED, (got.state, decision.allow, decision.approvals_required, _actions(crt, p.id))
    with pytest.raises(ObligationUnmet, match="never applied all at once"):
        lc.apply(p.id, who(crt, "dave"))
    assert sum(writes(crt, p.id).values()) == 0 and lc.get(p.id).state is S.APPROVED


def _running_batch(crt: Any, cid: str) -> list[str]:
    """The campaign's first batch, marked running as a worker does before it applies it."""
    with crt.store.write() as s:
        b = s.scalars(select(CampaignBatchRow).where(CampaignBatchRow.campaign_id == cid)
                      .order_by(CampaignBatchRow.seq)).first()
        assert b is not None
        s.execute(update(CampaignBatchRow).where(CampaignBatchRow.id == b.id).values(state="running"))
        return list(b.device_ids)


def test_a_batch_is_written_only_while_its_campaign_runs_and_only_as_dispatched(crt: Any) -> None:
    svc = Campaigns(crt)
    st = approved(crt, svc)
    cid, pid = st["id"], st["proposal"]["id"]
    targets = crt.lifecycle.get(pid).targets
    with pytest.raises(ObligationUnmet, match="is created"):  # approved, never started
        crt.lifecycle.apply_batch(pid, targets[:2], who(crt, "remediator"))
    svc.start(cid, who(crt, "dave"))
    batch = _running_batch(crt, cid)
    with crt.store.read() as s:
        from campaigns.schema import CampaignDeviceRow

        later = s.scalar(select(CampaignDeviceRow.device_id).where(CampaignDeviceRow.campaign_id == cid,
                                                                     CampaignDeviceRow.ring > 0).limit(1))
        ring0 = list(s.scalars(select(CampaignDeviceRow.device_id).where(CampaignDeviceRow.campaign_id == cid,
                                                                          CampaignDeviceRow.ring == 0)))
    with pytest.raises(ObligationUnmet, match="is at ring 0"):
        crt.lifecycle.apply_batch(pid, [later], who(crt, "remediator"))
    undispatched = [d for d in ring0 if d not in batch]
    if undispatched:
        with pytest.raises(ObligationUnmet, match="not a batch campaign"):
            crt.lifecycle.apply_batch(pid, undispatched[:1], who(crt, "remediator"))
    svc.pause(cid, who(crt, "dave"), "look first")
    with pytest.raises(ObligationUnmet, match="is paused"):
        crt.lifecycle.apply_batch(pid, batch, who(crt, "remediator"))
    assert sum(writes(crt, pid).values()) == 0


def test_each_batch_needs_the_clean_rehearsal_of_the_content_it_writes(crt: Any, tmp_path: Path) -> None:
    """Policy's rehearsal obligation is held by the gate at every batch, not only at start: a
    rehearsal stored for other content (an edit voids it) stops the next batch."""
    import policies
    from policies.engine import EmbeddedRegoEngine

    data_dir = tmp_path / "data"
    shutil.copytree(Path(policies.__file__).parent / "data", data_dir)
    rollout = json.loads((data_dir / "rollout.json").read_text())
    (data_dir / "rollout.json").write_text(json.dumps({**rollout, "rehearsal_min_targets": 10}))
    crt.lifecycle.policy = EmbeddedRegoEngine(data_dir=str(data_dir))
    svc = Campaigns(crt)
    st = approved(crt, svc)
    cid, pid = st["id"], st["proposal"]["id"]
    from gateward.seed import take_snapshots

    take_snapshots(crt, crt.lifecycle.get(pid).targets)  # this fleet was seeded without trees to rehearse on
    report = svc.rehearse(cid, who(crt, "bob"))
    assert report["clean"], report
    svc.start(cid, who(crt, "dave"))
    batch = _running_batch(crt, cid)
    with crt.store.write() as s:  # the stored rehearsal is of other content than the proposal now holds
        row = s.get(CampaignRow, cid)
        assert row is not None
        row.plan = {**row.plan, "rehearsal": {**row.plan["rehearsal"], "hash": "0" * 64}}
    with pytest.raises(ObligationUnmet, match="needs a clean rehearsal"):
        crt.lifecycle.apply_batch(pid, batch, who(crt, "remediator"))
    assert sum(writes(crt, pid).values()) == 0
    with crt.store.write() as s:
        row = s.get(CampaignRow, cid)
        assert row is not None
        row.plan = {**row.plan, "rehearsal": {**row.plan["rehearsal"], "hash": crt.lifecycle.get(pid).hash}}
    out = crt.lifecycle.apply_batch(pid, batch, who(crt, "remediator"))
    assert sorted(out.verified) == sorted(batch)


def test_an_edit_shows_the_new_content_on_the_campaign_and_voids_its_rehearsal(crt: Any) -> None:
    """The campaign's own record follows the edit: its page's change, its rehearsal marked void with
    who edited, and one trail event for the approvers naming both hashes and the new change."""
    from gateward.seed import take_snapshots

    svc = Campaigns(crt)
    st = approved(crt, svc)
    cid, pid = st["id"], st["proposal"]["id"]
    before = crt.lifecycle.get(pid)
    take_snapshots(crt, before.targets)
    svc.rehearse(cid, who(crt, "bob"))
    edited = crt.lifecycle.edit(pid, ProposalDraft(intent=before.intent, targets=list(before.targets),
                                                    changes=[Change(path=PATH, value=True)], emergency=True),
                                who(crt, "dave"))
    assert edited.staged and edited.hash != before.hash
    with crt.store.read() as s:
        row = s.get(CampaignRow, cid)
        assert row is not None
        assert [(c["path"], c["value"]) for c in row.spec["changes"]] == [(PATH, True)]
        assert row.spec["operations"] == []
        assert "edited by dave" in row.plan["rehearsal"]["void"]
        event = s.scalars(select(AuditEventRow).where(AuditEventRow.proposal_id == pid,
                                                      AuditEventRow.action == "campaign.proposal_edited")).one()
    assert event.actor == "dave" and event.data["campaign"] == cid
    assert (event.data["old_hash"], event.data["new_hash"]) == (before.hash, edited.hash)
    assert event.data["rehearsal"] == "void" and [c["value"] for c in event.data["changes"]] == [True]
    assert not svc.rehearsal_of(cid)["current"]  # the stored rehearsal is of the content before


def test_the_targets_of_a_campaign_s_proposal_cannot_be_edited(crt: Any) -> None:
    from core.kernel.errors import Conflict

    svc = Campaigns(crt)
    st = approved(crt, svc)
    pid = st["proposal"]["id"]
    before = crt.lifecycle.get(pid)
    with pytest.raises(Conflict, match="ring plan"):
        crt.lifecycle.edit(pid, ProposalDraft(intent=before.intent, targets=list(before.targets)[:-1],
                                              changes=[Change(path=PATH, value=True)], emergency=True),
                           who(crt, "dave"))
    assert crt.lifecycle.get(pid).hash == before.hash


def test_admission_reads_only_its_own_campaign_s_plan_and_running_batches(crt: Any) -> None:
    """The campaign's side of the gate, asked directly: the ring plan and the dispatched batches are its
    own campaign's (another campaign's running batch admits nothing), a queued or finished batch is not
    a dispatch, a device outside the plan is named, and a rehearsal the decision demands is required
    even when the campaign's plan did not record one."""
    from campaigns.admission import CampaignAdmission
    from core.staging import StageDemand

    svc = Campaigns(crt)
    st = approved(crt, svc)
    cid, pid = st["id"], st["proposal"]["id"]
    svc.start(cid, who(crt, "dave"))
    batch = _running_batch(crt, cid)
    p = crt.lifecycle.get(pid)
    gate = CampaignAdmission()
    with crt.store.read() as s:
        gate.admit(s, p, batch, StageDemand(stages=True))  # its own running batch, ring 0: admitted
        assert gate.governs(s, pid) and not gate.governs(s, "p-none")
        assert gate._dispatched(s, cid, batch) and not gate._dispatched(s, "c-other", batch)
        with pytest.raises(ObligationUnmet, match=r"^000000-NOT-A-TARGET is not in campaign"):
            gate.admit(s, p, ["000000-NOT-A-TARGET"], StageDemand())
        with pytest.raises(ObligationUnmet, match="needs a clean rehearsal"):
            gate.admit(s, p, batch, StageDemand(rehearsal=True))
    with crt.store.write() as s:
        s.execute(update(CampaignBatchRow).where(CampaignBatchRow.campaign_id == cid).values(state="queued"))
    with crt.store.read() as s, pytest.raises(ObligationUnmet, match="not a batch campaign"):
        gate.admit(s, p, batch, StageDemand())
    with crt.store.write() as s:
        s.execute(update(CampaignBatchRow).where(CampaignBatchRow.campaign_id == cid).values(state="done"))
    with crt.store.read() as s, pytest.raises(ObligationUnmet, match="not a batch campaign"):
        gate.admit(s, p, batch, StageDemand())


def test_an_edit_of_a_campaign_never_rehearsed_says_there_was_nothing_to_void(crt: Any) -> None:
    svc = Campaigns(crt)
    st = approved(crt, svc)
    pid = st["proposal"]["id"]
    before = crt.lifecycle.get(pid)
    crt.lifecycle.edit(pid, ProposalDraft(intent=before.intent, targets=list(before.targets),
                                          changes=[Change(path=PATH, value=True)], emergency=True), who(crt, "dave"))
    with crt.store.read() as s:
        event = s.scalars(select(AuditEventRow).where(AuditEventRow.proposal_id == pid,
                                                      AuditEventRow.action == "campaign.proposal_edited")).one()
        row = s.get(CampaignRow, st["id"])
        assert row is not None and "rehearsal" not in row.plan
    assert event.data["rehearsal"] == "none"
