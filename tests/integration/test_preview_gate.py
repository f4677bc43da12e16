"""Issue 10, defect 8: no proposal is allowed on a missing, failed or stale preview.

Policy sees how complete and how old the preview is (``proposal.preview``: source, complete,
failed, offline, age_s, not_restorable) and change.rego denies on a failed or stale one; the
lifecycle re-checks completeness at apply. A snapshot preview is complete when every target has a
full stored snapshot or was read live in its sample.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete

from core.kernel.errors import Forbidden
from core.kernel.models import Change, ProposalDraft, ProposalState, utcnow
from core.store import repo
from core.store.schema import ParameterSnapshotRow
from tests.integration.test_lifecycle import channel_change, first_not, pick, radio_5g, twin, who

S = ProposalState
PASSPHRASE = "Device.WiFi.AccessPoint.1.Security.KeyPassphrase"


def _channel_draft(d: Any, r: int, channel: int) -> ProposalDraft:
    return ProposalDraft(intent="move 5 GHz", targets=[d.id],
                         changes=[Change(path=f"Device.WiFi.Radio.{r}.AutoChannelEnable", value=False),
                                  Change(path=f"Device.WiFi.Radio.{r}.Channel", value=channel)])


def test_offline_at_preview_is_denied_not_allowed(runtime: Any) -> None:
    """The issue's case: the only preview row said "device is offline"; policy allowed it."""
    d = pick(runtime)
    r = radio_5g(runtime, d)
    draft = _channel_draft(d, r, first_not(runtime, d, r, 36, 40))
    twin(runtime).inject(d.id, "offline")
    p = runtime.lifecycle.submit(draft, who(runtime, "alice"))
    assert p.state is S.DENIED, p.state
    assert "offline at preview" in (p.error or "")
    doc = runtime.lifecycle.policy_input(p.id)
    assert doc["proposal"]["preview"]["offline"] == 1 and doc["proposal"]["preview"]["complete"] is False


def test_complete_live_preview_is_reported_to_policy(runtime: Any) -> None:
    d = pick(runtime)
    r = radio_5g(runtime, d)
    p, _ = channel_change(runtime, d, first_not(runtime, d, r, 36, 40))
    assert p.state is S.APPROVED, p.error
    facts = runtime.lifecycle.policy_input(p.id)["proposal"]["preview"]
    assert facts["source"] == "live" and facts["complete"] is True
    assert facts["failed"] == 0 and facts["offline"] == 0 and 0 <= facts["age_s"] < 600
    assert facts["not_restorable"] == [] and runtime.lifecycle.policy_input(p.id)["proposal"]["staged"] is False


def test_stale_preview_is_denied(runtime: Any) -> None:
    d = pick(runtime)
    r = radio_5g(runtime, d)
    draft = _channel_draft(d, r, first_not(runtime, d, r, 36, 40))
    lc = runtime.lifecycle
    p = lc.create(draft, who(runtime, "alice"))
    lc.validate(p.id)
    lc.preview(p.id)
    with runtime.store.write() as s:  # the preview sat for two hours before anyone asked policy
        row = repo.get_proposal_row(s, p.id)
        row.preview = {**row.preview, "taken_at": (utcnow() - timedelta(hours=2)).isoformat()}
    decision = lc.decide(p.id)
    assert not decision.allow
    assert any("the preview is stale" in x for x in decision.deny), decision.deny


def test_apply_refuses_a_preview_that_did_not_read_every_target(runtime: Any) -> None:
    """The backstop at apply: even with an allowing decision on record, a stored preview that
    failed for a target blocks the write."""
    d = pick(runtime)
    r = radio_5g(runtime, d)
    before = twin(runtime).params(d.id)[f"Device.WiFi.Radio.{r}.Channel"]
    p, _ = channel_change(runtime, d, first_not(runtime, d, r, 36, 40))
    assert p.state is S.APPROVED, p.error
    with runtime.store.write() as s:
        row = repo.get_proposal_row(s, p.id)
        rows = [{**x, "present": False, "lines": [], "error": "offline: no recent contact"}
                for x in row.preview["devices"]]
        row.preview = {**row.preview, "devices": rows}
    with pytest.raises(Forbidden, match="did not read every target"):
        runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    assert twin(runtime).params(d.id)[f"Device.WiFi.Radio.{r}.Channel"] == before
    assert runtime.lifecycle.get(p.id).state is S.APPROVED


def test_secret_change_says_before_approval_that_rollback_cannot_restore_it(runtime: Any) -> None:
    """Defect 10, before approval: per-line flag, preview warning, policy input and a policy warning."""
    d = pick(runtime)
    p = runtime.lifecycle.submit(ProposalDraft(intent="new Wi-Fi key", targets=[d.id], changes=[
        Change(path=PASSPHRASE, value="orange-kettle-harbour-9")]), who(runtime, "alice"))
    assert p.state is S.AWAITING_APPROVAL, p.error
    preview = runtime.lifecycle.preview_of(p.id)
    line = preview["devices"][0]["lines"][0]
    assert line["secret"] is True and line["restorable"] is False
    assert any(PASSPHRASE in w and "cannot restore" in w for w in preview["warnings"])
    assert runtime.lifecycle.policy_input(p.id)["proposal"]["preview"]["not_restorable"] == [PASSPHRASE]
    with runtime.store.read() as s:
        result = repo.latest_decision(s, p.id).result
    assert any("a rollback cannot restore" in w and PASSPHRASE in w for w in result["warnings"]), result["warnings"]


def _tr181_snapshot_proposal(runtime: Any) -> Any:
    with runtime.store.read() as s:
        devs, _ = repo.list_devices(s, limit=1000)
    ids = [d.id for d in devs if str(d.root) == "Device."]
    p = runtime.lifecycle.create(ProposalDraft(intent="hide SSID", targets=ids, staged=True, changes=[
        Change(path="Device.WiFi.AccessPoint.1.SSIDAdvertisementEnabled", value=False)]), who(runtime, "bob"))
    runtime.lifecycle.validate(p.id)
    return p


def test_snapshot_preview_covering_every_target_is_complete(runtime: Any) -> None:
    p = _tr181_snapshot_proposal(runtime)
    runtime.lifecycle.preview(p.id, source="snapshot")
    preview = runtime.lifecycle.preview_of(p.id)
    assert preview["completeness"]["complete"] is True and preview["uncovered"] == 0
    assert runtime.lifecycle.decide(p.id).allow


def test_snapshot_preview_with_an_unread_target_is_denied(runtime: Any) -> None:
    p = _tr181_snapshot_proposal(runtime)
    victim = p.targets[-1]
    with runtime.store.write() as s:  # one target has no stored snapshot, and the live sample cannot read it
        s.execute(delete(ParameterSnapshotRow).where(ParameterSnapshotRow.device_id == victim))
    twin(runtime).inject(victim, "offline")
    runtime.lifecycle.preview(p.id, source="snapshot")
    preview = runtime.lifecycle.preview_of(p.id)
    assert preview["uncovered"] == 1 and victim in preview["uncovered_devices"]
    decision = runtime.lifecycle.decide(p.id)
    assert not decision.allow
    assert any(f"could not read 1 of {len(p.targets)}" in x for x in decision.deny), decision.deny
