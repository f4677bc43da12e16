"""The inventory's API (``POST /api/devices``, ``/import``, ``/{id}/retire``) and CLI (``gateward
devices add|import|retire``, the list with its status column): admin only, one line per refused
row, retired devices listed as retired. Real app, store and simulated fleet."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from core.kernel.errors import NotFound
from core.store import repo
from tests.inventory.conftest import audit_events, serial


@pytest.fixture(scope="module")
def api(rt: Any) -> Iterator[Any]:
    from tests.api.conftest import make_api

    a = make_api(rt, "inventory")
    yield a
    a.client.close()


@pytest.fixture
def cli(rt: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    from gateward import cli as cli_module

    monkeypatch.setattr(cli_module, "_runtime", rt)
    monkeypatch.setattr(cli_module, "console", Console(width=300, color_system=None))
    monkeypatch.setattr(cli_module, "err", Console(width=300, color_system=None, stderr=True))
    return lambda *args: CliRunner().invoke(cli_module.app, list(args))


def body(**over: Any) -> dict[str, Any]:
    out = {"id": f"A4C3F0-G240W-{serial('API')}", "adapter": "genieacs", "root": "Device.", "vendor": "Lumenet",
           "model": "ONT-G240W", "firmware": "3.2", "region": "DE"}
    out.update(over)
    return out


def test_api_add_is_admin_only_and_refuses_duplicates(api: Any) -> None:
    b = body()
    for user in ("alice", "bob", "erin"):
        r = api.post("/api/devices", b, user=user)
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
    r = api.post("/api/devices", b, user="dave")
    assert r.status_code == 201, r.text
    assert r.json()["id"] == b["id"] and r.json()["status"] == "active" and r.json()["protocol"] == "cwmp"
    again = api.post("/api/devices", {**b, "adapter": "sim"}, user="dave")
    assert again.status_code == 409 and "already registered" in again.json()["detail"]
    bad = api.post("/api/devices", body(id="A4C3F0-G240W"), user="dave")
    assert bad.status_code == 422 and bad.json()["error"] == "invalid"
    assert "is not OUI-ProductClass-Serial" in bad.json()["detail"]


@pytest.mark.parametrize("device_id", ["A4C3F0-G240W-LM/../../etc", "A4C3F0-G240W-SN..1", "A4C3F0-HG..8245-SN1",
                                       "A4C3F0-V5 ..-SN1"])
def test_an_id_that_could_climb_a_path_is_refused_and_nothing_is_registered(api: Any, device_id: str) -> None:
    """Serials and product classes may hold ``.`` and ``/`` (``LM-NT/9002``), so the character
    classes alone let ``..`` through; an id holding it would climb out of any URL or file name it
    is used in once something decodes it."""
    r = api.post("/api/devices", body(id=device_id), user="dave")
    assert r.status_code == 422 and r.json()["error"] == "invalid", r.text
    assert "without '..'" in r.json()["detail"], r.json()["detail"]
    with api.rt.store.read() as s, pytest.raises(NotFound):
        repo.get_device(s, device_id)


def test_api_import_json_list_and_csv(api: Any) -> None:
    good, dup = body(), body()
    r = api.post("/api/devices/import", {"devices": [good, {**good, "adapter": "sim"}, {"adapter": "usp"}]},
                 user="dave")
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["registered"], out["refused"]) == (1, 2)
    assert [(x["row"], x["ok"]) for x in out["rows"]] == [(1, True), (2, False), (3, False)]
    csv_text = ("id,adapter,root,vendor,model,firmware\n"
                f"{dup['id']},genieacs,Device.,Lumenet,ONT-G240W,3.2\n"
                f"{dup['id']}-x y,genieacs,Device.,Lumenet,ONT-G240W,3.2\n")
    r = api.post("/api/devices/import", {"csv": csv_text}, user="dave")
    assert r.status_code == 200 and r.json()["registered"] == 1
    assert r.json()["rows"][1]["row"] == 3 and "without spaces" in r.json()["rows"][1]["error"]
    assert api.post("/api/devices/import", {"csv": csv_text}, user="bob").status_code == 403
    both = api.post("/api/devices/import", {"csv": csv_text, "devices": []}, user="dave")
    assert both.status_code == 422


def test_api_retire_and_the_list_shows_retired(api: Any) -> None:
    d = api.post("/api/devices", body(), user="dave").json()
    assert api.post(f"/api/devices/{d['id']}/retire", {"reason": "x"}, user="bob").status_code == 403
    r = api.post(f"/api/devices/{d['id']}/retire", {"reason": "returned"}, user="dave")
    assert r.status_code == 200 and r.json()["status"] == "retired" and r.json()["retired_at"]
    listed = api.get("/api/devices", params={"status": "retired", "limit": 1000}).json()["items"]
    assert d["id"] in {x["id"] for x in listed} and all(x["status"] == "retired" for x in listed)
    assert api.get(f"/api/devices/{d['id']}").json()["device"]["status"] == "retired"
    assert api.post(f"/api/devices/{d['id']}/retire", {"reason": "again"}, user="dave").status_code == 409
    assert api.post("/api/devices/NOPE-NOPE-1/retire", {"reason": "gone"}, user="dave").status_code == 404


def test_cli_add_import_retire_and_list(cli: Any, rt: Any, tmp_path: Path) -> None:
    sn = serial("CLI")
    added = cli("devices", "add", "--as", "dave", "--id", f"A4C3F0-G240W-{sn}", "--adapter", "genieacs",
                "--root", "Device.", "--vendor", "Lumenet", "--model", "ONT-G240W", "--firmware", "3.2",
                "--region", "DE", "--tag", "pilot", "--tag", "north")
    assert added.exit_code == 0, added.output
    assert f"registered A4C3F0-G240W-{sn}" in added.output
    refused = cli("devices", "add", "--as", "alice", "--id", f"A4C3F0-G240W-{serial('CLI')}", "--adapter", "sim",
                  "--root", "Device.", "--vendor", "L", "--model", "M", "--firmware", "1")
    assert refused.exit_code == 2 and "only an admin" in refused.output

    good = serial("CSV")
    csv_file = tmp_path / "devices.csv"
    csv_file.write_text("id,adapter,root,vendor,model,firmware\n"
                        f"A4C3F0-G240W-{good},genieacs,Device.,Lumenet,ONT-G240W,3.2\n"
                        f"A4C3F0-G240W-{good},usp,Device.,Lumenet,ONT-G240W,3.2\n", "utf-8")
    imported = cli("devices", "import", str(csv_file), "--as", "dave")
    assert imported.exit_code == 1  # one row refused; the good one stays registered
    assert "row 3" in imported.output and "already registered" in imported.output
    assert "1 registered, 1 refused" in imported.output
    again = cli("devices", "import", str(csv_file), "--as", "dave")  # the same file twice: nothing new
    assert again.exit_code == 1 and "0 registered, 1 already registered as given, 1 refused" in again.output
    spaced = cli("devices", "add", "--as", "dave", "--id", f"00259E-HG8245 V5-{serial('CLI')}", "--adapter",
                 "genieacs", "--root", "Device.", "--vendor", "Huawei", "--model", "HG8245", "--firmware", "V5")
    assert spaced.exit_code == 0 and "registered 00259E-HG8245 V5-" in spaced.output, spaced.output
    json_file = tmp_path / "devices.json"
    json_file.write_text(json.dumps([body()]), "utf-8")
    assert cli("devices", "import", str(json_file), "--as", "dave").exit_code == 0

    retired = cli("devices", "retire", f"A4C3F0-G240W-{good}", "--as", "dave", "--reason", "swapped")
    assert retired.exit_code == 0 and "retired" in retired.output
    listing = cli("devices", "--status", "retired", "--limit", "1000")
    assert listing.exit_code == 0 and f"A4C3F0-G240W-{good}" in listing.output
    assert cli("devices", "--q", sn).output.count(sn) == 1  # the plain list still works
    with rt.store.read() as s:
        assert repo.get_device(s, f"A4C3F0-G240W-{good}").status == "retired"
    assert audit_events(rt, "device.retired", f"A4C3F0-G240W-{good}")[0].data["reason"] == "swapped"


def test_api_device_list_filters_by_each_inventory_status(api: Any, rt: Any) -> None:
    from sqlalchemy import update

    from core.kernel.models import utcnow
    from core.store.schema import DeviceRow

    gone = api.post("/api/devices", body(), user="dave").json()
    with rt.store.write() as s:  # what the ACS sync does to a device the ACS no longer lists
        s.execute(update(DeviceRow).where(DeviceRow.id == gone["id"]).values(status="absent", absent_since=utcnow()))
    seen: dict[str, set[str]] = {}
    for status in ("active", "absent", "retired"):
        r = api.get("/api/devices", params={"status": status, "limit": 1000})
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert all(x["status"] == status for x in items) and r.json()["total"] == len(items)
        seen[status] = {x["id"] for x in items}
    assert gone["id"] in seen["absent"] and gone["id"] not in seen["active"] | seen["retired"]
    everything = api.get("/api/devices", params={"limit": 1000}).json()["total"]
    assert everything == sum(len(v) for v in seen.values())
    bad = api.get("/api/devices", params={"status": "gone"})
    assert bad.status_code == 422 and "status" in bad.text


def test_api_device_view_names_a_mismatch_another_process_stored(api: Any, rt: Any) -> None:
    from core.usp_topics import TopicBook

    sn = serial("MM")
    d = api.post("/api/devices", {"endpoint_id": f"os::A4C3F0-{sn}", "adapter": "usp", "root": "Device.",
                                  "vendor": "Lumenet", "model": "X", "firmware": "1"}, user="dave").json()
    assert api.get(f"/api/devices/{d['id']}").json()["usp_mismatch"] is None
    seer = TopicBook(rt.store)  # the process that saw the agent address another controller
    seer.note_mismatch(f"os::A4C3F0-{sn}", "self::usp-controller", "proto::gw-api")
    seer.close()
    shown = api.get(f"/api/devices/{d['id']}").json()["usp_mismatch"]
    assert "'self::usp-controller'" in shown and "'proto::gw-api'" in shown
    heard = TopicBook(rt.store)  # a process the agent then answered
    heard.clear_mismatch(f"os::A4C3F0-{sn}")
    heard.close()
    assert api.get(f"/api/devices/{d['id']}").json()["usp_mismatch"] is None
