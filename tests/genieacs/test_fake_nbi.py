"""The fake NBI on the wire: what a client of GenieACS sees, status codes and reason phrases included.

These pin the GenieACS behaviours the adapter depends on (``lib/nbi.ts``, ``lib/cwmp.ts``,
``lib/session.ts``) — including the hazards it must defend against: a Set skipped because the
cache is stale, read-only parameters skipped silently, the empty ParameterKey, the dropped
Status, 9005 "recovery" that applies the rest of a Set, and a worker that dies on a bad task.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from core.kernel.models import Device
from executors.genieacs.ids import genieacs_device_id, url_segment
from executors.genieacs.timing import next_boundary
from tests.genieacs.conftest import ODD_SERIAL, SSID1


def gid(d: Device) -> str:
    return genieacs_device_id(d.oui, d.product_class, d.serial)


def post(
    http: httpx.Client, d: Device, task: dict[str, Any] | None = None, *, cr: bool = True, timeout_ms: int | None = 3000
) -> httpx.Response:
    params: dict[str, str] = {}
    if cr:
        params["connection_request"] = ""
    if timeout_ms is not None:
        params["timeout"] = str(timeout_ms)
    body = json.dumps(task) if task is not None else None
    return http.post(f"/devices/{url_segment(gid(d))}/tasks", params=params, content=body)


def doc(http: httpx.Client, d: Device, projection: str | None = None) -> dict[str, Any]:
    params = {"query": json.dumps({"_id": gid(d)})}
    if projection:
        params["projection"] = projection
    r = http.get("/devices/", params=params)
    assert r.status_code == 200
    items = r.json()
    assert len(items) == 1
    return items[0]


def node(document: dict[str, Any], path: str) -> dict[str, Any]:
    n = document
    for seg in path.split("."):
        n = n[seg]
    return n


def tasks_of(http: httpx.Client, d: Device) -> list[dict[str, Any]]:
    return http.get("/tasks/", params={"query": json.dumps({"device": gid(d)})}).json()


def next_interval(d: Device) -> None:
    """Sleep into the device's next refresh interval: a read there reaches the CPE again."""
    time.sleep(max(0.0, next_boundary(time.time(), gid(d)) - time.time()) + 0.01)


def wait_for(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def spvs(nbi: Any, d: Device) -> list[dict[str, Any]]:
    return [e for e in nbi.rpc_log(gid(d)) if e["rpc"] == "SetParameterValues" and e.get("parameterList")]


# --------------------------------------------------------------------------- documents and queries


def test_device_document_shape(http: httpx.Client, devices: dict[str, Device]) -> None:
    d = devices["tr181"]
    r = http.get(
        "/devices/",
        params={
            "query": json.dumps({"_id": gid(d)}),
            "projection": "_deviceId,_lastInform,Device.WiFi.Radio.1.Channel",
        },
    )
    assert r.status_code == 200 and r.headers["total"] == "1"
    assert r.text.startswith("[\n") and r.text.endswith("\n]")
    item = r.json()[0]
    assert set(item) == {"_id", "_deviceId", "_lastInform", "Device"}
    assert item["_deviceId"]["_SerialNumber"] == d.serial and item["_deviceId"]["_OUI"] == d.oui
    assert item["_lastInform"].endswith("Z")
    ch = node(item, "Device.WiFi.Radio.1.Channel")
    assert ch["_type"] == "xsd:unsignedInt" and isinstance(ch["_value"], int)
    assert ch["_writable"] is True and ch["_object"] is False and ch["_timestamp"].endswith("Z")
    full = doc(http, d)
    assert full["Device"]["WiFi"]["_object"] is True
    assert node(full, "Device.DeviceInfo.SoftwareVersion")["_writable"] is False
    assert node(full, "Device.WiFi.AccessPoint.1.Security.KeyPassphrase")["_value"] == ""  # secured: reads empty


def test_queries(http: httpx.Client, devices: dict[str, Device]) -> None:
    d = devices["tr181"]

    def ids(query: Any) -> set[str]:
        r = http.get("/devices/", params={"query": json.dumps(query), "projection": "_id"})
        assert r.status_code == 200, r.text
        return {i["_id"] for i in r.json()}

    assert ids({"_deviceId._SerialNumber": d.serial}) == {gid(d)}
    assert ids({"Device.DeviceInfo.SerialNumber": d.serial}) == {gid(d)}  # a parameter path means its _value
    assert gid(d) in ids({"_lastInform": {"$gt": "2000-01-01 00:00:00 +0000"}})
    assert ids({"_lastInform": {"$lt": "2000-01-01T00:00:00Z"}}) == set()
    assert gid(devices["tr098"]) in ids({"_id": {"$regex": "^00E0A8-"}})
    assert gid(devices["tr098"]) not in ids({"$or": [{"_id": gid(d)}, {"_deviceId._OUI": "nope"}]})
    assert gid(devices["usp"]) not in ids({})  # a USP agent never informed an ACS
    assert http.get("/devices/", params={"query": '{"_id": '}).status_code == 400
    bad = http.get("/devices/", params={"query": json.dumps({"_id": {"$where": "1"}})})
    assert bad.status_code == 400 and "$where" in bad.text
    assert http.get("/nosuchcollection/").status_code == 404
    assert http.head("/devices/", params={"query": json.dumps({"_id": gid(d)})}).headers["total"] == "1"


def test_odd_device_ids(http: httpx.Client, devices: dict[str, Device]) -> None:
    d = devices["odd"]
    assert d.serial == ODD_SERIAL
    assert gid(d) == "A4C3F0-G240W-LM%2DNT%2F90%2002%C3%BC"
    assert doc(http, d, "_id")["_id"] == gid(d)
    assert (
        post(http, d, {"name": "getParameterValues", "parameterNames": ["Device.DeviceInfo.UpTime"]}).status_code == 200
    )
    # forgetting the second encoding addresses a device that does not exist
    single = http.post(
        f"/devices/{gid(d)}/tasks", params={"connection_request": ""}, content=json.dumps({"name": "reboot"})
    )
    assert single.status_code == 404 and single.text == "No such device"


# --------------------------------------------------------------------------- tasks and outcomes


def test_every_answer_names_the_genieacs_version(http: httpx.Client, devices: dict[str, Device]) -> None:
    """lib/nbi.ts sets ``GenieACS-Version`` on every response (1.2.16 sends ``1.2.16+<build>``)."""
    r = http.post("/devices/NOPE-NOPE-1/tasks", content=json.dumps({"name": "reboot"}))
    assert r.status_code == 404 and r.headers["GenieACS-Version"].startswith("1.2.16")


def test_unknown_device_is_404(http: httpx.Client, devices: dict[str, Device]) -> None:
    r = http.post(
        "/devices/000000-NOPE-1/tasks", params={"connection_request": ""}, content=json.dumps({"name": "reboot"})
    )
    assert r.status_code == 404 and r.text == "No such device"
    usp = post(http, devices["usp"], {"name": "reboot"})
    assert usp.status_code == 404


def test_done_is_200_and_leaves_the_queue(http: httpx.Client, devices: dict[str, Device]) -> None:
    d = devices["tr181"]
    r = post(http, d, {"name": "getParameterValues", "parameterNames": ["Device.DeviceInfo.UpTime"]})
    assert r.status_code == 200 and r.reason_phrase == "OK"
    assert len(r.json()["_id"]) == 24 and r.json()["device"] == gid(d)
    assert tasks_of(http, d) == []


def test_a_connection_requested_session_starts_in_a_later_millisecond_than_its_task(
        http: httpx.Client, devices: dict[str, Device]) -> None:
    """A real CPE opens its session a network round trip after the connection request, so what its
    Inform carries (SoftwareVersion among it) is stamped later than the task, to GenieACS's
    millisecond. The fake once opened it at once: the same millisecond in about one session in five,
    and the adapter's read-back took the value for a cached one (CI runs failed on three in a row)."""
    d = devices["tr181"]
    sw = "Device.DeviceInfo.SoftwareVersion"
    for _ in range(30):
        r = post(http, d, {"name": "getParameterValues", "parameterNames": [sw]})
        assert r.status_code == 200, r.text
        queued = r.json()["timestamp"]
        got = doc(http, d, f"{sw},_lastInform")
        assert got["_lastInform"] > queued and node(got, sw)["_timestamp"] > queued, (queued, got)


def test_a_task_is_answered_at_genieacs_next_session_poll(http: httpx.Client, nbi: Any,
                                                           devices: dict[str, Device]) -> None:
    """GenieACS's NBI sees a task's session start and end by polling every 500 ms (lib/api-functions.ts
    awaitSessionStart/End), so a task on a CPE that answers at once still takes one poll; ``poll_s``
    gives the local NBI that latency (issue 37: the fan-out bench must wait like the real one)."""
    d = devices["tr181"]
    task = {"name": "getParameterValues", "parameterNames": ["Device.DeviceInfo.UpTime"]}
    assert post(http, d, task).status_code == 200
    next_interval(d)
    nbi.poll_s = 0.5
    try:
        start = time.monotonic()
        r = post(http, d, task)
        polled = time.monotonic() - start
    finally:
        nbi.poll_s = None
    assert r.status_code == 200 and r.reason_phrase == "OK"
    assert polled >= 0.5, polled  # never before the first poll (how soon after it is a machine's speed)


def test_queued_until_the_next_inform(http: httpx.Client, nbi: Any, twin: Any, devices: dict[str, Device]) -> None:
    d = devices["tr181"]
    r = post(http, d, {"name": "setParameterValues", "parameterValues": [[SSID1, "At Next Inform"]]}, cr=False)
    assert r.status_code == 202 and r.reason_phrase == "Accepted"
    assert [t["_id"] for t in tasks_of(http, d)] == [r.json()["_id"]]
    assert twin.params(d.id)[SSID1] != "At Next Inform"
    report = http.post(f"/_gateward/inform/{url_segment(gid(d))}").json()
    assert report["done"] == [r.json()["_id"]] and report["events"] == ["2 PERIODIC"]
    assert twin.params(d.id)[SSID1] == "At Next Inform"
    assert tasks_of(http, d) == []


def test_unreachable_device_gets_its_task_at_the_next_inform(
    http: httpx.Client, nbi: Any, twin: Any, devices: dict[str, Device]
) -> None:
    d = devices["tr181"]
    twin.inject(d.id, "unreachable")  # a NAT that drops the request: GenieACS 1.2.16 calls it offline
    r = post(http, d, {"name": "setParameterValues", "parameterValues": [[SSID1, "Behind NAT"]]})
    assert r.status_code == 202
    assert r.reason_phrase == "Device is offline"  # ECONNRESET after its timeout (lib/connection-request.ts)
    assert len(tasks_of(http, d)) == 1
    cr = post(http, d, None)
    assert cr.status_code == 504 and cr.reason_phrase == "Device is offline"
    twin.inject(d.id, "unreachable", says="error")  # a path that answers with an error instead
    cr = post(http, d, None)
    assert cr.status_code == 504 and cr.reason_phrase.startswith("Connection request error: connect EHOSTUNREACH")
    nbi.inform(d.id)  # the device still informs on its own schedule: the queued task runs
    assert twin.params(d.id)[SSID1] == "Behind NAT"
    assert tasks_of(http, d) == []


def test_offline_device(http: httpx.Client, nbi: Any, twin: Any, devices: dict[str, Device]) -> None:
    d = devices["tr181"]
    twin.inject(d.id, "offline")
    r = post(http, d, {"name": "reboot"})
    assert r.status_code == 202 and r.reason_phrase == "Device is offline"
    assert post(http, d, None).status_code == 504
    assert http.post(f"/_gateward/inform/{url_segment(gid(d))}").status_code == 409
    twin.clear(d.id)
    assert post(http, d, None).status_code == 200


def test_faulted_task(http: httpx.Client, twin: Any, devices: dict[str, Device]) -> None:
    d = devices["tr181"]
    before = twin.params(d.id)[SSID1]
    r = post(
        http,
        d,
        {"name": "setParameterValues", "parameterValues": [[SSID1, "Half"], ["Device.WiFi.Radio.1.Channel", 999]]},
    )
    assert r.status_code == 202 and r.reason_phrase == "Task faulted"
    tid = r.json()["_id"]
    fid = f"{gid(d)}:task_{tid}"
    faults = http.get("/faults/", params={"query": json.dumps({"_id": fid})}).json()
    assert len(faults) == 1
    f = faults[0]
    assert f["code"] == "cwmp.9007" and f["channel"] == f"task_{tid}" and f["device"] == gid(d)
    assert f["detail"]["setParameterValuesFault"][0]["parameterName"] == "Device.WiFi.Radio.1.Channel"
    assert twin.params(d.id)[SSID1] == before  # atomic: nothing landed
    assert [t["_id"] for t in tasks_of(http, d)] == [tid]  # a faulted task stays queued
    assert http.delete(f"/faults/{url_segment(fid)}").status_code == 200
    assert tasks_of(http, d) == [] and http.get("/faults/").json() == []


def test_unique_key_replaces_a_queued_task(http: httpx.Client, devices: dict[str, Device]) -> None:
    d = devices["tr181"]
    first = post(http, d, {"name": "reboot", "uniqueKey": "k"}, cr=False).json()
    second = post(http, d, {"name": "reboot", "uniqueKey": "k"}, cr=False).json()
    assert [t["_id"] for t in tasks_of(http, d)] == [second["_id"]] and first["_id"] != second["_id"]


def test_expired_task_is_dropped_unrun(http: httpx.Client, nbi: Any, twin: Any, devices: dict[str, Device]) -> None:
    d = devices["tr181"]
    r = post(
        http, d, {"name": "setParameterValues", "parameterValues": [[SSID1, "Too Late"]], "expiry": 0.05}, cr=False
    )
    assert r.json()["expiry"] > r.json()["timestamp"]
    time.sleep(0.1)
    report = nbi.inform(d.id)
    assert report.expired == [r.json()["_id"]]
    assert twin.params(d.id)[SSID1] != "Too Late" and tasks_of(http, d) == []


def test_delete_and_retry(http: httpx.Client, devices: dict[str, Device]) -> None:
    d = devices["tr181"]
    tid = post(http, d, {"name": "reboot"}, cr=False).json()["_id"]
    assert http.delete(f"/tasks/{tid}").status_code == 200
    gone = http.delete(f"/tasks/{tid}")
    assert gone.status_code == 404 and gone.text == "Task not found"
    assert http.post(f"/tasks/{tid}/retry").status_code == 404


def test_deleting_a_task_waits_for_the_devices_session(
    http: httpx.Client, nbi: Any, devices: dict[str, Device]
) -> None:
    """lib/nbi.ts: DELETE /tasks/<id> (and /faults/<id>) takes the device's cwmp_session lock: it
    waits for a session to end (503 "Device is in session" after 5 s) and then answers 200 even if
    that session ran the task — so a 200 alone does not prove the task never ran."""
    import threading

    d = devices["tr181"]
    tid = post(http, d, {"name": "getParameterValues", "parameterNames": [SSID1]}, cr=False).json()["_id"]
    gate = nbi.gate(gid(d))
    assert gate.acquire("session", 0)  # a session of the device is under way
    nbi.lock_wait_s = 0.3
    try:
        busy = http.delete(f"/tasks/{tid}")
        assert (busy.status_code, busy.text) == (503, "Device is in session")
        assert [t["_id"] for t in tasks_of(http, d)] == [tid]  # still queued
        fault = http.delete(f"/faults/{gid(d)}:task_{tid}")
        assert fault.status_code == 503
        nbi.lock_wait_s = 5.0
        threading.Timer(0.3, gate.release).start()  # the session ends while the DELETE waits
        start = time.monotonic()
        assert http.delete(f"/tasks/{tid}").status_code == 200
        assert time.monotonic() - start >= 0.25
    finally:
        with gate.cond:
            if gate.holder == "session":
                gate.holder = None
                gate.cond.notify_all()
    assert tasks_of(http, d) == []


def test_malformed_task_kills_the_worker(http: httpx.Client, nbi: Any, devices: dict[str, Device]) -> None:
    """As GenieACS 1.2.16 did when tried: the uncaught exception ends the worker gracefully, so the
    request is never answered and hangs until the client gives up (a read timeout, not a reset)."""
    d = devices["tr181"]
    with httpx.Client(base_url=nbi.url, timeout=0.5) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.post(f"/devices/{url_segment(gid(d))}/tasks",
                       content=json.dumps({"name": "setParameterValues", "parameterValues": [["", 1]]}))
    assert tasks_of(http, d) == []  # sanitizeTask threw before insertMany
    assert post(http, d, None).status_code == 200  # the next worker answers
    bad_json = http.post(f"/devices/{url_segment(gid(d))}/tasks", content=b"{nope")
    assert bad_json.status_code == 400 and bad_json.text.startswith("SyntaxError")


# --------------------------------------------------------------------------- GenieACS's Set semantics


def test_set_is_skipped_when_the_cache_already_holds_the_value(
    http: httpx.Client, nbi: Any, twin: Any, devices: dict[str, Device]
) -> None:
    d = devices["tr181"]
    cached = node(doc(http, d, SSID1), SSID1)["_value"]
    twin.device_change(d.id, {SSID1: "Changed In The Local GUI"})
    assert node(doc(http, d, SSID1), SSID1)["_value"] == cached  # GenieACS does not know yet
    r = post(http, d, {"name": "setParameterValues", "parameterValues": [[SSID1, cached, "xsd:string"]]})
    assert r.status_code == 200  # "done" ...
    assert spvs(nbi, d) == []  # ... but nothing was sent: the stale cache already "had" the value
    assert twin.params(d.id)[SSID1] == "Changed In The Local GUI"
    next_interval(d)  # inside the Set's refresh interval a read is answered from the cache
    post(http, d, {"name": "getParameterValues", "parameterNames": [SSID1]})  # refresh first, then it works
    post(http, d, {"name": "setParameterValues", "parameterValues": [[SSID1, cached, "xsd:string"]]})
    assert twin.params(d.id)[SSID1] == cached


def test_read_only_parameters_are_skipped_silently(
    http: httpx.Client, nbi: Any, twin: Any, devices: dict[str, Device]
) -> None:
    d = devices["tr181"]
    before = twin.params(d.id)["Device.DeviceInfo.SoftwareVersion"]
    r = post(
        http, d, {"name": "setParameterValues", "parameterValues": [["Device.DeviceInfo.SoftwareVersion", "hacked"]]}
    )
    assert r.status_code == 200 and spvs(nbi, d) == []
    assert twin.params(d.id)["Device.DeviceInfo.SoftwareVersion"] == before


def test_empty_parameter_key_and_dropped_status(
    http: httpx.Client, nbi: Any, twin: Any, devices: dict[str, Device]
) -> None:
    d = devices["tr181"]
    twin.inject(d.id, "reboot_required")
    r = post(http, d, {"name": "setParameterValues", "parameterValues": [[SSID1, "Key Test", "xsd:string"]]})
    assert r.status_code == 200
    (spv,) = spvs(nbi, d)
    assert spv["parameterKey"] == "" and spv["status"] == 1  # the CPE said "after reboot" ...
    f = http.get("/faults/").json()
    assert f == [] and "status" not in json.dumps(doc(http, d, "_id"))  # ... and nobody recorded it
    assert twin.params(d.id)["Device.ManagementServer.ParameterKey"] == ""


def test_type_comes_from_the_cache_and_values_are_converted(
    http: httpx.Client, nbi: Any, twin: Any, devices: dict[str, Device]
) -> None:
    d = devices["tr181"]
    path = "Device.WiFi.Radio.1.AutoChannelEnable"
    current = node(doc(http, d, path), path)["_value"]
    r = post(
        http, d, {"name": "setParameterValues", "parameterValues": [[path, "0" if current else "1", "xsd:string"]]}
    )
    assert r.status_code == 200
    assert spvs(nbi, d)[-1]["parameterList"] == [[path, not current, "xsd:boolean"]]


def test_9005_recovery_applies_the_rest(http: httpx.Client, nbi: Any, twin: Any, devices: dict[str, Device]) -> None:
    d = devices["tr181"]
    r = post(
        http,
        d,
        {"name": "setParameterValues", "parameterValues": [[SSID1, "Partly"], ["Device.WiFi.SSID.1.NoSuchLeaf", "x"]]},
    )
    assert r.status_code == 200  # no fault: the unknown name is dropped ...
    assert twin.params(d.id)[SSID1] == "Partly"  # ... and the rest is applied


def test_reboot_runs_after_the_session_and_the_cpe_informs_again(
    http: httpx.Client, nbi: Any, twin: Any, devices: dict[str, Device]
) -> None:
    d = devices["tr181"]
    nbi.boot_s = 1.0
    boots = twin.state(d.id).boot_count
    before = doc(http, d, "_lastBoot")["_lastBoot"]
    r = post(http, d, {"name": "reboot"})
    assert r.status_code == 200  # answered at the end of the session that delivered the Reboot RPC ...
    assert doc(http, d, "_lastBoot")["_lastBoot"] == before  # ... while the CPE is still down
    down = post(http, d, None)  # a bare connection request finds nobody
    assert down.status_code == 504 and down.reason_phrase == "Device is offline"
    wait_for(lambda: doc(http, d, "_lastBoot")["_lastBoot"] > r.json()["timestamp"])
    assert twin.state(d.id).boot_count == boots + 1
    informs = [e["events"] for e in nbi.rpc_log(gid(d)) if e["rpc"] == "Inform" and "result" not in e]
    assert ["1 BOOT", "M Reboot"] in informs[-2:]


def test_a_reboot_the_cpe_refuses_is_a_task_fault_and_nothing_happens(
    http: httpx.Client, nbi: Any, twin: Any, devices: dict[str, Device]
) -> None:
    """A CPE answering the Reboot RPC with a SOAP fault: GenieACS records ``cwmp.<code>`` on the
    task's channel (as for any RPC fault) and the task stays; the CPE does not restart (issue 37)."""
    d = devices["tr181"]
    boots = twin.state(d.id).boot_count
    twin.inject(d.id, "command_refused", command="reboot", code=9001, message="request denied")
    try:
        r = post(http, d, {"name": "reboot"})
        assert r.status_code == 202 and r.reason_phrase == "Task faulted"
        fid = f"{gid(d)}:task_{r.json()['_id']}"
        (f,) = http.get("/faults/", params={"query": json.dumps({"_id": fid})}).json()
        assert f["code"] == "cwmp.9001" and "request denied" in f["message"]
        time.sleep(0.3)
        assert twin.state(d.id).boot_count == boots  # it did not restart
        assert [e for e in nbi.rpc_log(gid(d)) if e["rpc"] == "Fault"]
    finally:
        twin.clear(d.id, "command_refused")


def test_add_and_delete_object(http: httpx.Client, twin: Any, devices: dict[str, Device]) -> None:
    d = devices["tr181"]
    rows = {p.split(".")[4] for p in twin.params(d.id) if p.startswith("Device.DNS.Client.Server.")}
    r = post(http, d, {"name": "addObject", "objectName": "Device.DNS.Client.Server"})
    assert r.status_code == 200
    new = {p.split(".")[4] for p in twin.params(d.id) if p.startswith("Device.DNS.Client.Server.")} - rows
    assert len(new) == 1
    inst = new.pop()
    assert (
        f"Device.DNS.Client.Server.{inst}.DNSServer" in json.dumps(doc(http, d, "Device.DNS.Client.Server"))
        or node(doc(http, d, "Device.DNS.Client.Server"), f"Device.DNS.Client.Server.{inst}")["_object"] is True
    )
    assert post(http, d, {"name": "deleteObject", "objectName": f"Device.DNS.Client.Server.{inst}"}).status_code == 200
    assert not any(p.startswith(f"Device.DNS.Client.Server.{inst}.") for p in twin.params(d.id))


def test_download_is_done_at_the_download_response_and_settled_by_the_transfer_complete(
    http: httpx.Client, nbi: Any, twin: Any, devices: dict[str, Device]
) -> None:
    """Issue 37 item 6, as GenieACS 1.2.16 did with genieacs-sim: the download task is answered 200
    as soon as the CPE answers DownloadResponse (Status 1) — even for a file the server lacks — and
    ``Downloads.1`` appears with ``Download`` = the session's time and ``LastDownload`` still 1970.
    The outcome comes in the CPE's TransferComplete in a *later* session: for a missing file
    genieacs-sim's ``9016 Unexpected response 404``, recorded as a fault on the (gone) task's
    channel with ``Download`` put back; for a file the CPE installed, ``LastDownload`` = the download's
    time and ``LastFileName``, after the CPE rebooted into it (``1 BOOT``, ``7 TRANSFER COMPLETE``)."""
    d = devices["vantec"]
    r = post(http, d, {"name": "download", "fileType": "1 Firmware Upgrade Image", "fileName": "7.4.1-beta3.bin"})
    assert r.status_code == 200 and tasks_of(http, d) == []
    tid = r.json()["_id"]
    dl = node(doc(http, d, "Downloads"), "Downloads.1")
    assert dl["FileName"]["_value"] == "7.4.1-beta3.bin" and dl["LastDownload"]["_value"].startswith("1970")
    assert http.get("/faults/").json() == []  # nothing yet: the CPE reports in its next session
    # the CPE's next session (the transfer runs after the download session: inform until it is in)
    fault = wait_for(lambda: nbi.inform(d.id, ["6 CONNECTION REQUEST"]) and http.get("/faults/").json())[0]
    assert (fault["code"], fault["message"]) == ("cwmp.9016", "Unexpected response 404")
    assert fault["channel"] == f"task_{tid}"
    assert node(doc(http, d, "Downloads"), "Downloads.1.Download")["_value"].startswith("1970")
    http.delete(f"/faults/{url_segment(fault['_id'])}")
    put = http.put(
        "/files/7.4.1-beta3.bin",
        content=b"\x00" * 64,
        headers={
            "fileType": "1 Firmware Upgrade Image",
            "oui": d.oui,
            "productClass": d.product_class,
            "version": "7.4.1-beta3",
        },
    )
    assert put.status_code == 201
    assert http.get("/files/", params={"query": json.dumps({"_id": "7.4.1-beta3.bin"})}).json()[0]["length"] == 64
    ok = post(http, d, {"name": "download", "fileType": "1 Firmware Upgrade Image", "fileName": "7.4.1-beta3.bin"})
    assert ok.status_code == 200
    done = wait_for(lambda: (x := node(doc(http, d, "Downloads"), "Downloads.1"))["LastFileName"]["_value"] and x)
    assert done["LastDownload"]["_value"] == done["Download"]["_value"] != "1970-01-01T00:00:00.000Z"
    assert twin.device(d.id).firmware == "7.4.1-beta3" and http.get("/faults/").json() == []
    assert any(e.get("rpc") == "Inform" and "7 TRANSFER COMPLETE" in e["events"] for e in nbi.rpcs)


# --------------------------------------------------------------------------- the rest of the NBI


def test_tags_presets_and_device_deletion(http: httpx.Client, nbi: Any, devices: dict[str, Device]) -> None:
    d = devices["tr181"]
    seg = url_segment(gid(d))
    assert http.post(f"/devices/{seg}/tags/gateward-key-p%2D1").status_code == 200
    assert doc(http, d, "_tags")["_tags"] == ["gateward-key-p-1"]
    assert http.delete(f"/devices/{seg}/tags/gateward-key-p%2D1").status_code == 200
    assert "_tags" not in doc(http, d, "_tags")
    preset = {"weight": 0, "precondition": "{}", "configurations": []}
    assert http.put("/presets/inform", content=json.dumps(preset)).status_code == 200
    assert http.get("/presets/").json()[0]["_id"] == "inform"
    assert http.delete("/presets/inform").status_code == 200
    post(http, d, {"name": "reboot"}, cr=False)
    assert http.delete(f"/devices/{seg}").status_code == 200
    assert http.get("/devices/", params={"query": json.dumps({"_id": gid(d)})}).json() == []
    assert tasks_of(http, d) == []
    nbi.inform(d.id, ["1 BOOT"])  # it registers again when it next informs
    assert doc(http, d, "_id")["_id"] == gid(d)


def test_auth_header_is_enforced(twin: Any, devices: dict[str, Device]) -> None:
    from testing.genieacs.fake_nbi import FakeNbi

    with (
        FakeNbi(twin, tick_s=None, require_auth="Basic Z2F0ZXdhcmQ6czNjcmV0") as fake,
        httpx.Client(base_url=fake.url) as c,
    ):
        r = c.get("/devices/")
        assert r.status_code == 401 and "Basic" in r.headers["WWW-Authenticate"]
        assert c.get("/devices/", headers={"Authorization": "Basic Z2F0ZXdhcmQ6czNjcmV0"}).status_code == 200


def test_injected_nbi_failures(http: httpx.Client, nbi: Any) -> None:
    nbi.inject_nbi_failure("http500")
    assert http.get("/devices/").status_code == 500
    nbi.inject_nbi_failure("drop")
    with pytest.raises(httpx.RemoteProtocolError):
        http.get("/devices/")
    assert http.get("/_gateward/health").json()["ok"] is True
    with pytest.raises(ValueError, match="unknown NBI failure"):
        nbi.inject_nbi_failure("explode")


def test_an_internal_error_is_a_500_not_a_crash(
    http: httpx.Client, nbi: Any, devices: dict[str, Device], monkeypatch: pytest.MonkeyPatch
) -> None:
    d = devices["tr181"]
    doc(http, d, "_id")  # GenieACS knows it ...

    def broken(rec: Any) -> float:  # ... and its store fails reading the document
        raise RuntimeError(f"UnknownDevice: the store lost {rec.id}")

    monkeypatch.setattr(nbi, "last_inform", broken)
    r = http.get("/devices/", params={"query": json.dumps({"_id": gid(d)})})
    assert r.status_code == 500 and "UnknownDevice" in r.text
    monkeypatch.undo()
    assert http.get("/_gateward/health").json()["ok"] is True


def test_object_tasks_through_the_client(nbi: Any, twin: Any, devices: dict[str, Device]) -> None:
    from executors.genieacs import tasks as T
    from executors.genieacs.nbi import NbiClient

    d = devices["tr181"]
    client = NbiClient(nbi.url)
    before = {p for p in twin.params(d.id) if p.startswith("Device.DNS.Client.Server.")}
    out = client.post_task(gid(d), T.add_object("Device.DNS.Client.Server", [("DNSServer", "9.9.9.9")]))
    assert out.kind == "done"
    added = {p for p in twin.params(d.id) if p.startswith("Device.DNS.Client.Server.")} - before
    inst = next(iter(added)).split(".")[4]
    assert twin.params(d.id)[f"Device.DNS.Client.Server.{inst}.DNSServer"] == "9.9.9.9"
    assert client.post_task(gid(d), T.delete_object(f"Device.DNS.Client.Server.{inst}")).kind == "done"
    assert {p for p in twin.params(d.id) if p.startswith("Device.DNS.Client.Server.")} == before
    client.close()
