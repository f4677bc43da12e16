"""Fleet-scale previews: above LIVE_PREVIEW_MAX targets the preview diffs against stored snapshots,
summarises per class and reads a live sample; policy still sees every device."""

from __future__ import annotations

from typing import Any

from core.kernel.models import Change, ProposalDraft, ProposalState
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
    from core.kernel.models import utcnow
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


def _fleet_proposal(store: Any, n: int, pid: str) -> tuple[list[str], dict[str, Any], dict[str, tuple[str, str, str]]]:
    """``n`` bulk devices, one of them rare firmware (12 devices), 5 without a snapshot and 7 stale,
    all targeted by a validated proposal ``pid``: (ids, snapshot documents, class of each id)."""
    from datetime import timedelta

    from sqlalchemy import select, update

    from core.kernel.models import utcnow
    from core.store.schema import DeviceRow, ParameterSnapshotRow, ProposalRow
    from testing.bulk_fleet import seed_bulk_fleet

    seed_bulk_fleet(store, n)
    with store.write() as s:
        ids = list(s.scalars(select(DeviceRow.id).order_by(DeviceRow.id)))
        one_model = list(s.scalars(select(DeviceRow.id).where(DeviceRow.model == s.get(DeviceRow, ids[0]).model)
                                   .order_by(DeviceRow.id)))
        s.execute(update(DeviceRow).where(DeviceRow.id.in_(one_model[3::4][:12])).values(firmware="RARE-1.0"))
        s.execute(update(DeviceRow).where(DeviceRow.id.in_(ids[:7])).values(last_seen=utcnow() - timedelta(days=3)))
        s.execute(ParameterSnapshotRow.__table__.delete().where(ParameterSnapshotRow.device_id.in_(ids[-5:])))
        snaps = {r.device_id: r.params for r in s.scalars(select(ParameterSnapshotRow))}
        now = utcnow()
        s.add(ProposalRow(id=pid, author="bob", author_kind="human", intent="facts", targets=ids, changes=[],
                          state="validated", hash="h", created_at=now, updated_at=now))
        s.flush()
        repo.add_targets(s, pid, ids)
        classes = {d.id: (d.vendor, d.model, d.firmware) for d in s.scalars(select(DeviceRow))}
    return ids, snaps, classes


def test_sampled_preview_counts_stay_exact_and_values_come_from_the_drawn_targets(store: Any) -> None:
    """Above the exact limit the before values come from a seeded random draw of the targets
    (core.preview_sample): every class's count, no-snapshot and the stale total must still be
    exact; each class must say how many targets its values hold and that they are a sample; the
    distributions must be exactly those of the drawn targets; and a class the draw barely touched
    is read whole."""
    from collections import Counter

    from core.fleet_facts import preview_facts
    from core.preview_sample import draw

    ids, snaps, classes = _fleet_proposal(store, 600, "p-sample")
    auto, chan = "Device.WiFi.Radio.2.AutoChannelEnable", "Device.WiFi.Radio.2.Channel"
    changes = [(auto, False, False), (chan, 36, False), ("Device.WiFi.AccessPoint.1.Security.KeyPassphrase", "x", True)]
    with store.read() as s:
        exact = preview_facts(s, "p-sample", changes, target_ids=ids)  # 600 ≤ the default limit: every document
        sampled = preview_facts(s, "p-sample", changes, target_ids=ids, exact_up_to=100, size=120, class_min=5,
                                budget=20)
        again = preview_facts(s, "p-sample", changes, target_ids=ids, exact_up_to=100, size=120, class_min=5,
                              budget=20)
    assert all("sampled" not in c for c in exact.classes)
    assert (sampled.missing, sampled.stale) == (exact.missing, exact.stale) == (5, 7)
    by_key = {(c["vendor"], c["model"], c["firmware"]): c for c in exact.classes}
    assert {(c["vendor"], c["model"], c["firmware"]) for c in sampled.classes} == set(by_key)
    drawn = set(draw("p-sample", ids, 120))
    assert len(drawn) == 120
    rare = next(k for k in by_key if k[2] == "RARE-1.0")
    for cls in sampled.classes:
        key = (cls["vendor"], cls["model"], cls["firmware"])
        assert (cls["count"], cls["no_snapshot"]) == (by_key[key]["count"], by_key[key]["no_snapshot"])
        members = [i for i in ids if classes[i] == key]
        read = members if key == rare else [i for i in members if i in drawn]
        assert cls["values_read"] == len(read)
        assert cls["sampled"] is (len(read) < len(members))
        for line, (path, _, secret) in zip(cls["lines"], changes, strict=True):
            if secret:  # never read: counted over the whole class
                assert line["before"] == {"********": len(members)}
                continue
            held = Counter(snaps[i][path]["value"] if i in snaps else None for i in read)
            assert line["before"] == {_as_sql_reads(store, v): n for v, n in held.most_common(5)}
    assert next(c for c in sampled.classes if c["firmware"] == "RARE-1.0")["sampled"] is False  # read whole
    assert sum(c["sampled"] for c in sampled.classes) >= 1
    assert sampled.classes == again.classes  # the same proposal draws the same targets


def test_thin_classes_are_read_whole_only_within_the_budget(store: Any) -> None:
    """A class the draw barely touched is read whole only while its documents fit the budget: with
    no budget it keeps what the draw read, and still says it is a sample."""
    from core.fleet_facts import preview_facts

    ids, _, _ = _fleet_proposal(store, 300, "p-thin")
    changes = [("Device.WiFi.Radio.2.Channel", 36, False)]
    with store.read() as s:
        none = preview_facts(s, "p-thin", changes, target_ids=ids, exact_up_to=10, size=30, class_min=50, budget=0)
        some = preview_facts(s, "p-thin", changes, target_ids=ids, exact_up_to=10, size=30, class_min=50, budget=12)
    rare_none = next(c for c in none.classes if c["firmware"] == "RARE-1.0")
    rare_some = next(c for c in some.classes if c["firmware"] == "RARE-1.0")
    assert rare_none["values_read"] < rare_none["count"] == 12 and rare_none["sampled"] is True
    assert rare_some["values_read"] == 12 and rare_some["sampled"] is False
    assert all(c["sampled"] for c in some.classes if c["firmware"] != "RARE-1.0")  # 12 fit, nothing larger did


def test_lifecycle_fleet_preview_says_its_values_are_sampled_and_policy_decides_as_before(
        runtime: Any, monkeypatch: Any) -> None:
    """Through the lifecycle: a fleet preview over more targets than the exact limit carries the
    sampled classes (counts exact, ``values_read``), and the decision is the one the exact preview
    gets — policy reads neither distribution."""
    import core.preview_sample as ps

    with runtime.store.read() as s:
        devs, _ = repo.list_devices(s, limit=1000)
    tr181 = [d.id for d in devs if str(d.root) == "Device."]
    changes = [Change(path="Device.WiFi.Radio.2.Channel", value=36),
               Change(path="Device.WiFi.Radio.2.AutoChannelEnable", value=False)]

    def gate() -> tuple[dict[str, Any], Any]:
        p = runtime.lifecycle.create(ProposalDraft(intent="channel plan", targets=tr181, staged=True, changes=changes),
                                     who(runtime, "bob"))
        runtime.lifecycle.validate(p.id)
        runtime.lifecycle.preview(p.id, source="snapshot")
        return runtime.lifecycle.preview_of(p.id), runtime.lifecycle.decide(p.id)

    exact, exact_decision = gate()
    monkeypatch.setattr(ps, "VALUES_EXACT_UP_TO", 5)
    monkeypatch.setattr(ps, "SAMPLE_SIZE", max(6, len(tr181) // 3))
    monkeypatch.setattr(ps, "WHOLE_BUDGET", 0)
    sampled, sampled_decision = gate()
    def counts(pv: dict[str, Any]) -> list[tuple[str, str, str, int, int]]:
        return sorted((c["vendor"], c["model"], c["firmware"], c["count"], c["no_snapshot"]) for c in pv["classes"])

    assert counts(sampled) == counts(exact)  # in whatever order each database groups them
    assert all("sampled" not in c for c in exact["classes"])
    assert sum(c["values_read"] for c in sampled["classes"]) == max(6, len(tr181) // 3)
    assert any(c["sampled"] for c in sampled["classes"])
    for c in sampled["classes"]:
        assert all(sum(ln["before"].values()) <= c["values_read"] for ln in c["lines"])
    assert sampled_decision.allow == exact_decision.allow
    assert sorted(sampled_decision.deny) == sorted(exact_decision.deny)
