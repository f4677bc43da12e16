"""What an approver reads of an effect (``Effect.text``) and which KPI a gate's metric names
(``kpi_of``): every word and field, since a wrong one misleads the person deciding on a ring."""

from __future__ import annotations

import pytest

from campaigns.effects import KPIS, Effect, Kpi, kpi_of


def _effect(**kw: object) -> Effect:
    base: dict[str, object] = {"kpi": "wifi.channel_utilization_pct", "title": "Wi-Fi channel busy", "unit": "%",
                               "higher_is_worse": True, "n_treated": 40, "n_control": 12, "confidence": 0.95}
    return Effect(**{**base, **kw})  # type: ignore[arg-type]


def test_a_measured_effect_says_its_size_unit_interval_level_cohorts_and_verdict() -> None:
    e = _effect(estimate=-4.2, low=-6.0, high=-2.5, verdict="better")
    assert e.text() == ("Wi-Fi channel busy: -4.2 % after the change (95% CI -6 to -2.5; "
                        "40 changed vs 12 control device(s)): measurably better")
    assert _effect(estimate=3.1, low=1.0, high=5.0, verdict="worse").text().endswith(": measurably worse")
    assert _effect(estimate=0.4, low=-1.0, high=2.0, verdict="no measurable effect").text().endswith(
        ": no measurable effect")


def test_a_sequential_look_says_its_own_level_and_a_unitless_kpi_no_unit() -> None:
    e = _effect(estimate=1.0, low=0.5, high=1.5, verdict="worse", level=0.999, unit="")
    assert "+1 after the change (99.9% CI +0.5 to +1.5;" in e.text()


def test_against_their_own_hours_names_no_control() -> None:
    e = _effect(estimate=-1.0, low=-2.0, high=-0.5, verdict="better", against="their own hours before")
    assert "(95% CI -2 to -0.5; 40 changed device(s) against their own hours before)" in e.text()


@pytest.mark.parametrize("missing", ["estimate", "low", "high"])
def test_without_an_estimate_or_either_bound_it_is_not_enough_data(missing: str) -> None:
    values = {"estimate": -1.0, "low": -2.0, "high": -0.5, missing: None}
    e = _effect(**values, verdict="better", note="3 devices with data on both sides")
    assert e.text() == ("Wi-Fi channel busy: not enough data (40 changed vs 12 control device(s); "
                        "3 devices with data on both sides)")
    assert _effect(**values).text() == "Wi-Fi channel busy: not enough data (40 changed vs 12 control device(s))"


def test_a_known_metric_is_its_catalogue_entry_unless_its_direction_is_turned() -> None:
    known = KPIS["wifi.client_rssi_dbm"]
    assert kpi_of("wifi.client_rssi_dbm") is known
    assert kpi_of("wifi.client_rssi_dbm", higher_is_worse=False) is known
    turned = kpi_of("wifi.client_rssi_dbm", higher_is_worse=True)
    assert turned == Kpi(known.id, known.title, known.unit, True, known.reduce, known.metric, known.events,
                         known.relative)
    reboots = kpi_of("reboots", higher_is_worse=False)
    assert (reboots.events, reboots.reduce, reboots.higher_is_worse) == (KPIS["reboots"].events, "events_per_day",
                                                                          False)


@pytest.mark.parametrize(("direction", "expected"), [(None, True), (True, True), (False, False)])
def test_any_other_metric_is_read_as_a_mean_of_itself(direction: bool | None, expected: bool) -> None:
    assert kpi_of("wan.latency_ms", direction) == Kpi("wan.latency_ms", "wan.latency_ms", "", expected, "mean",
                                                      "wan.latency_ms")


def test_the_stored_effect_carries_every_figure_rounded_and_its_words() -> None:
    e = _effect(estimate=-4.23456, low=-6.00004, high=-2.5, p_value=0.0012345, baseline=41.23456,
                control_change=0.55556, verdict="better", note="n", samples={"treated": 400, "control": 120},
                level=0.99, method="OLS", look={"k": 2, "of": 6}, tail={"worse": 1})
    doc = e.as_dict()
    assert doc == {
        "kpi": "wifi.channel_utilization_pct", "title": "Wi-Fi channel busy", "unit": "%", "higher_is_worse": True,
        "n_treated": 40, "n_control": 12, "confidence": 0.95, "estimate": -4.2346, "low": -6.0, "high": -2.5,
        "p_value": 0.0012, "worse_by": -4.2346, "baseline": 41.2346, "control_change": 0.5556,
        "verdict": "better", "note": "n", "samples": {"treated": 400, "control": 120}, "text": e.text(),
        "level": 0.99, "method": "OLS", "against": "the control cohort", "look": {"k": 2, "of": 6},
        "tail": {"worse": 1}}
    assert doc["samples"] is not e.samples and doc["look"] is not e.look and doc["tail"] is not e.tail  # copies
    empty = _effect().as_dict()
    assert (empty["estimate"], empty["low"], empty["worse_by"], empty["tail"], empty["level"]) == (
        None, None, None, None, None)
    assert _effect(estimate=2.0, higher_is_worse=False).as_dict()["worse_by"] == -2.0
