"""``gateward run --demo`` leaves the seeded problem homes for the newcomer (issue 39 item 6): the
detectors still find them and open cases, but no remediation fixes them until a person resumes it —
and the demo says so (the problem's halt reason)."""

from __future__ import annotations

from pathlib import Path

from core.kernel.config import Settings
from core.users import get_actor
from gateward.runtime import build_runtime
from tests.remediation.conftest import conditions


def test_demo_detects_but_does_not_fix_the_seeded_problem_homes(tmp_path: Path) -> None:
    from gateward.seed import start_demo

    rt = build_runtime(Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'demo.db'}"))
    try:
        start_demo(rt, homes=12)
        svc = rt.remediation
        problems = {p["problem"]: p for p in svc.status()["problems"]}
        assert set(svc.rules.problems) <= set(problems)
        assert all(p["state"] == "halted" and "demo" in (p["reason"] or "") for p in problems.values()), problems
        found = svc.detect()
        assert found["opened"] >= len(conditions(12)["wifi_congestion"])
        report = svc.drain(timeout_s=20)
        assert report.units == 0 and report.proposals == 0, report.as_dict()
        cases, _ = svc.list(device_id=conditions(12)["wifi_congestion"][0])
        assert cases and all(c["status"] == "open" and not c["proposal_ids"] for c in cases), cases
        # A person resumes one problem: from then on it is worked as anywhere else.
        svc.set_problem("wifi_congestion", "running", get_actor(rt.store, "bob"))
        assert {p["problem"]: p["state"] for p in svc.status()["problems"]}["wifi_congestion"] == "running"
        # Restarting the demo on its database does not halt it again (a person's decision stands).
        start_demo(rt, homes=12)
        assert {p["problem"]: p["state"] for p in svc.status()["problems"]}["wifi_congestion"] == "running"
    finally:
        rt.close()
