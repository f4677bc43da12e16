"""The series an approver weighs beside a radio change that no diagnosis measured.

A diagnosed change carries the series its finding was judged on (``playbooks.measured_series``).
An explicit "set channel 11" or a model's draft names a radio, not a reading — yet whoever approves
it weighs the same air: how busy that radio's channel has been (channel, width, auto-channel), or
how well its clients hear it (transmit power). The line drawn is the detectors' own, named as such.
A joint building plan moves several homes at once: its approver gets the plan's numbers and the
air of the homes it moves (``joint_evidence``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from brain.detectors.thresholds import thresholds
from brain.plan import Measure
from core import history
from core.kernel.models import Change, Evidence, EvidenceSeries

if TYPE_CHECKING:
    from brain.fleetplan import JointPlan

SERIES_HOURS = 24  # the day the diagnosis read (brain.evidence)
JOINT_CHARTS = 3  # a building's approver weighs a few homes' air, not a wall of charts

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


def series_for(s: Session, device_id: str, m: Measure | None) -> EvidenceSeries | None:
    """``m``'s stored series of one device over the day the diagnosis reads, named in words with
    its unit and threshold; None when nothing is measured or fewer than two samples are stored (no
    line to draw)."""
    if m is None:
        return None
    points = history.metric_series(s, device_id, m.metric, labels=m.labels, hours=SERIES_HOURS, how=m.how)
    if len(points) < 2:
        return None
    name, unit = history.metric_name(m.metric)
    return EvidenceSeries(metric=m.metric, name=name, unit=unit, labels=m.labels, hours=SERIES_HOURS, points=points,
                          threshold=m.threshold, threshold_text=m.threshold_text)


def joint_evidence(s: Session, plans: Sequence[JointPlan]) -> list[Evidence]:
    """What an approver weighs beside a joint channel plan: per band, the plan's numbers (homes,
    pairs that hear each other, clashes it resolves and leaves, DFS moves), then the channel
    utilisation of the moving homes — those leaving a channel an adjacent home shares first — at
    most :data:`JOINT_CHARTS` charts in all."""
    out: list[Evidence] = []
    charts: list[Evidence] = []
    for plan in plans:
        moves = plan.moves
        if not moves:
            continue
        out.append(Evidence(kind="finding", summary=(
            f"joint {plan.band} plan for {plan.scope} {plan.scope_id}: {len(moves)} of {len(plan.homes)} homes move"),
            data={"band": plan.band, "homes": len(plan.homes), "pairs that hear each other": len(plan.edges),
                  "clashes resolved": plan.conflicts_resolved, "clashes left": plan.conflicts,
                  "DFS moves": sum(1 for a in moves if a.dfs), "width MHz": plan.width_mhz}))
        currents = {a.device_id: a.current for a in plan.assignments}
        clashing = {x for a, b in plan.edges if currents[a] is not None and currents[a] == currents[b] for x in (a, b)}
        for a in sorted(moves, key=lambda a: a.device_id not in clashing):
            if len(charts) >= JOINT_CHARTS:
                break
            ser = series_for(s, a.device_id, change_measure([Change(path=f"Device.WiFi.Radio.{a.radio}.Channel",
                                                                    value=a.channel)]))
            if ser is not None:
                charts.append(Evidence(kind="telemetry", data={"series": ser.model_dump(mode="json")}, summary=(
                    f"{ser.name} of {a.device_id}'s {plan.band} radio, channel "
                    f"{a.current if a.current is not None else '?'} → {a.channel}, last {ser.hours} h")))
    return out + charts
