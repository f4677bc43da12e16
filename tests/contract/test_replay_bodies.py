"""A recorded exchange stands for the request Gateward sent when it was recorded (issue 58 item 8).

The replay matched requests by method and path only, so a Set carrying another value, or a read of
other parameters, was answered with what the real GenieACS had said to the recorded request: a
change in what Gateward sends passed every recorded test. A write is matched by its body too, with
only the parts that are new in every run (a one-off task's random ``uniqueKey`` tail, the proposal id
in a Set's) left out.
"""

from __future__ import annotations

import json

import httpx

from testing.recorded_http import Cassette, Exchange, ReplayServer

TASKS = "/devices/202BC1-BM632w-000046/tasks?timeout=10000&connection_request="


def _set(value: str, key: str = "gateward-set-p-0123456789ab") -> str:
    return json.dumps({"name": "setParameterValues", "expiry": 300.0, "uniqueKey": key,
                       "parameterValues": [["InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.SSID", value,
                                            "xsd:string"]]}, separators=(",", ":"))


def _read(*names: str, key: str = "gateward-get-279d156d92304817") -> str:
    return json.dumps({"name": "getParameterValues", "parameterNames": list(names), "expiry": 300.0,
                       "uniqueKey": key}, separators=(",", ":"))


def _cassette(*bodies: str) -> Cassette:
    return Cassette("GenieACS 1.2.16", "made up for the matching rules", [
        Exchange("POST", TASKS, body, 200, "OK", {"Content-Type": "application/json"}, "{}", at=float(i))
        for i, body in enumerate(bodies)])


def _post(replay: ReplayServer, body: str) -> int:
    return httpx.post(replay.url + TASKS, content=body.encode(), timeout=5.0).status_code


def test_a_set_with_another_value_than_recorded_is_not_answered() -> None:
    with ReplayServer(_cassette(_set("recorded-ssid"))) as replay:
        assert _post(replay, _set("another-ssid")) == 599
    assert len(replay.unmatched) == 1 and "another-ssid" in replay.unmatched[0], replay.unmatched


def test_a_read_of_other_parameters_than_recorded_is_not_answered() -> None:
    wlan = "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1"
    with ReplayServer(_cassette(_read(wlan))) as replay:
        assert _post(replay, _read(wlan, "InternetGatewayDevice.DeviceInfo")) == 599
    assert replay.unmatched


def test_what_is_new_in_every_run_still_matches() -> None:
    """The random tail of a one-off task's key, the proposal id in a Set's key, the names' order."""
    wlan, interval = "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1", "InternetGatewayDevice.ManagementServer."
    recorded = _cassette(_read(wlan, interval), _set("lab"))
    with ReplayServer(recorded) as replay:
        assert _post(replay, _read(interval, wlan, key="gateward-get-0f0e0d0c0b0a0908")) == 200
        assert _post(replay, _set("lab", key="gateward-set-p-fedcba987654")) == 200
    assert replay.unmatched == []
