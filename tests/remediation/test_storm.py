"""Storm protection: a region returning from an outage drains at the buckets' pace — per upstream
node (PON port, its OLT) and globally — with caps on work in flight, without starving other
upstreams; a problem's ramp keeps its first proposals canary-sized; workers on the job queue
drain the same cases the inline loop does."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import insert, select

from brain.remediation import breaker
from brain.remediation.cases import NewCase, open_many
from brain.remediation.schema import RemediationCaseRow
from core.store.schema import TopologyNodeRow
from tests.remediation.conftest import Clock, FrozenClock, make_service

NO_RAMP = {"initial_batch": 25, "max_batch": 25, "factor": 2.0}


def _storm_cases(svc: Any, clock: Clock, per_port: dict[str, int]) -> None:
    with svc.store.write() as s:
        s.execute(insert(TopologyNodeRow), [
            {"id": "olt-t1", "kind": "olt", "label": "OLT t1", "parent_id": None, "attrs": {}},
            *[{"id": p, "kind": "pon_port", "label": p, "parent_id": "olt-t1", "attrs": {}} for p in per_port]])
        items = [NewCase(device_id=f"{port}-dev-{i:04d}", problem="dns_lost", kind="detector", upstream_id=port,
                         class_key="V|M|1.0|DE", evidence={"summary": "dns lost"}, last_evidence_at=clock())
                 for port, n in per_port.items() for i in range(n)]
        open_many(s, items, clock())


def _dispatched(svc: Any) -> Counter[str]:
    with svc.store.read() as s:
        return Counter(u for (u,) in s.execute(select(RemediationCaseRow.upstream_id).where(
            RemediationCaseRow.status == "dispatched")))


def test_buckets_pace_each_upstream_and_the_whole_fleet(rt: Any) -> None:
    clock = FrozenClock()  # the exact counts below are the refill of +2 s, not of the machine's pace
    storm = {"global": {"per_s": 10, "burst": 20},
             "nodes": {"pon_port": {"per_s": 1, "burst": 5}, "olt": {"per_s": 100, "burst": 100},
                       "default": {"per_s": 1, "burst": 5}},
             "max_inflight": 1000, "max_inflight_per_node": 1000, "scan": 2000}
    svc = make_service(rt, clock, storm=storm, ramp=NO_RAMP)
    _storm_cases(svc, clock, {"pon-a": 200, "pon-b": 10, "pon-c": 10, "pon-d": 10, "pon-e": 10})
    first = svc.tick()
    got = _dispatched(svc)
    # upstreams in turn until the global burst (20) is spent: pon-a's backlog takes no more than its share
    assert got == {"pon-a": 4, "pon-b": 4, "pon-c": 4, "pon-d": 4, "pon-e": 4}
    assert first.dispatched == 20 and first.depth["open"] == 220
    clock.advance(seconds=2)  # +2 tokens per port, +20 global
    svc.tick()
    got = _dispatched(svc)
    assert all(got[p] <= 5 + 2 * 1 for p in got)  # a port never beyond its burst plus its rate
    assert sum(got.values()) <= 20 + 2 * 10
    assert got["pon-a"] == 5 + 2 and all(got[p] >= 6 for p in ("pon-b", "pon-c", "pon-d", "pon-e"))


def test_the_olt_bounds_its_ports_together(rt: Any, clock: Clock) -> None:
    storm = {"global": {"per_s": 1000, "burst": 1000},
             "nodes": {"pon_port": {"per_s": 10, "burst": 10}, "olt": {"per_s": 1, "burst": 12}},
             "max_inflight": 1000, "max_inflight_per_node": 1000, "scan": 2000}
    svc = make_service(rt, clock, storm=storm, ramp=NO_RAMP)
    _storm_cases(svc, clock, {"pon-a": 20, "pon-b": 20, "pon-c": 20})
    svc.tick()
    assert sum(_dispatched(svc).values()) == 12


def test_in_flight_caps(rt: Any, clock: Clock) -> None:
    storm = {"global": {"per_s": 1000, "burst": 1000}, "nodes": {"default": {"per_s": 1000, "burst": 1000}},
             "max_inflight": 7, "max_inflight_per_node": 3, "scan": 2000}
    svc = make_service(rt, clock, storm=storm, ramp=NO_RAMP)
    _storm_cases(svc, clock, {"pon-a": 10, "pon-b": 10, "pon-c": 10})
    svc.tick()
    got = _dispatched(svc)
    assert sum(got.values()) == 7 and max(got.values()) <= 3
    assert svc.tick().dispatched == 0  # nothing finished: nothing more goes out


def test_the_ramp_starts_canary_sized(rt: Any, clock: Clock) -> None:
    svc = make_service(rt, clock, ramp={"initial_batch": 1, "max_batch": 25, "factor": 2.0})
    _storm_cases(svc, clock, {"pon-a": 40})
    first = svc.tick()
    assert [len(c) for _, c in first.units] == [1]
    assert svc.tick().dispatched == 0  # its outcome is not known yet
    with svc.store.write() as s:  # the canary proposal verified
        s.execute(RemediationCaseRow.__table__.update().where(RemediationCaseRow.status == "dispatched")
                  .values(status="applied"))
        breaker.record(s, "dns_lost", executed=1, failed=0, rollback_failed=0, ramp=svc.limits.ramp,
                       breaker=svc.limits.breaker, cap=svc.group_cap(), now=clock(), detail={})
    assert [len(c) for _, c in svc.tick().units] == [2]
    assert svc.group_cap() == 25 < 50  # below the policy's smallest staged-rollout plan


@pytest.mark.slow
def test_workers_drain_the_cases(rt: Any) -> None:
    import gc

    from gateward.worker import EmbeddedWorker

    gc.collect()  # earlier tests' policy engines must be dropped here, not by a collection on the worker thread
    svc = make_service(rt, confirm_h=1.0)
    svc.detect()
    with EmbeddedWorker(rt, remediation=svc, tick_s=0.1):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and svc.ready_count():
            time.sleep(0.2)
    counts = svc.status()["cases"]
    assert svc.ready_count() == 0, counts
    assert counts.get("applied") == 4 and counts.get("escalated") == 1, counts
