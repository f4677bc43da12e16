"""Issue 12: the local NBI behaves like GenieACS 1.2.16, and the adapter copes with it.

The fake pins the behaviours read from GenieACS's source (``lib/nbi.ts``, ``lib/cwmp.ts``,
``lib/default-provisions.ts``, ``lib/scheduling.ts``); the adapter tests fail on the adapter as it
was before issue 12 (a connection-request probe in presence, a verify read answered from the
cache, five tasks per change, a reboot "done" while the device is still down).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from core.kernel.models import Change, Device
from executors.base import DeviceOffline, Timeout
from executors.genieacs.executor import GenieAcsExecutor
from tests.genieacs.conftest import SSID1, apply, operate, read
from tests.genieacs.test_fake_nbi import doc, gid, next_interval, node, post, tasks_of, wait_for


def rpcs(nbi: Any, d: Device, name: str) -> list[dict[str, Any]]:
    return [e for e in nbi.rpc_log(gid(d)) if e["rpc"] == name]


# --------------------------------------------------------------------------- the fake NBI


def test_an_inform_while_the_lock_is_held_gets_400_and_the_cpe_retries(http: Any, nbi: Any, devices: Any) -> None:
    d = devices["tr181"]
    nbi.cpe_retry_s = 0.2
    gate = nbi.gate(gid(d))
    assert gate.acquire("nbi", 0)  # as while the NBI stores a task
    try:
        r = post(http, d, None)  # a bare connection request: the CPE opens a session of its own ...
        assert r.status_code == 200
        wait_for(lambda: [e for e in rpcs(nbi, d, "Inform") if e.get("result") == "400 CPE already in session"])
        again = post(http, d, None)  # ... and ignores a second connection request meanwhile
        assert again.status_code == 200
        assert rpcs(nbi, d, "ConnectionRequest")[-1]["result"].startswith("accepted, ignored")
    finally:
        gate.release()
    wait_for(lambda: [e for e in rpcs(nbi, d, "Inform") if e["events"] == ["6 CONNECTION REQUEST"]
                      and "result" not in e])


def test_a_task_waits_for_the_lock_then_says_queued_but_not_processed(http: Any, nbi: Any, devices: Any) -> None:
    d = devices["tr181"]
    nbi.lock_wait_s = 0.3
    gate = nbi.gate(gid(d))
    assert gate.acquire("session", 0)  # a CPE session that does not end in time
    try:
        r = post(http, d, {"name": "getParameterValues", "parameterNames": [SSID1]})
        assert r.status_code == 202 and r.reason_phrase == "Task queued but not processed"
    finally:
        gate.release()
    assert [t["_id"] for t in tasks_of(http, d)] == [r.json()["_id"]]  # stored all the same


def test_a_task_without_connection_request_waits_for_the_next_inform(http: Any, nbi: Any, devices: Any) -> None:
    d = devices["tr181"]
    r = post(http, d, {"name": "getParameterValues", "parameterNames": [SSID1]}, cr=False)
    assert r.status_code == 202 and rpcs(nbi, d, "ConnectionRequest") == []  # queued, nobody woken
    assert len(tasks_of(http, d)) == 1
    nbi.inform(d.id)  # its periodic inform
    assert tasks_of(http, d) == []


def test_a_read_inside_the_refresh_interval_is_answered_from_the_cache(
    http: Any, nbi: Any, twin: Any, devices: Any
) -> None:
    d = devices["tr181"]
    next_interval(d)
    post(http, d, {"name": "getParameterValues", "parameterNames": [SSID1]})
    first = node(doc(http, d, SSID1), SSID1)
    twin.device_change(d.id, {SSID1: "Changed Locally"})
    r = post(http, d, {"name": "getParameterValues", "parameterNames": [SSID1]})
    assert r.status_code == 200  # "done" ...
    same = node(doc(http, d, SSID1), SSID1)
    assert same == first and rpcs(nbi, d, "CachedRead")  # ... from the cache: old value, old _timestamp
    assert same["_timestamp"] < r.json()["timestamp"]  # which is how a client can tell
    next_interval(d)
    r = post(http, d, {"name": "getParameterValues", "parameterNames": [SSID1]})
    fresh = node(doc(http, d, SSID1), SSID1)
    assert fresh["_value"] == "Changed Locally" and fresh["_timestamp"] > r.json()["timestamp"]


# --------------------------------------------------------------------------- the adapter


def test_presence_never_sends_a_connection_request(executor: GenieAcsExecutor, nbi: Any, devices: Any) -> None:
    d = devices["tr181"]
    for _ in range(3):
        assert executor.presence(d).online
    assert rpcs(nbi, d, "ConnectionRequest") == [] and rpcs(nbi, d, "Inform") == []


def test_verify_read_reaches_the_cpe_after_a_set(
    executor: GenieAcsExecutor, nbi: Any, twin: Any, devices: Any
) -> None:
    d = devices["tr181"]
    before = read(executor, d, SSID1)
    twin.inject(d.id, "not_sticky", path=SSID1)  # the device takes the Set, then reverts it
    apply(executor, d, [Change(path=SSID1, value="Will Revert")])
    assert read(executor, d, SSID1) == before  # the cache holds "Will Revert"; the CPE says otherwise
    last_spv = max(i for i, e in enumerate(nbi.rpc_log(gid(d))) if e["rpc"] == "SetParameterValues")
    after = [e for e in nbi.rpc_log(gid(d))[last_spv:] if e["rpc"] == "GetParameterValues" and e["path"] == SSID1]
    assert after, "the verify read never reached the CPE"


def test_a_read_the_cache_keeps_answering_fails_clearly(
    executor: GenieAcsExecutor, nbi: Any, devices: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = devices["tr181"]
    from testing.genieacs.session import AcsSession

    read(executor, d, SSID1)
    # as if GenieACS's clock ran far ahead of ours: every refresh is "inside the interval"
    monkeypatch.setattr(AcsSession, "_cached_fresh", lambda self, name: True)
    with pytest.raises(Timeout, match="from its cache"):
        read(executor, d, SSID1)


def test_a_governed_change_takes_three_tasks(executor: GenieAcsExecutor, nbi: Any, devices: Any) -> None:
    d = devices["tr181"]
    read(executor, d, SSID1)  # GenieACS has known the device for a while (its bootstrap is not this change's)
    posted: list[str] = []
    real = nbi.post_task

    def counting(g: str, raw: Any, **kw: Any) -> Any:
        posted.append(raw.get("name"))
        return real(g, raw, **kw)

    nbi.post_task = counting
    assert executor.presence(d).reachable
    executor.read(d, [SSID1])  # backup
    apply(executor, d, [Change(path=SSID1, value="Three Tasks")])
    assert executor.presence(d).online
    assert read(executor, d, SSID1) == "Three Tasks"  # verify
    assert posted == ["getParameterValues", "setParameterValues", "getParameterValues"]
    assert rpcs(nbi, d, "ConnectionRequest") and all(
        e["result"] == "accepted" for e in rpcs(nbi, d, "ConnectionRequest")
    )


def test_reboot_completes_when_the_device_has_booted_again(
    executor: GenieAcsExecutor, nbi: Any, twin: Any, devices: Any, http: Any
) -> None:
    d = devices["tr181"]
    nbi.boot_s = 1.0
    start = time.monotonic()
    res = operate(executor, d, "reboot")
    assert time.monotonic() - start >= 1.0  # it waited for the device, not for GenieACS's 200
    assert res.status == "done" and res.output["last_boot"]
    assert ["1 BOOT", "M Reboot"] in [e["events"] for e in rpcs(nbi, d, "Inform")]
    nbi.boot_s = 3.0  # a reboot that does not come back in time
    with pytest.raises(Timeout, match="has not booted again within 1s"):
        operate(executor, d, "reboot", timeout_s=1)


def test_factory_reads_the_new_settings(monkeypatch: pytest.MonkeyPatch, nbi: Any) -> None:
    from executors.genieacs import factory

    monkeypatch.setenv("GATEWARD_GENIEACS_URL", nbi.url)
    monkeypatch.setenv("GATEWARD_GENIEACS_REBOOT_TIMEOUT_S", "42")
    monkeypatch.setenv("GATEWARD_GENIEACS_CR_MEMORY_S", "7")
    ex = factory()
    try:
        assert ex.reboot_timeout_s == 42 and ex.cr_memory_s == 7 and not hasattr(ex, "probe_presence")
    finally:
        ex.close()


def test_presence_after_our_own_task_asks_genieacs_nothing(
    executor: GenieAcsExecutor, nbi: Any, twin: Any, devices: Any
) -> None:
    """A task that ran in a session of the device moments ago already says online and reachable:
    the lifecycle's presence checks (preview, apply, verify) cost no device query then. Anything
    that could have changed that — a failed connection request, a reboot — makes it ask again."""
    d = devices["tr181"]
    queries: list[Any] = []
    real = executor.client.query

    def counting(collection: str, query: Any = None, **kw: Any) -> Any:
        queries.append((collection, query))
        return real(collection, query, **kw)

    executor.client.query = counting  # type: ignore[method-assign]
    assert executor.presence(d).reachable  # first: GenieACS's records (inform age, interval)
    assert len(queries) == 1
    read(executor, d, SSID1)
    queries.clear()
    p = executor.presence(d)
    assert p.online and p.reachable and "getParameterValues task ran" in p.detail
    assert queries == []
    twin.inject(d.id, "offline")  # the device drops: the next task's connection request fails ...
    with pytest.raises(DeviceOffline):
        executor.read(d, [SSID1])
    p = executor.presence(d)  # ... and presence no longer trusts the earlier task
    assert not p.reachable and len(queries) > 0
    twin.clear(d.id)
    read(executor, d, SSID1)
    nbi.boot_s = 0.5
    operate(executor, d, "reboot")
    queries.clear()
    assert executor.presence(d).online  # after a reboot it asks GenieACS again
    assert any(c == "devices" for c, _ in queries)
    stale = GenieAcsExecutor(executor.client, reuse_read_s=0.0)  # no memory window: always asks
    stale._alive, stale._interval, stale._reach = executor._alive, executor._interval, executor._reach
    read(executor, d, SSID1)
    queries.clear()
    assert stale.presence(d).online and queries
