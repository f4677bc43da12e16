"""Issue 12 deliverable 4: the backup may be answered from this proposal's preview read.

Only when that read provably still holds what the device has: it began after the preview did, no
session (``_lastInform``), no queued task and no task of ours happened on the device since, every
value's ``_timestamp`` is from that read, and it is at most ``backup_reuse_s`` old. Otherwise the
backup reads the device, as before. The lifecycle records on the backup row where values came from.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.kernel.models import Change, Device
from executors.genieacs.executor import GenieAcsExecutor
from tests.genieacs.conftest import SSID1, apply, read
from tests.genieacs.test_fake_nbi import post


@pytest.fixture
def posted(nbi: Any) -> Iterator[list[str]]:
    """The names of the tasks the adapter posts to the NBI from here on."""
    names: list[str] = []
    real = nbi.post_task

    def counting(g: str, raw: Any, **kw: Any) -> Any:
        names.append(raw.get("name"))
        return real(g, raw, **kw)

    nbi.post_task = counting
    yield names
    nbi.post_task = real


def _preview(ex: GenieAcsExecutor, d: Device) -> datetime:
    """As the lifecycle's live preview: note when it began, then read the device."""
    began = datetime.now(UTC)
    ex.read(d, [SSID1])
    return began


def test_the_backup_reuses_a_fresh_preview_read_and_a_change_takes_two_tasks(
    executor: GenieAcsExecutor, nbi: Any, devices: Any, posted: list[str]
) -> None:
    d = devices["tr181"]
    read(executor, d, SSID1)  # GenieACS has known the device for a while
    began = _preview(executor, d)
    before = read(executor.__class__(executor.client), d, SSID1)  # another process's read: not ours to reuse
    posted.clear()
    backup = executor.read_for_backup(d, [SSID1], not_before=began)
    assert backup.source == "device"  # the other process's read was a session: _lastInform moved
    assert posted and set(posted) == {"getParameterValues"}  # (a retry when it fell in the other's interval)
    began = _preview(executor, d)
    posted.clear()
    backup = executor.read_for_backup(d, [SSID1], not_before=began)
    assert backup.source == "preview" and "device untouched since" in backup.detail
    assert backup.values[SSID1].value == before
    apply(executor, d, [Change(path=SSID1, value="Two Tasks")])
    assert read(executor, d, SSID1) == "Two Tasks"  # the verify still reaches the CPE
    assert posted == ["setParameterValues", "getParameterValues"]


def test_no_reuse_after_an_inform(executor: GenieAcsExecutor, nbi: Any, twin: Any, devices: Any,
                                  posted: list[str]) -> None:
    d = devices["tr181"]
    began = _preview(executor, d)
    twin.device_change(d.id, {SSID1: "Changed At The Device"})
    nbi.inform(d.id, ["4 VALUE CHANGE"])  # a session: GenieACS's cache may no longer be the device's state
    posted.clear()
    backup = executor.read_for_backup(d, [SSID1], not_before=began)
    assert backup.source == "device" and posted == ["getParameterValues"]
    assert backup.values[SSID1].value == "Changed At The Device"


def test_no_reuse_when_a_task_is_queued_for_the_device(
    executor: GenieAcsExecutor, nbi: Any, http: Any, devices: Any, posted: list[str]
) -> None:
    d = devices["tr181"]
    began = _preview(executor, d)
    queued = post(http, d, {"name": "setParameterValues", "parameterValues": [[SSID1, "Someone Else", "xsd:string"]]},
                  cr=False)
    assert queued.status_code == 202  # waits for the device's next session
    posted.clear()
    backup = executor.read_for_backup(d, [SSID1], not_before=began)
    assert backup.source == "device" and posted == ["getParameterValues"]
    assert backup.values[SSID1].value == "Someone Else"  # the read's session ran the queued task first


def test_no_reuse_when_too_old_or_before_this_preview(nbi: Any, devices: Any, posted: list[str]) -> None:
    d = devices["tr181"]
    ex = GenieAcsExecutor(url=nbi.url, timeout_s=5.0, backup_reuse_s=0.3)
    try:
        began = _preview(ex, d)
        time.sleep(0.4)
        posted.clear()
        assert ex.read_for_backup(d, [SSID1], not_before=began).source == "device"
        assert posted == ["getParameterValues"]
        ex.read(d, [SSID1])  # a read made before this proposal's preview began ...
        posted.clear()
        later = datetime.now(UTC) + timedelta(seconds=1)
        # ... is the device's value as GenieACS last learnt it, at most backup_reuse_s old: the
        # backup may be it (issue 58 item 2: the preview may itself be answered from it), said so
        kept = ex.read_for_backup(d, [SSID1], not_before=later)
        assert kept.source == "preview" and "GenieACS's cache" in kept.detail and posted == []
        time.sleep(0.4)  # ... but not once it is older than that
        assert ex.read_for_backup(d, [SSID1], not_before=later).source == "device"
        assert ex.read_for_backup(d, [SSID1]).source == "device"  # no preview: always a device read
        assert posted == ["getParameterValues", "getParameterValues"]
    finally:
        ex.close()


def test_no_reuse_after_our_own_task_or_for_paths_the_preview_did_not_read(
    executor: GenieAcsExecutor, nbi: Any, devices: Any, posted: list[str]
) -> None:
    d = devices["tr181"]
    other = "Device.WiFi.SSID.2.SSID"
    stale = GenieAcsExecutor(executor.client, backup_reuse_s=0.3)
    began = _preview(stale, d)
    time.sleep(0.4)  # the preview's paths are still fresh for the default window; SSID.2 was read long ago
    posted.clear()
    assert stale.read_for_backup(d, [other], not_before=began).source == "device"
    began = _preview(executor, d)
    apply(executor, d, [Change(path=SSID1, value="Ours")])  # a write since the read
    posted.clear()
    backup = executor.read_for_backup(d, [SSID1], not_before=began)
    assert backup.source == "device" and posted == ["getParameterValues"] and backup.values[SSID1].value == "Ours"


def test_the_tr098_backup_reuses_the_preview_read(
    executor: GenieAcsExecutor, nbi: Any, devices: Any, posted: list[str]
) -> None:
    d = devices["tr098"]
    read(executor, d, SSID1)
    began = _preview(executor, d)
    posted.clear()
    backup = executor.read_for_backup(d, [SSID1], not_before=began)
    assert backup.source == "preview" and posted == []
    assert backup.values[SSID1].device_path.startswith("InternetGatewayDevice.LANDevice.")


# --------------------------------------------------------------------------- the verify wait


def test_the_verify_read_waits_from_the_sets_session_not_from_a_late_answer(
    executor: GenieAcsExecutor, nbi: Any, twin: Any, devices: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GenieACS polls task completion every 500 ms, so its 200 can come well after the session. The
    verify only has to leave the refresh interval of the Set's *session* (``_lastInform``), not the
    one the answer came in. Asserted on the adapter's decision — the boundary it waits for, and
    that its one read reached the CPE — never on how long anything took (the wait's cost is the
    ``verify`` stage row of ``gateward bench genieacs_change``)."""
    from executors.genieacs import executor as module
    from executors.genieacs.timing import next_boundary
    from tests.genieacs.test_fake_nbi import gid

    d = devices["tr181"]
    g = gid(d)
    read(executor, d, SSID1)
    real = nbi.post_task
    posts: list[tuple[str, float]] = []
    answered: list[float] = []

    def late(gg: str, raw: Any, **kw: Any) -> Any:
        t0 = time.time()
        posts.append((raw.get("name"), t0))
        out = real(gg, raw, **kw)
        if raw.get("name") == "setParameterValues":  # answer just after the boundary after next
            time.sleep(max(0.0, next_boundary(t0, g) + 1.05 - time.time()))
            answered.append(time.time())
        return out

    waits: list[tuple[float, float]] = []  # (reference time, the boundary after it) as the adapter computed

    def spied(ts: float, device_id: str, every_s: float = 1.0) -> float:
        until = next_boundary(ts, device_id, every_s)
        waits.append((ts, until))
        return until

    nbi.post_task = late
    apply(executor, d, [Change(path=SSID1, value="Verified Early")])
    session = executor._session_start(g)  # the Set's session began then (GenieACS's _lastInform)
    monkeypatch.setattr(module, "next_boundary", spied)
    twin.device_change(d.id, {SSID1: "Reverted By The Device"})  # so a cached verify would be caught
    assert read(executor, d, SSID1) == "Reverted By The Device"  # the verify reached the CPE ...
    verifies = [t for name, t in posts if name == "getParameterValues" and t > answered[0]]
    assert len(verifies) == 1  # ... at the first try ...
    assert session is not None and session < answered[0]
    # ... after the boundary that follows the Set's session, not the one after GenieACS's late answer
    assert waits and waits[-1] == (session, next_boundary(session, g))


def test_the_factory_reads_the_backup_reuse_setting(monkeypatch: pytest.MonkeyPatch, nbi: Any) -> None:
    from executors.genieacs import factory

    monkeypatch.setenv("GATEWARD_GENIEACS_URL", nbi.url)
    monkeypatch.setenv("GATEWARD_GENIEACS_BACKUP_REUSE_S", "0")
    ex = factory()
    try:
        assert ex.backup_reuse_s == 0
    finally:
        ex.close()
