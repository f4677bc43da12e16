"""Every task is checked before it leaves the process: a malformed one kills a GenieACS worker."""

from __future__ import annotations

import math
from typing import Any

import pytest

from executors.genieacs import tasks as T
from executors.genieacs.xsd import XsdValueError, decode, encode


def test_builders_make_valid_tasks() -> None:
    assert T.get_values(["Device.WiFi.Radio.1.Channel", "Device.WiFi.Radio.1.Channel"], expiry_s=60) == {
        "name": "getParameterValues",
        "parameterNames": ["Device.WiFi.Radio.1.Channel"],
        "expiry": 60,
    }
    spv = T.set_values(
        [
            ("Device.WiFi.Radio.1.Channel", "36", "xsd:unsignedInt"),
            ("Device.WiFi.Radio.1.Enable", "false", "xsd:boolean"),
        ],
        unique_key="gateward-set-p-1",
    )
    assert spv["parameterValues"] == [
        ["Device.WiFi.Radio.1.Channel", 36, "xsd:unsignedInt"],
        ["Device.WiFi.Radio.1.Enable", False, "xsd:boolean"],
    ]
    assert T.refresh_object("Device.WiFi.")["objectName"] == "Device.WiFi"
    assert T.refresh_object("")["objectName"] == ""
    T.validate_task({"name": "deleteObject", "objectName": "Device.DNS.Client.Server.2"})
    T.validate_task({"name": "download", "fileType": "1 Firmware Upgrade Image", "fileName": "fw.bin"})


@pytest.mark.parametrize(
    ("task", "needle"),
    [
        ({"name": "getParameterValue", "parameterNames": ["Device.A"]}, "unknown task name"),
        ({"name": "getParameterValues", "parameterNames": []}, "non-empty parameterNames"),
        ({"name": "getParameterValues", "parameterNames": ["Device.WiFi.Radio.*.Channel"]}, "not a TR-069 path"),
        ({"name": "getParameterValues", "parameterNames": ["Device.WiFi."]}, "no trailing dot"),
        ({"name": "getParameterValues", "parameterNames": ["Foo.Bar"]}, "not a TR-069 path"),
        ({"name": "getParameterValues", "parameterNames": ["Device." + "A" * 260]}, "longer than 256"),
        ({"name": "getParameterValues", "parameterNames": [7]}, "non-empty string"),
        ({"name": "getParameterValues", "parameterNames": ["Device.A"], "objectName": "x"}, "unexpected field"),
        ({"name": "setParameterValues", "parameterValues": []}, "non-empty list"),
        ({"name": "setParameterValues", "parameterValues": [["Device.A", 1, "xsd:integer"]]}, "not a CWMP value type"),
        ({"name": "setParameterValues", "parameterValues": [["Device.A", "six", "xsd:unsignedInt"]]}, "non-integer"),
        (
            {"name": "setParameterValues", "parameterValues": [["Device.A", "6", "xsd:unsignedInt"]]},
            "xsd:unsignedInt form",
        ),
        ({"name": "setParameterValues", "parameterValues": [["Device.A", -1, "xsd:unsignedInt"]]}, "outside the range"),
        ({"name": "setParameterValues", "parameterValues": [["Device.A", True, "xsd:int"]]}, "boolean"),
        ({"name": "setParameterValues", "parameterValues": [["Device.A", math.nan]]}, "value must be"),
        ({"name": "setParameterValues", "parameterValues": [["Device.A", None]]}, "value must be"),
        ({"name": "setParameterValues", "parameterValues": [["Device.A", 1], ["Device.A", 2]]}, "set twice"),
        ({"name": "setParameterValues", "parameterValues": [["Device.A"]]}, "[path, value]"),
        ({"name": "setParameterValues", "parameterValues": [["Device.A", "zz", "xsd:hexBinary"]]}, "hexBinary"),
        ({"name": "reboot", "expiry": -1}, "expiry"),
        ({"name": "reboot", "expiry": True}, "expiry"),
        ({"name": "reboot", "uniqueKey": "has space"}, "uniqueKey"),
        ({"name": "deleteObject", "objectName": "Device.DNS.Client.Server"}, "instance path"),
        ({"name": "download", "fileType": "1 Firmware Upgrade Image"}, "fileName"),
        ("reboot", "JSON object"),
    ],
)
def test_malformed_tasks_are_refused(task: Any, needle: str) -> None:
    with pytest.raises(T.InvalidTask) as err:
        T.validate_task(task)
    assert needle in str(err.value)


def test_builders_refuse_values_of_the_wrong_type() -> None:
    with pytest.raises(XsdValueError):
        T.set_values([("Device.WiFi.Radio.1.Channel", "six", "xsd:unsignedInt")])


def test_xsd_round_trip() -> None:
    assert encode("1", "xsd:boolean") is True and encode(0, "xsd:boolean") is False
    assert encode("-5", "xsd:int") == -5 and encode(7.0, "xsd:unsignedInt") == 7
    assert encode(True, "xsd:string") == "true"
    assert encode("2024-01-31T12:00:00Z", "xsd:dateTime") == "2024-01-31T12:00:00Z"
    with pytest.raises(XsdValueError):
        encode("yesterday", "xsd:dateTime")
    with pytest.raises(XsdValueError):
        encode(2**32, "xsd:unsignedInt")
    assert decode("true", "xsd:boolean") is True and decode(36, "xsd:unsignedInt") == 36
    assert decode(None, "xsd:string") == ""


def test_object_tasks() -> None:
    add = T.add_object("Device.DNS.Client.Server.", [("DNSServer", "9.9.9.9"), ("Enable", True)], expiry_s=30)
    assert add == {
        "name": "addObject",
        "objectName": "Device.DNS.Client.Server",
        "parameterValues": [["DNSServer", "9.9.9.9"], ["Enable", True]],
        "expiry": 30,
    }
    assert T.delete_object("Device.DNS.Client.Server.3.") == {
        "name": "deleteObject",
        "objectName": "Device.DNS.Client.Server.3",
    }
    with pytest.raises(T.InvalidTask, match="inside the new instance"):
        T.add_object("Device.DNS.Client.Server", [("Device.DNS.Client.Server.1.DNSServer", "x")])
    with pytest.raises(T.InvalidTask, match="instance path"):
        T.delete_object("Device.DNS.Client.Server")
