"""``brain.qualify.cannot_report``: a condition the device can never report is asked about, not drafted;
one it cannot report *now* (offline, busy, a fault) is left for the write to judge (issue 55 item 1).

Only a neighbour condition reads a table a data model may lack (TR-098 has no
``NeighboringWiFiDiagnostic``), so every other fact is never read here. The device read is the one
``ToolContext.live_read`` makes; the context is a stand-in that records what was asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from brain.qualify import cannot_report
from core import preconditions
from core.kernel.jsontypes import JsonObject
from core.kernel.models import Precondition
from core.kernel.ports.errors import DeviceOffline, ExecutorError, Fault, InvalidParameterName, Timeout


@dataclass
class _Ctx:
    """What ``cannot_report`` uses of a ``ToolContext``: its live read."""

    raises: Exception | None = None
    asked: list[list[str]] = field(default_factory=list)

    def live_read(self, paths: list[str]) -> JsonObject:
        self.asked.append(list(paths))
        if self.raises is not None:
            raise self.raises
        return {preconditions.SCAN + "1.SSID": "neighbour", preconditions.SCAN + "1.Channel": 44}


def _c(fact: str) -> Precondition:
    return Precondition(fact=fact, expect="eq", value=0, text=f"{fact} holds")  # type: ignore[arg-type]


def test_a_device_whose_data_model_has_no_scan_table_cannot_report_its_neighbours() -> None:
    ctx = _Ctx(InvalidParameterName("igd-1", "invalid parameter name(s): " + preconditions.SCAN))
    why = cannot_report(ctx, _c("neighbour_on_channel"))  # type: ignore[arg-type]
    assert why is not None and preconditions.SCAN in why
    assert ctx.asked == [[preconditions.SCAN]]  # read live, as the write will read it


def test_the_reason_is_bounded() -> None:
    ctx = _Ctx(InvalidParameterName("igd-1", "x" * 5000))
    why = cannot_report(ctx, _c("neighbour_on_channel"))  # type: ignore[arg-type]
    assert why == "x" * 200


@pytest.mark.parametrize("error", [DeviceOffline("d", "offline"), Timeout("d", "no answer"),
                                   Fault("d", "internal error"), ExecutorError("d", "broken")],
                         ids=["offline", "timeout", "other-fault", "executor-error"])
def test_a_device_unreachable_now_can_report_later(error: Exception) -> None:
    """Offline, slow or failing now is judged at the write: no question now."""
    ctx = _Ctx(error)
    assert cannot_report(ctx, _c("neighbour_on_channel")) is None  # type: ignore[arg-type]
    assert ctx.asked == [[preconditions.SCAN]]


def test_a_device_that_reads_its_scan_table_can_report() -> None:
    ctx = _Ctx()
    assert cannot_report(ctx, _c("neighbour_on_channel")) is None  # type: ignore[arg-type]
    assert ctx.asked == [[preconditions.SCAN]]


@pytest.mark.parametrize("fact", ["dns_servers", "hosts_connected", "online", "firmware", "channel",
                                  "band_enabled", "ssid_enabled", "uptime", "power"])
def test_other_facts_are_never_read_here(fact: str) -> None:
    ctx = _Ctx(InvalidParameterName("igd-1", "would refuse"))
    assert cannot_report(ctx, _c(fact)) is None  # type: ignore[arg-type]
    assert ctx.asked == []
