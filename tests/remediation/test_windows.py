"""Outside the change window a multi-device remediation is a fleet change and policy denies it;
the job then fixes each device with its own single-device proposal, which policy allows at any
hour — the fix is not held until the night, and nothing bypasses policy."""

from __future__ import annotations

import shutil
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import insert

from core.kernel.config import Settings
from core.kernel.models import ProposalState, utcnow
from core.store import repo
from core.store.schema import DeviceEventRow
from gateward.runtime import build_runtime
from gateward.seed import seed_fleet, twin_for
from tests.remediation.conftest import case_of, make_service

NO_RAMP = {"initial_batch": 25, "max_batch": 25, "factor": 2.0}


def _closed_now_engine(tmp: Path) -> Any:
    """The shipped pack with every region's one-hour window placed where the clock is not."""
    from policies.engine import EmbeddedRegoEngine
    from policies.loader import DATA_DIR, RULES_DIR

    data = tmp / "data"
    shutil.copytree(DATA_DIR, data)
    w = orjson.loads((data / "windows.json").read_bytes())
    hour = Settings().policy_clock()().hour  # the time policy sees (pinned in tests)
    for spec in [*w["regions"].values(), w["fallback"]]:
        local = (hour + spec["utc_offset_hours"]) % 24
        spec["start_hour"], spec["end_hour"] = (local + 3) % 24, (local + 4) % 24
    (data / "windows.json").write_bytes(orjson.dumps(w))
    return EmbeddedRegoEngine(RULES_DIR, data)


def test_window_closed_group_is_split_into_single_device_fixes(db_url: str, tmp_path: Path) -> None:
    rt = build_runtime(Settings(database_url=db_url), policy=_closed_now_engine(tmp_path))
    try:
        seed_fleet(rt, homes=40, seed=11, snapshots=False)
        with rt.store.read() as s:
            devices, _ = repo.list_devices(s, limit=1000)
        by: dict[tuple[str, ...], list[Any]] = defaultdict(list)
        for d in devices:
            if str(d.root) == "Device.":
                by[(d.vendor, d.model, d.firmware, d.region)].append(d)
        pair = next(v[:2] for v in by.values() if len(v) >= 2)
        twin = twin_for(rt)
        dns = ("Device.DNS.Client.Server.1.DNSServer", "Device.DNS.Client.Server.2.DNSServer")
        for d in pair:  # the firmware bug: servers gone
            twin.transact(d.id, lambda st: st.set_values(dict.fromkeys(dns, "")))
        with rt.store.write() as s:
            s.execute(insert(DeviceEventRow), [{"device_id": d.id, "ts": utcnow() - timedelta(minutes=5),
                                                "kind": "dns_lost", "data": {}} for d in pair])
        svc = make_service(rt, ramp=NO_RAMP)
        assert svc.detect(device_ids=[d.id for d in pair], problems=["dns_lost"])["opened"] == 2
        rep = svc.drain(timeout_s=60)
        assert rep.drained
        cases = [case_of(svc, d.id, "dns_lost") for d in pair]
        assert all(c["status"] == "applied" for c in cases), [c["resolution"] for c in cases]
        group = cases[0]["evidence"]["split_from"]
        assert cases[1]["evidence"]["split_from"] == group
        g = rt.lifecycle.get(group)
        assert g.state is ProposalState.DENIED and "outside the change window" in (g.error or "")
        singles = {c["proposal_ids"][0] for c in cases}
        assert len(singles) == 2
        for pid in singles:
            p = rt.lifecycle.get(pid)
            assert p.state is ProposalState.DONE and len(p.targets) == 1 and not p.staged
        for d in pair:
            assert rt.router.reader(d).read(d, [dns[0]])[dns[0]].value == "192.0.2.53"
    finally:
        rt.close()


def _open_engine(tmp: Path) -> Any:
    from policies.engine import EmbeddedRegoEngine
    from policies.loader import DATA_DIR, RULES_DIR

    data = tmp / "data-open"
    shutil.copytree(DATA_DIR, data)
    w = orjson.loads((data / "windows.json").read_bytes())
    w["applies_when"]["min_targets"] = 1_000_000
    (data / "windows.json").write_bytes(orjson.dumps(w))
    return EmbeddedRegoEngine(RULES_DIR, data)


def test_group_runs_per_device_and_a_failing_device_is_restored_alone(db_url: str, tmp_path: Path) -> None:
    """Inside the window a group is one proposal, executed as one staged batch: a device whose Set
    faults is escalated on its own case; the others are applied."""
    rt = build_runtime(Settings(database_url=db_url), policy=_open_engine(tmp_path))
    try:
        seed_fleet(rt, homes=40, seed=11, snapshots=False)
        with rt.store.read() as s:
            devices, _ = repo.list_devices(s, limit=1000)
        by: dict[tuple[str, ...], list[Any]] = defaultdict(list)
        for d in devices:
            if str(d.root) == "Device.":
                by[(d.vendor, d.model, d.firmware, d.region)].append(d)
        trio = next(v[:3] for v in by.values() if len(v) >= 3)
        twin = twin_for(rt)
        dns = ("Device.DNS.Client.Server.1.DNSServer", "Device.DNS.Client.Server.2.DNSServer")
        for d in trio:
            twin.transact(d.id, lambda st: st.set_values(dict.fromkeys(dns, "")))
        twin.inject(trio[2].id, "fault_on_set", code=9002)
        with rt.store.write() as s:
            s.execute(insert(DeviceEventRow), [{"device_id": d.id, "ts": utcnow() - timedelta(minutes=5),
                                                "kind": "dns_lost", "data": {}} for d in trio])
        svc = make_service(rt, ramp=NO_RAMP)
        svc.detect(device_ids=[d.id for d in trio], problems=["dns_lost"])
        svc.drain(timeout_s=60)
        cases = [case_of(svc, d.id, "dns_lost") for d in trio]
        assert [c["status"] for c in cases] == ["applied", "applied", "escalated"], [c["resolution"] for c in cases]
        (pid,) = {c["proposal_ids"][0] for c in cases}
        p = rt.lifecycle.get(pid)
        assert p.staged and len(p.targets) == 3 and p.state is ProposalState.DONE
        assert "9002" in cases[2]["resolution"] or "fault" in cases[2]["resolution"].lower()
        prob = {x["problem"]: x for x in svc.status()["problems"]}["dns_lost"]
        assert prob["executed"] == 3 and prob["failed"] == 1
    finally:
        rt.close()
