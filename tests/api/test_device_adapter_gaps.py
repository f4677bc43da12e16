"""A device the inventory holds but its adapter cannot reach — registered for the simulator and
missing from the simulated fleet, unreachable behind NAT, refusing a command — is answered on
every device route with a sentence, never ``500 internal error (a bug)``; a diagnostic refused so is
audited, and the CLI says it on one line (exit ≠ 0, no traceback).

The ghost device is registered through the API as an admin would (``POST /api/devices``): a real
inventory row whose adapter is ``sim`` and that the simulator's twin does not hold.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from testing.cli import run_cli
from tests.api.conftest import Api, pick
from tests.conftest import seeded_db_url

_ghosts = itertools.count(1)
NO_TWIN = "no such device in the simulated fleet"


def _ghost(api: Api) -> str:
    """A device registered for the simulated adapter that the simulated fleet does not hold."""
    serial = f"G{next(_ghosts)}"
    r = api.post("/api/devices", {"id": f"00AAAA-Ghost-{serial}", "adapter": "sim", "root": "Device.",
                                  "vendor": "Acme", "model": "Ghost", "firmware": "1.0"}, user="dave")
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _no_bug(r: Any) -> dict[str, Any]:
    assert r.status_code < 500, f"{r.request.url}: {r.status_code} {r.text}"
    body: dict[str, Any] = r.json()
    return body


def _audited(api: Api, device: str, action: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get("/api/audit", params={"device": device, "action": action},
                                          user="erin").json()["items"]
    return items


def test_every_read_route_answers_a_device_the_simulator_lacks(api: Api) -> None:
    ghost = _ghost(api)
    detail = _no_bug(api.get(f"/api/devices/{ghost}", params={"live": "true"}))
    assert detail["presence"]["online"] is False and NO_TWIN in detail["presence"]["detail"]
    assert detail["live"] is None and NO_TWIN in detail["live_error"]
    live = _no_bug(api.get(f"/api/devices/{ghost}/parameters", params={"live": "true"}))
    assert live["live"] is None and NO_TWIN in live["live_error"]
    assert _no_bug(api.get(f"/api/devices/{ghost}/parameters"))["parameters"] == []
    tree = _no_bug(api.get(f"/api/devices/{ghost}/tree", params={"live": "true", "prefix": "Device.WiFi."}))
    assert tree["nodes"] == [] and NO_TWIN in tree["error"]
    assert _no_bug(api.get(f"/api/devices/{ghost}/tree"))["error"] is None
    assert _no_bug(api.get(f"/api/devices/{ghost}/history"))["device_id"] == ghost
    assert _no_bug(api.get(f"/api/devices/{ghost}/topology"))["device_id"] == ghost
    assert _no_bug(api.get(f"/api/support/devices/{ghost}/upstream"))["device_id"] == ghost
    listed = _no_bug(api.get("/api/devices", params={"q": ghost, "presence": "true"}))["items"]
    assert [d["id"] for d in listed] == [ghost] and listed[0]["presence"]["online"] is False
    offline = _no_bug(api.get("/api/devices", params={"q": "Ghost", "state": "offline"}))["items"]
    assert ghost in {d["id"] for d in offline}


def test_a_diagnostic_on_a_device_the_simulator_lacks_is_refused_and_audited(api: Api) -> None:
    ghost = _ghost(api)
    r = api.post(f"/api/devices/{ghost}/diagnostics/ipping", {"host": "8.8.8.8", "repetitions": 2})
    body = _no_bug(r)
    assert r.status_code == 409 and body["error"] == "device_unavailable", r.text
    assert ghost in body["detail"] and NO_TWIN in body["detail"] and "nothing was run" in body["detail"]
    refused = _audited(api, ghost, "diagnostic.refused")
    assert len(refused) == 1 and refused[0]["actor"] == "alice"
    assert refused[0]["data"]["command"] == "ipping" and NO_TWIN in refused[0]["data"]["reason"]
    assert _audited(api, ghost, "diagnostic.ipping") == []


def test_actions_on_a_device_the_simulator_lacks_are_refused_in_words(api: Api) -> None:
    """The console's action buttons propose an operation (reboot) or a change: the preview cannot
    read the device, policy denies it with that reason, and nothing can be applied."""
    ghost = _ghost(api)
    for draft in ({"operations": [{"command": "reboot", "args": {"reason": "support asked"}}]},
                  {"changes": [{"path": "Device.WiFi.Radio.1.Channel", "value": 6}]}):
        r = api.post("/api/proposals", {"intent": "try the ghost", "targets": [ghost], **draft})
        p = _no_bug(r)["proposal"]
        assert r.status_code == 201 and p["state"] == "denied", r.text
        applied = api.post(f"/api/proposals/{p['id']}/apply")
        assert _no_bug(applied)["error"] == "conflict", applied.text


@pytest.mark.parametrize("fault", ["unreachable", "command_refused"])
def test_a_diagnostic_the_device_cannot_answer_is_refused_and_audited(api: Api, fault: str) -> None:
    """Online but not reachable (NAT), or refusing the command: the ping never ran."""
    from gateward.seed import twin_for

    dev = pick(api)["id"]
    twin = twin_for(api.rt)
    params = {"command": "ipping", "code": 9001, "message": "diagnostics disabled"} if fault == "command_refused" \
        else {}
    twin.inject(dev, fault, **params)
    try:
        r = api.post(f"/api/devices/{dev}/diagnostics/ipping", {"host": "8.8.8.8", "repetitions": 1})
    finally:
        twin.clear(dev)
    body = _no_bug(r)
    assert r.status_code == 409 and dev in body["detail"] and "nothing was run" in body["detail"], r.text
    assert body["error"] == ("device_unavailable" if fault == "unreachable" else "device_refused")
    assert [e["data"]["command"] for e in _audited(api, dev, "diagnostic.refused")] == ["ipping"]
    ok = api.post(f"/api/devices/{dev}/diagnostics/ipping", {"host": "8.8.8.8", "repetitions": 1})
    assert ok.status_code == 200 and len(_audited(api, dev, "diagnostic.ipping")) == 1, ok.text


def test_the_cli_says_it_on_one_line(tmp_path: Path) -> None:
    url, drop = seeded_db_url("sqlite", tmp_path, homes=4)
    env = {"GATEWARD_DATABASE_URL": url, "GATEWARD_HOME": str(tmp_path), "COLUMNS": "200"}
    try:
        add = run_cli("devices", "add", "--id", "00AAAA-Ghost-C1", "--adapter", "sim", "--root", "Device.",
                      "--vendor", "Acme", "--model", "Ghost", "--firmware", "1.0", "--as", "dave", env=env)
        assert add.returncode == 0, add.stderr
        for device, args in (("00AAAA-Ghost-C1", ("diagnose", "00AAAA-Ghost-C1", "--as", "alice")),
                             ("00AAAA-Ghost-C1", ("fault", "inject", "00AAAA-Ghost-C1", "offline")),
                             ("00AAAA-Ghost-C1", ("fault", "clear", "00AAAA-Ghost-C1")),
                             ("NOPE-NOPE-1", ("fault", "inject", "NOPE-NOPE-1", "offline"))):
            r = run_cli(*args, env=env)
            assert r.returncode == 2 and "Traceback" not in r.stderr, (args, r.stderr)
            lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
            assert len(lines) == 1 and NO_TWIN in lines[0] and device in lines[0], (args, r.stderr)
    finally:
        drop()
