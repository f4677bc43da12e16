"""The campaign series of ``/metrics`` (issue 36) count a running campaign's devices by what
happened to each: ``gateward_campaign_devices{state}`` (``verified`` for a canary device that held,
``pending`` for those not reached yet) and ``gateward_campaigns{state}``; counted from the store."""

from __future__ import annotations

from typing import Any

from tests.campaigns.helpers import approved, drive, who


def test_campaign_devices_by_execution_status(crt: Any, svc: Any) -> None:
    from api.fleet_metrics import FleetCollector

    st = approved(crt, svc, promotion={"mode": "manual"})
    svc.start(st["id"], who(crt, "dave"))
    out = drive(svc, st["id"])  # the canary runs, then waits for a person to promote it
    verified = out["rings_detail"][0]["verified"]
    total = sum(r["size"] for r in out["rings_detail"])
    counts = FleetCollector(crt.store, cache_s=0).read()
    assert counts is not None
    assert counts["campaigns"].get(out["state"]) == 1.0
    devices = counts["campaign_devices"]
    assert devices.get("verified") == verified and verified > 0
    assert devices.get("pending") == total - verified
    assert sum(devices.values()) == total
