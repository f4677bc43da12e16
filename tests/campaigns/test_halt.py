"""Halting: a pause that commits while a batch is writing stops the next device write. Devices
changed after the halt are at most the one whose write had begun (in flight), and no write was
admitted after the halt committed (``late_admissions`` == 0)."""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson
from sqlalchemy import select

from campaigns.schema import CampaignBatchRow, CampaignDeviceRow, CampaignRow
from tests.campaigns.helpers import approved, drive, who


def test_pause_stops_a_running_batch_before_its_next_write(crt: Any, svc: Any) -> None:
    from executors.sim.twin import sim_events
    from gateward.seed import twin_for

    st = approved(crt, svc, promotion={"mode": "manual"}, rate={"initial_batch": 40, "max_batch": 40})
    cid, pid = st["id"], st["proposal"]["id"]
    with crt.store.read() as s:
        canary = list(s.scalars(select(CampaignDeviceRow.device_id).where(
            CampaignDeviceRow.campaign_id == cid, CampaignDeviceRow.ring == 0)))
    twin = twin_for(crt)
    for d in canary:
        twin.inject(d, "slow", delay_s=0.15)  # every read and write of the canary takes a while
    svc.start(cid, who(crt, "dave"))
    with crt.store.read() as s:
        (bid,) = s.scalars(select(CampaignBatchRow.id).where(CampaignBatchRow.campaign_id == cid))
    runner = threading.Thread(target=svc.orch.run_batch, args=(bid,))
    runner.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the batch is writing devices
        with twin.engine.connect() as conn:
            n = sum(1 for (data,) in conn.execute(select(sim_events.c.data).where(sim_events.c.kind == "set"))
                    if orjson.loads(data).get("key") == pid)
        if n >= 1:
            break
        time.sleep(0.05)
    svc.pause(cid, who(crt, "alice"), "halt test")
    runner.join(60)
    with crt.store.read() as s:
        c = s.get(CampaignRow, cid)
        b = s.get(CampaignBatchRow, bid)
    assert c is not None and b is not None and c.halted_at is not None
    assert b.state == "halted" and b.n_halted > 0 and b.late_admissions == 0
    halt_ts = c.halted_at.timestamp()
    with twin.engine.connect() as conn:
        after = [r.ts for r in conn.execute(select(sim_events.c.ts, sim_events.c.data).where(
            sim_events.c.kind == "set")) if orjson.loads(r.data).get("key") == pid and r.ts > halt_ts]
    assert len(after) <= 1  # only the write already under way when the pause committed
    for d in canary:
        twin.clear(d)
    svc.resume(cid, who(crt, "carol"))
    out = drive(svc, cid)
    assert out["rings_detail"][0]["verified"] == len(canary)  # the halted devices ran after the resume


def test_the_halt_read_sees_a_pause_and_survives_deallocated_statements(crt: Any, svc: Any) -> None:
    """The per-write read answers ``go`` while the campaign runs and ``stop`` as soon as a pause
    commits. On PostgreSQL it is a statement prepared on the batch's connection: one that lost its
    prepared statements (psycopg deallocates them on ROLLBACK) prepares it again and reads on."""
    from campaigns.halt import Stopper

    st = approved(crt, svc, promotion={"mode": "manual"})
    cid = st["id"]
    svc.start(cid, who(crt, "dave"))
    stop = Stopper(crt.store, cid)
    try:
        assert stop() is False and stop.state() == "running"
        if crt.store.dialect == "postgresql":
            stop._pg.exec_(b"DEALLOCATE ALL")
            assert stop() is False and stop.state() == "running"
        svc.pause(cid, who(crt, "alice"), "halt test")
        assert stop.state() == "paused" and stop() is True
        assert len(stop.gos) == (2 if crt.store.dialect == "postgresql" else 1)  # every "go" is timestamped
    finally:
        stop.close()
    unknown = Stopper(crt.store, "no-such-campaign")
    try:
        assert unknown.state() is None and unknown() is True
    finally:
        unknown.close()
