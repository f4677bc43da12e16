"""The policy input's history facts (``reboots_24h``, ``failed_changes_7d``) are read in one
statement (``repo.history_counts_bulk``, issue 15). Held here to what each count means: only the
asked kind of event, only inside its window, only the failed outcomes, per device, and nothing for
a device with no history."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.kernel.ids import new_id
from core.kernel.models import Change, ProposalDraft, utcnow
from core.store import repo
from core.store.schema import DeviceEventRow, ExecutionRow
from core.users import get_actor


def test_history_counts_per_device_kind_window_and_outcome(runtime: Any) -> None:
    rt = runtime
    with rt.store.read() as s:
        a, b, c = sorted(d.id for d in repo.list_devices(s)[0])[:3]
    alice = get_actor(rt.store, "alice")
    draft = ProposalDraft(intent="history", targets=[a], changes=[Change(path="Device.WiFi.Radio.1.Channel", value=6)])
    now = utcnow()
    day = now - timedelta(hours=24)
    with rt.store.read() as s:  # the seeded fleet has a history of its own
        (e0, f0), (w0, _) = (repo.history_counts_bulk(s, [a, b, c], "boot", day),
                             repo.history_counts_bulk(s, [a, b, c], "wifi_drop", day))
    pids = [rt.lifecycle.create(draft, alice).id for _ in range(6)]  # one execution a proposal and device
    with rt.store.write() as s:
        for dev, kind, age_h in ((a, "boot", 1), (a, "boot", 23), (a, "boot", 25), (a, "wifi_drop", 1),
                                 (b, "boot", 2)):
            s.add(DeviceEventRow(device_id=dev, ts=now - timedelta(hours=age_h), kind=kind, data={}))
        for dev, status, age_d in ((a, "failed", 1), (a, "rolled_back", 6), (a, "verified", 1),
                                   (a, "verify_failed", 8), (c, "rollback_failed", 2), (c, "verify_failed", 3)):
            s.add(ExecutionRow(id=new_id("x"), proposal_id=pids.pop(), device_id=dev, status=status, key=new_id("k"),
                               detail={}, started_at=now - timedelta(days=age_d)))
    with rt.store.read() as s:
        events, failed = repo.history_counts_bulk(s, [a, b, c], "boot", day)
        wifi, _ = repo.history_counts_bulk(s, [a, b, c], "wifi_drop", day)
    # the 25-hour-old boot and the other kind are not counted; verified is no failure; 8 days is
    # outside the week
    added_events = {k: events.get(k, 0) - e0.get(k, 0) for k in (a, b, c)}
    added_failed = {k: failed.get(k, 0) - f0.get(k, 0) for k in (a, b, c)}
    assert added_events == {a: 2, b: 1, c: 0}
    assert added_failed == {a: 2, b: 0, c: 2}
    assert {k: wifi.get(k, 0) - w0.get(k, 0) for k in (a, b, c)} == {a: 1, b: 0, c: 0}
    assert all(n > 0 for n in (*events.values(), *failed.values()))  # a device with none is absent
    with rt.store.read() as s:
        assert repo.history_counts_bulk(s, [], "boot", now) == ({}, {})
