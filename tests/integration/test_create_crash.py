"""A process killed with SIGKILL in the middle of a create leaves nothing behind that blocks later work.

A submit records its proposal before it previews and decides it, and a campaign's create makes its
proposal before the campaign: a process killed between the two left a proposal that nothing moved on
(``validated`` forever, or a campaign's proposal without its campaign), and precedence counts every
live proposal, so each later change of the same parameter on those devices was denied. The create
now records an intent with the proposal, in its transaction, and ends it with the last step; an
intent whose process is gone is finished (a submit: previewed and decided) or undone (a campaign's
proposal: cancelled, with the reason) by recovery — ``gateward recover``, the next start, the
worker's round.

The processes are real (``gateward propose``, ``gateward campaign create``), held at a failpoint
(``wait:FILE``) until the test has seen what they recorded, then killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from core.kernel.models import ProposalState
from core.store.schema import AuditEventRow, ProposalRow
from testing.servers import GatewardRun
from tests.integration.test_apply_fanout import SSID1
from tests.integration.test_staged import _cwmp_tr181

S = ProposalState
ROOT = Path(__file__).resolve().parents[2]
SSID2 = "Device.WiFi.SSID.2.SSID"
WAIT_S = 120  # how long the test waits for a child to reach its failpoint (a liveness bound, not a timing)


def _spawn(url: str, failpoints: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "GATEWARD_DATABASE_URL": url, "GATEWARD_FAILPOINTS": failpoints, "COLUMNS": "400"}
    return subprocess.Popen([sys.executable, "-m", "gateward.cli", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _gw(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateward.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, env={**os.environ, "GATEWARD_DATABASE_URL": url, "COLUMNS": "400"})


def _until(what: str, check: Callable[[], Any], child: subprocess.Popen[Any]) -> Any:
    end = time.monotonic() + WAIT_S
    while not (found := check()):
        if child.poll() is not None:
            raise AssertionError(f"the child exited ({child.returncode}) before {what}: {child.communicate()}")
        if time.monotonic() > end:
            child.kill()
            raise AssertionError(f"not within {WAIT_S} s: {what}")
        time.sleep(0.05)
    return found


def _kill(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    assert child.returncode == -signal.SIGKILL


def _rows(rt: Any, **where: Any) -> list[Any]:
    with rt.store.read() as s:
        q = select(ProposalRow.id, ProposalRow.state, ProposalRow.error)
        for col, value in where.items():
            q = q.where(getattr(ProposalRow, col) == value)
        return list(s.execute(q))


def _actions(rt: Any, pid: str) -> list[tuple[str, str, dict[str, Any]]]:
    with rt.store.read() as s:
        return [(a, who, data) for a, who, data in s.execute(
            select(AuditEventRow.action, AuditEventRow.actor, AuditEventRow.data)
            .where(AuditEventRow.proposal_id == pid).order_by(AuditEventRow.seq))]


def test_a_submit_killed_after_its_proposal_was_recorded_is_finished_by_recovery(runtime: Any, db_url: str,
                                                                                tmp_path: Path) -> None:
    device = _cwmp_tr181(runtime, 1)[0]
    go = tmp_path / "go"  # never created: the child waits at the failpoint until it is killed
    child = _spawn(db_url, f"lifecycle.after_create=wait:{go}", "propose", "--device", device.id,
                   "--set", f"{SSID1}=killed-mid-submit", "--reason", "killed mid-submit", "--as", "alice")
    (pid, state, _), = _until("the proposal recorded", lambda: _rows(runtime, rationale="killed mid-submit"), child)
    assert state == "validated"
    _kill(child)

    out = _gw(db_url, "recover")
    assert out.returncode == 0, out.stderr
    assert pid in out.stdout and "submit" in out.stdout, out.stdout
    (_, state, _), = _rows(runtime, id=pid)
    assert state in ("approved", "awaiting_approval"), state  # previewed and decided, as the submit would have
    actions = [a for a, _, _ in _actions(runtime, pid)]
    assert actions.index("proposal.submit_resumed") < actions.index("proposal.previewed") < actions.index(
        "policy.allowed")
    resumed = next(d for a, _, d in _actions(runtime, pid) if a == "proposal.submit_resumed")
    assert "died" in resumed["reason"], resumed
    again = _gw(db_url, "recover")  # settled once: nothing left for a second run
    assert pid not in again.stdout, again.stdout


def test_a_campaign_create_killed_before_its_campaign_is_undone_and_blocks_nothing(runtime: Any, db_url: str,
                                                                                   tmp_path: Path) -> None:
    devices = [d.id for d in _cwmp_tr181(runtime, 3)]
    targets = [arg for d in devices for arg in ("--device", d)]
    go = tmp_path / "go"
    child = _spawn(db_url, f"campaign.before_record=wait:{go}", "campaign", "create", "killed", *targets,
                   "--set", f"{SSID2}=killed-campaign", "--as", "dave")

    def decided() -> list[Any]:
        rows = _rows(runtime, source="campaign")
        return rows if rows and rows[0][1] in ("approved", "awaiting_approval") else []

    (pid, _, _), = _until("the campaign's proposal decided", decided, child)
    _kill(child)

    out = _gw(db_url, "recover")
    assert out.returncode == 0, out.stderr
    assert pid in out.stdout and "campaign" in out.stdout, out.stdout
    (_, state, _), = _rows(runtime, id=pid)
    assert state == "cancelled"
    cancelled = next(d for a, who, d in _actions(runtime, pid) if a == "proposal.cancelled")
    assert "campaign" in cancelled["reason"] and "died" in cancelled["reason"], cancelled
    # Nothing of it holds the devices: a campaign setting another value on them is not denied.
    again = _gw(db_url, "campaign", "create", "after", *targets, "--set", f"{SSID2}=after-the-kill", "--as", "dave")
    assert again.returncode == 0, again.stderr + again.stdout
    (_, state, error), = [r for r in _rows(runtime, source="campaign") if r[0] != pid]
    assert state in ("approved", "awaiting_approval"), error


# ---------------------------------------------------------------------------------------------------
# The API killed mid-create: the retry with the same Idempotency-Key is answered from what it recorded.


def _server(db_url: str, home: Path, failpoints: str = "") -> GatewardRun:
    env = {"GATEWARD_FAILPOINTS": failpoints} if failpoints else {}
    return GatewardRun(home=home, database_url=db_url, homes=12, cwd=ROOT, env=env)


def _post_killed(srv: GatewardRun, path: str, body: Any, headers: dict[str, str], recorded: Callable[[], Any],
                 method: str = "POST") -> Any:
    """Send the request to a server held at a failpoint, wait until it has recorded what ``recorded``
    looks for, then kill the server with SIGKILL: the client gets no answer."""
    out: dict[str, Any] = {}

    def send() -> None:
        try:
            out["r"] = httpx.request(method, f"{srv.base}{path}", json=body, headers=headers, timeout=120)
        except httpx.HTTPError as exc:
            out["error"] = exc

    t = threading.Thread(target=send)
    t.start()
    found = _until("the server recorded the create", recorded, srv.proc)
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(30)
    t.join(60)
    assert "r" not in out, out["r"].text  # no answer reached the client
    return found


def test_an_api_killed_mid_submit_answers_the_retry_with_the_proposal_it_recorded(runtime: Any, db_url: str,
                                                                                 tmp_path: Path) -> None:
    from core.users import issue_token

    device = _cwmp_tr181(runtime, 1)[0]
    headers = {"Authorization": f"Bearer {issue_token(runtime.store, 'alice')}",
               "Idempotency-Key": f'"{uuid.uuid4()}"'}
    body = {"intent": "rename", "targets": [device.id], "changes": [{"path": SSID1, "value": "api-killed"}],
            "rationale": "api killed mid-submit"}
    srv = _server(db_url, tmp_path, f"lifecycle.after_create=wait:{tmp_path / 'go'}").start()
    srv.wait_ready()
    (pid, _, _), = _post_killed(srv, "/api/proposals", body, headers,
                                lambda: _rows(runtime, rationale="api killed mid-submit"))
    (tmp_path / "again").mkdir()
    with _server(db_url, tmp_path / "again") as again:
        r = httpx.post(f"{again.base}/api/proposals", json=body, headers=headers, timeout=120)
    assert r.status_code == 201, r.text
    assert r.json()["proposal"]["id"] == pid  # the proposal the killed server recorded, not a second one
    assert r.json()["proposal"]["state"] in ("approved", "awaiting_approval")  # finished by the restart
    assert len(_rows(runtime, rationale="api killed mid-submit")) == 1


def test_an_api_killed_mid_campaign_create_answers_the_retry_with_one_campaign(runtime: Any, db_url: str,
                                                                              tmp_path: Path) -> None:
    from campaigns.schema import CampaignRow
    from core.users import issue_token

    devices = [d.id for d in _cwmp_tr181(runtime, 3)]
    headers = {"Authorization": f"Bearer {issue_token(runtime.store, 'dave')}",
               "Idempotency-Key": str(uuid.uuid4())}
    body = {"name": "api-killed", "target": {"devices": devices}, "changes": [{"path": SSID2, "value": "api-killed"}]}

    def decided() -> list[Any]:
        rows = _rows(runtime, source="campaign")
        return rows if rows and rows[0][1] in ("approved", "awaiting_approval") else []

    srv = _server(db_url, tmp_path, f"campaign.before_record=wait:{tmp_path / 'go'}").start()
    srv.wait_ready()
    (orphan, _, _), = _post_killed(srv, "/api/campaigns", body, headers, decided)
    (tmp_path / "again").mkdir()
    with _server(db_url, tmp_path / "again") as again:
        r = httpx.post(f"{again.base}/api/campaigns", json=body, headers=headers, timeout=120)
        replay = httpx.post(f"{again.base}/api/campaigns", json=body, headers=headers, timeout=120)
    assert r.status_code == 201, r.text
    assert replay.status_code == 201 and replay.json()["id"] == r.json()["id"], replay.text
    assert r.json()["proposal"]["id"] != orphan  # the first attempt's proposal had no campaign: cancelled
    (_, state, _), = _rows(runtime, id=orphan)
    assert state == "cancelled"
    with runtime.store.read() as s:
        assert list(s.scalars(select(CampaignRow.id).where(CampaignRow.name == "api-killed"))) == [r.json()["id"]]


def test_an_api_killed_mid_edit_leaves_a_proposal_the_restart_decides(runtime: Any, db_url: str,
                                                                     tmp_path: Path) -> None:
    from core.kernel.models import Change, ProposalDraft
    from core.users import get_actor, issue_token

    device = _cwmp_tr181(runtime, 1)[0]
    alice = get_actor(runtime.store, "alice")
    p = runtime.lifecycle.submit(ProposalDraft(intent="rename", targets=[device.id], rationale="edit killed",
                                               changes=[Change(path=SSID1, value="before-edit")]), alice)
    assert p.state in (S.APPROVED, S.AWAITING_APPROVAL)
    headers = {"Authorization": f"Bearer {issue_token(runtime.store, 'alice')}"}
    body = {"intent": "rename", "targets": [device.id], "changes": [{"path": SSID1, "value": "after-edit"}],
            "rationale": "edit killed"}
    srv = _server(db_url, tmp_path, f"lifecycle.after_edit=wait:{tmp_path / 'go'}").start()
    srv.wait_ready()
    _post_killed(srv, f"/api/proposals/{p.id}", body, headers,
                 lambda: [r for r in _rows(runtime, id=p.id) if r[1] == "draft"], method="PUT")
    (tmp_path / "again").mkdir()
    with _server(db_url, tmp_path / "again"):
        pass  # its start recovers what the killed one left
    edited = runtime.lifecycle.get(p.id)
    assert edited.state in (S.APPROVED, S.AWAITING_APPROVAL), edited.state
    assert edited.changes[0].value == "after-edit"
