"""Issue 34 item 13: a campaign acts on behalf of a person, not as the remediation jobs' automation
user. Its device writes are audited with the person who started (then promoted) it as the actor
and the worker that carried them out in ``data.via``; ``gateward campaign status`` and the status
API name both. The remediation identity (``remediator``) appears nowhere in a campaign's trail."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import select
from typer.testing import CliRunner

from core.store.schema import AuditEventRow
from tests.campaigns.helpers import approved, drive, who

DEVICE_ACTIONS = ("device.applying", "device.verified", "device.applied", "device.failed", "device.rolled_back")


def _trail(crt: Any, pid: str) -> list[AuditEventRow]:
    with crt.store.read() as s:
        return list(s.scalars(select(AuditEventRow).where(AuditEventRow.proposal_id == pid)
                              .order_by(AuditEventRow.seq)))


def _run_with_manual_promotions(crt: Any, svc: Any, cid: str, promoter: str) -> dict[str, Any]:
    for _ in range(10):
        st = drive(svc, cid)
        if st["terminal"]:
            return st
        assert st["ring_state"] == "waiting", st
        svc.promote(cid, who(crt, promoter))
    raise AssertionError("the campaign did not finish")


def test_campaign_writes_are_audited_as_the_person_via_the_worker(crt: Any, svc: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    st = approved(crt, svc, promotion={"mode": "manual", "pause_s": 0})
    cid, pid = st["id"], st["proposal"]["id"]
    svc.start(cid, who(crt, "alice"))  # created by dave, started by alice
    done = _run_with_manual_promotions(crt, svc, cid, "carol")
    assert done["state"] == "completed", done
    events = _trail(crt, pid)
    assert [e for e in events if e.actor == "remediator"] == []
    writes = [e for e in events if e.action in DEVICE_ACTIONS]
    assert writes and {e.actor for e in writes} == {"alice", "carol"}
    assert all(str(e.data.get("via", "")).startswith("worker ") for e in writes)
    canary = {e.device_id for e in writes if e.actor == "alice"}
    assert canary and len(canary) < len({e.device_id for e in writes})  # the later rings ran for carol
    [finished] = [e for e in events if e.action == "campaign.completed"]
    assert finished.actor == "carol" and finished.data["via"].startswith("worker ")
    assert done["run_by"] == "carol" and done["author"] == "dave"
    assert done["workers"] and sum(w["batches"] for w in done["workers"]) >= 2

    from gateward import cli as cli_module
    from gateward import cli_campaign

    monkeypatch.setattr(cli_module, "_runtime", crt)
    monkeypatch.setattr(cli_campaign, "console", Console(width=300, color_system=None))
    out = CliRunner().invoke(cli_module.app, ["campaign", "status", cid])
    assert out.exit_code == 0, out.output
    worker = done["workers"][0]["worker"]
    assert "runs for carol" in out.output and "created by dave" in out.output
    assert f"worker {worker}" in out.output


def test_a_person_who_may_no_longer_act_halts_the_campaign_instead_of_acting(crt: Any, svc: Any) -> None:
    """Acting for a person means as they are now: a person deactivated mid-campaign pauses it
    (nothing is written in their name); a person who may apply resumes it and it runs for them."""
    from core.users import revoke_user

    st = approved(crt, svc, promotion={"mode": "manual", "pause_s": 0})
    cid, pid = st["id"], st["proposal"]["id"]
    svc.start(cid, who(crt, "sam"))
    revoke_user(crt.store, "sam")
    paused = drive(svc, cid)
    assert paused["state"] == "paused" and "'sam' is deactivated" in (paused["halt_reason"] or ""), paused
    assert [e for e in _trail(crt, pid) if e.action in DEVICE_ACTIONS] == []
    svc.resume(cid, who(crt, "carol"))
    st2 = drive(svc, cid)
    assert st2["run_by"] == "carol"
    assert {e.actor for e in _trail(crt, pid) if e.action in DEVICE_ACTIONS} == {"carol"}
