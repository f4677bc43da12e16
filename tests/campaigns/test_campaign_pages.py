"""What a campaign's pages say, checked against each other: one ring numbering in the status, the
preview, the phase and the CLI (ring 1 is the canary; "ring 2 of 3" is the card titled "ring 2"); a
paused ring says paused; rings an abort stopped before never ran; an emergency campaign is not told
to become one."""

from __future__ import annotations

import re
from typing import Any

from tests.campaigns.helpers import PATH, approved, drive, who


def test_one_ring_numbering_in_status_preview_phase_and_cli(crt: Any, svc: Any) -> None:
    from gateward import cli_campaign

    st = approved(crt, svc, promotion={"mode": "manual"})
    cid = st["id"]
    names = [r["name"] for r in st["rings_detail"]]
    assert names[0] == "ring 1 (canary)" and names[1:] == [f"ring {i}" for i in range(2, len(names) + 1)]
    assert [r["number"] for r in st["rings_detail"]] == list(range(1, len(names) + 1))
    assert svc.preview(cid)["plan"]["names"] == names
    svc.start(cid, who(crt, "dave"))
    drive(svc, cid)
    svc.promote(cid, who(crt, "carol"))
    now = svc.status(cid)
    n = int(re.search(r"ring (\d+) of", now["phase"]).group(1))  # type: ignore[union-attr]
    assert names[n - 1] == f"ring {n}" and now["rings_detail"][n - 1]["status"] not in ("pending", "done")
    with cli_campaign.console.capture() as cap:
        cli_campaign._render_status(now)
    out = cap.get()
    assert f"ring {n} of {now['rings']}" in out
    assert any(line.startswith(f"ring {n} ") for line in out.splitlines()), out


def test_a_paused_ring_says_paused_and_rings_after_an_abort_never_ran(crt: Any, svc: Any) -> None:
    st = approved(crt, svc, promotion={"mode": "manual"})
    cid = st["id"]
    svc.start(cid, who(crt, "dave"))
    drive(svc, cid)
    svc.promote(cid, who(crt, "carol"))
    paused = svc.pause(cid, who(crt, "dave"), "a look")
    ring = paused["ring"]
    assert paused["phase"].startswith("paused in") and paused["rings_detail"][ring]["status"] == "paused"
    svc.abort(cid, who(crt, "dave"), "enough")
    done = drive(svc, cid)
    assert done["state"] == "aborted"
    later = [r["status"] for r in done["rings_detail"][ring + 1:]]
    assert later and set(later) == {"never ran"}, done["rings_detail"]
    assert "pending" not in {r["status"] for r in done["rings_detail"]}


def test_an_emergency_campaign_is_not_told_to_be_one(crt: Any, svc: Any) -> None:
    emergency = svc.create({"name": "e", "target": {"region": "DE"}, "emergency": True,
                            "changes": [{"path": PATH, "value": False}]}, who(crt, "dave"))
    assert emergency["emergency"] is True
    assert "emergency on" not in emergency["emergency_path"]
    assert "is an emergency" in emergency["emergency_path"]
    plain = svc.create({"name": "p", "target": {"region": "DE"}, "changes": [{"path": PATH, "value": False}]},
                       who(crt, "dave"))
    assert "emergency on" in plain["emergency_path"]
