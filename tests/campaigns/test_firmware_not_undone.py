"""A halted firmware campaign says what its abort could not undo — in every surface's words.

Why: a restore writes parameters back; it never reinstalls the image a device ran before. A firmware
campaign aborted after its canary used to show the canary "rolled back" (↺) as though the devices
were back on their old image. The ring now says it stopped and what it could not undo
(``campaigns.words.compose``: ``not_undone``), the same dictionary on the service (API, console)
and on ``gateward campaign status --json`` (the DB-API read, ``campaigns.lite_reads``); each
device's execution carries its own ``not_undone`` (``core.firmware_check.not_undone``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from testing.cli import run_cli
from tests.campaigns.helpers import approved, drive, who

ROOT = Path(__file__).resolve().parents[2]
OLD, NEW = "V3R017C10S105", "V3R017C10S120"


def test_an_aborted_firmware_campaign_says_what_it_could_not_undo(crt: Any, svc: Any, db_url: str) -> None:
    from core.store import repo

    st = approved(crt, svc, changes=[], target={"model": "HG8020-L", "firmware": OLD},
                  firmware={"url": f"https://firmware.gateward.example/huawei/{NEW}.bin", "version": NEW},
                  promotion={"mode": "manual"})
    cid = st["id"]
    svc.start(cid, who(crt, "dave"))
    canary = drive(svc, cid)  # the canary upgrades, then waits for a person to promote
    assert canary["rings_detail"][0]["verified"] > 0, canary["rings_detail"][0]
    upgraded = canary["rings_detail"][0]["verified"]
    svc.abort(cid, who(crt, "bob"), "reboot loops reported in the field")
    out = drive(svc, cid)
    assert out["state"] == "aborted", (out["state"], out["error"])

    ring = out["rings_detail"][0]
    assert ring["rolled_back"] == upgraded
    assert ring["status"] == "stopped"  # never "rolled back": nothing put the old image back
    said = ring["not_undone"]
    assert said.startswith(f"{upgraded} device(s) got the download; a rollback cannot undo it"), said
    assert "each keeps whatever image it installed" in said
    assert all("not_undone" not in r for r in out["rings_detail"][1:])  # rings that never ran have nothing

    with crt.store.read() as s:  # the execution a ring's words point at says it per device
        execs = [e for e in repo.executions_for(s, out["proposal"]["id"]) if e.status == "rolled_back"]
    assert len(execs) == upgraded
    assert all(any("download (the device keeps whatever image it installed)" in w
                   for w in e.detail.get("not_undone", [])) for e in execs), execs[0].detail

    # the CLI's status reads the same words off the database, without the service
    cli = run_cli("campaign", "status", cid, "--json", env={"GATEWARD_DATABASE_URL": db_url}, cwd=ROOT)
    assert cli.returncode == 0, cli.stderr
    shown = json.loads(cli.stdout)["rings_detail"][0]
    assert shown["status"] == "stopped" and shown["not_undone"] == said
    # its plain text says the same words beside the ring, not only "↺N stopped"
    text = run_cli("campaign", "status", cid, env={"GATEWARD_DATABASE_URL": db_url}, cwd=ROOT)
    assert text.returncode == 0, text.stderr
    assert f"{ring['name']}: stopped — {said}" in " ".join(text.stdout.split()), text.stdout

    # and the API (the console's source) hands the ring the same words
    from fastapi.testclient import TestClient

    from api.app import create_app
    from core.users import issue_token

    with TestClient(create_app(crt), raise_server_exceptions=False) as c:
        got = c.get(f"/api/campaigns/{cid}", headers={"Authorization": f"Bearer {issue_token(crt.store, 'erin')}"})
        js = c.get("/static/campaigns.js")
    assert got.status_code == 200, got.text
    api_ring = got.json()["rings_detail"][0]
    assert api_ring["status"] == "stopped" and api_ring["not_undone"] == said
    # the console's ring card prints that field as it is, beside the ring's status (no second wording)
    assert js.status_code == 200
    assert '"data-testid": "ring-not-undone"' in js.text and "${r.status} — ${r.not_undone}" in js.text
