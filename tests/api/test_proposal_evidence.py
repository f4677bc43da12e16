"""The chart behind a change reaches the approver (issue 39 item 4): a proposal the planner drafted
for a busy channel, read back through ``GET /api/proposals/{id}``, carries the measured series its
finding was judged on — bounded, with the metric's name, unit and the diagnosis's threshold — as
the first piece of its evidence."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from core.kernel.models import SERIES_MAX_POINTS, EvidenceSeries, utcnow
from tests.api.conftest import Api, make_api
from tests.api.test_chat import parse_sse


@pytest.fixture(scope="module")
def planner_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    from brain.service import ChatService
    from tests.conftest import build_test_runtime

    rt = build_test_runtime(f"sqlite:///{tmp_path_factory.mktemp('evidence') / 'g.db'}", homes=40)
    chat = ChatService(rt, planner="offline")
    a = make_api(rt, "sqlite", chat=chat)
    yield a
    a.client.close()
    chat.close()
    rt.close()


def _congested() -> str:
    from executors.sim.fleet import generate_fleet
    from tests.conftest import SEED

    return generate_fleet(40, SEED, telemetry=False).conditions["wifi_congestion"][0]


def test_the_detail_of_a_drafted_change_carries_the_series_behind_it(planner_api: Api) -> None:
    from brain.detectors.thresholds import thresholds

    api = planner_api
    dev = _congested()
    tid = api.post("/api/chat/threads", {"device_id": dev, "title": "slow Wi-Fi"}).json()["thread_id"]
    r = api.post(f"/api/chat/threads/{tid}/messages", {"text": "the wifi is slow every evening"})
    frames = parse_sse(r.text)
    prop = next((d for k, d in frames if k == "proposal"), None)
    assert prop is not None, [d.get("text") for _, d in frames]
    pid = prop["data"]["proposal_id"]
    detail = api.get(f"/api/proposals/{pid}", user="bob")
    assert detail.status_code == 200, detail.text
    p: dict[str, Any] = detail.json()["proposal"]
    first = p["evidence"][0]
    assert first["kind"] == "finding", [e["kind"] for e in p["evidence"]]
    series = EvidenceSeries.model_validate(first["data"]["series"])
    assert series.metric == "wifi.channel_utilization_pct"
    assert (series.name, series.unit) == ("Wi-Fi channel busy", "%")
    radio = next(c["path"].split(".")[3] for c in p["changes"] if c["path"].endswith(".Channel"))
    assert series.labels.get("radio") == radio, series.labels
    assert 2 <= len(series.points) <= SERIES_MAX_POINTS
    assert all(utcnow() - timedelta(hours=25) <= t <= utcnow() for t, _ in series.points)
    assert series.threshold == thresholds().busy_channel_pct and series.threshold_text
    # the facts stay beside it, and the list of proposals does not carry the points
    assert any(isinstance(v, (int, float)) for k, v in first["data"].items() if k != "series")
    listed = api.get("/api/proposals", params={"limit": 50}, user="bob").text
    assert pid in listed and '"points"' not in listed
    api.post(f"/api/proposals/{pid}/cancel", {"reason": "test cleanup"})
