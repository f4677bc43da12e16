"""The console's numbers against the tables they count: the fleet trends' cases, changes and
failures per bucket on SQLite and PostgreSQL (cases opened a second apart must not fold into one), a
device's last contact beside its live presence, and the approvals count told only to approvers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.kernel.models import utcnow
from tests.api.conftest import Api


def _cases_since(api: Api, column: str, hours: int) -> int:
    from brain.remediation.schema import RemediationCaseRow

    since = utcnow() - timedelta(hours=hours)
    col = getattr(RemediationCaseRow, column)
    with api.rt.store.read() as s:
        return int(s.scalar(select(func.count()).select_from(RemediationCaseRow).where(col >= since)) or 0)


def test_trend_counts_every_case_opened_a_second_apart(api: Api) -> None:
    from brain.remediation.schema import RemediationCaseRow

    devs = [d["id"] for d in api.get("/api/devices", params={"limit": 48}).json()["items"]]
    now = utcnow()
    with api.rt.store.write() as s:  # a case a minute for the last 50 minutes, each in a second of its own
        for i, dev in enumerate(devs):
            at = now - timedelta(minutes=50) + timedelta(seconds=61 * i)
            s.add(RemediationCaseRow(id=f"case-fc-{api.backend}-{i}", device_id=dev, problem="bucket_check",
                                     kind="detector", status="closed", opened_at=at, updated_at=at,
                                     closed_at=at + timedelta(seconds=7)))
    tr = api.get("/api/fleet/trends", params={"hours": 24}).json()
    assert tr["totals"]["cases_opened"] == _cases_since(api, "opened_at", 24)
    assert tr["totals"]["cases_closed"] == _cases_since(api, "closed_at", 24)
    assert len(devs) >= 30 and tr["totals"]["cases_opened"] >= len(devs)
    assert sum(p["cases_opened"] for p in tr["points"]) == tr["totals"]["cases_opened"]
    # the last hour's buckets hold them all: a half-hour bucket counts every case of its half hour
    recent = [p for p in tr["points"] if p["ts"] >= (now - timedelta(hours=1, minutes=30)).isoformat()]
    assert sum(p["cases_opened"] for p in recent) >= len(devs)


def test_trend_counts_device_writes_finished_seconds_apart(api: Api) -> None:
    from core.store.schema import ExecutionRow, ProposalRow

    devs = [d["id"] for d in api.get("/api/devices", params={"limit": 10}).json()["items"]]
    r = api.post("/api/proposals", {"intent": "bucket writes", "targets": devs[:1], "rationale": "test",
                                    "changes": [{"path": "Device.WiFi.Radio.1.AutoChannelEnable", "value": True}]})
    assert r.status_code == 201, r.text
    pid = r.json()["proposal"]["id"]
    before = api.get("/api/fleet/trends", params={"hours": 6}).json()["totals"]
    now = utcnow()
    with api.rt.store.write() as s:
        for i, dev in enumerate(devs):  # seven verified, three failed, a few seconds apart
            status = "verified" if i < 7 else "failed"
            s.add(ExecutionRow(id=f"ex-fc-{api.backend}-{i}", proposal_id=pid, device_id=dev, status=status,
                               key=f"fc{i}", detail={}, started_at=now - timedelta(minutes=20),
                               finished_at=now - timedelta(minutes=20) + timedelta(seconds=3 * i)))
        assert s.get(ProposalRow, pid) is not None
    after = api.get("/api/fleet/trends", params={"hours": 6}).json()
    assert after["totals"]["changes"] == before["changes"] + 7
    assert after["totals"]["failures"] == before["failures"] + 3


def test_a_device_online_now_is_not_last_seen_long_ago(api: Api) -> None:
    from datetime import datetime

    from core.store.schema import DeviceRow

    dev = api.get("/api/devices", params={"limit": 1}).json()["items"][0]["id"]
    old = utcnow() - timedelta(minutes=42)
    with api.rt.store.write() as s:
        s.get(DeviceRow, dev).last_seen = old
    d = api.get(f"/api/devices/{dev}").json()
    seen = datetime.fromisoformat(d["device"]["last_seen"])
    heard = d["presence"].get("last_seen")
    assert heard, d["presence"]  # the simulator says when it last heard from the device
    assert seen >= datetime.fromisoformat(heard) and seen >= old
    assert seen > old  # the twin informed after the stored contact: the newer one is shown


def test_a_device_says_when_its_presence_was_asked(api: Api) -> None:
    """The console prints "online — checked 14:02:11" beside the last inform: the time presence was
    asked is in the answer, the time of this request (not the inform's)."""
    from datetime import datetime

    dev = api.get("/api/devices", params={"limit": 1}).json()["items"][0]["id"]
    before = utcnow()
    d = api.get(f"/api/devices/{dev}").json()
    after = utcnow()
    assert before <= datetime.fromisoformat(d["presence"]["checked_at"]) <= after, d["presence"]


def test_only_people_who_may_approve_are_told_they_can(api: Api) -> None:
    told = {u: api.get("/api/me", user=u).json()["can_approve"] for u in ("alice", "bob", "carol", "erin", "dave")}
    assert told == {"alice": False, "bob": True, "carol": True, "erin": False, "dave": False}


def test_a_channel_busy_series_says_its_channel_at_each_time(api: Api) -> None:
    from core.store.schema import TelemetryRow

    dev = api.get("/api/devices", params={"limit": 1}).json()["items"][0]["id"]
    now = utcnow()
    with api.rt.store.write() as s:  # a radio moved from 36 to 44 an hour ago
        for i in range(6):
            labels = {"band": "5GHz", "radio": "2", "channel": "36" if i < 3 else "44"}
            s.add(TelemetryRow(device_id=dev, ts=now - timedelta(minutes=110 - 20 * i), metric="test.busy_pct",
                               value=50.0 - i, labels=labels))
    series = api.get(f"/api/devices/{dev}/history", params={"hours": 3, "metric": "test.busy_pct"}).json()["series"]
    assert len(series) == 1, series  # one line for the radio, not one per channel
    ser = series[0]
    assert ser["labels"] == {"band": "5GHz", "radio": "2"} and len(ser["points"]) == 6
    assert [c["channel"] for c in ser["channels"]] == ["36", "44"]
    assert ser["channels"][1]["from"] == ser["points"][3][0]


def test_the_fleet_presence_sample_is_kept_and_taken_again_when_the_fleet_changes(api: Api) -> None:
    from api.fleet_overview import PresenceCache, ask_presence
    from core.kernel.models import Device

    calls: list[int] = []

    def counting(rt: object, devices: list[Device]) -> dict[str, str]:
        calls.append(len(devices))
        return ask_presence(api.rt, devices)

    ov = api.get("/api/fleet").json()
    kept = PresenceCache(ttl_s=3600, ask=counting)
    first = kept.get(api.rt, ov["devices"])
    assert kept.get(api.rt, ov["devices"]) is first and len(calls) == 1  # kept while fresh
    assert first.asked == ov["presence_checked"] == ov["devices"]
    assert sum(first.states.values()) == first.asked
    kept.get(api.rt, ov["devices"] + 1)  # the fleet's size changed: asked again, now
    assert len(calls) == 2
    every = PresenceCache(ttl_s=0, ask=counting)
    every.get(api.rt, ov["devices"])
    every.get(api.rt, ov["devices"])
    assert len(calls) == 4
    assert ov["presence_at"] is not None


def test_a_server_takes_its_first_presence_sample_at_start_and_requests_wait_for_it(api: Api) -> None:
    """At start-up (``PresenceCache.prime``) the first sample is taken in the background; an overview
    asked while it is being taken waits for that one instead of asking the devices a second time, and
    answers with its counts."""
    import threading

    from api.fleet_overview import PresenceCache, ask_presence
    from core.kernel.models import Device

    release = threading.Event()
    calls: list[int] = []

    def slow(rt: object, devices: list[Device]) -> dict[str, str]:
        calls.append(len(devices))
        release.wait(10)
        return ask_presence(api.rt, devices)

    fleet = api.get("/api/fleet").json()["devices"]
    cache = PresenceCache(ttl_s=3600, ask=slow)
    starting = cache.prime(api.rt)
    got: list[object] = []
    asking = threading.Thread(target=lambda: got.append(cache.get(api.rt, fleet)))
    asking.start()
    asking.join(0.3)
    assert asking.is_alive() and len(calls) == 1  # waiting for the sample being taken, not taking another
    release.set()
    starting.join(10)
    asking.join(10)
    assert len(calls) == 1 and got and got[0] is cache.get(api.rt, fleet)


def test_a_first_sample_that_fails_at_start_is_taken_by_the_first_request(api: Api,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    from api.fleet_overview import PresenceCache, ask_presence
    from core.kernel.models import Device

    calls: list[int] = []

    def flaky(rt: object, devices: list[Device]) -> dict[str, str]:
        calls.append(len(devices))
        if len(calls) == 1:
            raise RuntimeError("the database went away for a moment")
        return ask_presence(api.rt, devices)

    cache = PresenceCache(ttl_s=3600, ask=flaky)
    cache.prime(api.rt).join(10)
    assert "first presence sample failed" in caplog.text
    fleet = api.get("/api/fleet").json()["devices"]
    sample = cache.get(api.rt, fleet)
    assert len(calls) == 2 and sample.asked == fleet


def test_a_started_server_answers_as_before(api: Api) -> None:
    """Served with its lifespan (routes built and the first sample begun at start-up), the app
    routes every request as without it: the overview, a probe, an unknown path."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(api.rt), raise_server_exceptions=False) as client:
        headers = api.h("alice")
        ov = client.get("/api/fleet", headers=headers)
        assert ov.status_code == 200 and ov.json()["presence_checked"] == ov.json()["devices"]
        assert client.get("/livez").status_code == 200
        assert client.get("/api/no-such-thing", headers=headers).status_code == 404
        assert client.get("/api/devices", headers=headers, params={"limit": 2}).status_code == 200
