"""The console's device list (issue 39): keyset pages in every sort order cover the fleet exactly
once in order, a parameter-value search finds devices by their stored snapshot, and the problem
badges say what a person checks (open case, upstream outage, no contact for N h, offline now)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from core.kernel.models import utcnow
from core.store.schema import DeviceRow
from tests.api.conftest import Api


def _walk(api: Api, limit: int = 7, **params: Any) -> tuple[list[dict[str, Any]], int | None]:
    items: list[dict[str, Any]] = []
    cursor = None
    total = None
    for _ in range(1000):
        q = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        r = api.get("/api/devices/page", params=q)
        assert r.status_code == 200, r.text
        body = r.json()
        if cursor is None:
            total = body["total"]
        else:
            assert body["total"] is None  # counted once, on the first page
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items, total
    raise AssertionError("the pages never ended")


@pytest.fixture(scope="module")
def fleet(api: Api) -> list[dict[str, Any]]:
    """Every device, with a few never heard from and a spread of last contacts (ties included)."""
    ids = [d["id"] for d in api.get("/api/devices", params={"limit": 1000}).json()["items"]]
    now = utcnow()
    with api.rt.store.write() as s:
        for i, did in enumerate(ids):
            seen = None if i % 9 == 0 else now - timedelta(minutes=10 * (i % 5))
            s.execute(update(DeviceRow).where(DeviceRow.id == did).values(last_seen=seen))
    items: list[dict[str, Any]] = api.get("/api/devices", params={"limit": 1000}).json()["items"]
    return items


@pytest.mark.parametrize(("sort", "desc"), [("id", False), ("id", True), ("last_seen", True), ("last_seen", False),
                                            ("model", False), ("subscriber", True), ("region", False)])
def test_pages_cover_the_fleet_once_in_order(api: Api, fleet: list[dict[str, Any]], sort: str, desc: bool) -> None:
    items, total = _walk(api, sort=sort, desc=desc)
    assert total == len(fleet)
    got = [d["id"] for d in items]
    assert len(got) == len(set(got)) == len(fleet)
    with_value = sorted((d for d in fleet if d[sort] is not None), key=lambda d: d["id"], reverse=desc)
    with_value.sort(key=lambda d: d[sort], reverse=desc)
    never = sorted((d for d in fleet if d[sort] is None), key=lambda d: d["id"], reverse=desc)
    assert got == [d["id"] for d in with_value + never]  # values in order, ties by id, never-set rows last


def test_filters_and_the_count_agree(api: Api, fleet: list[dict[str, Any]]) -> None:
    region = fleet[0]["region"]
    items, total = _walk(api, region=region, sort="last_seen", desc=True)
    assert total == len(items) == sum(1 for d in fleet if d["region"] == region)
    assert {d["region"] for d in items} == {region}


def test_a_cursor_of_another_order_is_refused(api: Api, fleet: list[dict[str, Any]]) -> None:
    first = api.get("/api/devices/page", params={"sort": "model", "limit": 3}).json()
    r = api.get("/api/devices/page", params={"sort": "last_seen", "limit": 3, "cursor": first["next_cursor"]})
    assert r.status_code == 422
    assert api.get("/api/devices/page", params={"cursor": "not-a-cursor"}).status_code == 422


def test_search_by_a_stored_parameter_value(api: Api, fleet: list[dict[str, Any]]) -> None:
    from core.store import repo

    with api.rt.store.read() as s:
        snaps = {d["id"]: repo.latest_snapshot(s, d["id"]) or {} for d in fleet}

    def stored(did: str, path: str) -> Any:
        v = snaps[did].get(path)
        return v.get("value") if isinstance(v, dict) else v

    path = "Device.WiFi.Radio.2.Channel"
    some = next(d for d in fleet if stored(d["id"], path) is not None)
    channel = stored(some["id"], path)
    items, total = _walk(api, param=path, value=str(channel))
    want = {did for did in snaps if stored(did, path) is not None and str(stored(did, path)) == str(channel)}
    assert {d["id"] for d in items} == want and total == len(want)
    assert some["id"] in want

    ssid_path = "Device.WiFi.SSID.1.SSID"
    one = next(d for d in fleet if isinstance(stored(d["id"], ssid_path), str))
    ssid = stored(one["id"], ssid_path)
    items, _ = _walk(api, param=ssid_path, value=ssid)
    assert one["id"] in {d["id"] for d in items}
    assert all(stored(d["id"], ssid_path) == ssid for d in items)
    assert _walk(api, param=ssid_path, value="no such network")[0] == []
    assert api.get("/api/devices/page", params={"value": "x"}).status_code == 422


def test_problem_badges(api: Api, fleet: list[dict[str, Any]]) -> None:
    silent, cased, applied = fleet[1]["id"], fleet[2]["id"], fleet[3]["id"]
    now = utcnow()
    with api.rt.store.write() as s:
        was = s.scalar(select(DeviceRow.last_seen).where(DeviceRow.id == silent))
        s.execute(update(DeviceRow).where(DeviceRow.id == silent).values(last_seen=now - timedelta(hours=5, minutes=3)))
    try:
        _badges_say_what_a_person_checks(api, fleet, silent, cased, applied)
    finally:  # the module's other tests read the fleet as ``fleet`` describes it, in any order
        with api.rt.store.write() as s:
            s.execute(update(DeviceRow).where(DeviceRow.id == silent).values(last_seen=was))


def _badges_say_what_a_person_checks(api: Api, fleet: list[dict[str, Any]], silent: str, cased: str,
                                     applied: str) -> None:
    from brain.remediation.schema import RemediationCaseRow

    now = utcnow()
    with api.rt.store.write() as s:
        for cid, did, status in (("case-dl-1", cased, "open"), ("case-dl-2", applied, "applied")):
            s.add(RemediationCaseRow(id=cid, device_id=did, problem="wifi_interference", kind="detector",
                                     status=status, opened_at=now, updated_at=now))
    items, _ = _walk(api, limit=100)
    by_id = {d["id"]: d for d in items}
    labels = {did: [b["label"] for b in by_id[did]["badges"]] for did in by_id}
    # silence is said as silence; "offline" is what presence says now (api/presence.py)
    assert "no contact for 5 h" in labels[silent]
    kinds = {did: [b["kind"] for b in by_id[did]["badges"]] for did in by_id}
    assert all(("offline" in kinds[d["id"]]) == (d["presence"] == "offline") for d in items)
    assert "open case: wifi interference" in labels[cased]
    assert not any(b["kind"] == "case" for b in by_id[applied]["badges"])  # applied is not open
    never = next(d["id"] for d in fleet if d["last_seen"] is None)
    assert "never heard from" in labels[never]
    offline, _ = _walk(api, offline_hours=4)
    assert silent in {d["id"] for d in offline} and cased not in {d["id"] for d in offline}


def test_upstream_outage_badge(api: Api, fleet: list[dict[str, Any]]) -> None:
    from collections import Counter

    from core.store.schema import DeviceEventRow

    sizes = Counter(d["upstream_id"] for d in fleet if d["upstream_id"])
    upstream, n = sizes.most_common(1)[0]
    assert n >= 4, "the seeded fleet shares upstreams"
    on_it = sorted(d["id"] for d in fleet if d["upstream_id"] == upstream)
    items, _ = _walk(api, upstream=upstream)
    assert not any(b["kind"] == "outage" for d in items for b in d["badges"])
    now = utcnow()
    with api.rt.store.write() as s:
        for did in on_it[: n // 2 + 1]:
            s.add(DeviceEventRow(device_id=did, ts=now - timedelta(minutes=5), kind="wan_down", data={}))
    items, _ = _walk(api, upstream=upstream)
    assert {d["id"] for d in items} == set(on_it)
    for d in items:
        assert f"upstream outage: {n // 2 + 1} of {n} degraded" in [b["label"] for b in d["badges"]]


def test_a_count_past_the_cap_says_it_is_not_exact(api: Api, fleet: list[dict[str, Any]],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from api import device_list

    monkeypatch.setattr(device_list, "COUNT_CAP", 5)
    body = api.get("/api/devices/page", params={"region": fleet[0]["region"]}).json()
    assert (body["total"], body["total_exact"]) == (5, False)
    whole = api.get("/api/devices/page").json()
    assert whole["total_exact"] is False and whole["total"] >= 5
    few = api.get("/api/devices/page", params={"q": fleet[0]["id"]}).json()
    assert (few["total"], few["total_exact"]) == (1, True)


def test_problems_first_covers_the_fleet_once_with_every_problem_before_the_rest(
        api: Api, fleet: list[dict[str, Any]]) -> None:
    items, total = _walk(api, sort="problems", limit=7)
    ids = [d["id"] for d in items]
    assert len(ids) == len(set(ids)) == len(fleet) == total
    # ordered by the problems the store knows; presence (asked per page) is a badge of its own
    flagged = [any(b["kind"] in ("case", "outage", "silent") for b in d["badges"]) for d in items]
    assert any(flagged) and not all(flagged)
    first_clean = flagged.index(False)
    assert not any(flagged[first_clean:]), "a device with a problem came after one without"
    assert ids[:first_clean] == sorted(ids[:first_clean]) and ids[first_clean:] == sorted(ids[first_clean:])
    r = api.get("/api/devices/page", params={"sort": "id", "cursor": api.get(
        "/api/devices/page", params={"sort": "problems", "limit": 3}).json()["next_cursor"]})
    assert r.status_code == 422  # a cursor of another order is refused
