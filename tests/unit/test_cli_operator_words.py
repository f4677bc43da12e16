"""What the operator's commands say (issue 39, item 7): ``device ID`` without a "device path"
column that repeats the first on a TR-181 device (kept where it differs: a TR-098 device); "did
you mean Channel?" for a typo'd ``--path``; ``rollback`` names what it restored and to what."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.kernel.models import Change, ProposalDraft
from core.store import repo
from core.users import get_actor
from testing.cli import CliResult, run_cli

ROOT = Path(__file__).resolve().parents[2]
INFORM = "Device.ManagementServer.PeriodicInformInterval"


def _gw(url: str, *args: str) -> CliResult:
    return run_cli(*args, env={"GATEWARD_DATABASE_URL": url}, cwd=ROOT, columns=220)


def _devices(rt: Any) -> tuple[str, str]:
    with rt.store.read() as s:
        devices = repo.list_devices(s, limit=100)[0]
    tr181 = next(d for d in devices if str(d.root) == "Device.")
    tr098 = next(d for d in devices if str(d.root) == "InternetGatewayDevice.")
    return tr181.id, tr098.id


def test_device_path_column_only_where_it_differs(runtime: Any, db_url: str) -> None:
    tr181, tr098 = _devices(runtime)
    plain = _gw(db_url, "device", tr181)
    assert plain.returncode == 0, plain.stderr
    assert "device path" not in plain.stdout and "DeviceInfo" in plain.stdout
    translated = _gw(db_url, "device", tr098)
    assert translated.returncode == 0, translated.stderr
    assert "device path" in translated.stdout and "InternetGatewayDevice." in translated.stdout


def test_a_typod_path_gets_did_you_mean(runtime: Any, db_url: str) -> None:
    tr181, _ = _devices(runtime)
    out = _gw(db_url, "device", tr181, "--path", "Device.WiFi.Radio.1.Chanel")
    assert "not on this device: Device.WiFi.Radio.1.Chanel" in out.stdout
    assert "did you mean Channel? (Device.WiFi.Radio.1.Channel)" in out.stdout
    assert out.returncode == 2  # still a failed read: nothing of what was asked exists


def test_rollback_says_what_it_restored(runtime: Any, db_url: str) -> None:
    tr181, _ = _devices(runtime)
    p = runtime.lifecycle.submit(ProposalDraft(intent="inform less often", targets=[tr181],
                                               changes=[Change(path=INFORM, value=7200)], rationale="t"),
                                 get_actor(runtime.store, "dave"))
    for who in ("bob", "carol"):
        if runtime.lifecycle.get(p.id).state.value == "awaiting_approval":
            runtime.lifecycle.approve(p.id, get_actor(runtime.store, who))
    runtime.lifecycle.apply(p.id, get_actor(runtime.store, "dave"))
    from sqlalchemy import select

    from core.store.schema import BackupRow

    with runtime.store.read() as s:
        saved = s.scalar(select(BackupRow.params).where(BackupRow.proposal_id == p.id))[INFORM]
    before = saved["value"] if isinstance(saved, dict) else saved
    out = _gw(db_url, "rollback", p.id, "--reason", "wrong interval", "--as", "carol")
    assert out.returncode == 0, out.stderr
    assert f"{p.id}: rolled back" in out.stdout or "rolled_back" in out.stdout, out.stdout
    line = next(ln for ln in out.stdout.splitlines() if ln.strip().startswith("restored "))
    assert line.strip() == f"restored {tr181}: {INFORM} = {before!r}"  # the value it holds again
    assert before != 7200


def test_remediation_cases_on_the_dbapi_are_the_services(runtime: Any, db_url: str) -> None:
    """``remediation cases`` reads on the DB-API (issue 39: it built the whole runtime, 1.3-4.5 s):
    the same rows, in the same order, as ``Remediation.list``, for each filter."""
    from core.store.dburl import normalise_url
    from core.store.lite import connect
    from gateward.cli_remediation import _lite_cases

    runtime.remediation.detect()
    svc_items, total = runtime.remediation.list(limit=50)
    assert total > 0, "the seeded fleet has problems for the detectors to find"
    reader = connect(normalise_url(db_url))
    assert reader is not None
    some = svc_items[0]
    for kw in ({}, {"status": "open,escalated"}, {"problem": some["problem"]}, {"device_id": some["device_id"]},
               {"status": "closed"}):
        args = {"status": None, "problem": None, "device_id": None, **kw}
        assert _lite_cases(reader, limit=7, **args) == runtime.remediation.list(limit=7, **args), kw
