"""The fleet view with time (issue 39, item 3): trends over a range, the upstreams in outage with
N of N degraded, and tiles that count right (an applied case is not open)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from core.kernel.models import utcnow
from tests.api.conftest import Api, pick, radio_of


def test_tiles_do_not_count_applied_cases_as_open(api: Api) -> None:
    from brain.remediation.schema import RemediationCaseRow

    before = api.get("/api/fleet").json()
    devs = [d["id"] for d in api.get("/api/devices", params={"limit": 5}).json()["items"]]
    now = utcnow()
    with api.rt.store.write() as s:  # one case per device (one live case per device and problem)
        for i, status in enumerate(("open", "escalated", "applied", "applied", "closed")):
            s.add(RemediationCaseRow(id=f"case-ft-{i}", device_id=devs[i], problem="tile_check", kind="detector",
                                     status=status, opened_at=now, updated_at=now))
    ov = api.get("/api/fleet").json()
    assert ov["cases_by_problem"].get("tile_check") == 2
    assert ov["cases_applied"] == before["cases_applied"] + 2
    assert ov["active_campaigns"] >= len(ov["campaigns"])


def test_trends_count_changes_and_cases_in_their_buckets(api: Api) -> None:
    before = api.get("/api/fleet/trends", params={"hours": 24}).json()
    dev = pick(api)["id"]
    idx, cur = radio_of(api, dev, "5GHz")
    r = api.post("/api/proposals", {"intent": "trend check", "targets": [dev], "rationale": "test",
                                    "changes": [{"path": f"Device.WiFi.Radio.{idx}.AutoChannelEnable", "value": False},
                                                {"path": f"Device.WiFi.Radio.{idx}.Channel",
                                                 "value": 36 if cur != 36 else 40}]})
    assert api.post(f"/api/proposals/{r.json()['proposal']['id']}/apply").json()["proposal"]["state"] == "done"
    after = api.get("/api/fleet/trends", params={"hours": 24}).json()
    assert after["bucket_s"] == 1800 and 48 <= len(after["points"]) <= 50
    assert after["totals"]["changes"] == before["totals"]["changes"] + 1
    last = after["points"][-1]
    assert last["changes_per_hour"] == before["points"][-1]["changes_per_hour"] + 2  # one in a half-hour bucket
    assert last["failure_pct"] is not None and 0 <= last["failure_pct"] <= 100
    assert all(p["online_pct"] is None or 0 <= p["online_pct"] <= 100 for p in after["points"])
    week = api.get("/api/fleet/trends", params={"hours": 168}).json()
    assert week["bucket_s"] == 12600 and week["totals"]["changes"] >= after["totals"]["changes"]
    assert api.get("/api/fleet/trends", params={"hours": 0}).status_code == 422


def test_the_outage_panel_names_the_upstream_and_n_of_n(api: Api) -> None:
    from core.store.schema import DeviceEventRow

    items = api.get("/api/devices", params={"limit": 1000}).json()["items"]
    sizes = Counter(d["upstream_id"] for d in items if d["upstream_id"])
    upstream, n = sizes.most_common(1)[0]
    on_it = sorted(d["id"] for d in items if d["upstream_id"] == upstream)
    before = {o["upstream_id"] for o in api.get("/api/fleet/outages").json()["items"]}
    now = utcnow()
    with api.rt.store.write() as s:
        for did in on_it[: n // 2 + 1]:
            s.add(DeviceEventRow(device_id=did, ts=now - timedelta(minutes=20), kind="wan_down", data={}))
    out = {o["upstream_id"]: o for o in api.get("/api/fleet/outages").json()["items"]}
    assert upstream in out and upstream not in before
    o = out[upstream]
    assert (o["degraded"], o["devices"]) == (n // 2 + 1, n)
    assert o["label"] and o["kind"] != "upstream"  # the topology node's own name
    assert o["parent"] is None or o["parent"]["label"]


def test_faults_list_newest_first_in_pages(api: Api) -> None:
    from core.store.schema import ExecutionRow

    dev = pick(api)["id"]
    pids = []
    for _ in range(4):  # one execution per proposal and device
        r = api.post("/api/proposals", {"intent": "fault list check", "targets": [dev], "rationale": "test",
                                        "changes": [{"path": "Device.WiFi.Radio.1.AutoChannelEnable", "value": True}]})
        assert r.status_code == 201, r.text
        pids.append(r.json()["proposal"]["id"])
    now = utcnow()
    with api.rt.store.write() as s:  # three writes that did not hold, a minute apart, and one that did
        for i, status in enumerate(("failed", "rolled_back", "verify_failed", "verified")):
            s.add(ExecutionRow(id=f"ex-fault-{i}", proposal_id=pids[i], device_id=dev, status=status, key=f"k{i}",
                               detail={}, error=None if status == "verified" else f"reason {i}",
                               started_at=now - timedelta(minutes=10 - i), finished_at=now - timedelta(minutes=9 - i)))
    first = api.get("/api/fleet/faults", params={"limit": 2, "device": dev}).json()
    assert [f["execution_id"] for f in first["items"]] == ["ex-fault-2", "ex-fault-1"]
    assert first["items"][0]["intent"] == "fault list check" and first["items"][0]["error"] == "reason 2"
    rest = api.get("/api/fleet/faults", params={"limit": 2, "device": dev, "before": first["next"]}).json()
    assert [f["execution_id"] for f in rest["items"]] == ["ex-fault-0"] and rest["next"] is None
    assert api.get("/api/fleet/faults", params={"before": "nonsense|x"}).status_code == 422


def test_a_rollback_a_person_decided_on_is_not_a_fault(api: Api) -> None:
    """A campaign's abort and a rollback asked for by hand undo writes that held: the Faults page
    listed them as writes that "did not hold". A rollback after a failed verification still is one."""
    from core.store.schema import ExecutionRow

    dev = pick(api)["id"]
    reasons = {"abort": "abort: campaign c-61: aborted by dave: wrong channel plan",
               "manual": "manual: the subscriber asked for the old name back",
               "verify": "Channel read back 36, expected 44: restored from the backup"}
    pids = {}
    for name in reasons:
        r = api.post("/api/proposals", {"intent": f"rollback kinds {name}", "targets": [dev], "rationale": "test",
                                        "changes": [{"path": "Device.WiFi.Radio.1.AutoChannelEnable", "value": True}]})
        assert r.status_code == 201, r.text
        pids[name] = r.json()["proposal"]["id"]
    now = utcnow()
    with api.rt.store.write() as s:
        for i, (name, why) in enumerate(reasons.items()):
            s.add(ExecutionRow(id=f"ex-kind-{name}", proposal_id=pids[name], device_id=dev, status="rolled_back",
                               key=f"kind{i}", detail={"reason": why}, error=why, started_at=now, finished_at=now))
    page = api.get("/api/fleet/faults", params={"limit": 200, "device": dev}).json()["items"]
    listed = {f["execution_id"] for f in page}
    assert "ex-kind-verify" in listed and not {"ex-kind-abort", "ex-kind-manual"} & listed, listed
