"""A fleet gate walks its targets once (``core.fleet_pass``, issue 60.2): validation, the sampled
snapshot preview and the decision each coarsen one grouping pass over the targets, and decide exactly
as they did each with a pass of its own — counts, classes, the verdict and its reasons.

The pass is reused only for the same proposal content, in this process, while fresh: an edit, a pass
older than ``MAX_AGE_S`` or a device shared with another live proposal takes a pass of its own."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert, update

import core.preview_sample as ps
from core import fleet_pass
from core.kernel.config import Settings
from core.kernel.models import Change, ProposalDraft, Selector, utcnow
from core.store.schema import DeviceEventRow, DeviceRow
from core.users import get_actor
from gateward.runtime import Runtime, build_runtime
from testing.bulk_fleet import seed_bulk_fleet

CHANGES = [Change(path="Device.WiFi.Radio.2.AutoChannelEnable", value=False),
           Change(path="Device.WiFi.Radio.2.Channel", value=36)]


@pytest.fixture
def rt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    runtime = build_runtime(Settings(database_url=f"sqlite:///{tmp_path / 'fleet.db'}", policy_timeout_ms=60_000))
    seed_bulk_fleet(runtime.store, 1_300, seed=4)  # above FLEET_MIN: every step of the gate groups
    rng = random.Random(2)
    now = utcnow()
    with runtime.store.write() as s:  # reboots and stale devices: classes of their own
        ids = sorted(s.scalars(DeviceRow.__table__.select().with_only_columns(DeviceRow.id)))
        s.execute(insert(DeviceEventRow), [{"device_id": d, "ts": now - timedelta(hours=2), "kind": "boot", "data": {}}
                                           for d in rng.sample(ids, 40) for _ in range(4)])
        s.execute(update(DeviceRow).where(DeviceRow.id.in_(rng.sample(ids, 30)))
                  .values(last_seen=now - timedelta(days=2)))
    # Above this many targets the preview samples its before values and reads no document in its
    # pass, as at a million (a thousand-device fleet reads every document: a pass of its own).
    monkeypatch.setattr(ps, "VALUES_EXACT_UP_TO", 500)
    yield runtime
    runtime.close()


class Passes:
    """The statements that group a proposal's targets by their devices' facts, as SQLite ran them (a key
    per target: ``core.fleet_group``). A search for a few of them (the stale ones) is not a grouping."""

    def __init__(self, rt: Runtime) -> None:
        self.sql: list[str] = []
        held = rt.store._held  # the connection writes are kept on (core.store.db): opened again, traced
        if held is not None:
            held.close()
            rt.store._held = None
        for engine in {rt.store.engine, rt.store._write_engine}:
            event.listen(engine, "connect", lambda conn, _: conn.set_trace_callback(self.sql.append))
            engine.dispose()  # every connection from now on is traced

    def count(self) -> int:
        walks = [q for q in self.sql if q.lstrip().startswith(("SELECT", "WITH"))
                 and "proposal_devices.proposal_id = " in q and "json_array(devices.vendor" in q]
        self.sql.clear()
        return len(walks)


def _gate(rt: Runtime) -> tuple[Any, dict[str, Any], Any]:
    dave = get_actor(rt.store, "dave")
    p = rt.lifecycle.create(ProposalDraft(intent="channel plan", selector=Selector(), staged=True, changes=CHANGES),
                            dave)
    rt.lifecycle.validate(p.id, dave)
    rt.lifecycle.preview(p.id, dave, source="snapshot")
    return p, rt.lifecycle.preview_of(p.id) or {}, rt.lifecycle.decide(p.id, dave, dry_run=True)


def test_a_fleet_gate_walks_its_targets_once(rt: Runtime) -> None:
    passes = Passes(rt)
    p, preview, _ = _gate(rt)
    assert len(p.targets) == 1_300 and any(c.get("sampled") is not None for c in preview["classes"])
    assert passes.count() == 1  # validation's, preview's and the decision's were three


def test_the_shared_pass_decides_and_counts_as_a_pass_of_each_step_own(rt: Runtime,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    p, shared_preview, shared = _gate(rt)
    stored = rt.lifecycle.policy_input(p.id)
    with rt.store.read() as s:
        from core.store import repo

        shared_input = repo.latest_decision(s, p.id, include_dry_run=True).input  # type: ignore[union-attr]
    rt.lifecycle.cancel(p.id, get_actor(rt.store, "dave"), "next run")  # no longer live: the next overlaps nothing
    monkeypatch.setattr(fleet_pass, "MAX_AGE_S", -1.0)  # nothing kept is fresh: each step its own pass
    passes = Passes(rt)
    q, own_preview, own = _gate(rt)
    assert passes.count() == 3
    with rt.store.read() as s:
        own_input = repo.latest_decision(s, q.id, include_dry_run=True).input  # type: ignore[union-attr]

    def counts(pv: dict[str, Any]) -> list[tuple[Any, ...]]:
        return sorted((c["vendor"], c["model"], c["firmware"], c["count"], c["no_snapshot"]) for c in pv["classes"])

    assert counts(shared_preview) == counts(own_preview)
    assert shared_preview["uncovered"] == own_preview["uncovered"]
    assert sorted(shared_preview["absent"]) == sorted(own_preview["absent"]) and len(own_preview["absent"]) == 30
    assert (shared.allow, sorted(shared.deny), shared.risk, shared.obligations) == \
        (own.allow, sorted(own.deny), own.risk, own.obligations)
    assert [(a.role, a.reason) for a in shared.approvals_required] == \
        [(a.role, a.reason) for a in own.approvals_required]
    assert shared_input["classes"] == own_input["classes"] > 8  # the rebooting and stale devices' classes too

    def sizes(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
        return sorted((d["vendor"], d["model"], d["firmware"], d["region"], d["present"], d["reboots_24h"] >= 3,
                       d["class_size"]) for d in doc["devices"])

    assert sizes(shared_input) == sizes(own_input)
    # The live sample is decided on its own facts, out of the classes: every target counted once.
    assert sum(d["class_size"] for d in shared_input["devices"]) + len(shared_preview["devices"]) == len(p.targets)
    assert "facts_read_at" in shared_input and stored["proposal"]["target_count"] == len(p.targets)


def test_an_edit_or_a_device_shared_with_another_live_proposal_takes_a_pass_of_its_own(rt: Runtime) -> None:
    dave = get_actor(rt.store, "dave")
    passes = Passes(rt)
    p = rt.lifecycle.create(ProposalDraft(intent="channel plan", selector=Selector(), staged=True, changes=CHANGES),
                            dave)
    rt.lifecycle.validate(p.id, dave)
    # Another live proposal now shares a device with it, outside the preview's live sample: the
    # decision reads that device's context on its own, and the classes without it need a pass.
    outside = next(t for t in p.targets if t not in fleet_pass.sample_ids(p.targets))
    rt.lifecycle.create(ProposalDraft(intent="other", targets=[outside], changes=[CHANGES[1]]), dave)
    rt.lifecycle.preview(p.id, dave, source="snapshot")
    rt.lifecycle.decide(p.id, dave, dry_run=True)
    assert passes.count() == 2  # validation's (shared by the preview), the decision's own
    edited = rt.lifecycle.edit(p.id, ProposalDraft(intent="channel plan, 40", selector=Selector(), staged=True,
                                                   changes=[CHANGES[0], Change(path=CHANGES[1].path, value=40)]), dave)
    rt.lifecycle.validate(edited.id, dave)
    assert edited.hash != p.hash and passes.count() == 1  # the new content's own
