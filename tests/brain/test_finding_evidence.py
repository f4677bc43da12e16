"""An approver weighs the two or three facts behind a change first (issue 39 item 4): a drafted
proposal carries the planner's finding — its summary and its numbers — as its first piece of
evidence, before the tool reads ("tool:read_parameters: 51 live value(s)") the console folds away."""

from __future__ import annotations

from typing import Any

import pytest

from brain.plan import Finding
from brain.playbooks import finding_facts
from tests.brain.conftest import run_turn


def test_a_drafted_change_leads_its_evidence_with_the_finding(svc: Any, rt: Any, device: Any, actor: Any) -> None:
    dev = device("dfs_radar", 0)
    alice = actor("alice")
    tid = svc.start(dev, alice)
    events = run_turn(svc, tid, "the wifi keeps dropping in the evening", alice)
    prop = next((e for e in events if e.kind == "proposal"), None)
    assert prop is not None, [e.text for e in events if e.kind not in ("step", "tool")]
    try:
        evidence = rt.lifecycle.get(prop.data["proposal_id"]).evidence
        first = evidence[0]
        assert first.kind == "finding" and first.summary, [e.kind for e in evidence]
        assert first.data.get("band") == "5GHz"
        assert any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in first.data.values()), first.data
        assert [e.kind for e in evidence].count("finding") == 1
    finally:  # the world is shared by the brain tests: leave no live proposal on the device
        rt.lifecycle.cancel(prop.data["proposal_id"], alice, reason="test cleanup")


def test_finding_facts_keep_numbers_and_drop_secrets_and_device_text() -> None:
    f = Finding(kind="passphrase_change", summary="the subscriber asks for a new passphrase", band="2.4GHz",
                data={"secret_ref": "[secret:1]", "utilisation_pct": 85, "clash": True,
                      "hosts": ["a", "b"], "neighbour_ssid": "x" * 200, "value": "[secret:2]", "channel": 6})
    assert finding_facts(f) == {"band": "2.4GHz", "utilisation_pct": 85, "clash": True, "channel": 6}


def _proposal_of(svc: Any, rt: Any, dev: str, who: Any, text: str) -> Any:
    tid = svc.start(dev, who)
    events = run_turn(svc, tid, text, who)
    prop = next((e for e in events if e.kind == "proposal"), None)
    assert prop is not None, [e.text for e in events if e.kind not in ("step", "tool")]
    return rt.lifecycle.get(prop.data["proposal_id"])


def test_a_busy_channel_proposal_carries_the_series_it_was_judged_on(svc: Any, rt: Any, device: Any,
                                                                      actor: Any) -> None:
    """The chart behind a change: the radio's stored utilisation over the last day, at most
    SERIES_MAX_POINTS points, named in words with its unit and the threshold the diagnosis used."""
    from brain.detectors.thresholds import thresholds
    from core.history import metric_window
    from core.kernel.models import SERIES_MAX_POINTS, EvidenceSeries, utcnow

    dev = device("wifi_congestion", 0)
    alice = actor("alice")
    p = _proposal_of(svc, rt, dev, alice, "the wifi is slow every evening")
    try:
        first = p.evidence[0]
        assert first.kind == "finding", [e.kind for e in p.evidence]
        series = EvidenceSeries.model_validate(first.data["series"])
        radio = next(c.path.split(".")[3] for c in p.changes if c.path.endswith(".Channel"))
        assert series.metric == "wifi.channel_utilization_pct" and series.labels.get("radio") == radio
        assert (series.name, series.unit, series.hours) == ("Wi-Fi channel busy", "%", 24)
        assert 2 <= len(series.points) <= SERIES_MAX_POINTS
        assert series.threshold == thresholds().busy_channel_pct
        assert series.threshold_text and f"{series.threshold:g}" in series.threshold_text
        with rt.store.read() as s:  # the points are the device's stored telemetry, not made up
            w = metric_window(s, dev, series.metric, labels={"radio": radio}, hours=24, now=utcnow())
        values = [v for _, v in series.points]
        assert w.minimum is not None and w.maximum is not None and w.mean is not None
        assert w.minimum <= min(values) and max(values) <= w.maximum
        assert abs(sum(values) / len(values) - w.mean) < 2.0
    finally:
        rt.lifecycle.cancel(p.id, alice, reason="test cleanup")


def test_a_measured_finding_with_no_telemetry_drafts_without_a_series(svc: Any, rt: Any, device: Any,
                                                                      actor: Any) -> None:
    """Radar on a DFS channel is found from the radar events alone; with no telemetry stored for the
    device the change is still drafted, its finding first, and no chart is attached."""
    from sqlalchemy import delete, insert, select

    from core.store.schema import TelemetryRow

    dev = device("dfs_radar", 0)
    alice = actor("alice")
    cols = (TelemetryRow.device_id, TelemetryRow.ts, TelemetryRow.metric, TelemetryRow.value, TelemetryRow.labels)
    with rt.store.write() as s:
        kept = [dict(r._mapping) for r in s.execute(select(*cols).where(TelemetryRow.device_id == dev))]
        s.execute(delete(TelemetryRow).where(TelemetryRow.device_id == dev))
    assert kept
    p = None
    try:
        p = _proposal_of(svc, rt, dev, alice, "the wifi keeps dropping in the evening")
        first = p.evidence[0]
        assert first.kind == "finding" and first.data.get("band") == "5GHz", first
        assert "series" not in first.data
    finally:
        if p is not None:
            rt.lifecycle.cancel(p.id, alice, reason="test cleanup")
        with rt.store.write() as s:
            s.execute(insert(TelemetryRow), kept)


def _power_level(rt: Any, dev: str) -> int:
    """A transmit power the device's 2.4 GHz radio lists and policy allows (10-80 %), read live."""
    from core.store import repo

    with rt.store.read() as s:
        d = repo.get_device(s, dev)
    values = rt.router.reader(d).read(d, ["Device.WiFi.Radio."])
    radio = next(p.split(".")[3] for p, v in values.items()
                 if p.endswith(".OperatingFrequencyBand") and v.value == "2.4GHz")
    listed = str(values[f"Device.WiFi.Radio.{radio}.TransmitPowerSupported"].value).split(",")
    return next(int(x) for x in listed if x.strip().isdigit() and 10 <= int(x) <= 80)


@pytest.mark.parametrize(("text", "metric", "path_end"), [
    ("put the 2.4 GHz radio on channel 6", "wifi.channel_utilization_pct", ".Channel"),
    ("2.4GHz transmit power to {level}%", "wifi.client_rssi_dbm", ".TransmitPower"),
])
def test_an_asked_for_radio_change_carries_that_radios_series(svc: Any, rt: Any, device: Any, actor: Any,
                                                              text: str, metric: str, path_end: str) -> None:
    """Nothing was detected — the agent asked — yet the approver weighs the same air: the finding
    leads with the changed radio's stored series (its utilisation for a channel, its clients'
    signal for power), against the detectors' line named as such."""
    from core.kernel.models import EvidenceSeries

    dev = device("healthy", 1)
    alice = actor("alice")
    p = _proposal_of(svc, rt, dev, alice, text.format(level=_power_level(rt, dev)) if "{level}" in text else text)
    try:
        first = p.evidence[0]
        assert first.kind == "finding" and "asks for" in first.summary, first
        series = EvidenceSeries.model_validate(first.data["series"])
        radio = next(c.path.split(".")[3] for c in p.changes if c.path.endswith(path_end))
        assert series.metric == metric and series.labels == {"radio": radio}
        assert len(series.points) >= 2 and series.threshold is not None
        assert series.threshold_text and "detectors' line" in series.threshold_text
    finally:
        rt.lifecycle.cancel(p.id, alice, reason="test cleanup")


def test_an_asked_for_change_with_nothing_to_chart_has_no_series(svc: Any, rt: Any, device: Any,
                                                                 actor: Any) -> None:
    """A reboot is not a radio: the request is drafted, with no chart beside it."""
    dev = device("healthy", 2)
    alice = actor("alice")
    p = _proposal_of(svc, rt, dev, alice, "please restart the router")
    try:
        assert p.evidence[0].kind == "finding" and "series" not in p.evidence[0].data
    finally:
        rt.lifecycle.cancel(p.id, alice, reason="test cleanup")


def test_radar_heard_only_by_the_radios_counter_is_still_a_dfs_finding(svc: Any, rt: Any, device: Any,
                                                                       actor: Any) -> None:
    """A device that counts radar hits in its telemetry but logs no radar event (firmwares differ in
    which they report) sits on a DFS channel all the same: the finding names the counter's total and
    charts it."""
    from sqlalchemy import delete, insert, select

    from core.kernel.models import EvidenceSeries
    from core.store.schema import DeviceEventRow

    dev = device("dfs_radar", 1)
    alice = actor("alice")
    with rt.store.write() as s:
        kept = [dict(r._mapping) for r in s.execute(select(*DeviceEventRow.__table__.c).where(
            DeviceEventRow.device_id == dev, DeviceEventRow.kind == "dfs_radar"))]
        s.execute(delete(DeviceEventRow).where(DeviceEventRow.device_id == dev, DeviceEventRow.kind == "dfs_radar"))
    assert kept
    p = None
    try:
        p = _proposal_of(svc, rt, dev, alice, "wifi cuts out for a few seconds now and then")
        first = p.evidence[0]
        assert first.kind == "finding" and "DFS channel" in first.summary, first
        assert first.data["radar_events"] > 0
        series = EvidenceSeries.model_validate(first.data["series"])
        assert series.metric == "wifi.dfs_radar_events" and max(v for _, v in series.points) > 0
        # asked rather than told: the answer says what the counter heard, and offers the fix
        events = run_turn(svc, svc.start(dev, alice), "does radar bother my 5 GHz?", alice)
        said = " ".join(e.text for e in events if e.kind not in ("step", "tool"))
        assert "0 radar event(s) logged" in said and "radar counter reported" in said, said
        assert "ask me to fix it" in said, said
    finally:
        if p is not None:
            rt.lifecycle.cancel(p.id, alice, reason="test cleanup")
        with rt.store.write() as s:
            s.execute(insert(DeviceEventRow.__table__), kept)
