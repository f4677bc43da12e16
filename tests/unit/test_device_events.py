"""Device events reach remediation ingest through ``core.kernel.ports.events.DeviceEventSource`` (issue 14)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from brain.remediation.ingest import EventLogSource, TwinSource
from core.kernel.ports.events import DeviceEvent, DeviceEventSource
from executors.sim.events import TwinEventLog
from executors.sim.twin import Twin


@pytest.fixture
def twin(tmp_path: Path) -> Iterator[Twin]:
    t = Twin(f"sqlite:///{tmp_path / 'twin.db'}")
    yield t
    t.close()


def test_the_simulator_log_starts_at_its_end_and_pages_by_cursor(twin: Twin) -> None:
    d = twin.add_device("sinotel-hg8020-s105", "4857544300000001", region="DE")
    twin.inform(d.id)  # history from before the reader started: not replayed
    log = twin.device_events()
    assert isinstance(log, DeviceEventSource)
    none, end = log.read_after(None)
    assert none == [] and int(end) > 0
    assert log.read_after(end) == ([], end)
    twin.inform(d.id, ["1 BOOT"])
    twin.inform(d.id, ["0 BOOTSTRAP"])
    first, c1 = log.read_after(end, limit=1)
    assert [(e.device_id, e.kind, list(e.data["events"])) for e in first] == [(d.id, "inform", ["1 BOOT"])]
    rest, c2 = log.read_after(c1)
    assert [list(e.data["events"]) for e in rest] == [["0 BOOTSTRAP"]] and int(c2) > int(c1)
    assert log.read_after(c2) == ([], c2)


def test_a_malformed_cursor_is_refused_clearly(twin: Twin) -> None:
    with pytest.raises(ValueError, match=r"event id.*'abc'"):
        TwinEventLog(twin).read_after("abc")


def test_ingest_reads_the_simulator_only_through_the_interface(twin: Twin) -> None:
    d = twin.add_device("sinotel-hg8020-s105", "4857544300000002", region="DE")
    src = TwinSource(twin)
    sigs, pos = src.poll(None)
    assert sigs == [] and pos is not None
    twin.inform(d.id, ["0 BOOTSTRAP"])
    sigs, pos2 = src.poll(pos)
    assert [(s.kind, s.device_id, s.ztp, s.source) for s in sigs] == [("bootstrap", d.id, "bootstrap", "twin")]
    assert int(pos2 or 0) > int(pos)
    import brain.remediation.ingest as ingest_module

    assert "sim_events" not in Path(ingest_module.__file__).read_text()


class _ListLog:
    """Another adapter's log (in memory): ingest must read it exactly as it reads the simulator."""

    name = "acs-log"

    def __init__(self, events: list[DeviceEvent]) -> None:
        self.log = events

    def read_after(self, cursor: str | None, *, limit: int = 5000) -> tuple[list[DeviceEvent], str]:
        start = len(self.log) if cursor is None else int(cursor)
        page = self.log[start:start + limit]
        return page, str(start + len(page))


def test_any_adapter_log_feeds_ingest_with_its_own_vocabulary() -> None:
    ts = datetime(2026, 1, 1, tzinfo=UTC)
    log = _ListLog([])
    src = EventLogSource(log, batch=2)
    assert src.name == "acs-log"
    _, pos = src.poll(None)
    log.log += [DeviceEvent("cpe-1", "inform", ts, {"events": ["0 BOOTSTRAP"]}),
                DeviceEvent("cpe-2", "set", ts, {}),  # the adapter's own bookkeeping: no signal
                DeviceEvent("cpe-3", "boot", ts, {})]
    sigs, pos = src.poll(pos)
    assert [(s.kind, s.device_id) for s in sigs] == [("bootstrap", "cpe-1")] and pos == "2"
    sigs, pos = src.poll(pos)
    assert [(s.kind, s.device_id) for s in sigs] == [("boot", "cpe-3")] and pos == "3"
