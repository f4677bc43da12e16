"""Congestion is judged from the air, not only from average utilisation (issue 38 item 3): at HEAD a
5 GHz radio at 85 % among two dozen loud neighbours was reported as 'no congestion'."""

from __future__ import annotations

from brain import air


def _aps(channels: list[int], dbm: float) -> list[dict[str, object]]:
    return [{"ssid": f"n{i}", "channel": c, "rssi_dbm": dbm} for i, c in enumerate(channels)]


def test_many_loud_neighbours_on_every_channel_is_congested_whatever_the_mean() -> None:
    v = air.judge("5GHz", 44, 80, _aps([36, 40, 44, 48, 149, 153, 157, 161] * 3, -55),
                  {"mean": 30.0, "last": 85.0}, busy=False)
    assert v.congested and v.loud == 24 and v.channels == [36, 40, 44, 48, 149, 153, 157, 161]
    assert "congested" in v.summary and "no channel is free" in v.summary and "85% busy now" in v.summary


def test_faint_neighbours_are_not_dense_air() -> None:
    v = air.judge("5GHz", 36, 20, _aps([36, 40, 44, 48, 149, 153, 157, 161, 52, 56], -80), None, busy=False)
    assert not v.congested and v.loud == 0


def test_busy_channel_needs_loud_neighbours_to_be_the_airs_doing() -> None:
    assert not air.judge("5GHz", 36, 20, _aps([40], -50), {"mean": 60.0, "last": 90.0}, busy=True).congested
    assert air.judge("5GHz", 36, 20, _aps([40, 44, 149], -50), {"mean": 60.0, "last": 90.0}, busy=True).congested


def test_the_verdict_carries_loud_neighbours_per_channel_for_the_answer_to_cite() -> None:
    v = air.judge("5GHz", 36, 80, _aps([36, 36, 44], -50) + _aps([44], -60) + _aps([149], -80),
                  {"mean": 80.0, "last": 90.0}, busy=True)
    assert v.congested and v.data["per_channel"] == [{"channel": 36, "loud": 2, "loudest_dbm": -50.0},
                                                     {"channel": 44, "loud": 2, "loudest_dbm": -50.0}]
