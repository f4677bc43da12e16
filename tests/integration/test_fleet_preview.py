"""Fleet-scale previews: above LIVE_PREVIEW_MAX targets the preview diffs against stored snapshots,
summarises per class and reads a live sample; policy still sees every device."""

from __future__ import annotations

from typing import Any

from core.models import Change, ProposalDraft, ProposalState
from core.store import repo
from tests.integration.test_lifecycle import who


def test_snapshot_preview_summarises_classes(runtime: Any) -> None:
    with runtime.store.read() as s:
        devs, _ = repo.list_devices(s, limit=1000)
    tr181 = [d for d in devs if str(d.root) == "Device."]
    p = runtime.lifecycle.create(ProposalDraft(intent="hide SSID", targets=[d.id for d in tr181], staged=True,
                                               changes=[Change(path="Device.WiFi.AccessPoint.1.SSIDAdvertisementEnabled",
                                                               value=False)]), who(runtime, "bob"))
    runtime.lifecycle.validate(p.id)
    runtime.lifecycle.preview(p.id, source="snapshot")
    preview = runtime.lifecycle.preview_of(p.id)
    assert preview["source"] == "snapshot" and preview["devices_total"] == len(tr181)
    assert sum(c["count"] for c in preview["classes"]) == len(tr181)
    line = preview["classes"][0]["lines"][0]
    assert line["path"].endswith("SSIDAdvertisementEnabled") and line["after"] is False
    assert sum(line["before"].values()) == preview["classes"][0]["count"]
    doc = runtime.lifecycle.policy_input(p.id)
    assert len(doc["devices"]) == len(tr181)
    assert all(d["radios"] for d in doc["devices"])  # facts from snapshots, not just the live sample
    decision = runtime.lifecycle.decide(p.id)
    assert decision.allow, decision.deny
    assert runtime.lifecycle.get(p.id).state in (ProposalState.APPROVED, ProposalState.AWAITING_APPROVAL)
