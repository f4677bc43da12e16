"""Traceroute and speed test drafted, gated, applied and run (issue 13, planner leftovers).

Only a firmware whose own data model has ``Device.IP.Diagnostics.TraceRoute.`` /
``DownloadDiagnostics.`` gets a draft; the simulator runs the test when ``DiagnosticsState`` is
set to ``Requested`` and reports ``Complete`` with results, which the lifecycle must verify as
held (a trigger reads back as the action's state, not as "Requested"). A test the device cannot
run (a name that does not resolve) fails verification and is rolled back, losing nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from executors.sim import catalog as cat
from executors.sim.diagnostics import DOWNLOAD, TRACEROUTE, throughput_mbps
from tests.brain.conftest import run_turn


def _device(rt: Any, world: Any, *, has_diagnostics: bool) -> Any:
    """A healthy CWMP device whose firmware has (or lacks) the diagnostics, chosen from the
    catalogue's data rather than by a seeded index."""
    from core.store import repo

    with rt.store.read() as s:
        for dev_id in world.conditions["healthy"]:
            d = repo.get_device(s, dev_id)
            m = cat.catalog().model_for(d.vendor, d.model, d.firmware)
            if m is None or m.is_tr098 or str(d.protocol) == "usp":
                continue
            if (m.spec(TRACEROUTE + "Host") is not None) == has_diagnostics:
                return d
    pytest.fail("the catalogue has no such model in the test fleet")


def _read(rt: Any, d: Any, prefix: str) -> dict[str, Any]:
    return {p: v.value for p, v in rt.router.reader(d).read(d, [prefix]).items()}


def _draft_and_apply(rt: Any, svc: Any, d: Any, text: str) -> Any:
    alice, bob = rt_actor(rt, "alice"), rt_actor(rt, "bob")
    events = run_turn(svc, svc.start(d.id, alice), text, alice)
    props = [e for e in events if e.kind == "proposal"]
    assert props, [e.text for e in events][-2:]
    pid = props[0].data["proposal_id"]
    if props[0].data["state"] == "awaiting_approval":
        rt.lifecycle.approve(pid, bob)
    assert rt.lifecycle.get(pid).state == "approved"
    return rt.lifecycle.apply(pid, alice)


def rt_actor(rt: Any, name: str) -> Any:
    from core.users import get_actor

    return get_actor(rt.store, name)


def test_traceroute_is_drafted_gated_and_completes(rt: Any, svc: Any, world: Any, device: Any) -> None:
    d = _device(rt, world, has_diagnostics=True)
    device("healthy", world.conditions["healthy"].index(d.id))  # restored after the test
    out = _draft_and_apply(rt, svc, d, "please trace the route to example.org from the gateway")
    p = out.proposal
    assert p.state == "done", p.error
    assert {c.path: c.value for c in p.changes} == {TRACEROUTE + "Host": "example.org",
                                                    TRACEROUTE + "DiagnosticsState": "Requested"}
    tree = _read(rt, d, TRACEROUTE)
    assert tree[TRACEROUTE + "DiagnosticsState"] == "Complete"
    hops = int(tree[TRACEROUTE + "RouteHopsNumberOfEntries"])
    assert 1 <= hops <= int(tree[TRACEROUTE + "MaxHopCount"])
    tries = int(tree[TRACEROUTE + "NumberOfTries"])
    rtts = [[int(x) for x in str(tree[f"{TRACEROUTE}RouteHops.{n}.RTTimes"]).split(",")] for n in range(1, hops + 1)]
    assert all(len(r) == tries and min(r) >= 1 for r in rtts)
    assert tree[TRACEROUTE + "ResponseTime"] >= 1


def test_speed_test_is_drafted_gated_and_measures_the_line(rt: Any, svc: Any, world: Any, device: Any) -> None:
    d = _device(rt, world, has_diagnostics=True)
    device("healthy", world.conditions["healthy"].index(d.id))
    url = "http://speedtest.example.net/files/10MB.bin"
    out = _draft_and_apply(rt, svc, d, f"measure the download speed of this line against {url}")
    assert out.proposal.state == "done", out.proposal.error
    tree = _read(rt, d, DOWNLOAD)
    assert tree[DOWNLOAD + "DiagnosticsState"] == "Complete"
    assert tree[DOWNLOAD + "DownloadURL"] == url
    assert tree[DOWNLOAD + "TestBytesReceived"] == 10_000_000
    m = cat.catalog().model_for(d.vendor, d.model, d.firmware)
    assert m is not None
    ceiling = 1000.0 if m.access == "ftth" else 300.0
    assert 1.0 < throughput_mbps(tree, DOWNLOAD) <= ceiling


def test_a_test_the_device_cannot_run_is_rolled_back(rt: Any, svc: Any, world: Any, device: Any) -> None:
    d = _device(rt, world, has_diagnostics=True)
    device("healthy", world.conditions["healthy"].index(d.id))
    before = _read(rt, d, TRACEROUTE)[TRACEROUTE + "Host"]
    out = _draft_and_apply(rt, svc, d, "traceroute to nowhere.invalid please")
    assert out.proposal.state != "done"
    assert "Error_CannotResolveHostName" in (out.proposal.error or "")
    assert _read(rt, d, TRACEROUTE)[TRACEROUTE + "Host"] == before  # the input is put back


def test_older_firmware_of_the_same_family_is_answered_not_drafted(
        rt: Any, svc: Any, world: Any, actor: Any) -> None:
    d = _device(rt, world, has_diagnostics=False)
    events = run_turn(svc, svc.start(d.id, actor("alice")), "trace the route to example.org", actor("alice"))
    assert events[-1].kind == "answer" and TRACEROUTE in events[-1].text
    assert not [e for e in events if e.kind == "proposal"]


def test_simulated_traceroute_is_deterministic_bounded_and_clears_stale_hops() -> None:
    from executors.sim import diagnostics as dg

    link = {"latency_ms": 14.0, "loss_pct": 0.0, "degraded": False}
    a = dg.traceroute(link, "dev|0", "example.org", True, 3, 30, old_rows=40)
    assert a == dg.traceroute(link, "dev|0", "example.org", True, 3, 30, old_rows=40)
    assert a[TRACEROUTE + "DiagnosticsState"] == "Complete"
    hops = sorted({int(k.split(".")[5]) for k in a if ".RouteHops." in k and a[k] is not None})
    assert hops == list(range(1, len(hops) + 1)) and len(hops) < 40
    assert all(a[f"{TRACEROUTE}RouteHops.{n}."] is None for n in range(len(hops) + 1, 41))  # stale rows go
    short = dg.traceroute(link, "dev|0", "example.org", True, 3, 2, old_rows=0)
    assert short[TRACEROUTE + "DiagnosticsState"] == "Error_MaxHopCountExceeded"
    assert dg.traceroute(link, "dev|0", "x.invalid", False, 3, 30, 0)[TRACEROUTE + "DiagnosticsState"] == (
        "Error_CannotResolveHostName")


def test_simulated_transfer_is_slower_on_a_degraded_link_and_refuses_bad_urls() -> None:
    from datetime import UTC, datetime

    from executors.sim import diagnostics as dg

    now = datetime(2026, 1, 1, tzinfo=UTC)
    url = "http://speed.example.net/10MB.bin"
    healthy = dg.transfer("download", "ftth", {"latency_ms": 6.0}, "d", url, True, now)
    degraded = dg.transfer("download", "ftth", {"latency_ms": 240.0, "loss_pct": 25.0, "degraded": True}, "d", url,
                           True, now)
    fast, slow = dg.throughput_mbps(healthy, DOWNLOAD), dg.throughput_mbps(degraded, DOWNLOAD)
    assert 500 < fast <= 940 and slow < fast / 4
    assert dg.transfer("download", "ftth", {}, "d", "gopher://x", True, now)[DOWNLOAD + "DiagnosticsState"] == (
        "Error_InitConnectionFailed")
    assert dg.transfer("download", "ftth", {}, "d", url, False, now)[DOWNLOAD + "DiagnosticsState"] == (
        "Error_CannotResolveHostName")  # no DNS server: a name does not resolve
    up = dg.transfer("upload", "cable", {"latency_ms": 14.0}, "d", "http://10.0.0.1/up", False, now, 5_000_000)
    assert up[dg.UPLOAD + "DiagnosticsState"] == "Complete" and int(str(up[dg.UPLOAD + "TotalBytesSent"])) >= 5_000_000
