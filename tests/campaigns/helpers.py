"""Shared helpers for campaign tests: define-and-approve, drive the state machine inline, count
device writes from the twin's own log."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
from sqlalchemy import select

from campaigns.orchestrator import ABORTING, TERMINAL
from campaigns.schema import CampaignBatchRow, CampaignRow
from campaigns.service import Campaigns
from core.kernel.models import ProposalState
from core.users import get_actor

PATH = "Device.WiFi.AccessPoint.1.SSIDAdvertisementEnabled"


def who(rt: Any, name: str) -> Any:
    return get_actor(rt.store, name)


def approved(rt: Any, svc: Campaigns, **overrides: Any) -> dict[str, Any]:
    """Create a campaign (emergency, so the change window of the hour does not matter) and have
    the humans policy asks for approve its proposal."""
    spec: dict[str, Any] = {"name": "hide ssid", "target": {"all_fleet": True}, "emergency": True,
                            "changes": [{"path": PATH, "value": False}], "sweep_delay_s": 0,
                            "promotion": {"mode": "auto", "pause_s": 0},
                            "rate": {"initial_batch": 4, "max_batch": 16, "max_window": 4}}
    spec.update(overrides)
    st = svc.create(spec, who(rt, "dave"))
    pid = st["proposal"]["id"]
    for name in ("carol", "bob"):
        if rt.lifecycle.get(pid).state is ProposalState.AWAITING_APPROVAL:
            rt.lifecycle.approve(pid, who(rt, name))
    assert rt.lifecycle.get(pid).state is ProposalState.APPROVED, rt.lifecycle.get(pid).error
    return st


def drive(svc: Campaigns, cid: str, *, rounds: int = 400, until: Any = None) -> dict[str, Any]:
    """Run the campaign with no queue: take steps and run queued batches inline, the way workers
    would, until it finishes, pauses, waits for a person, or ``until(status)`` says so."""
    orch = svc.orch
    for _ in range(rounds):
        orch.step(cid)
        with svc.store.read() as s:
            c = s.get(CampaignRow, cid)
            assert c is not None
            state, ring_state = c.state, c.ring_state
            queued = list(s.scalars(select(CampaignBatchRow.id).where(
                CampaignBatchRow.campaign_id == cid, CampaignBatchRow.state == "queued")
                .order_by(CampaignBatchRow.seq)))
        st = svc.status(cid)
        if until is not None and until(st):
            return st
        if state in TERMINAL or state == "paused":
            return st
        if state == ABORTING:
            orch.run_rollback(cid)
            continue
        if not queued and ring_state == "waiting" and st["spec"]["promotion"]["mode"] == "manual":
            return st
        for bid in queued:
            orch.run_batch(bid)
    raise AssertionError(f"campaign {cid} did not settle: {svc.status(cid)['state']}")


def writes(rt: Any, key: str) -> Counter[str]:
    """Device writes per device for one idempotency key, from the twin's event log (the truth of
    what reached a device)."""
    from executors.sim.twin import sim_events
    from gateward.seed import twin_for

    twin = twin_for(rt)
    out: Counter[str] = Counter()
    with twin.engine.connect() as conn:
        for dev, data in conn.execute(select(sim_events.c.device_id, sim_events.c.data).where(
                sim_events.c.kind == "set")):
            if orjson.loads(data).get("key") == key:
                out[dev] += 1
    return out


def value(rt: Any, device_id: str, path: str = PATH) -> Any:
    from core.store import repo

    with rt.store.read() as s:
        d = repo.get_device(s, device_id)
    return rt.router.reader(d).read(d, [path])[path].value
