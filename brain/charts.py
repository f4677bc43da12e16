"""The series an approver weighs beside a radio change that no diagnosis measured.

A diagnosed change carries the series its finding was judged on (``playbooks.measured_series``).
An explicit "set channel 11" or a model's draft names a radio, not a reading — yet whoever approves
it weighs the same air: how busy that radio's channel has been (channel, width, auto-channel), or
how well its clients hear it (transmit power). The line drawn is the detectors' own, named as such.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from brain.detectors.thresholds import thresholds
from brain.plan import Measure
from core.models import Change

_RADIO = re.compile(
    r"^Device\.WiFi\.Radio\.(\d+)\.(Channel|OperatingChannelBandwidth|AutoChannelEnable|TransmitPower)$")


def change_measure(changes: Sequence[Change]) -> Measure | None:
    """The measure of the first radio setting among ``changes``; None when none is a radio's."""
    for change in changes:
        m = _RADIO.match(change.path)
        if m is None:
            continue
        t, labels = thresholds(), {"radio": m.group(1)}
        if m.group(2) == "TransmitPower":
            return Measure(metric="wifi.client_rssi_dbm", labels=labels, threshold=t.weak_client_dbm,
                           threshold_text=f"weak: average below {t.weak_client_dbm:g} dBm (the detectors' line)")
        return Measure(metric="wifi.channel_utilization_pct", labels=labels, threshold=t.busy_channel_pct,
                       threshold_text=f"busy: evening average above {t.busy_channel_pct:g} % (the detectors' line)")
    return None
