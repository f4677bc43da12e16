"""A campaign on an explicit device list (``target.devices``, issue 39 item 1: "campaign from
selection"): exactly the listed devices are planned and frozen; unknown, retired, duplicated or
too many ids, and ids the other target fields would leave out, are refused by name — through the
service, the HTTP API (422) and the CLI (``--device``, ``--devices-file``). SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from campaigns.schema import CampaignDeviceRow
from campaigns.spec import MAX_LISTED_DEVICES
from core.kernel.errors import Invalid
from core.store.schema import DeviceRow
from testing.cli import run_cli
from tests.campaigns.helpers import PATH, who

ROOT = Path(__file__).resolve().parents[2]
BASE: dict[str, Any] = {"name": "listed", "changes": [{"path": PATH, "value": False}], "emergency": True}


def _fleet(rt: Any) -> list[DeviceRow]:
    with rt.store.read() as s:
        rows = list(s.scalars(select(DeviceRow).order_by(DeviceRow.id)))
        s.expunge_all()
    return rows


def _frozen(rt: Any, cid: str) -> list[str]:
    with rt.store.read() as s:
        return sorted(s.scalars(select(CampaignDeviceRow.device_id).where(CampaignDeviceRow.campaign_id == cid)))


def test_campaign_targets_exactly_the_listed_devices(crt: Any, svc: Any) -> None:
    fleet = _fleet(crt)
    # Devices of different models and regions: no model/firmware/region selector could name them.
    picked = [*sorted({d.model: d.id for d in fleet}.values())[:3], fleet[-1].id]
    picked = sorted(set(picked))
    st = svc.create({**BASE, "target": {"devices": list(reversed(picked))}}, who(crt, "dave"))
    assert st["devices"] == len(picked) and sum(st["plan"]["sizes"]) == len(picked)
    assert _frozen(crt, st["id"]) == picked
    assert crt.lifecycle.get(st["proposal"]["id"]).targets == picked  # what policy decided on
    assert sorted(st["spec"]["target"]["devices"]) == picked  # the definition keeps the list


def test_listed_devices_intersect_the_other_fields(crt: Any, svc: Any) -> None:
    fleet = _fleet(crt)
    model = fleet[0].model
    same = [d.id for d in fleet if d.model == model][:2]
    other = next(d.id for d in fleet if d.model != model)
    st = svc.create({**BASE, "target": {"devices": same, "model": model}}, who(crt, "dave"))
    assert _frozen(crt, st["id"]) == sorted(same)
    with pytest.raises(Invalid, match=f"1 listed device\\(s\\) do not match model={model}: {other}"):
        svc.create({**BASE, "target": {"devices": [*same, other], "model": model}}, who(crt, "dave"))


def test_unknown_retired_and_duplicate_ids_are_refused(crt: Any, svc: Any) -> None:
    fleet = _fleet(crt)
    gone = fleet[1].id
    from core.inventory import Inventory

    Inventory(crt.store).retire(gone, who(crt, "dave"), "replaced")
    with pytest.raises(Invalid, match="do not exist: nope-1") as exc:
        svc.create({**BASE, "target": {"devices": [fleet[0].id, "nope-1", gone]}}, who(crt, "dave"))
    assert f"retired and may not be changed: {gone}" in exc.value.message
    with pytest.raises(Invalid, match="more than once"):
        svc.create({**BASE, "target": {"devices": [fleet[0].id, fleet[0].id]}}, who(crt, "dave"))
    with pytest.raises(Invalid, match=r"target\.devices"):
        svc.create({**BASE, "target": {"devices": []}}, who(crt, "dave"))
    with pytest.raises(Invalid, match="at most 10000"):
        svc.create({**BASE, "target": {"devices": [f"d{i}" for i in range(MAX_LISTED_DEVICES + 1)]}},
                   who(crt, "dave"))
    with crt.store.read() as s:  # nothing was frozen by the refusals
        assert not list(s.scalars(select(CampaignDeviceRow.campaign_id)))


def test_listed_devices_over_http_and_cli(crt: Any, db_url: str, tmp_path: Path) -> None:
    from api.app import create_app
    from core.users import issue_token

    fleet = _fleet(crt)
    ids = [fleet[2].id, fleet[5].id]
    with TestClient(create_app(crt), raise_server_exceptions=False) as c:
        h = {"Authorization": f"Bearer {issue_token(crt.store, 'dave')}"}
        bad = c.post("/api/campaigns", json={**BASE, "target": {"devices": [ids[0], "nope-2"]}}, headers=h)
        assert bad.status_code == 422 and "do not exist: nope-2" in bad.json()["detail"]
        ok = c.post("/api/campaigns", json={**BASE, "target": {"devices": ids}}, headers=h)
        assert ok.status_code in (200, 201), ok.text
        assert _frozen(crt, ok.json()["id"]) == sorted(ids)
    listed = tmp_path / "ids.txt"
    listed.write_text(f"# picked by hand\n{fleet[7].id}\n\n{fleet[8].id}\n")
    env = {"GATEWARD_DATABASE_URL": db_url}
    res = run_cli("campaign", "create", "by-file", "--as", "dave", "--emergency", "--set", f"{PATH}=false",
                  "--devices-file", str(listed), "--device", fleet[9].id, env=env, cwd=ROOT, columns=160)
    assert res.returncode == 0, res.stderr
    cid = res.stdout.split()[0]  # the status block starts with the campaign's id
    assert _frozen(crt, cid) == sorted([fleet[7].id, fleet[8].id, fleet[9].id])
    bad_cli = run_cli("campaign", "create", "x", "--as", "dave", "--emergency", "--set", f"{PATH}=false",
                      "--device", "nope-3", env=env, cwd=ROOT, columns=160)
    assert bad_cli.returncode == 2 and "do not exist: nope-3" in bad_cli.stderr and "Traceback" not in bad_cli.stderr
