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


def test_one_pass_preview_counts_every_value_as_the_snapshots_hold_them(store: Any) -> None:
    """core.fleet_facts.preview_facts reads every changed path in one pass (one parse per snapshot
    on SQLite): the distributions, missing and stale counts must be what the stored snapshots say,
    for one path and for several (a boolean, a number and a secret among them)."""
    from collections import Counter
    from datetime import timedelta

    from sqlalchemy import select, update

    from core.fleet_facts import preview_facts
    from core.models import utcnow
    from core.store.schema import DeviceRow, ParameterSnapshotRow, ProposalRow
    from testing.bulk_fleet import seed_bulk_fleet

    seed_bulk_fleet(store, 300)
    with store.write() as s:
        ids = list(s.scalars(select(DeviceRow.id).order_by(DeviceRow.id)))
        s.execute(update(DeviceRow).where(DeviceRow.id.in_(ids[:7])).values(last_seen=utcnow() - timedelta(days=3)))
        snaps = {r.device_id: r.params for r in s.scalars(select(ParameterSnapshotRow))}
        s.execute(ParameterSnapshotRow.__table__.delete().where(ParameterSnapshotRow.device_id.in_(ids[-5:])))
        now = utcnow()
        s.add(ProposalRow(id="p-facts", author="bob", author_kind="human", intent="facts", targets=ids, changes=[],
                          state="validated", hash="h", created_at=now, updated_at=now))
        s.flush()
        repo.add_targets(s, "p-facts", ids)
        classes = {(d.id): (d.vendor, d.model, d.firmware) for d in s.scalars(select(DeviceRow))}
    auto, chan = "Device.WiFi.Radio.2.AutoChannelEnable", "Device.WiFi.Radio.2.Channel"
    for changes in ([(chan, 36, False)], [(auto, False, False), (chan, 36, False),
                                          ("Device.WiFi.AccessPoint.1.Security.KeyPassphrase", "x", True)]):
        with store.read() as s:
            facts = preview_facts(s, "p-facts", changes)
        assert (facts.missing, facts.stale) == (5, 7)
        assert sum(c["count"] for c in facts.classes) == 300
        for cls in facts.classes:
            members = [i for i in ids if classes[i] == (cls["vendor"], cls["model"], cls["firmware"])]
            assert cls["count"] == len(members)
            for line, (path, _, secret) in zip(cls["lines"], changes, strict=True):
                if secret:
                    assert line["before"] == {"********": len(members)}
                    continue
                held = Counter(snaps[i][path]["value"] if i in snaps and i not in ids[-5:] else None for i in members)
                assert line["before"] == {_as_sql_reads(store, v): n for v, n in held.most_common(5)}


def _as_sql_reads(store: Any, value: Any) -> str:
    """The key a preview distribution gives a stored JSON value: the repr of what the database's
    JSON extraction returns (SQLite: the value, a boolean as 1/0; PostgreSQL ``->>``: its text)."""
    if value is None:
        return repr(None)
    if store.dialect == "postgresql":
        return repr(("true" if value else "false") if isinstance(value, bool) else str(value))
    return repr(int(value) if isinstance(value, bool) else value)
