"""A question about dense air is answered, not drafted (issue 38: "questions ... are never
requests"; "each answer cites its facts ... and drafts nothing"). Before this change the question
"is the 5 GHz band congested around them?" named the congestion AND drafted a width change; now it
gets the facts (loud neighbours per channel, utilisation now and over 24 h) and an offer, "fix it"
takes the offer up, and a request on the same air still drafts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert

from tests.brain.conftest import run_turn

CHANNELS = (36, 40, 44, 48, 149, 153, 157, 161)


@pytest.fixture
def dense(world: Any, device: Any) -> Iterator[str]:
    """A healthy gateway at 80 MHz on 5 GHz among 16 loud neighbours (beside its simulated telemetry,
    85 % utilisation samples)."""
    from core.kernel.models import utcnow
    from core.store.schema import TelemetryRow, WifiNeighborRow

    dev = device("healthy", 0)
    world.set_params(dev, {"Device.WiFi.Radio.2.OperatingChannelBandwidth": "80MHz"})
    now = utcnow()
    added: list[tuple[Any, int]] = []
    with world.runtime.store.write() as s:
        for i in range(24):
            rid = s.execute(insert(TelemetryRow).values(
                device_id=dev, ts=now - timedelta(minutes=15 * i), metric="wifi.channel_utilization_pct", value=85.0,
                labels={"radio": "2"})).inserted_primary_key
            added.append((TelemetryRow, int(rid[0])))
        for i, ch in enumerate(CHANNELS):
            for j, dbm in enumerate((-48.0, -51.0)):
                rid = s.execute(insert(WifiNeighborRow).values(
                    device_id=dev, neighbor_device_id=None, bssid=f"02:00:5E:00:55:{i:01X}{j:01X}",
                    ssid=f"dense{i}{j}", band="5GHz", channel=ch, rssi_dbm=dbm)).inserted_primary_key
                added.append((WifiNeighborRow, int(rid[0])))
    yield dev
    with world.runtime.store.write() as s:
        for table, rid in added:
            s.execute(delete(table).where(table.id == rid))


def _said(events: list[Any]) -> str:
    return " ".join(e.text for e in events if e.kind not in ("step", "tool"))


@pytest.mark.parametrize("question", [
    "is the 5 GHz band congested around them?",
    "Stören die Nachbar-WLANs ihr 5 GHz Netz?",
    "¿la banda de 5 GHz está saturada por los vecinos?",
])
def test_a_question_about_dense_air_is_answered_with_cited_facts_and_drafts_nothing(
        svc: Any, dense: str, actor: Any, question: str) -> None:
    alice = actor("alice")
    events = run_turn(svc, svc.start(dense, alice), question, alice)
    assert not any(e.kind == "proposal" for e in events), _said(events)
    ans = next(e for e in events if e.kind == "answer" and e.data.get("offer"))
    assert "congested" in ans.text and "channel 36: 2 (loudest -48 dBm)" in ans.text, ans.text
    assert re.search(r"[\d.]+% now, [\d.]+% on average over 24 h", ans.text) and "fix it" in ans.text, ans.text
    sources = [f["source"] for f in ans.data["facts"]]
    assert "wifi_neighbors 5GHz" in sources and any(s.startswith("wifi.channel_utilization_pct") for s in sources)
    assert all(f["read_at"] for f in ans.data["facts"])
    assert "OperatingChannelBandwidth" in ans.data["offer"]


@pytest.mark.parametrize("reply", ["fix it", "yes", "ja, bitte beheben"])
def test_taking_the_offer_up_drafts_the_offered_change(svc: Any, dense: str, actor: Any, reply: str) -> None:
    alice = actor("alice")
    tid = svc.start(dense, alice)
    first = run_turn(svc, tid, "how bad is the interference from the neighbours on 5 GHz?", alice)
    assert not any(e.kind == "proposal" for e in first), _said(first)
    events = run_turn(svc, tid, reply, alice)
    prop = next((e for e in events if e.kind == "proposal"), None)
    assert prop is not None, _said(events)
    assert [c["path"] for c in prop.data["changes"]] == ["Device.WiFi.Radio.2.OperatingChannelBandwidth"]


def test_a_request_on_the_same_air_still_drafts(svc: Any, dense: str, actor: Any) -> None:
    alice = actor("alice")
    events = run_turn(svc, svc.start(dense, alice), "the wifi is slow, please fix", alice)
    assert any(e.kind == "proposal" for e in events), _said(events)
